import type { SecretRecord } from "../ports/secret-store.js";

/** Expired secrets behave as purged, from the instant they expire. */
export const isExpired = (s: SecretRecord, now: Date): boolean => s.expireTime !== undefined && s.expireTime <= now;

/** Readable and writable: neither scheduled for deletion nor expired. */
export const isLive = (s: SecretRecord, now: Date): boolean => !s.deleteTime && !isExpired(s, now);

/** Scheduled for deletion and still within its recovery window. */
export const isRecoverable = (s: SecretRecord, now: Date): boolean =>
  s.deleteTime !== undefined && !isExpired(s, now) && (s.purgeTime === undefined || s.purgeTime > now);

export { isDue } from "../ports/list-query.js";
