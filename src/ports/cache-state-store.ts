// What the replicas of one deployment share about the cache, kept in the database (MongoDB):
// the cache epoch and the wrapped cache keys. See core/value-cache.ts.

export interface CacheState {
  /** Entries filled under another epoch are ignored; "" before the first one is set. */
  readonly epoch: string;
  /** The cache server instance the epoch was last checked against; "" when none yet. */
  readonly instance: string;
}

/** A cache key: a data key from the KeyProvider, stored wrapped. */
export interface StoredCacheKey {
  readonly id: string;
  /** The KeyProvider's master key id that wrapped it. */
  readonly keyId: string;
  readonly wrapped: Uint8Array;
  readonly createTime: Date;
}

/** Errors: UnavailableError when the database cannot be reached. */
export interface CacheStateStore {
  readState(): Promise<CacheState>;
  /** Sets the epoch, and the instance when given. Last writer wins. */
  writeState(state: { readonly epoch: string; readonly instance?: string }): Promise<void>;
  findCacheKey(id: string): Promise<StoredCacheKey | undefined>;
  /** False when a key with this id already exists (another replica stored it first). */
  insertCacheKey(key: StoredCacheKey): Promise<boolean>;
  /** Removes keys created before `time`; returns how many. */
  removeCacheKeysBefore(time: Date): Promise<number>;
}
