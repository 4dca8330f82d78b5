import type { CacheStateStore } from "../ports/cache-state-store.js";
import type { Clock } from "../ports/clock.js";
import type { KeyContext, KeyProvider } from "../ports/key-provider.js";

// The keys that seal cache entries. Each is a data key from the KeyProvider, stored wrapped in the
// database so every replica shares it and unwraps it once. One key per rotation period and cache
// epoch, with the id `ck-<period number>-<epoch>` (`ck-<period number>` under the empty epoch):
// replicas agree on it without talking (the first to need it stores it; a replica that loses that
// race unwraps the winner's). Entries sealed under the previous period's key still open until they
// lapse, so a rotation causes no read outage. A new epoch (set on cache faults, or to rotate the key
// at once after a master key change: ValueCache.rotateKey) means a new key too, made under the
// KeyProvider's active master key; entries of other epochs are never opened.

const ID_PATTERN = /^ck-(\d{1,16})(?:-[A-Za-z0-9_-]{1,32})?$/;
const EPOCH_PATTERN = /^[A-Za-z0-9_-]{0,32}$/;
/** Periods before the current one whose keys still open entries. */
const KEPT = 3;

export interface CacheKeyDeps {
  readonly state: CacheStateStore;
  readonly keys: KeyProvider;
  readonly clock: Clock;
  readonly rotationMs: number;
}

/** A context no secret version can have: no secret name holds "/", and versions start at 1. */
export function cacheKeyContext(id: string): KeyContext {
  return { developer: "secrets-service", secret: `cache-key/${id}`, version: 0 };
}

export class CacheKeyRing {
  private readonly loaded = new Map<string, Promise<Buffer | undefined>>();

  constructor(private readonly deps: CacheKeyDeps) {}

  /** The key new entries of `epoch` are sealed with (made and stored when first needed). */
  async current(epoch: string): Promise<{ id: string; key: Buffer }> {
    if (!EPOCH_PATTERN.test(epoch)) throw new Error("cache epoch is not of the form cache key ids take");
    const id = epoch === "" ? `ck-${this.period()}` : `ck-${this.period()}-${epoch}`;
    const key = await this.load(id, true);
    if (!key) throw new Error("cache key was not stored");
    return { id, key };
  }

  /** The key an entry names, or undefined when there is none by that id (or it is not of a period that can be in use). */
  get(id: string): Promise<Buffer | undefined> {
    const period = periodOf(id);
    if (period === undefined) return Promise.resolve(undefined);
    const now = this.period();
    if (period > now + 1 || period < now - KEPT) return Promise.resolve(undefined);
    return this.load(id, false);
  }

  private period(): number {
    return Math.floor(this.deps.clock.now().getTime() / this.deps.rotationMs);
  }

  /** Zeroes every key held in memory. */
  async close(): Promise<void> {
    const held = [...this.loaded.values()];
    this.loaded.clear();
    for (const key of await Promise.allSettled(held)) if (key.status === "fulfilled") key.value?.fill(0);
  }

  private load(id: string, create: boolean): Promise<Buffer | undefined> {
    const held = this.loaded.get(id);
    if (held) return held.then((key) => key ?? (create ? this.reload(id, create) : undefined));
    return this.reload(id, create);
  }

  private reload(id: string, create: boolean): Promise<Buffer | undefined> {
    const loading = this.fetch(id, create);
    this.loaded.set(id, loading);
    loading.then(
      (key) => {
        if (!key) this.loaded.delete(id);
      },
      () => this.loaded.delete(id),
    );
    this.forgetOld();
    return loading;
  }

  private async fetch(id: string, create: boolean): Promise<Buffer | undefined> {
    const { state, keys, clock } = this.deps;
    const stored = await state.findCacheKey(id);
    if (stored) return keys.decryptDataKey(stored.keyId, stored.wrapped, cacheKeyContext(id));
    if (!create) return undefined;
    const made = await keys.generateDataKey(cacheKeyContext(id));
    if (await state.insertCacheKey({ id, keyId: made.keyId, wrapped: made.wrapped, createTime: clock.now() })) {
      const before = new Date(clock.now().getTime() - KEPT * this.deps.rotationMs);
      await state.removeCacheKeysBefore(before).catch(() => {});
      return made.plaintext;
    }
    made.plaintext.fill(0);
    const winner = await state.findCacheKey(id);
    return winner ? keys.decryptDataKey(winner.keyId, winner.wrapped, cacheKeyContext(id)) : undefined;
  }

  /** Keys of periods long past are dropped and zeroed; the current period's never is. */
  private forgetOld(): void {
    const oldest = this.period() - KEPT;
    for (const [id, key] of this.loaded) {
      if ((periodOf(id) ?? 0) >= oldest) continue;
      this.loaded.delete(id);
      void key.then((k) => k?.fill(0), () => {});
    }
  }
}

function periodOf(id: string): number | undefined {
  const match = ID_PATTERN.exec(id);
  return match ? Number(match[1]) : undefined;
}
