import { createContextKey } from "@connectrpc/connect";
import type { Identity } from "../auth/identity.js";
import type { Principal } from "../core/principal.js";

/** Who the call acts as (tenant, subject, name globs), set by the request pipeline for SecretsService calls. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "authenticated principal" });

/** What the caller's token says (scopes, expiry, task token), set with principalKey. */
export const identityKey = createContextKey<Identity | undefined>(undefined, { description: "verified token identity" });
