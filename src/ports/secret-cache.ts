// Cache port: the shared layer of the value cache (Redis in production, memory in dev mode).
// Adapters only store bytes. The core decides what goes in, seals it, and decides when an entry is
// still valid: every entry is filled under the secret's generation token, and a commit gives the
// secret a new token (see core/value-cache.ts). Errors: UnavailableError for anything that went
// wrong (unreachable, timed out, refused); the core then reads from the store as if uncached.

/** The secret whose entries and generation token live together (one Redis Cluster hash slot). */
export interface CacheKey {
  readonly tenant: string;
  readonly name: string;
}

export interface CacheRead {
  /** The secret's generation token: "" when none is set (never set, or lapsed). */
  readonly generation: string;
  /** The entry's bytes, when one was asked for and is present. */
  readonly entry?: Uint8Array;
}

export interface CacheLookup {
  readonly key: CacheKey;
  /** The entry to fetch along with the generation token; absent: the token only. */
  readonly slot?: string;
}

/**
 * Connection state the core acts on. While "lost", the core does not use the cache. "ready" carries an
 * id of the server instance (its run id): a new id means the server restarted or failed over, so what
 * it holds may be older than what was written before.
 */
export type CacheConnectionEvent = { readonly state: "lost" } | { readonly state: "ready"; readonly instance: string };

export interface SecretCache {
  /** The generation token of each secret, and the asked-for entries, in one round trip where the server allows; in order. */
  read(lookups: readonly CacheLookup[]): Promise<CacheRead[]>;
  /** Stores an entry for `ttlMs`. */
  write(key: CacheKey, slot: string, entry: Uint8Array, ttlMs: number): Promise<void>;
  /** Sets the secret's generation token (kept `ttlMs`): entries filled under any other token are ignored from then on. */
  setGeneration(key: CacheKey, generation: string, ttlMs: number): Promise<void>;
  /**
   * Calls the listener on every connection change; at once with the current state when connected.
   * Returns a function that stops the calls.
   */
  watch(listener: (event: CacheConnectionEvent) => void): () => void;
  close(): Promise<void>;
}
