import { randomUUID } from "node:crypto";
import { systemClock, type Clock } from "../../ports/clock.js";
import type { CacheConnectionEvent, CacheKey, CacheLookup, CacheRead, SecretCache } from "../../ports/secret-cache.js";
import { checkCacheKey, checkEntry, checkGeneration, checkLookups, checkSlot, checkTtl } from "../cache-arguments.js";

export interface MemoryCacheOptions {
  /** Beyond this many stored values (tokens and entries), the oldest written is dropped. Default 10,000. */
  readonly maxEntries?: number;
  readonly clock?: Clock;
}

interface Stored {
  readonly value: Uint8Array | string;
  readonly expiresAt: number;
}

/** The SecretCache in process memory (dev mode, unit tests): always connected, one instance id per object. */
export class MemorySecretCache implements SecretCache {
  private readonly values = new Map<string, Stored>();
  private readonly maxEntries: number;
  private readonly clock: Clock;
  private readonly ready: CacheConnectionEvent = { state: "ready", instance: randomUUID() };

  constructor(options: MemoryCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.clock = options.clock ?? systemClock;
  }

  async read(lookups: readonly CacheLookup[]): Promise<CacheRead[]> {
    checkLookups(lookups);
    return lookups.map(({ key, slot }) => {
      const generation = this.get(generationKey(key));
      const entry = slot === undefined ? undefined : this.get(entryKey(key, slot));
      return {
        generation: typeof generation === "string" ? generation : "",
        ...(entry instanceof Uint8Array && { entry: new Uint8Array(entry) }),
      };
    });
  }

  async write(key: CacheKey, slot: string, entry: Uint8Array, ttlMs: number): Promise<void> {
    checkCacheKey(key);
    checkSlot(slot);
    checkEntry(entry);
    checkTtl(ttlMs);
    this.set(entryKey(key, slot), new Uint8Array(entry), ttlMs);
  }

  async setGeneration(key: CacheKey, generation: string, ttlMs: number): Promise<void> {
    checkCacheKey(key);
    checkGeneration(generation);
    checkTtl(ttlMs);
    this.set(generationKey(key), generation, ttlMs);
  }

  watch(listener: (event: CacheConnectionEvent) => void): () => void {
    let watching = true;
    queueMicrotask(() => watching && listener(this.ready));
    return () => {
      watching = false;
    };
  }

  async close(): Promise<void> {
    this.values.clear();
  }

  private get(key: string): Uint8Array | string | undefined {
    const stored = this.values.get(key);
    if (stored === undefined) return undefined;
    if (stored.expiresAt > this.clock.now().getTime()) return stored.value;
    this.values.delete(key);
    return undefined;
  }

  private set(key: string, value: Uint8Array | string, ttlMs: number): void {
    this.values.delete(key); // so that the Map's order stays the order of writing
    this.values.set(key, { value, expiresAt: this.clock.now().getTime() + ttlMs });
    for (const oldest of this.values.keys()) {
      if (this.values.size <= this.maxEntries) break;
      this.values.delete(oldest);
    }
  }
}

// Names hold no "|" and no part holds a control character, so these never collide.
const generationKey = (key: CacheKey) => `${key.tenant}|${key.name}\n`;
const entryKey = (key: CacheKey, slot: string) => `${key.tenant}|${key.name}\n${slot}`;
