import { clip, InvalidArgumentError } from "../errors.js";
import {
  DEFAULT_MAX_VERSIONS,
  DEFAULT_RECOVERY_WINDOW_DAYS,
  DESCRIPTION_MAX_CHARS,
  MAX_MAX_VERSIONS,
  MAX_RECOVERY_WINDOW_DAYS,
  REQUEST_ID_MAX_CHARS,
  METADATA_KEY_MAX_CHARS,
  METADATA_KEY_PATTERN,
  METADATA_MAX_ENTRIES,
  METADATA_VALUE_MAX_CHARS,
  NAME_MAX_CHARS,
  NAME_PATTERN,
  VALUE_MAX_BYTES,
} from "./limits.js";

// Field names in errors are the proto's, so callers can find the field at fault.

/** Length in Unicode code points. */
const chars = (s: string) => [...s].length;

export function validateName(name: string, field = "name"): void {
  if (name.length === 0) throw new InvalidArgumentError(field, "is required");
  if (chars(name) > NAME_MAX_CHARS) throw new InvalidArgumentError(field, `must be at most ${NAME_MAX_CHARS} characters`);
  if (!NAME_PATTERN.test(name)) throw new InvalidArgumentError(field, `must match ${NAME_PATTERN.source}`);
}

export function isValidName(name: string): boolean {
  return name.length > 0 && chars(name) <= NAME_MAX_CHARS && NAME_PATTERN.test(name);
}

export function validateNamePrefix(prefix: string, field = "name_prefix"): void {
  if (prefix === "") return;
  validateName(prefix, field);
}

export function validateValue(value: string, field = "value"): void {
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes === 0) throw new InvalidArgumentError(field, "must not be empty");
  if (bytes > VALUE_MAX_BYTES) throw new InvalidArgumentError(field, `must be at most ${VALUE_MAX_BYTES} bytes`);
  if (!value.isWellFormed()) throw new InvalidArgumentError(field, "must be valid UTF-8");
}

export function validateDescription(description: string, field = "description"): void {
  if (chars(description) > DESCRIPTION_MAX_CHARS) {
    throw new InvalidArgumentError(field, `must be at most ${DESCRIPTION_MAX_CHARS} characters`);
  }
}

export function validateMetadata(metadata: Readonly<Record<string, string>>, field = "metadata"): void {
  const entries = Object.entries(metadata);
  if (entries.length > METADATA_MAX_ENTRIES) throw new InvalidArgumentError(field, `must have at most ${METADATA_MAX_ENTRIES} entries`);
  for (const [key, value] of entries) {
    if (key.length === 0) throw new InvalidArgumentError(field, "keys must not be empty");
    if (chars(key) > METADATA_KEY_MAX_CHARS) {
      throw new InvalidArgumentError(field, `key "${clip(key)}" must be at most ${METADATA_KEY_MAX_CHARS} characters`);
    }
    if (!METADATA_KEY_PATTERN.test(key)) {
      throw new InvalidArgumentError(field, `key "${clip(key)}" must match ${METADATA_KEY_PATTERN.source}`);
    }
    if (chars(value) > METADATA_VALUE_MAX_CHARS) {
      throw new InvalidArgumentError(field, `value of "${key}" must be at most ${METADATA_VALUE_MAX_CHARS} characters`);
    }
  }
}

/** 0 means the default; otherwise 1..MAX_MAX_VERSIONS. */
export function resolveMaxVersions(maxVersions: number, field = "max_versions"): number {
  if (!Number.isInteger(maxVersions) || maxVersions < 0 || maxVersions > MAX_MAX_VERSIONS) {
    throw new InvalidArgumentError(field, `must be between 1 and ${MAX_MAX_VERSIONS} (0 for the default ${DEFAULT_MAX_VERSIONS})`);
  }
  return maxVersions === 0 ? DEFAULT_MAX_VERSIONS : maxVersions;
}

/** expire_time or ttl (not both), in the future; undefined when neither is given. */
export function resolveExpiry(input: { expireTime?: Date; ttlMs?: number }, now: Date): Date | undefined {
  if (input.expireTime && input.ttlMs !== undefined) throw new InvalidArgumentError("ttl", "give expire_time or ttl, not both");
  if (input.ttlMs !== undefined) {
    if (!(input.ttlMs > 0)) throw new InvalidArgumentError("ttl", "must be positive");
    const at = new Date(now.getTime() + input.ttlMs);
    if (Number.isNaN(at.getTime()) || at.getUTCFullYear() > 9999) throw new InvalidArgumentError("ttl", "is too large");
    return at;
  }
  if (input.expireTime) {
    if (Number.isNaN(input.expireTime.getTime()) || input.expireTime <= now) throw new InvalidArgumentError("expire_time", "must be in the future");
    if (input.expireTime.getUTCFullYear() > 9999) throw new InvalidArgumentError("expire_time", "must be before year 10000");
    return input.expireTime;
  }
  return undefined;
}

export function resolveRecoveryWindowDays(days: number, force: boolean): number {
  if (force && days !== 0) throw new InvalidArgumentError("recovery_window_days", "cannot be combined with force");
  if (!Number.isInteger(days) || days < 0 || days > MAX_RECOVERY_WINDOW_DAYS) {
    throw new InvalidArgumentError("recovery_window_days", `must be between 1 and ${MAX_RECOVERY_WINDOW_DAYS} (0 for the default ${DEFAULT_RECOVERY_WINDOW_DAYS})`);
  }
  return days === 0 ? DEFAULT_RECOVERY_WINDOW_DAYS : days;
}

export function validateVersionNumber(version: number, field = "version"): void {
  if (!Number.isSafeInteger(version) || version < 1) throw new InvalidArgumentError(field, "must be a positive version number");
}

export function validateRequestId(requestId: string, field = "request_id"): void {
  if (chars(requestId) > REQUEST_ID_MAX_CHARS) throw new InvalidArgumentError(field, `must be at most ${REQUEST_ID_MAX_CHARS} characters`);
}
