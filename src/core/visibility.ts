import type { SecretRecord, VersionRecord } from "../ports/secret-store.js";

/** Expired secrets behave as purged, from the instant they expire. */
export const isExpired = (s: SecretRecord, now: Date): boolean => s.expireTime !== undefined && s.expireTime <= now;

/** Readable and writable: neither scheduled for deletion nor expired. */
export const isLive = (s: SecretRecord, now: Date): boolean => !s.deleteTime && !isExpired(s, now);

/** Scheduled for deletion and still within its recovery window. */
export const isRecoverable = (s: SecretRecord, now: Date): boolean =>
  s.deleteTime !== undefined && !isExpired(s, now) && (s.purgeTime === undefined || s.purgeTime > now);

export { isDue } from "../ports/list-query.js";

/** A version's state as readers see it: a change tagged with a revision the secret has not reached is not yet made. */
export function visibleVersion(v: VersionRecord, secret: Pick<SecretRecord, "revision">): VersionRecord {
  if (v.stateRevision === undefined || v.stateRevision <= secret.revision || !v.previousState) return v;
  const { destroyTime: _pending, ...rest } = v;
  return { ...rest, state: v.previousState };
}
