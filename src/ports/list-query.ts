import { nameMatcher } from "./name-globs.js";
import type { ListQuery, SecretRecord } from "./secret-store.js";

/** Byte order of the UTF-8 names, the order MongoDB sorts strings in. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The reference semantics of ListQuery (less the limit), for stores that filter in process. */
export function matchesListQuery(secret: SecretRecord, query: ListQuery): boolean {
  if (secret.tenant !== query.tenant) return false;
  if (!secret.name.startsWith(query.namePrefix)) return false;
  if (query.afterName !== undefined && compareNames(secret.name, query.afterName) <= 0) return false;
  if (!query.showDeleted && secret.deleteTime) return false;
  if (secret.expireTime && secret.expireTime <= query.now) return false;
  if (query.nameGlobs && !nameMatcher(query.nameGlobs)(secret.name)) return false;
  return Object.entries(query.metadataFilter).every(([k, v]) => secret.metadata[k] === v);
}

/** A secret is due for purge once its recovery window or its lifetime is over. */
export function isDue(secret: SecretRecord, now: Date): boolean {
  return Boolean((secret.purgeTime && secret.purgeTime <= now) || (secret.expireTime && secret.expireTime <= now));
}
