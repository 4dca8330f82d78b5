import { PermissionDeniedError } from "../errors.js";
import type { Identity, Scope } from "./identity.js";

// What each SecretsService RPC requires of the token, by the RPC's short name. The request
// pipeline (transport/access.ts) checks it before the handler runs; an RPC missing from this
// table is refused, so a new RPC cannot be served by mistake without a rule.

export type Requirement =
  | { readonly scope: Scope }
  /** Any valid token of the tenant. */
  | { readonly any: true }
  /** Any valid token of the tenant that is not a task token. */
  | { readonly notTask: true };

export const METHOD_REQUIREMENTS: Readonly<Record<string, Requirement>> = {
  GetSecret: { scope: "secrets.read" },
  ListSecrets: { scope: "secrets.read" },
  ListSecretVersions: { scope: "secrets.read" },
  ListAuditEvents: { scope: "secrets.read" },
  GetSecretValue: { scope: "secrets.access" },
  BatchGetSecretValues: { scope: "secrets.access" },
  ResolveReferences: { scope: "secrets.access" },
  RedactText: { scope: "secrets.access" },
  WatchSecrets: { scope: "secrets.read" },
  // Calls made with secrets injected; does not imply secrets.access (no value comes back).
  ProxyHttpRequest: { scope: "secrets.proxy" },
  CreateSecret: { scope: "secrets.write" },
  UpdateSecret: { scope: "secrets.write" },
  PutSecretValue: { scope: "secrets.write" },
  DisableSecretVersion: { scope: "secrets.write" },
  EnableSecretVersion: { scope: "secrets.write" },
  DestroySecretVersion: { scope: "secrets.write" },
  DeleteSecret: { scope: "secrets.write" },
  RestoreSecret: { scope: "secrets.write" },
  RunMaintenance: { scope: "secrets.admin" },
  RewrapKeys: { scope: "secrets.admin" },
  // Its own rules (scopes and names no wider than the caller's) are checked when minting.
  CreateTaskToken: { any: true },
  RevokeTaskToken: { notTask: true },
};

/** PERMISSION_DENIED naming what is missing; scopes do not imply each other. */
export function authorize(identity: Identity, method: string): void {
  const rule = METHOD_REQUIREMENTS[method];
  if (!rule) throw new PermissionDeniedError(`no access rule for ${method}`);
  if ("scope" in rule && !identity.scopes.has(rule.scope)) throw new PermissionDeniedError(`${method} needs scope ${rule.scope}`);
  if ("notTask" in rule && identity.task) throw new PermissionDeniedError(`${method} needs a token that is not a task token`);
}
