import type { SecretPatch, SecretRecord } from "./secret-store.js";

/** The reference semantics of SecretPatch: set what is given, drop what is null. */
export function applyPatch(secret: SecretRecord, patch: SecretPatch): SecretRecord {
  const next: Record<string, unknown> = { ...secret };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete next[key];
    else if (value !== undefined) next[key] = value;
  }
  return next as unknown as SecretRecord;
}
