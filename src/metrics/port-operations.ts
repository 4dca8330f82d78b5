import type { CacheStateStore } from "../ports/cache-state-store.js";
import type { IdempotencyStore } from "../ports/idempotency-store.js";
import type { KeyProvider } from "../ports/key-provider.js";
import type { SecretStore } from "../ports/secret-store.js";

// The methods of each port that metrics time: all but close. A method added to a port does not
// compile here until it is listed, so no port call goes untimed and the label set stays known.

type Operations<T> = Exclude<keyof T, "close">[];

function operationsOf<T>(listed: Record<Exclude<keyof T, "close">, true>): Operations<T> {
  return Object.keys(listed) as Operations<T>;
}

export const KEY_PROVIDER_OPERATIONS = operationsOf<KeyProvider>({
  generateDataKey: true,
  decryptDataKey: true,
  rewrapDataKey: true,
  resolveKeyId: true,
  activeKeyId: true,
});

export const SECRET_STORE_OPERATIONS = operationsOf<SecretStore>({
  insertSecret: true,
  findSecret: true,
  findSecrets: true,
  listSecrets: true,
  updateSecret: true,
  recordAccess: true,
  lastAccessTimes: true,
  claimRevision: true,
  findClaim: true,
  releaseClaim: true,
  insertVersion: true,
  findVersion: true,
  listVersions: true,
  newestEnabledVersion: true,
  oldestLiveVersions: true,
  countLiveVersions: true,
  setVersionState: true,
  undoVersionState: true,
  eraseDestroyedVersions: true,
  removeVersion: true,
  findClaimsOlderThan: true,
  scanSecrets: true,
  rewrapVersion: true,
  findDue: true,
  purgeSecret: true,
});

export const IDEMPOTENCY_STORE_OPERATIONS = operationsOf<IdempotencyStore>({ begin: true, find: true, complete: true, abandon: true, removeOlderThan: true });

export const CACHE_STATE_STORE_OPERATIONS = operationsOf<CacheStateStore>({
  readState: true,
  writeState: true,
  findCacheKey: true,
  insertCacheKey: true,
  removeCacheKeysBefore: true,
});
