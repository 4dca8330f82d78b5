import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectMongo, type MongoStores } from "../../src/adapters/mongodb/connect.js";
import { AlreadyExistsError, NotFoundError } from "../../src/errors.js";
import type { SecretsService } from "../../src/core/secrets-service.js";
import { startSweeper, sweepOnce, type SweepDeps, type SweepResult } from "../../src/core/sweeper.js";
import type { Principal } from "../../src/core/principal.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import { openKeys, openStore, type StoreFixture } from "../helpers/adapters.js";
import { ManualClock, coreOver, createInput, principal, uniqueName, valueUpdate } from "../helpers/core.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { mongoUriFor } from "../helpers/services.js";

// The sweeper over FerretDB with two replicas: two independent connections (own client,
// own store, own clock) to the same database sweep at the same time. Secrets past their
// recovery window or expiry disappear with every trace (secret, versions, claims,
// ciphertext) and their names are free again; everything else is left exactly as it was.
// No TTL index does any of this.

const HOUR_MS = 60 * 60 * 1000;
const LEASE_MS = 30_000;

interface Replica {
  readonly store: StoreFixture["store"];
  readonly idempotency: StoreFixture["idempotency"];
  readonly clock: ManualClock;
}

const sweepDeps = (r: Replica): SweepDeps => ({ store: r.store, idempotency: r.idempotency, clock: r.clock, pendingLeaseMs: LEASE_MS });

describe("sweeper with two replicas (FerretDB)", () => {
  let fixture: StoreFixture; // replica A's connection, and the database
  let second: MongoStores; // replica B's own connection to the same database
  let raw: RawDb;
  let keys: KeyProvider;

  beforeAll(async () => {
    fixture = await openStore("mongodb", "sweeper");
    second = await connectMongo({ uri: mongoUriFor(fixture.db!), defaultDb: "unused" });
    raw = await openRawDb(fixture.db!);
    keys = openKeys("local");
  });
  afterAll(async () => {
    await raw?.close();
    await second?.close();
    await keys?.close();
    await fixture?.dispose();
  });

  /** Two replicas whose clocks both read `offsetMs` from now. */
  function replicas(offsetMs: number): [Replica, Replica] {
    const make = (store: Replica["store"], idempotency: Replica["idempotency"]) => {
      const clock = new ManualClock();
      clock.advance(offsetMs);
      return { store, idempotency, clock };
    };
    return [make(fixture.store, fixture.idempotency), make(second.secrets, second.idempotency)];
  }

  /** Raw documents (secret, versions, claims) that belong to one secret id. */
  async function tracesOf(id: string) {
    return {
      secret: await raw.db.collection("secrets").findOne({ sid: id }),
      versions: await raw.db.collection("secret_versions").find({ $or: [{ secretId: id }, { _id: { $regex: `^${id}:` } as never }] }).toArray(),
      claims: await raw.db.collection("secret_claims").find({ $or: [{ secretId: id }, { _id: { $regex: `^${id}:` } as never }] }).toArray(),
    };
  }

  /** Base64 of every ciphertext and wrapped key stored for a secret id (versions and the current copy). */
  async function sealedBytesOf(id: string): Promise<string[]> {
    const out: string[] = [];
    const add = (sealed: { ct: { buffer: Uint8Array }; wk: { buffer: Uint8Array } } | undefined) => {
      if (!sealed) return;
      out.push(Buffer.from(sealed.ct.buffer).toString("base64"), Buffer.from(sealed.wk.buffer).toString("base64"));
    };
    const t = await tracesOf(id);
    add(t.secret?.current?.sealed);
    for (const v of t.versions) add(v.sealed);
    return out;
  }

  it("sweeper with two replicas purges once and leaves nothing behind (scan the raw collections)", async () => {
    const setupClock = new ManualClock();
    const devA = principal("dev_sweep_a");
    const devB = principal("dev_sweep_b");
    const core = coreOver(fixture.store, keys, setupClock, LEASE_MS, fixture.idempotency);
    const idOf = async (p: Principal, name: string) => (await raw.db.collection("secrets").findOne({ tenant: p.tenant, name }))!.sid as string;

    // Due after 25 hours: deleted with a 1-day window (several versions, one disabled, one destroyed),
    // expired (1 h ttl), another developer's, and one with a crashed writer's claim and uncommitted version.
    const due: { p: Principal; name: string }[] = [];
    for (let i = 0; i < 6; i++) {
      const name = uniqueName("due_deleted");
      await core.createSecret(devA, createInput(name, `${name}-v1`));
      await core.putSecretValue(devA, { name, value: `${name}-v2`, etag: "", requestId: "" });
      await core.updateSecret(devA, valueUpdate(name, `${name}-v3`));
      await core.setVersionState(devA, { name, version: 1, etag: "" }, "disabled");
      if (i % 2 === 0) await core.setVersionState(devA, { name, version: 2, etag: "" }, "destroyed");
      await core.deleteSecret(devA, { name, force: false, recoveryWindowDays: 1, etag: "" });
      due.push({ p: devA, name });
    }
    for (let i = 0; i < 4; i++) {
      const name = uniqueName("due_expired");
      await core.createSecret(devA, { ...createInput(name, `${name}-v1`), ttlMs: HOUR_MS });
      await core.putSecretValue(devA, { name, value: `${name}-v2`, etag: "", requestId: "" });
      due.push({ p: devA, name });
    }
    for (let i = 0; i < 2; i++) {
      const name = uniqueName("due_other_dev");
      await core.createSecret(devB, createInput(name, `${name}-v1`));
      await core.deleteSecret(devB, { name, force: false, recoveryWindowDays: 1, etag: "" });
      due.push({ p: devB, name });
    }
    {
      const name = uniqueName("due_with_leftovers");
      await core.createSecret(devA, createInput(name, `${name}-v1`));
      const deleted = await core.deleteSecret(devA, { name, force: false, recoveryWindowDays: 1, etag: "" });
      const id = await idOf(devA, name);
      const version = (await fixture.store.findVersion(id, 1))!;
      // what a writer killed between its claim and its commit leaves behind
      await fixture.store.claimRevision({ secretId: id, revision: deleted.revision + 1, writeId: "dead-writer", createTime: setupClock.now(), version: 2, subject: "ghost", tenant: devA.tenant, name });
      await fixture.store.insertVersion({ ...version, version: 2, writeId: "dead-writer" });
      due.push({ p: devA, name });
    }

    // Not due after 25 hours: live, soft-deleted with a 7-day window, expiring in 48 h.
    const kept: { p: Principal; name: string; kind: "live" | "deleted" | "expiring" }[] = [];
    for (let i = 0; i < 3; i++) {
      const name = uniqueName("keep_live");
      await core.createSecret(devA, createInput(name, `${name}-v1`));
      await core.putSecretValue(devA, { name, value: `${name}-v2`, etag: "", requestId: "" });
      kept.push({ p: devA, name, kind: "live" });
    }
    for (let i = 0; i < 2; i++) {
      const name = uniqueName("keep_deleted");
      await core.createSecret(devA, createInput(name, `${name}-v1`));
      await core.deleteSecret(devA, { name, force: false, recoveryWindowDays: 7, etag: "" });
      kept.push({ p: devA, name, kind: "deleted" });
    }
    {
      const name = uniqueName("keep_expiring");
      await core.createSecret(devB, { ...createInput(name, `${name}-v1`), ttlMs: 48 * HOUR_MS });
      kept.push({ p: devB, name, kind: "expiring" });
    }

    const dueIds = await Promise.all(due.map((d) => idOf(d.p, d.name)));
    const dueSealed = (await Promise.all(dueIds.map(sealedBytesOf))).flat();
    expect(dueSealed.length).toBeGreaterThan(20);
    for (const id of dueIds) {
      const t = await tracesOf(id);
      expect(t.secret).not.toBeNull();
      expect(t.versions.length).toBeGreaterThan(0);
    }
    const keptIds = await Promise.all(kept.map((k) => idOf(k.p, k.name)));
    const keptBefore = await Promise.all(keptIds.map(tracesOf));

    // Nothing is due yet half an hour on.
    const early = await Promise.all(replicas(HOUR_MS / 2).map((r) => sweepOnce(sweepDeps(r))));
    expect(early.map((r) => r.purgedSecrets)).toEqual([0, 0]);

    // Both replicas, 25 hours on, sweep at once; small batches so their loops interleave.
    const [a, b] = replicas(25 * HOUR_MS);
    const results: SweepResult[] = await Promise.all([sweepOnce(sweepDeps(a), 3), sweepOnce(sweepDeps(b), 3)]);
    const purged = results.reduce((n, r) => n + r.purgedSecrets, 0);
    expect(purged).toBeGreaterThanOrEqual(due.length);
    expect(purged).toBeLessThanOrEqual(2 * due.length);

    // Every trace of the due secrets is gone: documents, claims, and their sealed bytes anywhere.
    for (const id of dueIds) expect(await tracesOf(id), id).toEqual({ secret: null, versions: [], claims: [] });
    const everything = await raw.dumpText();
    for (const bytes of dueSealed) expect(everything).not.toContain(bytes);
    for (const d of due) expect(everything).not.toContain(d.name);

    // Everything else is exactly as it was, and readable.
    expect(await Promise.all(keptIds.map(tracesOf))).toEqual(keptBefore);
    const later = coreOver(fixture.store, keys, b.clock, LEASE_MS, fixture.idempotency);
    for (const k of kept) {
      if (k.kind === "deleted") {
        await expect(later.getSecret(k.p, k.name)).rejects.toBeInstanceOf(NotFoundError);
        await later.restoreSecret(k.p, { name: k.name, etag: "" });
      }
      expect((await later.getSecretValue(k.p, k.name, 1)).value).toBe(`${k.name}-v1`);
      if (k.kind === "live") expect((await later.getSecretValue(k.p, k.name, 0)).value).toBe(`${k.name}-v2`);
    }

    // The names are free again, for a new secret that starts over at version 1.
    for (const d of due) {
      const fresh = await later.createSecret(d.p, createInput(d.name, "reborn"));
      expect(fresh.latestVersion).toBe(1);
      expect((await later.getSecretValue(d.p, d.name, 0)).value).toBe("reborn");
      await expect(later.getSecretValue(d.p, d.name, 2)).rejects.toBeInstanceOf(NotFoundError);
    }
    await expect(later.createSecret(kept[0]!.p, createInput(kept[0]!.name, "dup"))).rejects.toBeInstanceOf(AlreadyExistsError);

    // A second round finds nothing more.
    const again = await Promise.all([sweepOnce(sweepDeps(a)), sweepOnce(sweepDeps(b))]);
    expect(again.map((r) => r.purgedSecrets)).toEqual([0, 0]);
  });

  it("both replicas remove request_id records older than 24 hours, and only those", async () => {
    const clock = new ManualClock();
    const dev = principal("dev_sweep_rid");
    const core = coreOver(fixture.store, keys, clock, LEASE_MS, fixture.idempotency);
    const name = uniqueName("rid");
    await core.createSecret(dev, { ...createInput(name, "v1"), requestId: "old-create" });
    for (let i = 0; i < 5; i++) await core.putSecretValue(dev, { name, value: `v${i + 2}`, etag: "", requestId: `old-put-${i}` });
    const records = () => raw.db.collection("idempotency").countDocuments();
    const before = await records();
    expect(before).toBeGreaterThanOrEqual(6);

    clock.advance(12 * HOUR_MS);
    await core.putSecretValue(dev, { name, value: "young", etag: "", requestId: "young-put" });

    const results = await Promise.all(replicas(24 * HOUR_MS + 60_000).map((r) => sweepOnce(sweepDeps(r))));
    const removed = results.reduce((n, r) => n + r.removedRequestIds, 0);
    expect(removed).toBeGreaterThanOrEqual(before);
    expect(removed).toBeLessThanOrEqual(2 * before);
    expect(await records()).toBe(1);
    // the young record still replays
    expect((await core.putSecretValue(dev, { name, value: "young", etag: "", requestId: "young-put" })).version.version).toBe(7);
    expect((await core.getSecret(dev, name)).latestVersion).toBe(7);
  });

  it("background sweepers on both replicas purge what falls due, and stop cleanly", async () => {
    const setupClock = new ManualClock();
    const dev = principal("dev_sweep_bg");
    const core: SecretsService = coreOver(fixture.store, keys, setupClock, LEASE_MS, fixture.idempotency);
    const names = [uniqueName("bg"), uniqueName("bg"), uniqueName("bg")];
    for (const name of names) {
      await core.createSecret(dev, createInput(name, "v"));
      await core.deleteSecret(dev, { name, force: false, recoveryWindowDays: 1, etag: "" });
    }
    const ids = await Promise.all(names.map(async (name) => (await raw.db.collection("secrets").findOne({ tenant: dev.tenant, name }))!.sid as string));
    const outcomes: (SweepResult | Error)[] = [];
    const sweepers = replicas(25 * HOUR_MS).map((r) => startSweeper(sweepDeps(r), 50, (o) => outcomes.push(o)));
    try {
      // A safety net against sweepers that never purge, not a speed check.
      await waitUntil(async () => (await raw.db.collection("secrets").countDocuments({ sid: { $in: ids } })) === 0, "the background sweepers purged", 100_000);
    } finally {
      await Promise.all(sweepers.map((s) => s.stop()));
    }
    const afterStop = outcomes.length;
    await sleep(200);
    expect(outcomes.length).toBe(afterStop); // nothing runs after stop()
    expect(outcomes.filter((o) => o instanceof Error)).toEqual([]);
    for (const id of ids) expect(await tracesOf(id)).toEqual({ secret: null, versions: [], claims: [] });
  });

  it("uses no TTL index on any collection", async () => {
    const collections = await raw.db.listCollections({}, { nameOnly: true }).toArray();
    expect(collections.map((c) => c.name)).toEqual(expect.arrayContaining(["secrets", "secret_versions", "secret_claims", "idempotency"]));
    for (const c of collections) {
      for (const index of await raw.db.collection(c.name).indexes()) {
        expect(index.expireAfterSeconds, `${c.name}.${index.name}`).toBeUndefined();
      }
    }
  });
});
