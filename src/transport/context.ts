import { createContextKey } from "@connectrpc/connect";
import type { Principal } from "../core/principal.js";

/** The authenticated caller, set by the auth interceptor for SecretsService calls. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "authenticated principal" });
