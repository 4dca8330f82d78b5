import { randomBytes, randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectArgumentRefused } from "./refused-argument.js";
import { AlreadyExistsError } from "../../src/errors.js";
import type { RevisionClaim, SecretRecord, SecretStore, VersionRecord } from "../../src/ports/secret-store.js";
import type { StoreFixture } from "../helpers/adapters.js";

// One exercise suite for every SecretStore implementation.

const t0 = new Date("2026-01-01T00:00:00.000Z");

const bytes = (n: number) => new Uint8Array(randomBytes(n));

export function secretRecord(overrides: Partial<SecretRecord> = {}): SecretRecord {
  return {
    id: randomUUID(),
    tenant: "dev_a",
    name: "api_key",
    description: "",
    metadata: {},
    latestVersion: 1,
    createTime: t0,
    updateTime: t0,
    createdBy: "alice",
    updatedBy: "alice",
    etag: randomBytes(6).toString("hex"),
    revision: 1,
    maxVersions: 100,
    liveVersions: 1,
    ...overrides,
  };
}

export function versionRecord(secretId: string, version: number, overrides: Partial<VersionRecord> = {}): VersionRecord {
  return {
    secretId,
    version,
    state: "enabled",
    createTime: t0,
    createdBy: "alice",
    writeId: randomBytes(6).toString("hex"),
    keyId: "k1",
    sealed: {
      format: 1,
      keyId: "k1",
      wrappedKey: bytes(60),
      iv: bytes(12),
      ciphertext: bytes(20),
      tag: bytes(16),
    },
    ...overrides,
  };
}

/** What a caller could pass instead of a string, number or date: an array, and a query operator. */
const injections = (valid: unknown): unknown[] => [[valid], { $ne: null }];

/** One call of a store method with a bad value in one argument, and the argument the error must name. */
type ArgumentCase = [argument: string, call: (bad: never) => Promise<unknown>];

/** Every SecretStore method (the compiler checks none is left out), each argument in turn. */
function argumentCases(store: SecretStore, seeded: { secret: SecretRecord; version: VersionRecord; claim: RevisionClaim }): Record<Exclude<keyof SecretStore, "close">, ArgumentCase[]> {
  const { secret, version, claim } = seeded;
  const id = secret.id;
  const patch = { revision: 9, updateTime: t0, updatedBy: "mallory", etag: "e9", description: "overwritten" };
  const query = { tenant: secret.tenant, namePrefix: "", metadataFilter: {}, limit: 100, showDeleted: true, now: t0 };
  return {
    insertSecret: [
      ["secret.tenant", (bad) => store.insertSecret({ ...secretRecord(), tenant: bad })],
      ["secret.name", (bad) => store.insertSecret({ ...secretRecord(), name: bad })],
      ["secret.id", (bad) => store.insertSecret({ ...secretRecord({ name: "planted" }), id: bad })],
    ],
    findSecret: [
      ["tenant", (bad) => store.findSecret(bad, secret.name)],
      ["name", (bad) => store.findSecret(secret.tenant, bad)],
    ],
    findSecrets: [
      ["tenant", (bad) => store.findSecrets(bad, [secret.name])],
      ["names", (bad) => store.findSecrets(secret.tenant, [bad])],
      ["names", (bad) => store.findSecrets(secret.tenant, { $in: [bad] } as never)],
    ],
    listSecrets: [
      ["tenant", (bad) => store.listSecrets({ ...query, tenant: bad })],
      ["namePrefix", (bad) => store.listSecrets({ ...query, namePrefix: bad })],
      ["afterName", (bad) => store.listSecrets({ ...query, afterName: bad })],
      ["metadataFilter", (bad) => store.listSecrets({ ...query, metadataFilter: { env: bad } })],
      ["limit", (bad) => store.listSecrets({ ...query, limit: bad })],
      ["now", (bad) => store.listSecrets({ ...query, now: bad })],
      ["nameGlobs", (bad) => store.listSecrets({ ...query, nameGlobs: [bad] })],
    ],
    updateSecret: [
      ["secret.tenant", (bad) => store.updateSecret({ ...secret, tenant: bad }, secret.revision, patch)],
      ["secret.name", (bad) => store.updateSecret({ ...secret, name: bad }, secret.revision, patch)],
      ["secret.id", (bad) => store.updateSecret({ ...secret, id: bad }, secret.revision, patch)],
      ["expectedRevision", (bad) => store.updateSecret(secret, bad, patch)],
      ["patch.revision", (bad) => store.updateSecret(secret, secret.revision, { ...patch, revision: bad })],
      ["patch.retainedFrom", (bad) => store.updateSecret(secret, secret.revision, { ...patch, retainedFrom: bad })],
    ],
    recordAccess: [
      ["tenant", (bad) => store.recordAccess(bad, secret.name, t0)],
      ["name", (bad) => store.recordAccess(secret.tenant, bad, t0)],
      ["time", (bad) => store.recordAccess(secret.tenant, secret.name, bad)],
    ],
    lastAccessTimes: [
      ["tenant", (bad) => store.lastAccessTimes(bad, [secret.name])],
      ["names", (bad) => store.lastAccessTimes(secret.tenant, [bad])],
      ["names", (bad) => store.lastAccessTimes(secret.tenant, { $in: [bad] } as never)],
    ],
    claimRevision: [
      ["claim.secretId", (bad) => store.claimRevision({ ...claim, revision: 7, secretId: bad })],
      ["claim.tenant", (bad) => store.claimRevision({ ...claim, revision: 7, tenant: bad })],
      ["claim.name", (bad) => store.claimRevision({ ...claim, revision: 7, name: bad })],
      ["claim.revision", (bad) => store.claimRevision({ ...claim, revision: bad })],
      ["claim.writeId", (bad) => store.claimRevision({ ...claim, revision: 7, writeId: bad })],
    ],
    findClaim: [
      ["secretId", (bad) => store.findClaim(bad, claim.revision)],
      ["revision", (bad) => store.findClaim(id, bad)],
    ],
    releaseClaim: [
      ["secretId", (bad) => store.releaseClaim(bad, claim.revision, claim.writeId)],
      ["revision", (bad) => store.releaseClaim(id, bad, claim.writeId)],
      ["writeId", (bad) => store.releaseClaim(id, claim.revision, bad)],
    ],
    insertVersion: [
      ["version.secretId", (bad) => store.insertVersion({ ...versionRecord(id, 7), secretId: bad })],
      ["version.version", (bad) => store.insertVersion({ ...versionRecord(id, 7), version: bad })],
      ["version.writeId", (bad) => store.insertVersion({ ...versionRecord(id, 7), writeId: bad })],
    ],
    findVersion: [
      ["secretId", (bad) => store.findVersion(bad, 1)],
      ["version", (bad) => store.findVersion(id, bad)],
    ],
    listVersions: [
      ["secretId", (bad) => store.listVersions(bad, 10, 10)],
      ["atMost", (bad) => store.listVersions(id, bad, 10)],
      ["limit", (bad) => store.listVersions(id, 10, bad)],
    ],
    newestEnabledVersion: [
      ["secretId", (bad) => store.newestEnabledVersion(bad, 10)],
      ["atMost", (bad) => store.newestEnabledVersion(id, bad)],
    ],
    oldestLiveVersions: [
      ["secretId", (bad) => store.oldestLiveVersions(bad, 10, 10)],
      ["atMost", (bad) => store.oldestLiveVersions(id, bad, 10)],
      ["limit", (bad) => store.oldestLiveVersions(id, 10, bad)],
      ["from", (bad) => store.oldestLiveVersions(id, 10, 10, bad)],
    ],
    countLiveVersions: [
      ["secretId", (bad) => store.countLiveVersions(bad, 10)],
      ["atMost", (bad) => store.countLiveVersions(id, bad)],
    ],
    setVersionState: [
      ["secretId", (bad) => store.setVersionState(bad, 1, "destroyed", 8, t0)],
      ["version", (bad) => store.setVersionState(id, bad, "destroyed", 8, t0)],
      ["state", (bad) => store.setVersionState(id, 1, bad, 8, t0)],
      ["revision", (bad) => store.setVersionState(id, 1, "destroyed", bad, t0)],
      ["at", (bad) => store.setVersionState(id, 1, "destroyed", 8, bad)],
    ],
    undoVersionState: [
      ["secretId", (bad) => store.undoVersionState(bad, 1, 1)],
      ["version", (bad) => store.undoVersionState(id, bad, 1)],
      ["revision", (bad) => store.undoVersionState(id, 1, bad)],
    ],
    eraseDestroyedVersions: [
      ["secretId", (bad) => store.eraseDestroyedVersions(bad, 100)],
      ["committedRevision", (bad) => store.eraseDestroyedVersions(id, bad)],
      ["versions", (bad) => store.eraseDestroyedVersions(id, 100, [bad])],
      ["versions", (bad) => store.eraseDestroyedVersions(id, 100, { $in: [bad] } as never)],
    ],
    removeVersion: [
      ["secretId", (bad) => store.removeVersion(bad, version.version, version.writeId)],
      ["version", (bad) => store.removeVersion(id, bad, version.writeId)],
      ["writeId", (bad) => store.removeVersion(id, version.version, bad)],
    ],
    findClaimsOlderThan: [
      ["before", (bad) => store.findClaimsOlderThan(bad, 10)],
      ["limit", (bad) => store.findClaimsOlderThan(new Date(), bad)],
    ],
    scanSecrets: [
      ["after", (bad) => store.scanSecrets(bad, 10)],
      ["limit", (bad) => store.scanSecrets(undefined, bad)],
    ],
    rewrapVersion: [
      ["secretId", (bad) => store.rewrapVersion(bad, 1, version.sealed!.wrappedKey, { keyId: "k2", wrapped: new Uint8Array(60) })],
      ["version", (bad) => store.rewrapVersion(id, bad, version.sealed!.wrappedKey, { keyId: "k2", wrapped: new Uint8Array(60) })],
      ["from", (bad) => store.rewrapVersion(id, 1, bad, { keyId: "k2", wrapped: new Uint8Array(60) })],
      ["to.keyId", (bad) => store.rewrapVersion(id, 1, version.sealed!.wrappedKey, { keyId: bad, wrapped: new Uint8Array(60) })],
      ["to.wrapped", (bad) => store.rewrapVersion(id, 1, version.sealed!.wrappedKey, { keyId: "k2", wrapped: bad })],
    ],
    findDue: [
      ["now", (bad) => store.findDue(bad, 10)],
      ["limit", (bad) => store.findDue(new Date(), bad)],
    ],
    purgeSecret: [
      ["secret.tenant", (bad) => store.purgeSecret({ ...secret, tenant: bad })],
      ["secret.name", (bad) => store.purgeSecret({ ...secret, name: bad })],
      ["secret.id", (bad) => store.purgeSecret({ ...secret, id: bad })],
    ],
  };
}

export function secretStoreContract(kind: string, open: () => Promise<StoreFixture>): void {
  describe(`SecretStore contract: ${kind}`, () => {
    let fixture: StoreFixture;
    let store: SecretStore;
    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
    });
    afterEach(async () => fixture.dispose());

    it("inserts and finds a secret by tenant and name, round-tripping every field", async () => {
      const s = secretRecord({ description: "desc ✓", metadata: { env: "prod", "team.name": "a=b" } });
      await store.insertSecret(s);
      expect(await store.findSecret("dev_a", "api_key")).toEqual(s);
      expect(await store.findSecret("dev_b", "api_key")).toBeUndefined();
      expect(await store.findSecret("dev_a", "API_KEY")).toBeUndefined();
    });

    it("refuses a duplicate (tenant, name) but allows the name for another tenant", async () => {
      await store.insertSecret(secretRecord());
      await expect(store.insertSecret(secretRecord())).rejects.toBeInstanceOf(AlreadyExistsError);
      await expect(store.insertSecret(secretRecord({ tenant: "dev_b" }))).resolves.toBeUndefined();
    });

    it("updates only when the revision matches", async () => {
      const s = secretRecord();
      await store.insertSecret(s);
      const patch = { description: "new", metadata: { a: "1" }, latestVersion: 2, revision: 2, updateTime: new Date(t0.getTime() + 1000), updatedBy: "bob", etag: "e2" };
      expect(await store.updateSecret(s, 7, patch)).toBeUndefined();
      expect(await store.findSecret("dev_a", "api_key")).toEqual(s);
      const updated = await store.updateSecret(s, 1, patch);
      expect(updated).toEqual({ ...s, ...patch });
      expect(await store.findSecret("dev_a", "api_key")).toEqual(updated);
      // A patch without optional fields leaves them as they are.
      const touched = await store.updateSecret(s, 2, { revision: 3, updateTime: t0, updatedBy: "carol", etag: "e3" });
      expect(touched).toMatchObject({ description: "new", metadata: { a: "1" }, latestVersion: 2, revision: 3, etag: "e3" });
    });

    it("notes an access time, keeping a later one, apart from the record (which it never changes)", async () => {
      const s = secretRecord();
      await store.insertSecret(s);
      expect(await store.lastAccessTimes(s.tenant, [s.name])).toEqual(new Map());
      const t1 = new Date("2026-01-01T05:00:00.000Z");
      await store.recordAccess(s.tenant, s.name, t1);
      expect(await store.lastAccessTimes(s.tenant, [s.name])).toEqual(new Map([[s.name, t1]]));
      await store.recordAccess(s.tenant, s.name, new Date("2026-01-01T04:00:00.000Z"));
      expect(await store.lastAccessTimes(s.tenant, [s.name])).toEqual(new Map([[s.name, t1]]));
      const t2 = new Date("2026-01-01T06:00:00.000Z");
      await store.recordAccess(s.tenant, s.name, t2);
      expect(await store.lastAccessTimes(s.tenant, [s.name, "missing"])).toEqual(new Map([[s.name, t2]]));
      expect(await store.lastAccessTimes(s.tenant, [])).toEqual(new Map());
      // The record is as inserted: find and list never carry the time.
      expect(await store.findSecret(s.tenant, s.name)).toEqual(s);
      expect(await store.findSecrets(s.tenant, [s.name])).toEqual([s]);
      const listed = await store.listSecrets({ tenant: s.tenant, namePrefix: "", metadataFilter: {}, limit: 10, showDeleted: true, now: t0 });
      expect(listed.map((r) => [r.name, "lastAccessTime" in r])).toEqual([[s.name, false]]);
    });

    it("keeps the access time across patches, and a patch's revision stays the one to expect", async () => {
      const s = secretRecord();
      await store.insertSecret(s);
      const t1 = new Date("2026-01-01T05:00:00.000Z");
      await store.recordAccess(s.tenant, s.name, t1);
      const patch = { description: "new", revision: 2, updateTime: new Date(t0.getTime() + 1000), updatedBy: "bob", etag: "e2" };
      const updated = await store.updateSecret(s, 1, patch);
      expect(updated).toEqual({ ...s, ...patch });
      const cleared = await store.updateSecret(s, 2, { revision: 3, deleteTime: null, current: null, updateTime: t0, updatedBy: "c", etag: "e3" });
      expect(cleared?.revision).toBe(3);
      expect(await store.findSecret(s.tenant, s.name)).toEqual(cleared);
      expect(await store.lastAccessTimes(s.tenant, [s.name])).toEqual(new Map([[s.name, t1]]));
    });

    it("never undoes a commit: access times noted while the record is updated leave every update in place", async () => {
      // On FerretDB an update rewrites the whole document without isolation, so a time written into
      // the record while a commit landed could put back the revision before it.
      const s = secretRecord();
      await store.insertSecret(s);
      for (let revision = 1; revision <= 40; revision++) {
        const time = new Date(t0.getTime() + revision * 1000);
        const [updated] = await Promise.all([
          store.updateSecret(s, revision, { revision: revision + 1, updateTime: time, updatedBy: "w", etag: `e${revision + 1}` }),
          store.recordAccess(s.tenant, s.name, time),
          store.recordAccess(s.tenant, s.name, time),
        ]);
        expect(updated?.revision).toBe(revision + 1);
        expect((await store.findSecret(s.tenant, s.name))?.revision).toBe(revision + 1);
      }
    });

    it("records access only for the tenant and name given, and ignores a missing secret", async () => {
      const mine = secretRecord();
      const theirs = secretRecord({ tenant: "dev_b" });
      const other = secretRecord({ name: "other" });
      for (const s of [mine, theirs, other]) await store.insertSecret(s);
      const t1 = new Date("2026-01-01T05:00:00.000Z");
      await store.recordAccess(mine.tenant, mine.name, t1);
      await expect(store.recordAccess("dev_a", "missing", t1)).resolves.toBeUndefined();
      await expect(store.recordAccess("dev_c", mine.name, t1)).resolves.toBeUndefined();
      expect(await store.lastAccessTimes(mine.tenant, [mine.name, other.name])).toEqual(new Map([[mine.name, t1]]));
      expect(await store.lastAccessTimes(theirs.tenant, [theirs.name])).toEqual(new Map());
      expect(await store.findSecret(theirs.tenant, theirs.name)).toEqual(theirs);
      expect(await store.findSecret(other.tenant, other.name)).toEqual(other);
      expect(await store.findSecret("dev_a", "missing")).toBeUndefined();
    });

    it("starts a re-created name with no access time", async () => {
      const s = secretRecord();
      await store.insertSecret(s);
      await store.recordAccess(s.tenant, s.name, new Date("2026-01-01T05:00:00.000Z"));
      await store.purgeSecret(s);
      const again = secretRecord();
      await store.insertSecret(again);
      expect(await store.findSecret(again.tenant, again.name)).toEqual(again);
      expect(await store.lastAccessTimes(again.tenant, [again.name])).toEqual(new Map());
    });

    it("updates nothing for an unknown id, nor another incarnation of the same name", async () => {
      expect(await store.updateSecret(secretRecord(), 1, { revision: 2, updateTime: t0, updatedBy: "a", etag: "y" })).toBeUndefined();
      const s = secretRecord();
      await store.insertSecret(s);
      const stale = { ...s, id: randomUUID() };
      expect(await store.updateSecret(stale, 1, { revision: 2, updateTime: t0, updatedBy: "a", etag: "y" })).toBeUndefined();
      await store.purgeSecret(stale);
      expect(await store.findSecret(s.tenant, s.name)).toEqual(s);
    });

    it("lists one tenant's secrets in byte order of name, with prefix, cursor, filter and limit", async () => {
      const names = ["b", "a_2", "A", "a", "a_1", "Z9", "ab"];
      for (const name of names) {
        await store.insertSecret(secretRecord({ name, metadata: name.startsWith("a") ? { env: "prod", "k.x": "1" } : { env: "dev" } }));
      }
      await store.insertSecret(secretRecord({ tenant: "dev_b", name: "a0" }));
      const all = await store.listSecrets({ tenant: "dev_a", namePrefix: "", metadataFilter: {}, limit: 100, showDeleted: false, now: t0 });
      expect(all.map((s) => s.name)).toEqual(["A", "Z9", "a", "a_1", "a_2", "ab", "b"]);
      const prefixed = await store.listSecrets({ tenant: "dev_a", namePrefix: "a_", metadataFilter: {}, limit: 100, showDeleted: false, now: t0 });
      expect(prefixed.map((s) => s.name)).toEqual(["a_1", "a_2"]);
      const after = await store.listSecrets({ tenant: "dev_a", namePrefix: "", metadataFilter: {}, afterName: "a_1", limit: 2, showDeleted: false, now: t0 });
      expect(after.map((s) => s.name)).toEqual(["a_2", "ab"]);
      const filtered = await store.listSecrets({ tenant: "dev_a", namePrefix: "", metadataFilter: { env: "prod", "k.x": "1" }, limit: 100, showDeleted: false, now: t0 });
      expect(filtered.map((s) => s.name)).toEqual(["a", "a_1", "a_2", "ab"]);
      const none = await store.listSecrets({ tenant: "dev_a", namePrefix: "", metadataFilter: { env: "prod", "k.x": "2" }, limit: 100, showDeleted: false, now: t0 });
      expect(none).toEqual([]);
    });

    it("lists only names matching the globs, with the cursor and limit applied after them", async () => {
      for (const name of ["stripe_live", "stripe_x", "openai_key", "stripe", "s1", "s22", "Stripe_x", "stripe_live_2"]) {
        await store.insertSecret(secretRecord({ name }));
      }
      await store.insertSecret(secretRecord({ tenant: "dev_b", name: "stripe_b" }));
      const list = (nameGlobs: string[], extra: { afterName?: string; limit?: number } = {}) =>
        store.listSecrets({ tenant: "dev_a", namePrefix: "", metadataFilter: {}, limit: extra.limit ?? 100, showDeleted: false, now: t0, nameGlobs, ...extra }).then((r) => r.map((s) => s.name));
      expect(await list(["stripe_*"])).toEqual(["stripe_live", "stripe_live_2", "stripe_x"]);
      expect(await list(["stripe_?"])).toEqual(["stripe_x"]);
      expect(await list(["s?", "openai_key"])).toEqual(["openai_key", "s1"]);
      expect(await list(["s*2"])).toEqual(["s22", "stripe_live_2"]);
      expect(await list(["*"])).toHaveLength(8);
      expect(await list([])).toEqual([]);
      // The cursor and the limit count only matching names: a hidden name never bounds a page.
      expect(await list(["stripe_*"], { limit: 1 })).toEqual(["stripe_live"]);
      expect(await list(["stripe_*"], { afterName: "stripe_live", limit: 1 })).toEqual(["stripe_live_2"]);
      // Patterns are anchored and "." is not special.
      expect(await list(["tripe_*"])).toEqual([]);
    });

    it("inserts a version once per (secret, version) and finds it with its sealed bytes", async () => {
      const id = randomUUID();
      const v1 = versionRecord(id, 1);
      expect(await store.insertVersion(v1)).toBe(true);
      expect(await store.insertVersion(versionRecord(id, 1))).toBe(false);
      expect(await store.findVersion(id, 1)).toEqual(v1);
      expect(await store.findVersion(id, 2)).toBeUndefined();
      expect(await store.findVersion(randomUUID(), 1)).toBeUndefined();
    });

    it("removes a version only for the writer that inserted it", async () => {
      const id = randomUUID();
      const v = versionRecord(id, 3);
      await store.insertVersion(v);
      expect(await store.removeVersion(id, 3, "someone-else")).toBe(false);
      expect(await store.findVersion(id, 3)).toEqual(v);
      expect(await store.removeVersion(id, 3, v.writeId)).toBe(true);
      expect(await store.findVersion(id, 3)).toBeUndefined();
      expect(await store.insertVersion(versionRecord(id, 3))).toBe(true);
    });

    it("lets exactly one of many concurrent writers take a version slot", async () => {
      const id = randomUUID();
      const results = await Promise.all(Array.from({ length: 10 }, () => store.insertVersion(versionRecord(id, 7))));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it("lets exactly one of many concurrent writers claim a revision", async () => {
      const id = randomUUID();
      const claims = Array.from({ length: 10 }, (_, i) => ({ secretId: id, revision: 2, writeId: `w${i}`, createTime: t0, version: 2, subject: "alice", tenant: "dev_a", name: "api_key" }));
      const results = await Promise.all(claims.map((c) => store.claimRevision(c)));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = claims[results.indexOf(true)]!;
      expect(await store.findClaim(id, 2)).toEqual(winner);
    });

    it("releases a claim only for its holder, after which the revision can be claimed again", async () => {
      const id = randomUUID();
      await store.claimRevision({ secretId: id, revision: 5, writeId: "holder", createTime: t0, subject: "alice", tenant: "dev_a", name: "api_key" });
      await store.releaseClaim(id, 5, "intruder");
      expect(await store.findClaim(id, 5)).toEqual({ secretId: id, revision: 5, writeId: "holder", createTime: t0, subject: "alice", tenant: "dev_a", name: "api_key" });
      await store.releaseClaim(id, 5, "holder");
      expect(await store.findClaim(id, 5)).toBeUndefined();
      expect(await store.claimRevision({ secretId: id, revision: 5, writeId: "next", createTime: t0, subject: "alice", tenant: "dev_a", name: "api_key" })).toBe(true);
    });

    it("round-trips lifecycle fields and the current-version copy, and clears fields patched with null", async () => {
      const id = randomUUID();
      const v = versionRecord(id, 1);
      const s = secretRecord({
        id,
        expireTime: new Date("2027-01-01T00:00:00.000Z"),
        deleteTime: t0,
        purgeTime: new Date("2026-01-08T00:00:00.000Z"),
        current: { version: 1, createTime: t0, sealed: v.sealed! },
      });
      await store.insertSecret(s);
      expect(await store.findSecret("dev_a", "api_key")).toEqual(s);
      const cleared = await store.updateSecret(s, 1, { revision: 2, deleteTime: null, purgeTime: null, current: null, updateTime: t0, updatedBy: "b", etag: "e" });
      expect(cleared).not.toHaveProperty("deleteTime");
      expect(cleared).not.toHaveProperty("purgeTime");
      expect(cleared).not.toHaveProperty("current");
      expect(cleared?.expireTime).toEqual(s.expireTime);
    });

    it("lists without deleted (unless asked) and expired secrets, and without the sealed copy", async () => {
      const sealed = versionRecord("x", 1).sealed!;
      await store.insertSecret(secretRecord({ name: "live", current: { version: 1, createTime: t0, sealed } }));
      await store.insertSecret(secretRecord({ name: "deleted", deleteTime: t0, purgeTime: new Date("2026-02-01T00:00:00Z") }));
      await store.insertSecret(secretRecord({ name: "expired", expireTime: new Date("2025-12-31T00:00:00Z") }));
      await store.insertSecret(secretRecord({ name: "later", expireTime: new Date("2026-06-01T00:00:00Z") }));
      const query = { tenant: "dev_a", namePrefix: "", metadataFilter: {}, limit: 10, now: t0 };
      const live = await store.listSecrets({ ...query, showDeleted: false });
      expect(live.map((s) => s.name)).toEqual(["later", "live"]);
      expect(live.every((s) => s.current === undefined)).toBe(true);
      expect((await store.listSecrets({ ...query, showDeleted: true })).map((s) => s.name)).toEqual(["deleted", "later", "live"]);
    });

    it("finds many secrets of one tenant in one call", async () => {
      for (const name of ["a", "b", "c"]) await store.insertSecret(secretRecord({ name }));
      await store.insertSecret(secretRecord({ tenant: "dev_b", name: "a" }));
      const found = await store.findSecrets("dev_a", ["c", "a", "zz"]);
      expect(found.map((s) => s.name).sort()).toEqual(["a", "c"]);
      expect(found.every((s) => s.tenant === "dev_a")).toBe(true);
    });

    it("queries versions: newest first up to a bound, newest enabled, oldest live, live count", async () => {
      const id = randomUUID();
      for (let v = 1; v <= 6; v++) await store.insertVersion(versionRecord(id, v, { state: v === 5 ? "disabled" : "enabled" }));
      await store.setVersionState(id, 2, "destroyed", 2, t0);
      const listed = await store.listVersions(id, 5, 3);
      expect(listed.map((v) => v.version)).toEqual([5, 4, 3]);
      expect(listed.every((v) => v.sealed === undefined)).toBe(true);
      expect((await store.newestEnabledVersion(id, 5))?.version).toBe(4);
      expect((await store.newestEnabledVersion(id, 5))?.sealed).toBeDefined();
      expect(await store.oldestLiveVersions(id, 5, 2)).toEqual([1, 3]);
      // From a lower bound: versions below it are skipped; destroyed ones on the way too.
      expect(await store.oldestLiveVersions(id, 5, 2, 2)).toEqual([3, 4]);
      expect(await store.oldestLiveVersions(id, 5, 10, 3)).toEqual([3, 4, 5]);
      expect(await store.oldestLiveVersions(id, 6, 10, 7)).toEqual([]);
      expect(await store.countLiveVersions(id, 5)).toBe(4);
      expect(await store.countLiveVersions(id, 6)).toBe(5);
    });

    it("records a state change with its revision and the previous state, and can take it back", async () => {
      const id = randomUUID();
      const v = versionRecord(id, 1);
      await store.insertVersion(v);
      const at = new Date("2026-03-01T00:00:00.000Z");
      await store.setVersionState(id, 1, "destroyed", 7, at);
      expect(await store.findVersion(id, 1)).toEqual({ ...v, state: "destroyed", previousState: "enabled", stateRevision: 7, destroyTime: at });
      await store.setVersionState(id, 1, "destroyed", 7, at); // the same revision again changes nothing
      expect((await store.findVersion(id, 1))?.previousState).toBe("enabled");
      await store.undoVersionState(id, 1, 6); // another revision's undo does nothing
      expect((await store.findVersion(id, 1))?.state).toBe("destroyed");
      await store.undoVersionState(id, 1, 7);
      expect(await store.findVersion(id, 1)).toEqual(v);
    });

    it("erases the sealed value of committed destroys only, for good", async () => {
      const id = randomUUID();
      for (let n = 1; n <= 3; n++) await store.insertVersion(versionRecord(id, n));
      await store.setVersionState(id, 1, "destroyed", 4, t0);
      await store.setVersionState(id, 2, "destroyed", 5, t0);
      await store.setVersionState(id, 3, "disabled", 4, t0);
      await store.eraseDestroyedVersions(id, 4);
      expect((await store.findVersion(id, 1))?.sealed).toBeUndefined();
      expect((await store.findVersion(id, 2))?.sealed).toBeDefined(); // revision 5 is not committed yet
      expect((await store.findVersion(id, 3))?.sealed).toBeDefined();
      await store.eraseDestroyedVersions(id, 5);
      expect((await store.findVersion(id, 2))?.sealed).toBeUndefined();
      await store.undoVersionState(id, 2, 5); // the core never undoes a committed destroy; the bytes stay gone
      expect((await store.findVersion(id, 2))?.sealed).toBeUndefined();
    });

    it("erases only the versions named, when named, and only committed destroys among them", async () => {
      const id = randomUUID();
      for (let n = 1; n <= 4; n++) await store.insertVersion(versionRecord(id, n));
      for (const n of [1, 2, 3]) await store.setVersionState(id, n, "destroyed", n === 3 ? 6 : 4, t0);
      await store.eraseDestroyedVersions(id, 5, [2, 3, 4, 9]);
      expect((await store.findVersion(id, 1))?.sealed).toBeDefined(); // not named
      expect((await store.findVersion(id, 2))?.sealed).toBeUndefined();
      expect((await store.findVersion(id, 3))?.sealed).toBeDefined(); // revision 6 is not committed yet
      expect((await store.findVersion(id, 4))?.sealed).toBeDefined(); // not destroyed
    });

    it("scans every tenant's secrets in pages, deleted ones and the current value included", async () => {
      const made = [
        secretRecord({ tenant: "dev_b", name: "b1" }),
        secretRecord({ tenant: "dev_a", name: "a2", deleteTime: t0, purgeTime: t0 }),
        secretRecord({ tenant: "dev_a", name: "a1", current: { version: 1, createTime: t0, sealed: versionRecord("x", 1).sealed! } }),
      ];
      for (const s of made) await store.insertSecret(s);
      const seen: SecretRecord[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.scanSecrets(after, 2);
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(2);
        seen.push(...page.map((p) => p.secret));
        after = page.at(-1)!.key;
      }
      expect(seen.map((s) => `${s.tenant}/${s.name}`).sort()).toEqual(["dev_a/a1", "dev_a/a2", "dev_b/b1"]);
      expect(seen.find((s) => s.name === "a1")?.current).toEqual(made[2]!.current);
      expect(made[2]!.current).toBeDefined();
    });

    it("re-wraps a version's data key only while it holds the expected one and is not destroyed", async () => {
      const id = randomUUID();
      const v = versionRecord(id, 1);
      await store.insertVersion(v);
      await store.insertVersion(versionRecord(id, 2));
      const to = { keyId: "k2", wrapped: new Uint8Array(60).fill(9) };
      expect(await store.rewrapVersion(id, 1, new Uint8Array(60).fill(1), to)).toBe(false); // not the key it holds
      expect(await store.rewrapVersion(id, 1, v.sealed!.wrappedKey, to)).toBe(true);
      const after = await store.findVersion(id, 1);
      expect(after).toEqual({ ...v, keyId: "k2", sealed: { ...v.sealed!, keyId: "k2", wrappedKey: to.wrapped } });
      expect(await store.rewrapVersion(id, 1, v.sealed!.wrappedKey, { ...to, keyId: "k3" })).toBe(false); // already moved
      await store.setVersionState(id, 2, "destroyed", 3, t0);
      const two = (await store.findVersion(id, 2))!;
      expect(await store.rewrapVersion(id, 2, two.sealed!.wrappedKey, to)).toBe(false);
      expect(await store.rewrapVersion(id, 9, v.sealed!.wrappedKey, to)).toBe(false); // no such version
    });

    it("keeps retainedFrom on the record, set by a patch", async () => {
      const s = secretRecord({ name: "kept" });
      await store.insertSecret(s);
      expect((await store.findSecret(s.tenant, s.name))?.retainedFrom).toBeUndefined();
      const patch = { revision: s.revision + 1, updateTime: t0, updatedBy: "u", etag: "e2", retainedFrom: 40 };
      expect((await store.updateSecret(s, s.revision, patch))?.retainedFrom).toBe(40);
      expect((await store.findSecret(s.tenant, s.name))?.retainedFrom).toBe(40);
    });

    it("finds claims older than a time", async () => {
      const id = randomUUID();
      const old = { secretId: id, revision: 2, writeId: "w1", createTime: t0, subject: "a", tenant: "dev_a", name: "x" };
      await store.claimRevision(old);
      await store.claimRevision({ ...old, revision: 3, writeId: "w2", createTime: new Date("2026-01-02T00:00:00Z") });
      expect(await store.findClaimsOlderThan(new Date("2026-01-01T12:00:00Z"), 10)).toEqual([old]);
    });

    it("finds what is due and purges every trace of it, idempotently, freeing the name", async () => {
      const due = secretRecord({ name: "due", deleteTime: t0, purgeTime: t0 });
      const expired = secretRecord({ name: "gone", expireTime: t0 });
      const kept = secretRecord({ name: "kept", deleteTime: t0, purgeTime: new Date("2026-02-01T00:00:00Z") });
      for (const s of [due, expired, kept]) {
        await store.insertSecret(s);
        await store.insertVersion(versionRecord(s.id, 1));
        await store.claimRevision({ secretId: s.id, revision: 2, writeId: "w", createTime: t0, subject: "a", tenant: s.tenant, name: s.name });
      }
      const found = await store.findDue(new Date(t0.getTime() + 1), 10);
      expect(found.map((s) => s.name).sort()).toEqual(["due", "gone"]);
      // Racing purges: exactly one removed the record (only it announces the purge).
      const removed = await Promise.all([store.purgeSecret(due), store.purgeSecret(due), store.purgeSecret(due)]);
      expect(removed.filter(Boolean)).toHaveLength(1);
      expect(await store.purgeSecret(due)).toBe(false);
      expect(await store.findSecret("dev_a", "due")).toBeUndefined();
      expect(await store.findVersion(due.id, 1)).toBeUndefined();
      expect(await store.findClaim(due.id, 2)).toBeUndefined();
      expect(await store.findSecret("dev_a", "kept")).toBeDefined();
      expect(await store.findVersion(kept.id, 1)).toBeDefined();
      await expect(store.insertSecret(secretRecord({ name: "due" }))).resolves.toBeUndefined();
    });

    it("refuses an array or an object for any argument of every method with InvalidArgumentError, running no query", async () => {
      // Two tenants' data, which no refused call may read, change or remove.
      const seeded = await Promise.all(
        ["dev_a", "dev_b"].map(async (tenant) => {
          const secret = secretRecord({ tenant, metadata: { env: "prod" } });
          const version = versionRecord(secret.id, 1);
          const claim = { secretId: secret.id, revision: 2, writeId: `w_${tenant}`, createTime: t0, subject: "alice", tenant, name: secret.name };
          await store.insertSecret(secret);
          await store.insertVersion(version);
          await store.claimRevision(claim);
          return { secret, version, claim };
        }),
      );
      const [mine, theirs] = seeded as [(typeof seeded)[0], (typeof seeded)[0]];
      // What each argument would normally hold; the array wraps the other tenant's value.
      const usual: Record<string, unknown> = {
        tenant: theirs.secret.tenant,
        name: theirs.secret.name,
        names: theirs.secret.name,
        id: theirs.secret.id,
        secretId: theirs.secret.id,
        writeId: theirs.claim.writeId,
        after: "",
        keyId: theirs.version.keyId,
        from: theirs.version.sealed!.wrappedKey,
        wrapped: theirs.version.sealed!.wrappedKey,
        namePrefix: "",
        afterName: "",
        metadataFilter: "prod",
        nameGlobs: "*",
        state: "destroyed",
        ...Object.fromEntries(["limit", "revision", "expectedRevision", "committedRevision", "version", "versions", "atMost", "from", "retainedFrom"].map((a) => [a, 1])),
        ...Object.fromEntries(["now", "at", "before", "time"].map((a) => [a, t0])),
      };
      const cases = Object.entries(argumentCases(store, mine));
      expect(cases).toHaveLength(25);
      for (const [method, calls] of cases) {
        for (const [argument, call] of calls) {
          const plain = argument.split(".").at(-1)!;
          expect(Object.hasOwn(usual, plain), plain).toBe(true);
          for (const bad of injections(usual[plain])) {
            const label = `${method}(${argument} = ${JSON.stringify(bad)})`;
            await expectArgumentRefused(label, argument, () => call(bad as never));
          }
        }
      }
      for (const { secret, version, claim } of seeded) {
        expect(await store.findSecret(secret.tenant, secret.name)).toEqual(secret);
        expect(await store.findVersion(secret.id, 1)).toEqual(version);
        expect(await store.findClaim(secret.id, 2)).toEqual(claim);
        const listed = await store.listSecrets({ tenant: secret.tenant, namePrefix: "", metadataFilter: {}, limit: 10, showDeleted: true, now: t0 });
        expect(listed.map((s) => [s.tenant, s.name])).toEqual([[secret.tenant, secret.name]]);
      }
    });

    it("round-trips a claim's intent (metadata keys with dots included)", async () => {
      const claim = {
        secretId: randomUUID(),
        revision: 3,
        writeId: "w",
        createTime: t0,
        subject: "alice",
        tenant: "dev_a",
        name: "api_key",
        version: 4,
        patch: { description: "d", metadata: { "team.name": "x=y" }, expireTime: null, maxVersions: 5 },
        versionState: { version: 2, state: "disabled" as const },
      };
      await store.claimRevision(claim);
      expect(await store.findClaim(claim.secretId, 3)).toEqual(claim);
    });
  });
}
