import { openStore } from "../helpers/adapters.js";
import { secretStoreContract } from "./secret-store.contract.js";

secretStoreContract("memory", () => openStore("memory", "store"));
secretStoreContract("mongodb (FerretDB)", () => openStore("mongodb", "store"));
