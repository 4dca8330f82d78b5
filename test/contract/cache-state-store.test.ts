import { openStore } from "../helpers/adapters.js";
import { cacheStateStoreContract } from "./cache-state-store.contract.js";

cacheStateStoreContract("memory", () => openStore("memory", "cachestate"));
cacheStateStoreContract("mongodb (FerretDB)", () => openStore("mongodb", "cachestate"));
