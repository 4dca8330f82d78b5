import { InvalidArgumentError } from "../errors.js";
import { isValidGlob } from "../ports/name-globs.js";
import type { StoredCacheKey } from "../ports/cache-state-store.js";
import type { IdempotencyRecord } from "../ports/idempotency-store.js";
import type { ListQuery, RevisionClaim, SecretPatch, SecretRecord, SecretRef, VersionRecord, VersionState } from "../ports/secret-store.js";

// Storage adapters check the type of every caller value that can reach a filter or an _id,
// whatever the core has checked: a string that is an array or an object ({"$ne": null}) would
// otherwise be a MongoDB query operator, or a key the memory store builds by stringifying.
// The memory and MongoDB stores run the same checks, so they refuse the same inputs.

export function checkString(argument: string, value: unknown): asserts value is string {
  if (typeof value !== "string") throw new InvalidArgumentError(argument, "must be a string");
}

export function checkInteger(argument: string, value: unknown): asserts value is number {
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError(argument, "must be an integer");
}

export function checkDate(argument: string, value: unknown): asserts value is Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new InvalidArgumentError(argument, "must be a valid date");
}

export function checkBytes(argument: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError(argument, "must be bytes");
}

export function checkStrings(argument: string, value: unknown): asserts value is readonly string[] {
  if (!Array.isArray(value)) throw new InvalidArgumentError(argument, "must be a list of strings");
  for (const item of value) checkString(argument, item);
}

export function checkIntegers(argument: string, value: unknown): asserts value is readonly number[] {
  if (!Array.isArray(value)) throw new InvalidArgumentError(argument, "must be a list of integers");
  for (const item of value) checkInteger(argument, item);
}

export function checkRewrap(secretId: string, version: number, from: Uint8Array, to: { readonly keyId: string; readonly wrapped: Uint8Array }): void {
  checkString("secretId", secretId);
  checkInteger("version", version);
  checkBytes("from", from);
  checkString("to.keyId", to.keyId);
  checkBytes("to.wrapped", to.wrapped);
}

const VERSION_STATES: readonly unknown[] = ["enabled", "disabled", "destroyed"] satisfies VersionState[];

export function checkVersionState(argument: string, value: unknown): asserts value is VersionState {
  if (!VERSION_STATES.includes(value)) throw new InvalidArgumentError(argument, "must be a version state");
}

export function checkSecretRef(argument: string, ref: SecretRef): void {
  checkString(`${argument}.id`, ref.id);
  checkString(`${argument}.tenant`, ref.tenant);
  checkString(`${argument}.name`, ref.name);
}

/** The fields of a new secret that form its _id or are matched by later filters. */
export function checkSecretRecord(s: SecretRecord): void {
  checkSecretRef("secret", s);
  checkInteger("secret.revision", s.revision);
  checkInteger("secret.latestVersion", s.latestVersion);
  checkString("secret.etag", s.etag);
  if (s.allowedHosts !== undefined) checkStrings("secret.allowedHosts", s.allowedHosts);
}

/** The fields of a patch that later filters match. */
export function checkSecretPatch(patch: SecretPatch): void {
  checkInteger("patch.revision", patch.revision);
  checkString("patch.etag", patch.etag);
  checkString("patch.updatedBy", patch.updatedBy);
  checkDate("patch.updateTime", patch.updateTime);
  if (patch.allowedHosts != null) checkStrings("patch.allowedHosts", patch.allowedHosts);
  if (patch.retainedFrom !== undefined) checkInteger("patch.retainedFrom", patch.retainedFrom);
}

export function checkClaim(c: RevisionClaim): void {
  checkString("claim.secretId", c.secretId);
  checkInteger("claim.revision", c.revision);
  checkString("claim.writeId", c.writeId);
  checkDate("claim.createTime", c.createTime);
  checkString("claim.tenant", c.tenant);
  checkString("claim.name", c.name);
  checkString("claim.subject", c.subject);
  if (c.version !== undefined) checkInteger("claim.version", c.version);
}

export function checkVersionRecord(v: VersionRecord): void {
  checkString("version.secretId", v.secretId);
  checkInteger("version.version", v.version);
  checkString("version.writeId", v.writeId);
  checkVersionState("version.state", v.state);
}

export function checkListQuery(q: ListQuery): void {
  checkString("tenant", q.tenant);
  checkString("namePrefix", q.namePrefix);
  if (q.afterName !== undefined) checkString("afterName", q.afterName);
  checkInteger("limit", q.limit);
  checkDate("now", q.now);
  if (typeof q.showDeleted !== "boolean") throw new InvalidArgumentError("showDeleted", "must be a boolean");
  const filter: unknown = q.metadataFilter;
  if (typeof filter !== "object" || filter === null || Array.isArray(filter)) throw new InvalidArgumentError("metadataFilter", "must be a map of strings");
  for (const value of Object.values(filter)) checkString("metadataFilter", value);
  if (q.nameGlobs !== undefined) {
    checkStrings("nameGlobs", q.nameGlobs);
    // They become anchored regular expressions in MongoDB: only the glob alphabet may pass.
    if (!q.nameGlobs.every(isValidGlob)) throw new InvalidArgumentError("nameGlobs", "must be name globs ([A-Za-z0-9_*?], 1-128 characters)");
  }
}

export function checkIdempotencyRecord(r: IdempotencyRecord): void {
  checkString("key", r.key);
  checkString("writeId", r.writeId);
  checkString("fingerprint", r.fingerprint);
  checkDate("createTime", r.createTime);
  if (r.response !== undefined) checkString("response", r.response);
}

export function checkCacheStateWrite(state: { readonly epoch: string; readonly instance?: string }): void {
  checkString("epoch", state.epoch);
  if (state.instance !== undefined) checkString("instance", state.instance);
}

export function checkStoredCacheKey(key: StoredCacheKey): void {
  checkString("id", key.id);
  checkString("keyId", key.keyId);
  checkDate("createTime", key.createTime);
  checkBytes("wrapped", key.wrapped);
}
