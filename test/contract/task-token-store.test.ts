import { openStore } from "../helpers/adapters.js";
import { taskTokenStoreContract } from "./task-token-store.contract.js";

taskTokenStoreContract("memory", () => openStore("memory", "ttok"));
taskTokenStoreContract("mongodb (FerretDB)", () => openStore("mongodb", "ttok"));
