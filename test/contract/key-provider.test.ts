import { openKeys } from "../helpers/adapters.js";
import { keyProviderContract } from "./key-provider.contract.js";

keyProviderContract("local", () => openKeys("local"));
keyProviderContract("aws-kms (KMS emulator)", () => openKeys("aws-kms"));
