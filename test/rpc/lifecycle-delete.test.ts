import { Code, ConnectError } from "@connectrpc/connect";
import { durationFromMs, timestampDate, timestampFromDate, timestampFromMs, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Secret } from "../../gen/secrets/v1/secrets_pb.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { listAllVersions, listedSecret, versionStates, waitUntil, type Secrets } from "../helpers/lifecycle.js";
import { openRawDocuments, type RawDocuments } from "../helpers/raw-documents.js";
import { connectErrorOf, expectCode } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Deletion and expiry over the real server and FerretDB: soft delete and restore
// keeping every version, show_deleted, names held while scheduled, force purges
// checked in the raw collections, recovery window rules, and expiry (ttl or
// expire_time) after which a secret behaves as purged.

const TENANT = "dev-delete";
const DAY_MS = 24 * 60 * 60 * 1000;
const TTL_MS = 1_500;

let server: TestServer;
let raw: RawDocuments;
let alice: Secrets;

beforeAll(async () => {
  server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_delete" });
  raw = await openRawDocuments(server.fixture.db);
  alice = connectGrpcClient(server.baseUrl, await server.token(TENANT, "deleter"));
});

afterAll(async () => {
  await raw?.close();
  await server?.close();
});

const ms = (t: Secret["deleteTime"]) => (t ? timestampDate(t).getTime() : undefined);
const listedNames = async (showDeleted: boolean) => (await alice.listSecrets({ pageSize: 1_000, showDeleted })).secrets.map((s) => s.name);

/** A secret with versions 1..n holding `${name}-v${i}`. */
async function createWithVersions(name: string, n: number): Promise<void> {
  await alice.createSecret({ name, value: `${name}-v1` });
  for (let i = 2; i <= n; i++) await alice.putSecretValue({ name, value: `${name}-v${i}` });
}

/** Every call on a secret that must answer NOT_FOUND once it is deleted, expired or purged. */
function callsOn(name: string): [string, () => Promise<unknown>][] {
  return [
    ["GetSecret", () => alice.getSecret({ name })],
    ["GetSecretValue latest", () => alice.getSecretValue({ name })],
    ["GetSecretValue v1", () => alice.getSecretValue({ name, version: 1n })],
    ["UpdateSecret", () => alice.updateSecret({ name, description: "changed" })],
    ["PutSecretValue", () => alice.putSecretValue({ name, value: "new" })],
    ["ListSecretVersions", () => alice.listSecretVersions({ name })],
    ["DisableSecretVersion", () => alice.disableSecretVersion({ name, version: 1n })],
    ["EnableSecretVersion", () => alice.enableSecretVersion({ name, version: 1n })],
    ["DestroySecretVersion", () => alice.destroySecretVersion({ name, version: 1n })],
  ];
}

/** True once GetSecret answers NOT_FOUND. */
async function isGone(name: string): Promise<boolean> {
  try {
    await alice.getSecret({ name });
    return false;
  } catch (err) {
    return ConnectError.from(err).code === Code.NotFound;
  }
}

async function expectAllNotFound(name: string): Promise<void> {
  for (const [label, call] of callsOn(name)) {
    const err = await connectErrorOf(call());
    expect(err.code, `${label}: ${err.rawMessage}`).toBe(Code.NotFound);
  }
}

describe("soft delete and restore", () => {
  const NAME = "roundTrip";
  let before: Secret;
  let deleted: Secret;
  let secretId: string;
  let deletedAt: [number, number];

  beforeAll(async () => {
    await createWithVersions(NAME, 3);
    await alice.createSecret({ name: "bystander", value: "b" });
    before = (await alice.getSecret({ name: NAME })).secret!;
    secretId = await raw.secretIdOf(TENANT, NAME);
    const t0 = Date.now();
    deleted = (await alice.deleteSecret({ name: NAME })).secret!;
    deletedAt = [t0, Date.now()];
  });

  it("DeleteSecret returns the secret scheduled for deletion: purge_time = delete_time + 7 days by default", () => {
    expect(deleted).toMatchObject({ name: NAME, latestVersion: 3n });
    expect(deleted.etag).not.toBe(before.etag);
    expect(ms(deleted.deleteTime)).toBeGreaterThanOrEqual(deletedAt[0] - 1);
    expect(ms(deleted.deleteTime)).toBeLessThanOrEqual(deletedAt[1] + 1);
    expect(ms(deleted.purgeTime)! - ms(deleted.deleteTime)!).toBe(7 * DAY_MS);
  });

  it("then reads and writes of it are NOT_FOUND", async () => {
    await expectAllNotFound(NAME);
  });

  it("ListSecrets hides it; show_deleted lists it with delete_time and purge_time, live secrets without", async () => {
    expect(await listedNames(false)).not.toContain(NAME);
    expect(await listedNames(false)).toContain("bystander");
    const listed = await listedSecret(alice, NAME);
    expect(listed).toMatchObject({ name: NAME, etag: deleted.etag, latestVersion: 3n });
    expect(ms(listed?.deleteTime)).toBe(ms(deleted.deleteTime));
    expect(ms(listed?.purgeTime)).toBe(ms(deleted.purgeTime));
    const bystander = await listedSecret(alice, "bystander");
    expect(bystander?.deleteTime).toBeUndefined();
    expect(bystander?.purgeTime).toBeUndefined();
  });

  it("keeps every version while scheduled", async () => {
    expect(await raw.countsFor(secretId)).toMatchObject({ secrets: 1, versions: 3 });
    for (const v of [1, 2, 3]) expect((await raw.versionDoc(secretId, v))?.sealed, `version ${v}`).toBeDefined();
  });

  it("CreateSecret of the name meanwhile is ALREADY_EXISTS saying it is scheduled for deletion", async () => {
    await expectCode(alice.createSecret({ name: NAME, value: "usurper" }), Code.AlreadyExists, /scheduled for deletion/);
    expect(await raw.secretIdOf(TENANT, NAME)).toBe(secretId);
  });

  it("RestoreSecret brings it back, every version readable", async () => {
    const restored = (await alice.restoreSecret({ name: NAME })).secret!;
    expect(restored).toMatchObject({ name: NAME, latestVersion: 3n });
    expect(restored.deleteTime).toBeUndefined();
    expect(restored.purgeTime).toBeUndefined();
    expect(restored.etag).not.toBe(deleted.etag);
    expect((await alice.getSecret({ name: NAME })).secret).toEqual(restored);

    for (const v of [1, 2, 3]) expect((await alice.getSecretValue({ name: NAME, version: BigInt(v) })).value).toBe(`${NAME}-v${v}`);
    expect(await alice.getSecretValue({ name: NAME })).toMatchObject({ version: 3n, value: `${NAME}-v3` });
    expect(await versionStates(alice, NAME)).toEqual({ 3: "ENABLED", 2: "ENABLED", 1: "ENABLED" });
    expect(await listedNames(false)).toContain(NAME);
    expect(await raw.secretIdOf(TENANT, NAME)).toBe(secretId);
    // Writable again.
    expect((await alice.putSecretValue({ name: NAME, value: `${NAME}-v4` })).version?.version).toBe(4n);
  });

  it("restoring a live secret is FAILED_PRECONDITION; an absent one NOT_FOUND", async () => {
    const live = (await alice.getSecret({ name: NAME })).secret!;
    await expectCode(alice.restoreSecret({ name: NAME }), Code.FailedPrecondition);
    expect((await alice.getSecret({ name: NAME })).secret?.etag).toBe(live.etag);
    await expectCode(alice.restoreSecret({ name: "neverExisted" }), Code.NotFound);
  });

  it("restore keeps each version's state as it was", async () => {
    await createWithVersions("keepsStates", 3);
    await alice.disableSecretVersion({ name: "keepsStates", version: 2n });
    await alice.destroySecretVersion({ name: "keepsStates", version: 1n });
    await alice.deleteSecret({ name: "keepsStates" });
    await alice.restoreSecret({ name: "keepsStates" });
    expect(await versionStates(alice, "keepsStates")).toEqual({ 3: "ENABLED", 2: "DISABLED", 1: "DESTROYED" });
    expect((await alice.getSecretValue({ name: "keepsStates" })).value).toBe("keepsStates-v3");
    await alice.enableSecretVersion({ name: "keepsStates", version: 2n });
    expect((await alice.getSecretValue({ name: "keepsStates", version: 2n })).value).toBe("keepsStates-v2");
  });
});

describe("recovery_window_days", () => {
  it.each([
    { days: 1, expected: 1 },
    { days: 30, expected: 30 },
    { days: 0, expected: 7 },
  ])("$days gives purge_time = delete_time + $expected days", async ({ days, expected }) => {
    const name = `window${days}`;
    await alice.createSecret({ name, value: "w" });
    const res = await alice.deleteSecret({ name, recoveryWindowDays: days });
    expect(ms(res.secret?.purgeTime)! - ms(res.secret?.deleteTime)!).toBe(expected * DAY_MS);
    expect(ms((await listedSecret(alice, name))?.purgeTime)).toBe(ms(res.secret?.purgeTime));
  });

  beforeAll(async () => {
    await alice.createSecret({ name: "windowRefused", value: "w" });
  });

  const refusals: { label: string; req: { recoveryWindowDays: number; force?: boolean } }[] = [
    { label: "31 days", req: { recoveryWindowDays: 31 } },
    { label: "-1 days", req: { recoveryWindowDays: -1 } },
    { label: "2,147,483,647 days", req: { recoveryWindowDays: 2_147_483_647 } },
    { label: "force with 7 days", req: { recoveryWindowDays: 7, force: true } },
    { label: "force with 1 day", req: { recoveryWindowDays: 1, force: true } },
  ];

  it.each(refusals)("$label is INVALID_ARGUMENT naming recovery_window_days, and nothing is deleted", async ({ req }) => {
    const before = (await alice.getSecret({ name: "windowRefused" })).secret!;
    await expectCode(alice.deleteSecret({ name: "windowRefused", ...req }), Code.InvalidArgument, /^recovery_window_days\b/);
    expect((await alice.getSecret({ name: "windowRefused" })).secret).toEqual(before);
  });
});

describe("force purge", () => {
  it("purges at once: the raw collections hold nothing of the old secret, and the name is free again", async () => {
    await createWithVersions("purgeMe", 3);
    await alice.disableSecretVersion({ name: "purgeMe", version: 2n });
    const oldId = await raw.secretIdOf(TENANT, "purgeMe");
    expect(await raw.countsFor(oldId)).toEqual({ secrets: 1, versions: 3, claims: 0 });

    const res = await alice.deleteSecret({ name: "purgeMe", force: true });
    expect(res.secret?.name).toBe("purgeMe");
    expect(await raw.countsFor(oldId)).toEqual({ secrets: 0, versions: 0, claims: 0 });
    await expectAllNotFound("purgeMe");
    expect(await listedNames(true)).not.toContain("purgeMe");
    await expectCode(alice.restoreSecret({ name: "purgeMe" }), Code.NotFound);

    const recreated = await alice.createSecret({ name: "purgeMe", value: "second life" });
    expect(recreated.secret?.latestVersion).toBe(1n);
    expect(await alice.getSecretValue({ name: "purgeMe" })).toMatchObject({ version: 1n, value: "second life" });
    await expectCode(alice.getSecretValue({ name: "purgeMe", version: 2n }), Code.NotFound);
    expect((await listAllVersions(alice, "purgeMe")).map((v) => v.version)).toEqual([1n]);
    const newId = await raw.secretIdOf(TENANT, "purgeMe");
    expect(newId).not.toBe(oldId);
    expect(await raw.countsFor(oldId)).toEqual({ secrets: 0, versions: 0, claims: 0 });
  });

  it("also purges a secret already scheduled for deletion", async () => {
    await createWithVersions("softThenForce", 2);
    const oldId = await raw.secretIdOf(TENANT, "softThenForce");
    await alice.deleteSecret({ name: "softThenForce", recoveryWindowDays: 30 });
    expect(await raw.countsFor(oldId)).toMatchObject({ secrets: 1, versions: 2 });

    await alice.deleteSecret({ name: "softThenForce", force: true });
    expect(await raw.countsFor(oldId)).toEqual({ secrets: 0, versions: 0, claims: 0 });
    expect(await listedNames(true)).not.toContain("softThenForce");
    await expectCode(alice.restoreSecret({ name: "softThenForce" }), Code.NotFound);

    const recreated = await alice.createSecret({ name: "softThenForce", value: "fresh" });
    expect(recreated.secret?.latestVersion).toBe(1n);
    expect((await alice.getSecretValue({ name: "softThenForce" })).value).toBe("fresh");
  });

  it("of a name that does not exist is NOT_FOUND", async () => {
    await expectCode(alice.deleteSecret({ name: "neverExisted", force: true }), Code.NotFound);
  });

  it("soft delete of a secret already scheduled is NOT_FOUND and keeps its schedule", async () => {
    await alice.createSecret({ name: "twiceSoft", value: "t" });
    const first = (await alice.deleteSecret({ name: "twiceSoft", recoveryWindowDays: 3 })).secret!;
    await expectCode(alice.deleteSecret({ name: "twiceSoft", recoveryWindowDays: 30 }), Code.NotFound);
    expect(await listedSecret(alice, "twiceSoft")).toEqual(first);
  });
});

describe("expiry: validation", () => {
  const future = () => timestampFromMs(Date.now() + 3_600_000);

  const refusals: { label: string; field: RegExp; req: () => { expireTime?: Timestamp; ttl?: Duration } }[] = [
    { label: "expire_time and ttl together", field: /^(ttl|expire_time)\b/, req: () => ({ expireTime: future(), ttl: durationFromMs(3_600_000) }) },
    { label: "expire_time a second ago", field: /^expire_time\b/, req: () => ({ expireTime: timestampFromMs(Date.now() - 1_000) }) },
    { label: "expire_time at the epoch", field: /^expire_time\b/, req: () => ({ expireTime: timestampFromMs(0) }) },
    { label: "ttl 0", field: /^ttl\b/, req: () => ({ ttl: durationFromMs(0) }) },
    { label: "ttl -1 s", field: /^ttl\b/, req: () => ({ ttl: durationFromMs(-1_000) }) },
  ];

  beforeAll(async () => {
    await alice.createSecret({ name: "expiryTarget", value: "e" });
  });

  it.each(refusals)("$label is INVALID_ARGUMENT at create, and nothing is created", async ({ field, req }) => {
    await expectCode(alice.createSecret({ name: "expiryRefused", value: "e", ...req() }), Code.InvalidArgument, field);
    await expectCode(alice.getSecret({ name: "expiryRefused" }), Code.NotFound);
  });

  it.each(refusals)("$label is INVALID_ARGUMENT at update, and nothing changes", async ({ field, req }) => {
    const before = (await alice.getSecret({ name: "expiryTarget" })).secret!;
    await expectCode(alice.updateSecret({ name: "expiryTarget", ...req() }), Code.InvalidArgument, field);
    const masked = alice.updateSecret({ name: "expiryTarget", updateMask: { paths: ["expire_time", "ttl"] }, ...req() });
    await expectCode(masked, Code.InvalidArgument, field);
    expect((await alice.getSecret({ name: "expiryTarget" })).secret).toEqual(before);
  });

  it("expire_time at create is kept as given; ttl at create is counted from the call", async () => {
    const at = new Date(Date.now() + 3_600_000);
    const byTime = await alice.createSecret({ name: "expiresAt", value: "e", expireTime: timestampFromDate(at) });
    expect(ms(byTime.secret?.expireTime)).toBe(at.getTime());

    const t0 = Date.now();
    const byTtl = await alice.createSecret({ name: "expiresIn", value: "e", ttl: durationFromMs(3_600_000) });
    const t1 = Date.now();
    expect(ms(byTtl.secret?.expireTime)).toBeGreaterThanOrEqual(t0 + 3_600_000 - 1);
    expect(ms(byTtl.secret?.expireTime)).toBeLessThanOrEqual(t1 + 3_600_000 + 1);
    expect(ms((await alice.getSecret({ name: "expiresIn" })).secret?.expireTime)).toBe(ms(byTtl.secret?.expireTime));
  });

  it("UpdateSecret sets it by expire_time or ttl, and clears it when expire_time is named in the mask with no value", async () => {
    const at = new Date(Date.now() + 7_200_000);
    const set = await alice.updateSecret({ name: "expiryTarget", expireTime: timestampFromDate(at) });
    expect(ms(set.secret?.expireTime)).toBe(at.getTime());

    const t0 = Date.now();
    const byTtl = await alice.updateSecret({ name: "expiryTarget", ttl: durationFromMs(60_000) });
    expect(ms(byTtl.secret?.expireTime)).toBeGreaterThanOrEqual(t0 + 60_000 - 1);
    expect(ms(byTtl.secret?.expireTime)).toBeLessThan(at.getTime());

    const cleared = await alice.updateSecret({ name: "expiryTarget", updateMask: { paths: ["expire_time"] } });
    expect(cleared.secret?.expireTime).toBeUndefined();
    expect((await alice.getSecret({ name: "expiryTarget" })).secret?.expireTime).toBeUndefined();
    // Updating something else leaves the expiry alone.
    await alice.updateSecret({ name: "expiresAt", description: "still expiring" });
    expect((await alice.getSecret({ name: "expiresAt" })).secret?.expireTime).toBeDefined();
  });
});

describe(`expiry: from expire_time on (ttl ${TTL_MS} ms), the secret behaves as purged`, () => {
  const EXPIRING = ["byTtl", "byUpdate", "withHistory"];
  let historyId: string;

  beforeAll(async () => {
    const ttl = durationFromMs(TTL_MS);
    // Versions first, expiry last, so a slow setup cannot race the expiry.
    await createWithVersions("withHistory", 3);
    historyId = await raw.secretIdOf(TENANT, "withHistory");
    await alice.createSecret({ name: "byUpdate", value: "u" });
    await alice.createSecret({ name: "clearedInTime", value: "kept" });
    await alice.createSecret({ name: "outlives", value: "o" });

    const expiries: number[] = [];
    expiries.push(ms((await alice.createSecret({ name: "byTtl", value: "t", ttl })).secret?.expireTime)!);
    expiries.push(ms((await alice.updateSecret({ name: "byUpdate", ttl })).secret?.expireTime)!);
    expiries.push(ms((await alice.updateSecret({ name: "withHistory", ttl })).secret?.expireTime)!);
    await alice.updateSecret({ name: "clearedInTime", ttl });
    const cleared = await alice.updateSecret({ name: "clearedInTime", updateMask: { paths: ["expire_time"] } });
    expect(cleared.secret?.expireTime).toBeUndefined();

    // Before expiry they read as usual.
    expect((await alice.getSecret({ name: "withHistory" })).secret?.expireTime).toBeDefined();
    const last = Math.max(...expiries);
    await waitUntil(() => Date.now() > last, "the expiry instants pass");
    await waitUntil(() => isGone("byTtl"), "byTtl reads as gone");
  });

  it.each(EXPIRING)("%s: every read and write is NOT_FOUND, delete and restore too", async (name) => {
    await expectAllNotFound(name);
    await expectCode(alice.deleteSecret({ name }), Code.NotFound);
    await expectCode(alice.deleteSecret({ name, force: true }), Code.NotFound);
    await expectCode(alice.restoreSecret({ name }), Code.NotFound);
  });

  it("expired secrets leave ListSecrets, show_deleted included", async () => {
    for (const showDeleted of [false, true]) {
      const names = await listedNames(showDeleted);
      for (const name of EXPIRING) expect(names, `${name} show_deleted=${showDeleted}`).not.toContain(name);
      expect(names).toEqual(expect.arrayContaining(["clearedInTime", "outlives"]));
    }
  });

  it("a secret whose expiry was cleared in time lives on", async () => {
    const secret = (await alice.getSecret({ name: "clearedInTime" })).secret;
    expect(secret?.expireTime).toBeUndefined();
    expect((await alice.getSecretValue({ name: "clearedInTime" })).value).toBe("kept");
  });

  it("CreateSecret of an expired name succeeds, purging the expired one: old versions unreadable, the new one is version 1", async () => {
    const created = await alice.createSecret({ name: "withHistory", value: "reborn" });
    expect(created.secret).toMatchObject({ name: "withHistory", latestVersion: 1n });
    expect(created.secret?.expireTime).toBeUndefined();
    expect(await alice.getSecretValue({ name: "withHistory" })).toMatchObject({ version: 1n, value: "reborn" });
    expect((await alice.getSecretValue({ name: "withHistory", version: 1n })).value).toBe("reborn");
    await expectCode(alice.getSecretValue({ name: "withHistory", version: 2n }), Code.NotFound);
    await expectCode(alice.getSecretValue({ name: "withHistory", version: 3n }), Code.NotFound);
    expect((await listAllVersions(alice, "withHistory")).map((v) => v.version)).toEqual([1n]);
    expect(await raw.countsFor(historyId)).toEqual({ secrets: 0, versions: 0, claims: 0 });
    expect(await raw.secretIdOf(TENANT, "withHistory")).not.toBe(historyId);

    const again = await alice.createSecret({ name: "byTtl", value: "second" });
    expect(again.secret?.latestVersion).toBe(1n);
    expect((await alice.getSecretValue({ name: "byTtl" })).value).toBe("second");
    expect(await listedNames(false)).toEqual(expect.arrayContaining(["withHistory", "byTtl"]));
  });
});
