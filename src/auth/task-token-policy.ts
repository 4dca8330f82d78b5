// What a caller may mint as a task token: never more than it holds (scopes and name globs), never
// the scopes that hand out power (delegate, admin), never past its own expiry, at most an hour.
// Pure: the caller stores the record and signs it (auth/task-tokens.ts).
import { randomBytes } from "node:crypto";
import { FailedPreconditionError, InvalidArgumentError, PermissionDeniedError, clip } from "../errors.js";
import type { TaskTokenRecord } from "../ports/task-token-store.js";
import { globCovers, isValidGlob } from "../ports/name-globs.js";
import { isScope, type Identity, type Scope } from "./identity.js";

export const TASK_TOKEN_DEFAULT_TTL_MS = 15 * 60_000;
export const TASK_TOKEN_MAX_TTL_MS = 60 * 60_000;
export const TASK_TOKEN_LABEL_MAX_CHARS = 128;

/** Scopes that would let a task widen its own reach. */
const NEVER_GRANTED: readonly Scope[] = ["secrets.delegate", "secrets.admin"];

export interface TaskTokenRequest {
  readonly secrets: readonly string[];
  readonly scopes: readonly string[];
  /** undefined = TASK_TOKEN_DEFAULT_TTL_MS. */
  readonly ttlMs?: number;
  readonly label: string;
}

/** Checks a request against the caller and returns what to store and sign (tokenId random, 128 bits base64url prefixed "tt_"). */
export function planTaskToken(caller: Identity, tenant: string, request: TaskTokenRequest, now: Date): TaskTokenRecord {
  if (caller.task) throw new PermissionDeniedError("a task token cannot mint another task token");
  const scopes = checkScopes(caller, request.scopes);
  const secrets = checkSecrets(caller, request.secrets);
  const ttlMs = checkTtl(request.ttlMs);
  checkLabel(request.label);
  const ends = [now.getTime() + ttlMs, ...(caller.exp !== undefined ? [caller.exp * 1000] : [])];
  const expireTime = new Date(Math.min(...ends));
  if (expireTime.getTime() <= now.getTime()) throw new FailedPreconditionError("the calling token expires too soon");
  return {
    id: `tt_${randomBytes(16).toString("base64url")}`,
    tenant,
    subject: caller.subject,
    label: request.label,
    scopes,
    secrets,
    createTime: now,
    expireTime,
  };
}

function checkScopes(caller: Identity, requested: readonly string[]): Scope[] {
  if (requested.length === 0) throw new InvalidArgumentError("scopes", "must name at least one scope");
  const scopes = [...new Set(requested)];
  for (const scope of scopes) {
    if (!isScope(scope)) throw new InvalidArgumentError("scopes", `unknown scope "${clip(scope)}"`);
    if (NEVER_GRANTED.includes(scope)) throw new InvalidArgumentError("scopes", `${scope} is never granted to a task token`);
  }
  for (const scope of scopes as Scope[]) {
    if (!caller.scopes.has(scope)) throw new PermissionDeniedError(`the caller does not hold scope ${scope}`);
  }
  return scopes as Scope[];
}

function checkSecrets(caller: Identity, requested: readonly string[]): string[] {
  if (requested.length === 0) throw new InvalidArgumentError("secrets", "must name at least one secret name or glob");
  const globs = [...new Set(requested)];
  for (const glob of globs) {
    if (!isValidGlob(glob)) throw new InvalidArgumentError("secrets", `"${clip(glob)}" is not a glob of 1-128 characters of A-Z a-z 0-9 _ * ?`);
  }
  const held = caller.secrets ?? ["*"];
  for (const glob of globs) {
    if (!held.some((own) => globCovers(own, glob))) throw new PermissionDeniedError(`the caller's secret names do not cover "${glob}"`);
  }
  return globs;
}

function checkTtl(ttlMs: number | undefined): number {
  if (ttlMs === undefined) return TASK_TOKEN_DEFAULT_TTL_MS;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0 || ttlMs > TASK_TOKEN_MAX_TTL_MS) {
    throw new InvalidArgumentError("ttl", `must be more than 0 and at most ${TASK_TOKEN_MAX_TTL_MS / 60_000} minutes`);
  }
  return ttlMs;
}

function checkLabel(label: string): void {
  if ([...label].length > TASK_TOKEN_LABEL_MAX_CHARS) throw new InvalidArgumentError("label", `must be at most ${TASK_TOKEN_LABEL_MAX_CHARS} characters`);
  // The label lands in log lines and audit records: no control characters, no line breaks.
  if (/[\p{Cc}\u2028\u2029]/u.test(label)) throw new InvalidArgumentError("label", "must not contain control characters or line breaks");
}
