import { openStore } from "../helpers/adapters.js";
import { auditStoreContract } from "./audit-store.contract.js";

auditStoreContract("memory", () => openStore("memory", "audit"));
auditStoreContract("mongodb (FerretDB)", () => openStore("mongodb", "audit"));
