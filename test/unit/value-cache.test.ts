import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { LocalKeyProvider } from "../../src/adapters/local-kms/local-key-provider.js";
import { lruLocalCache } from "../../src/adapters/memory/lru-local-cache.js";
import { MemoryCacheStateStore } from "../../src/adapters/memory/memory-cache-state-store.js";
import { MemoryIdempotencyStore } from "../../src/adapters/memory/memory-idempotency-store.js";
import { MemorySecretStore } from "../../src/adapters/memory/memory-secret-store.js";
import { createSecretsService, type SecretsService } from "../../src/core/secrets-service.js";
import { createValueCache, type ValueCache } from "../../src/core/value-cache.js";
import type { SecretStore } from "../../src/ports/secret-store.js";
import { ControlledCacheServer, type ControlledConnection } from "../helpers/controlled-cache.js";
import { counting } from "../helpers/counting.js";
import { createInput, ManualClock, principal, uniqueName, valueUpdate } from "../helpers/core.js";
import { waitUntil } from "../helpers/lifecycle.js";

// The value cache over in-memory parts: two replicas share a store, a key provider, the cache state
// and a cache server whose connections the test cuts, restarts and inspects.

const READS = ["findSecret", "findSecrets", "findVersion"];
const alice = principal("alice");

interface Replica {
  readonly service: SecretsService;
  readonly cache: ValueCache;
  readonly connection: ControlledConnection;
}

function deployment(options: { ttlMs?: number; rotationMs?: number } = {}) {
  const clock = new ManualClock();
  const memoryStore = new MemorySecretStore();
  const store = counting<SecretStore>(memoryStore);
  const keys = counting(new LocalKeyProvider(new Map([["k1", randomBytes(32)]]), "k1"));
  const state = new MemoryCacheStateStore();
  const server = new ControlledCacheServer();
  const idempotency = new MemoryIdempotencyStore();
  const replicas: Replica[] = [];
  const replica = async (): Promise<Replica> => {
    const connection = server.connect();
    const cache = createValueCache(
      { store: store.proxy, keys: keys.proxy, clock, shared: connection, local: lruLocalCache(1 << 20), state },
      { ttlMs: options.ttlMs ?? 30_000, maxStalenessMs: 100, keyRotationMs: options.rotationMs ?? 3_600_000 },
    );
    cache.start();
    const service = createSecretsService({ store: store.proxy, idempotency, keys: keys.proxy, clock, pendingLeaseMs: 30_000, cache, changes: cache });
    await waitUntil(() => cache.usable(), "the cache is usable");
    const r = { service, cache, connection };
    replicas.push(r);
    return r;
  };
  /** Store reads and KMS calls made by `work`. */
  const costOf = async (work: () => Promise<unknown>) => {
    const reads = store.count(...READS);
    const kms = keys.count("decryptDataKey", "generateDataKey");
    await work();
    return { reads: store.count(...READS) - reads, kms: keys.count("decryptDataKey", "generateDataKey") - kms };
  };
  const stop = () => Promise.all(replicas.map((r) => r.cache.stop()));
  return { clock, store, keys, state, server, replica, costOf, stop, memoryStore };
}

let stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(stops.map((s) => s()));
  stops = [];
});
const deploy = (options?: Parameters<typeof deployment>[0]) => {
  const d = deployment(options);
  stops.push(d.stop);
  return d;
};

const entryKey = (tenant: string, name: string, slot = "0") => `${tenant}|${name}|e|${slot}`;
const value = async (r: Replica, name: string, version = 0) => (await r.service.getSecretValue(alice, name, version)).value;

describe("value cache: hot reads", () => {
  it("a repeated read costs no store read and no KMS call, on the replica that filled it and (after one cache-key unwrap) on another", async () => {
    const d = deploy();
    const [r1, r2] = [await d.replica(), await d.replica()];
    const name = uniqueName();
    await r1.service.createSecret(alice, createInput(name, "v1"));
    // The first read fills both layers (and makes the deployment's cache key: one more KMS call).
    expect((await d.costOf(() => value(r1, name))).reads).toBe(1);
    await waitUntil(() => d.server.get(entryKey("alice", name)) !== undefined, "the entry is written");
    expect(await d.costOf(() => value(r1, name))).toEqual({ reads: 0, kms: 0 });
    // r2 finds r1's sealed entry in the shared layer: it unwraps the shared cache key once, reads nothing.
    expect(await d.costOf(() => value(r2, name))).toEqual({ reads: 0, kms: 1 });
    expect(await d.costOf(() => value(r2, name))).toEqual({ reads: 0, kms: 0 });
    expect(await value(r2, name)).toBe("v1");
  });

  it("batch reads come from the cache too, in request order, with per-name errors still from the store", async () => {
    const d = deploy();
    const r1 = await d.replica();
    const names = [uniqueName(), uniqueName(), uniqueName()];
    for (const n of names) await r1.service.createSecret(alice, createInput(n, `value of ${n}`));
    const missing = uniqueName();
    const ask = [names[2]!, missing, names[0]!, names[1]!];
    const first = await r1.service.batchGetSecretValues(alice, ask);
    expect(first.values.map((v) => v.name)).toEqual([names[2], names[0], names[1]]);
    expect(first.errors.map((e) => e.name)).toEqual([missing]);
    const cost = await d.costOf(async () => {
      const again = await r1.service.batchGetSecretValues(alice, [names[2]!, names[0]!, names[1]!]);
      expect(again.values.map((v) => v.value)).toEqual([names[2], names[0], names[1]].map((n) => `value of ${n}`));
    });
    expect(cost).toEqual({ reads: 0, kms: 0 });
  });

  it("keeps tenants apart: the same name in two tenants reads each tenant's own value", async () => {
    const d = deploy();
    const r1 = await d.replica();
    const name = uniqueName();
    const bob = principal("bob");
    await r1.service.createSecret(alice, createInput(name, "alice's"));
    await r1.service.createSecret(bob, createInput(name, "bob's"));
    for (let i = 0; i < 2; i++) {
      expect(await value(r1, name)).toBe("alice's");
      expect((await r1.service.getSecretValue(bob, name, 0)).value).toBe("bob's");
    }
    await expect(r1.service.getSecretValue(principal("carol"), name, 0)).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
  });

  it("holds no plaintext in the shared layer", async () => {
    const d = deploy();
    const r1 = await d.replica();
    const plaintexts = Array.from({ length: 5 }, () => `sk_live_${randomBytes(12).toString("hex")}`);
    const names = plaintexts.map(() => uniqueName());
    for (const [i, n] of names.entries()) await r1.service.createSecret(alice, createInput(n, plaintexts[i]!));
    for (const n of names) await value(r1, n);
    await waitUntil(() => names.every((n) => d.server.get(entryKey("alice", n))), "entries are written");
    for (const bytes of d.server.dump()) for (const p of plaintexts) expect(bytes.includes(p)).toBe(false);
  });
});

describe("value cache: read-after-write across replicas", () => {
  it("every mutation is seen by the other replica's very next read", async () => {
    const d = deploy();
    const [r1, r2] = [await d.replica(), await d.replica()];
    const name = uniqueName();
    await r1.service.createSecret(alice, createInput(name, "v1"));
    await value(r2, name);
    await value(r2, name, 1);

    await r1.service.updateSecret(alice, valueUpdate(name, "v2"));
    expect(await value(r2, name)).toBe("v2");

    await r1.service.setVersionState(alice, { name, version: 2, etag: "" }, "disabled");
    expect(await value(r2, name)).toBe("v1");
    await r1.service.setVersionState(alice, { name, version: 1, etag: "" }, "disabled");
    await expect(value(r2, name, 1)).rejects.toMatchObject({ code: "ERR_FAILED_PRECONDITION" });
    await r1.service.setVersionState(alice, { name, version: 1, etag: "" }, "enabled");
    expect(await value(r2, name, 1)).toBe("v1");
    await r1.service.setVersionState(alice, { name, version: 1, etag: "" }, "destroyed");
    await expect(value(r2, name, 1)).rejects.toMatchObject({ code: "ERR_FAILED_PRECONDITION" });

    await r1.service.deleteSecret(alice, { name, force: false, recoveryWindowDays: 7, etag: "" });
    await expect(value(r2, name)).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
    await r1.service.restoreSecret(alice, { name, etag: "" });
    await r1.service.setVersionState(alice, { name, version: 2, etag: "" }, "enabled");
    expect(await value(r2, name)).toBe("v2");

    await r1.service.deleteSecret(alice, { name, force: true, recoveryWindowDays: 0, etag: "" });
    await r1.service.createSecret(alice, createInput(name, "reborn"));
    expect(await value(r2, name)).toBe("reborn");
  });

  it("stops serving a secret from the instant it expires", async () => {
    const d = deploy();
    const r1 = await d.replica();
    const name = uniqueName();
    await r1.service.createSecret(alice, { ...createInput(name, "short-lived"), expireTime: new Date(d.clock.now().getTime() + 10_000) });
    expect(await value(r1, name)).toBe("short-lived");
    expect(await d.costOf(() => value(r1, name))).toEqual({ reads: 0, kms: 0 });
    d.clock.advance(10_000);
    await expect(value(r1, name)).rejects.toMatchObject({ code: "ERR_NOT_FOUND" });
  });

  it("a fill that raced a commit (store read before it, cache write after it) is never served", async () => {
    const d = deploy();
    const [r1, r2] = [await d.replica(), await d.replica()];
    const name = uniqueName();
    await r1.service.createSecret(alice, createInput(name, "old"));
    // Hold r2's store read until r1's write has committed and returned.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const original = d.memoryStore.findSecret.bind(d.memoryStore);
    let holdNext = true;
    d.memoryStore.findSecret = async (tenant, n) => {
      const found = await original(tenant, n);
      if (holdNext && n === name) {
        holdNext = false;
        await held;
      }
      return found;
    };
    const staleRead = value(r2, name);
    await waitUntil(() => !holdNext, "r2 has read the store");
    await r1.service.updateSecret(alice, valueUpdate(name, "new"));
    release();
    expect(await staleRead).toBe("old"); // concurrent with the write: either is right
    await waitUntil(() => d.server.get(entryKey("alice", name)) !== undefined, "r2's fill reached the cache");
    expect(await value(r2, name)).toBe("new");
    expect(await value(r1, name)).toBe("new");
  });
});

describe("value cache: faults of the shared layer", () => {
  it("reads and writes succeed while it is unreachable; a write that could not reach it changes the epoch, and no replica serves the old value once it has polled", async () => {
    const d = deploy();
    const [r1, r2] = [await d.replica(), await d.replica()];
    const name = uniqueName();
    await r1.service.createSecret(alice, createInput(name, "v1"));
    expect(await value(r2, name)).toBe("v1");
    const epochBefore = (await d.state.readState()).epoch;
    r1.connection.setCut(true);
    expect(await value(r1, name)).toBe("v1");
    await r1.service.updateSecret(alice, valueUpdate(name, "v2"));
    expect((await d.state.readState()).epoch).not.toBe(epochBefore);
    expect(await value(r1, name)).toBe("v2");
    // r2 still reaches the cache, whose generation r1 could not change: its next epoch poll ends the old value.
    await waitUntil(async () => (await value(r2, name)) === "v2", "r2 reads v2");
    r1.connection.setCut(false);
    await waitUntil(() => r1.cache.usable(), "r1 uses the cache again");
    expect(await value(r1, name)).toBe("v2");
    expect(await d.costOf(() => value(r1, name))).toEqual({ reads: 0, kms: 0 });
  });

  it("a cache server restarted from its old persisted data is not trusted: a new epoch is set before it is used", async () => {
    const d = deploy();
    const [r1, r2] = [await d.replica(), await d.replica()];
    const name = uniqueName();
    await r1.service.createSecret(alice, createInput(name, "v1"));
    expect(await value(r2, name)).toBe("v1");
    await waitUntil(() => d.server.get(entryKey("alice", name)) !== undefined, "the entry is written");
    const persisted = d.server.snapshot();
    await r1.service.updateSecret(alice, valueUpdate(name, "v2"));
    expect(await value(r2, name)).toBe("v2");
    const epochBefore = (await d.state.readState()).epoch;
    d.server.restart(persisted);
    await waitUntil(() => r1.cache.usable() && r2.cache.usable(), "both replicas use the cache again");
    expect((await d.state.readState()).epoch).not.toBe(epochBefore);
    expect(await value(r2, name)).toBe("v2");
    expect(await value(r1, name)).toBe("v2");
  });

  it("an entry that does not authenticate (edited, or moved to another tenant's key) is a miss, not an error", async () => {
    const d = deploy();
    const r1 = await d.replica();
    const name = uniqueName();
    await r1.service.createSecret(alice, createInput(name, "alice's"));
    await value(r1, name);
    const key = entryKey("alice", name);
    await waitUntil(() => d.server.get(key) !== undefined, "the entry is written");
    const entry = Uint8Array.from(d.server.get(key) as Uint8Array);
    entry[entry.length - 1]! ^= 1;
    d.server.set(key, entry);
    const fresh = await d.replica(); // no in-process entry: it must use the shared one
    expect(await value(fresh, name)).toBe("alice's");
    // Alice's entry planted under bob's name (same generation) does not open for bob.
    const bob = principal("bob");
    await fresh.service.createSecret(bob, createInput(name, "bob's"));
    d.server.set(entryKey("bob", name), d.server.get(key)!);
    d.server.set(`bob|${name}|g`, (d.server.get(`alice|${name}|g`) as string | undefined) ?? "");
    const other = await d.replica();
    expect((await other.service.getSecretValue(bob, name, 0)).value).toBe("bob's");
  });

  it("rotates the cache key without a read outage: entries sealed under the previous key still open", async () => {
    const rotationMs = 60_000;
    const d = deploy({ ttlMs: 10 * 60_000, rotationMs });
    const r1 = await d.replica();
    const name = uniqueName();
    await r1.service.createSecret(alice, createInput(name, "v1"));
    await value(r1, name);
    await waitUntil(() => d.server.get(entryKey("alice", name)) !== undefined, "the entry is written");
    d.clock.advance(rotationMs);
    const r2 = await d.replica();
    expect(await d.costOf(() => value(r2, name))).toEqual({ reads: 0, kms: 1 });
    const other = uniqueName();
    await r1.service.createSecret(alice, createInput(other, "v2"));
    await value(r1, other);
    const period = Math.floor(d.clock.now().getTime() / rotationMs);
    const { epoch } = await d.state.readState();
    await waitUntil(async () => (await d.state.findCacheKey(`ck-${period}-${epoch}`)) !== undefined, "the new period's key is stored");
    expect(await d.state.findCacheKey(`ck-${period - 1}-${epoch}`)).toBeDefined();
  });

  it("rotateKey makes a new cache key at once: entries sealed before are never opened again, here or on another replica", async () => {
    const d = deploy({ ttlMs: 10 * 60_000 });
    const [r1, r2] = [await d.replica(), await d.replica()];
    const name = uniqueName();
    await r1.service.createSecret(alice, createInput(name, "v1"));
    await value(r1, name);
    await waitUntil(() => d.server.get(entryKey("alice", name)) !== undefined, "the entry is written");
    expect(await d.costOf(() => value(r2, name))).toMatchObject({ reads: 0 }); // served from the cache
    const before = await d.state.readState();
    const sealedBefore = d.server.get(entryKey("alice", name));
    expect(await r1.cache.rotateKey()).toBe(true);
    const after = await d.state.readState();
    expect(after.epoch).not.toBe(before.epoch);
    // The other replica once it has polled the epoch: the old entry is a miss (it reads the store and fills anew).
    await waitUntil(async () => (await d.costOf(() => value(r2, name))).reads > 0, "the other replica no longer serves the old entry");
    // The entry filled now is sealed under a new key, stored under the new epoch's id, from a new data key.
    await waitUntil(() => d.server.get(entryKey("alice", name)) !== sealedBefore, "a new entry is written");
    const period = Math.floor(d.clock.now().getTime() / 3_600_000);
    const oldKey = await d.state.findCacheKey(`ck-${period}-${before.epoch}`);
    const newKey = await d.state.findCacheKey(`ck-${period}-${after.epoch}`);
    expect(oldKey).toBeDefined();
    expect(newKey).toBeDefined();
    expect(Buffer.from(newKey!.wrapped).equals(Buffer.from(oldKey!.wrapped))).toBe(false);
    // The replica that rotated opens the new entry: from the cache, after unwrapping the new key once.
    expect(await d.costOf(() => value(r1, name))).toEqual({ reads: 0, kms: 1 });
    expect(await value(r1, name)).toBe("v1");
  });
});
