import { randomBytes } from "node:crypto";
import type { CacheStateStore } from "../ports/cache-state-store.js";
import type { ChangeEvent, ChangeListener } from "../ports/change-events.js";
import type { LocalCache } from "../ports/local-cache.js";
import type { CacheKey, CacheRead, SecretCache } from "../ports/secret-cache.js";
import type { Principal } from "./principal.js";
import { CacheKeyRing } from "./cache-keys.js";
import { openEntry, readHeader, sealEntry, type EntryTags } from "./cache-entry.js";
import {
  assembleBatch,
  checkBatchNames,
  checkValueRead,
  readCurrentValues,
  readValue,
  type BatchOutcome,
  type BatchResult,
  type OpenedValue,
  type ReadDeps,
  type SecretValue,
} from "./reads.js";
import { isValidName } from "./validation.js";

// The value cache: two layers in front of the store and KMS, and the rules that keep them right.
//
// Validity. Every secret has a generation token in the shared layer (Redis); a commit gives it a new
// random token before the write returns (`committed`). An entry counts only if it was filled under the
// secret's current token, and the token a reader fills under is the one it read *before* reading the
// store, so a fill racing a commit is tagged with the old token and never counts. The in-process layer
// holds plaintext tagged the same way, and is checked against the shared token on every read (one
// round trip, no database query, no KMS call), so a write on one replica is seen at once on all.
//
// Faults. Every entry is also tagged with the deployment's cache epoch, kept in the database. A writer
// that cannot set the token (Redis down, slow, unreachable) sets a new epoch instead; replicas poll the
// epoch every maxStaleness/4, so entries filled before are ignored everywhere within the bound. A
// replica that reconnects to a Redis instance other than the one the epoch was checked against (a
// restart, empty or from old persisted data, a failover) sets a new epoch before it uses the cache. A
// reader that cannot reach Redis reads the store. While the epoch is unknown or a new one is not yet
// stored, the cache is not used.

export interface ValueCacheOptions {
  readonly ttlMs: number;
  readonly maxStalenessMs: number;
  readonly keyRotationMs: number;
}

export type CacheLayer = "local" | "redis";
export type CacheResult = "hit" | "miss" | "error";

export interface ValueCacheDeps extends ReadDeps {
  readonly shared: SecretCache;
  readonly local?: LocalCache<LocalEntry>;
  readonly state: CacheStateStore;
  readonly observe?: (layer: CacheLayer, result: CacheResult) => void;
  /** State changes worth a log line (never with a value). */
  readonly report?: (event: string, fields?: Record<string, unknown>) => void;
}

export interface LocalEntry extends EntryTags {
  readonly opened: OpenedValue;
}

export interface ValueCache extends ChangeListener {
  getSecretValue(p: Principal, name: string, version: number): Promise<SecretValue>;
  batchGetSecretValues(p: Principal, names: readonly string[]): Promise<BatchResult>;
  /** Subscribes to the cache connection and starts polling the epoch. */
  start(): void;
  /** Whether reads use the cache now (connected, epoch known and stored, no recent cache error). */
  usable(): boolean;
  /**
   * A new epoch, so a new cache key (made under the KeyProvider's active master key): entries sealed
   * before are never opened again, here at once and on every replica within the staleness bound.
   * False when the epoch could not be stored yet (the poller keeps trying; the cache is not used here meanwhile).
   */
  rotateKey(): Promise<boolean>;
  stop(): Promise<void>;
}

/** Generation tokens outlive every entry filled under them (entries live ttlMs). */
const GENERATION_TTL_MS = 24 * 60 * 60 * 1000;
/** After a cache error, reads skip the cache for this long rather than wait on it again. */
const BYPASS_MS = 500;
const token = () => randomBytes(9).toString("base64url");
const localKey = (tenant: string, name: string, slot: string) => `${tenant}\n${name}\n${slot}`;

/**
 * What an in-process entry costs in resident memory, so CACHE_LOCAL_MAX_BYTES bounds RSS, not only
 * live objects: about 640 bytes of objects plus its strings on the V8 heap, doubled for the heap
 * V8 keeps committed around long-lived entries that churn (both measured with bench/cache-bound.ts).
 */
const residentCost = (opened: OpenedValue, name: string, tenant: string) =>
  2 * (640 + 2 * (opened.value.value.length + 2 * name.length + tenant.length) + hostsCost(opened.value.allowedHosts));
const hostsCost = (hosts: readonly string[] | undefined) => (hosts ? hosts.reduce((sum, h) => sum + 64 + 2 * h.length, 32) : 0);

export function createValueCache(deps: ValueCacheDeps, options: ValueCacheOptions): ValueCache {
  const { shared, local, state, clock } = deps;
  const ring = new CacheKeyRing({ state, keys: deps.keys, clock, rotationMs: options.keyRotationMs });
  const observe = deps.observe ?? (() => {});
  const report = deps.report ?? (() => {});
  const pollMs = Math.max(25, Math.floor(options.maxStalenessMs / 4));

  let epoch: string | undefined;
  /** An epoch this replica set and has not yet stored: until it is, the cache is not used. */
  let pending: string | undefined;
  /** Counts epoch writes, so a poll that overlapped one does not undo it. */
  let epochWrites = 0;
  let connected = false;
  let connection = 0;
  let bypassUntil = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let unwatch: (() => void) | undefined;

  const usable = () => connected && epoch !== undefined && pending === undefined && performance.now() >= bypassUntil;

  function adopt(next: string): void {
    if (next === epoch) return;
    epoch = next;
    local?.clear();
  }

  function failed(err: unknown): void {
    observe("redis", "error");
    if (performance.now() >= bypassUntil) report("cache unreachable; reading from the store", { err: { type: err instanceof Error ? err.name : typeof err } });
    bypassUntil = performance.now() + BYPASS_MS;
  }

  async function storeEpoch(next: string, instance?: string): Promise<boolean> {
    epochWrites++;
    try {
      await state.writeState({ epoch: next, ...(instance !== undefined ? { instance } : {}) });
      return true;
    } catch {
      return false;
    } finally {
      epochWrites++;
    }
  }

  /** Entries filled before now are ignored from here on, on every replica once they poll. */
  async function newEpoch(reason: string): Promise<boolean> {
    const next = token();
    pending = next;
    adopt(next);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await storeEpoch(next)) {
        if (pending === next) pending = undefined;
        report("cache epoch changed", { reason });
        return true;
      }
    }
    // Still pending: the poller keeps trying, and this replica does not use the cache meanwhile.
    report("cache epoch not stored; other replicas may serve older state until it is", { reason });
    return false;
  }

  async function poll(): Promise<void> {
    if (pending !== undefined) {
      const next = pending;
      if (!(await storeEpoch(next))) return;
      if (pending === next) pending = undefined;
    }
    const before = epochWrites;
    try {
      const s = await state.readState();
      if (before === epochWrites && pending === undefined) adopt(s.epoch);
    } catch {
      // The database is unreachable: writes cannot commit either, so the epoch cannot move meanwhile.
    }
  }

  /** A (re)connected cache server: a different instance than the epoch was checked against means a new epoch. */
  async function checkInstance(instance: string, seq: number): Promise<void> {
    while (!stopped && seq === connection) {
      try {
        const before = epochWrites;
        const s = await state.readState();
        if (seq !== connection) return;
        if (s.instance !== instance) {
          const next = token();
          if (!(await storeEpoch(next, instance))) throw new Error("epoch not stored");
          adopt(next);
          report("cache server instance changed; new cache epoch", {});
        } else if (pending === undefined && before === epochWrites) {
          adopt(s.epoch);
        }
        if (seq === connection) connected = true;
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, pollMs).unref());
      }
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => void poll().finally(schedule), pollMs);
    timer.unref();
  }

  /**
   * The value, if it was filled under `epoch` and the secret's generation in `read`: from `held` (the
   * in-process entry, whose shared entry was not fetched) or else from the shared entry in `read`.
   */
  async function cached(p: Principal, name: string, slot: string, read: CacheRead, epoch: string, held: LocalEntry | undefined): Promise<OpenedValue | undefined> {
    const now = clock.now();
    const live = (o: OpenedValue) => !o.expireTime || o.expireTime > now;
    if (held) {
      if (held.epoch === epoch && held.generation === read.generation && live(held.opened)) {
        observe("local", "hit");
        return held.opened;
      }
      observe("local", "miss");
      return undefined;
    }
    if (local) observe("local", "miss");
    const header = read.entry && readHeader(read.entry);
    if (!read.entry || !header || header.epoch !== epoch || header.generation !== read.generation || (slot !== "0" && String(header.version) !== slot)) {
      observe("redis", "miss");
      return undefined;
    }
    const key = await ring.get(header.keyId).catch(() => undefined);
    const opened = key && openEntry(key, read.entry, { tenant: p.tenant, name, slot }, name);
    if (!opened || !live(opened)) {
      observe("redis", "miss");
      return undefined;
    }
    observe("redis", "hit");
    keepLocal(p, name, slot, opened, { epoch, generation: read.generation });
    return opened;
  }

  /** Undefined when the shared layer failed (the caller reads the store). */
  async function readShared(lookups: Parameters<SecretCache["read"]>[0]): Promise<CacheRead[] | undefined> {
    try {
      return await shared.read(lookups);
    } catch (err) {
      failed(err);
      return undefined;
    }
  }

  function keepLocal(p: Principal, name: string, slot: string, opened: OpenedValue, tags: EntryTags): void {
    if (!local) return;
    const ttl = ttlFor(opened);
    if (ttl > 0) local.set(localKey(p.tenant, name, slot), { ...tags, opened }, residentCost(opened, name, p.tenant), ttl);
  }

  function ttlFor(opened: OpenedValue): number {
    const untilExpiry = opened.expireTime ? opened.expireTime.getTime() - clock.now().getTime() : Infinity;
    return Math.floor(Math.min(options.ttlMs, untilExpiry));
  }

  /** Fills both layers with what the store returned, under the tags read before the store was. */
  function fill(p: Principal, name: string, slot: string, opened: OpenedValue, tags: EntryTags): void {
    const ttl = ttlFor(opened);
    if (ttl <= 0) return;
    keepLocal(p, name, slot, opened, tags);
    const place = { tenant: p.tenant, name, slot };
    void ring
      .current(tags.epoch)
      .then(({ id, key }) => {
        const entry = sealEntry(key, { keyId: id, ...tags, version: opened.value.version, incarnation: opened.incarnation }, place, opened);
        return shared.write({ tenant: p.tenant, name }, slot, entry, ttl);
      })
      .catch(failed);
  }

  return {
    async getSecretValue(p, name, version) {
      checkValueRead(name, version);
      const epochNow = epoch;
      if (!usable() || epochNow === undefined) return (await readValue(deps, p, name, version)).value;
      const key: CacheKey = { tenant: p.tenant, name };
      const slot = String(version);
      const held = local?.get(localKey(p.tenant, name, slot));
      let read = (await readShared([{ key, ...(held ? {} : { slot }) }]))?.[0];
      if (!read) return (await readValue(deps, p, name, version)).value;
      let hit = await cached(p, name, slot, read, epochNow, held);
      if (!hit && held) {
        // The in-process entry is stale; another replica may have filled the shared layer since.
        read = (await readShared([{ key, slot }]))?.[0];
        if (!read) return (await readValue(deps, p, name, version)).value;
        hit = await cached(p, name, slot, read, epochNow, undefined);
      }
      if (hit) return hit.value;
      const opened = await readValue(deps, p, name, version);
      fill(p, name, slot, opened, { epoch: epochNow, generation: read.generation });
      return opened.value;
    },

    async batchGetSecretValues(p, names) {
      checkBatchNames(names);
      const epochNow = epoch;
      if (!usable() || epochNow === undefined) return assembleBatch(await readCurrentValues(deps, p, names));
      const cacheable = names.filter((n) => isValidName(n));
      const held = cacheable.map((n) => local?.get(localKey(p.tenant, n, "0")));
      const reads = await readShared(cacheable.map((n, i) => ({ key: { tenant: p.tenant, name: n }, ...(held[i] ? {} : { slot: "0" }) })));
      if (!reads) return assembleBatch(await readCurrentValues(deps, p, names));
      const hits = new Map<string, OpenedValue>();
      const generations = new Map<string, string>();
      await Promise.all(
        cacheable.map(async (name, i) => {
          const read = reads[i]!;
          generations.set(name, read.generation);
          const hit = await cached(p, name, "0", read, epochNow, held[i]);
          if (hit) hits.set(name, hit);
        }),
      );
      const missing = names.filter((n) => !hits.has(n));
      const fetched = new Map((missing.length ? await readCurrentValues(deps, p, missing) : []).map((o) => [o.name, o]));
      const outcomes = names.map((name): BatchOutcome => {
        const hit = hits.get(name);
        if (hit) return { name, opened: hit };
        const outcome = fetched.get(name)!;
        const generation = generations.get(name);
        if (outcome.opened && generation !== undefined) fill(p, name, "0", outcome.opened, { epoch: epochNow, generation });
        return outcome;
      });
      return assembleBatch(outcomes);
    },

    async committed(event: ChangeEvent) {
      const key = { tenant: event.tenant, name: event.name };
      if (connected) {
        try {
          await shared.setGeneration(key, token(), GENERATION_TTL_MS);
          return;
        } catch (err) {
          failed(err);
        }
      }
      await newEpoch("a commit could not reach the cache");
    },

    usable,
    rotateKey: () => newEpoch("cache key rotated"),

    start() {
      unwatch = shared.watch((event) => {
        connection++;
        if (event.state === "lost") {
          connected = false;
          return;
        }
        void checkInstance(event.instance, connection);
      });
      void poll().finally(schedule);
    },

    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      unwatch?.();
      local?.clear();
      await ring.close();
    },
  };
}
