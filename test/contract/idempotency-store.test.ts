import { openStore } from "../helpers/adapters.js";
import { idempotencyStoreContract } from "./idempotency-store.contract.js";

idempotencyStoreContract("memory", () => openStore("memory", "idem"));
idempotencyStoreContract("mongodb (FerretDB)", () => openStore("mongodb", "idem"));
