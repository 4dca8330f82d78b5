import { Code } from "@connectrpc/connect";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BatchGetSecretValuesResponse } from "../../gen/secrets/v1/secrets_pb.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { listedSecret, versionStates, type Secrets } from "../helpers/lifecycle.js";
import { connectErrorOf, expectCode } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// BatchGetSecretValues over the real server and FerretDB: 1 to 100 distinct names,
// values in request order, per-name errors with gRPC codes instead of a failed
// batch. Then developer isolation for every RPC the lifecycle added.

let server: TestServer;
let alice: Secrets;
let bob: Secrets;

beforeAll(async () => {
  server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_batch" });
  alice = connectGrpcClient(server.baseUrl, await server.token("dev-batch-a", "alice"));
  bob = connectGrpcClient(server.baseUrl, await server.token("dev-batch-b", "bob"));
});

afterAll(async () => {
  await server?.close();
});

/** name → numeric gRPC code of each per-name error. */
const errorCodes = (res: BatchGetSecretValuesResponse) => Object.fromEntries(res.errors.map((e) => [e.name, e.code]));
const values = (res: BatchGetSecretValuesResponse) => res.values.map((v) => ({ name: v.name, version: v.version, value: v.value }));

describe("BatchGetSecretValues", () => {
  beforeAll(async () => {
    // a1: versions 1, 2 (newest enabled 2). a2: one version. a3: 2 disabled, so 1 is newest enabled.
    await alice.createSecret({ name: "a1", value: "a1-v1" });
    await alice.putSecretValue({ name: "a1", value: "a1-v2" });
    await alice.createSecret({ name: "a2", value: "a2-v1" });
    await alice.createSecret({ name: "a3", value: "a3-v1" });
    await alice.putSecretValue({ name: "a3", value: "a3-v2" });
    await alice.disableSecretVersion({ name: "a3", version: 2n });
    // noneEnabled: its only version disabled. allDestroyed: its only version destroyed.
    await alice.createSecret({ name: "noneEnabled", value: "n" });
    await alice.disableSecretVersion({ name: "noneEnabled", version: 1n });
    await alice.createSecret({ name: "allDestroyed", value: "d" });
    await alice.destroySecretVersion({ name: "allDestroyed", version: 1n });
    // softDeleted: scheduled for deletion. bobOnly: another developer's.
    await alice.createSecret({ name: "softDeleted", value: "s" });
    await alice.deleteSecret({ name: "softDeleted" });
    await bob.createSecret({ name: "bobOnly", value: "bob's value" });
  });

  it("returns the newest enabled version of each readable name, in request order", async () => {
    const res = await alice.batchGetSecretValues({ names: ["a3", "a1", "a2"] });
    expect(values(res)).toEqual([
      { name: "a3", version: 1n, value: "a3-v1" },
      { name: "a1", version: 2n, value: "a1-v2" },
      { name: "a2", version: 1n, value: "a2-v1" },
    ]);
    expect(res.values.every((v) => v.createTime !== undefined)).toBe(true);
    expect(res.errors).toEqual([]);
    // The reverse order comes back reversed.
    expect(values(await alice.batchGetSecretValues({ names: ["a2", "a1", "a3"] })).map((v) => v.name)).toEqual(["a2", "a1", "a3"]);
  });

  it("reports each unreadable name in errors with its gRPC code instead of failing the batch", async () => {
    const res = await alice.batchGetSecretValues({
      names: ["a2", "absent", "bobOnly", "softDeleted", "noneEnabled", "1invalid", "a1", "allDestroyed", "has-dash", "x".repeat(129)],
    });
    expect(values(res)).toEqual([
      { name: "a2", version: 1n, value: "a2-v1" },
      { name: "a1", version: 2n, value: "a1-v2" },
    ]);
    expect(errorCodes(res)).toEqual({
      absent: Code.NotFound,
      bobOnly: Code.NotFound,
      softDeleted: Code.NotFound,
      noneEnabled: Code.FailedPrecondition,
      allDestroyed: Code.FailedPrecondition,
      "1invalid": Code.InvalidArgument,
      "has-dash": Code.InvalidArgument,
      ["x".repeat(129)]: Code.InvalidArgument,
    });
    expect(res.errors).toHaveLength(8);
    // The numbers are gRPC's own.
    expect([Code.NotFound, Code.FailedPrecondition, Code.InvalidArgument]).toEqual([5, 9, 3]);
    for (const e of res.errors) expect(e.message, e.name).not.toBe("");
  });

  it("another developer's secret is reported exactly like an absent one, and never leaks its value", async () => {
    const res = await alice.batchGetSecretValues({ names: ["bobOnly", "bobNone"] });
    const [other, absent] = res.errors;
    expect(other?.code).toBe(absent?.code);
    expect(other?.message.split("bobOnly").join("<name>")).toBe(absent?.message.split("bobNone").join("<name>"));
    expect(JSON.stringify(res.errors)).not.toMatch(/bob's value|dev-batch-b/);
    // Bob reads his own.
    expect(values(await bob.batchGetSecretValues({ names: ["bobOnly"] }))).toEqual([{ name: "bobOnly", version: 1n, value: "bob's value" }]);
  });

  it("follows version state changes: disabling the newest version makes the batch read the one before", async () => {
    await alice.createSecret({ name: "moving", value: "m1" });
    await alice.putSecretValue({ name: "moving", value: "m2" });
    expect(values(await alice.batchGetSecretValues({ names: ["moving"] }))).toEqual([{ name: "moving", version: 2n, value: "m2" }]);
    await alice.disableSecretVersion({ name: "moving", version: 2n });
    expect(values(await alice.batchGetSecretValues({ names: ["moving"] }))).toEqual([{ name: "moving", version: 1n, value: "m1" }]);
    await alice.putSecretValue({ name: "moving", value: "m3" });
    expect(values(await alice.batchGetSecretValues({ names: ["moving"] }))).toEqual([{ name: "moving", version: 3n, value: "m3" }]);
    await alice.destroySecretVersion({ name: "moving", version: 3n });
    await alice.destroySecretVersion({ name: "moving", version: 1n });
    const none = await alice.batchGetSecretValues({ names: ["moving"] });
    expect(none.values).toEqual([]);
    expect(errorCodes(none)).toEqual({ moving: Code.FailedPrecondition });
  });

  it("takes exactly 100 names", async () => {
    const names = ["a1", ...Array.from({ length: 98 }, (_, i) => `missing${i}`), "a2"];
    const res = await alice.batchGetSecretValues({ names });
    expect(values(res).map((v) => v.name)).toEqual(["a1", "a2"]);
    expect(res.errors).toHaveLength(98);
    expect(res.errors.every((e) => e.code === Code.NotFound)).toBe(true);
  });

  const refusals: { label: string; names: string[] }[] = [
    { label: "no names", names: [] },
    { label: "101 names", names: Array.from({ length: 101 }, (_, i) => `n${i}`) },
    { label: "a repeated name", names: ["a1", "a2", "a1"] },
    { label: "a repeated unreadable name", names: ["absent", "absent"] },
    { label: "a repeated invalid name", names: ["1bad", "a1", "1bad"] },
  ];

  it.each(refusals)("$label is INVALID_ARGUMENT for the whole call, naming names", async ({ names }) => {
    await expectCode(alice.batchGetSecretValues({ names }), Code.InvalidArgument, /^names\b/);
  });
});

describe("developer isolation holds for every lifecycle RPC", () => {
  // "x" and "y" have the same length, so messages compare once the name is blanked out.
  const A = "x";
  const ABSENT = "y";
  let aliceEtag = "";

  /** The failure of a call with the secret's name blanked out, so two names can be compared. */
  async function failureShape(call: Promise<unknown>, name: string): Promise<{ code: Code; message: string }> {
    const err = await connectErrorOf(call);
    return { code: err.code, message: err.rawMessage.split(name).join("<name>") };
  }

  beforeAll(async () => {
    await alice.createSecret({ name: A, value: "alice-x-1", maxVersions: 5 });
    await alice.putSecretValue({ name: A, value: "alice-x-2" });
    await alice.createSecret({ name: "xDeleted", value: "alice-deleted" });
    await alice.deleteSecret({ name: "xDeleted" });
    aliceEtag = (await alice.getSecret({ name: A })).secret!.etag;
  });

  it("B gets NOT_FOUND, shaped like an absent name, from each RPC on A's secret (even with A's etag)", async () => {
    const calls: [string, (name: string) => Promise<unknown>][] = [
      ["GetSecretValue v0", (name) => bob.getSecretValue({ name })],
      ["GetSecretValue v2", (name) => bob.getSecretValue({ name, version: 2n })],
      ["PutSecretValue", (name) => bob.putSecretValue({ name, value: "bob was here" })],
      ["PutSecretValue with A's etag", (name) => bob.putSecretValue({ name, value: "bob was here", etag: aliceEtag })],
      ["PutSecretValue with a request_id", (name) => bob.putSecretValue({ name, value: "bob was here", requestId: "bob-1" })],
      ["ListSecretVersions", (name) => bob.listSecretVersions({ name })],
      ["DisableSecretVersion", (name) => bob.disableSecretVersion({ name, version: 1n })],
      ["EnableSecretVersion", (name) => bob.enableSecretVersion({ name, version: 1n })],
      ["DestroySecretVersion", (name) => bob.destroySecretVersion({ name, version: 1n })],
      ["DestroySecretVersion with A's etag", (name) => bob.destroySecretVersion({ name, version: 2n, etag: aliceEtag })],
      ["DeleteSecret", (name) => bob.deleteSecret({ name })],
      ["DeleteSecret force", (name) => bob.deleteSecret({ name, force: true })],
      ["DeleteSecret force with A's etag", (name) => bob.deleteSecret({ name, force: true, etag: aliceEtag })],
      ["RestoreSecret", (name) => bob.restoreSecret({ name })],
      ["UpdateSecret max_versions", (name) => bob.updateSecret({ name, maxVersions: 1 })],
      ["UpdateSecret ttl", (name) => bob.updateSecret({ name, ttl: durationFromMs(1_000) })],
      ["UpdateSecret clear expiry", (name) => bob.updateSecret({ name, updateMask: { paths: ["expire_time"] } })],
    ];
    for (const [label, call] of calls) {
      const othersSecret = await failureShape(call(A), A);
      const absent = await failureShape(call(ABSENT), ABSENT);
      expect(othersSecret.code, label).toBe(Code.NotFound);
      expect(othersSecret, label).toEqual(absent);
      expect(othersSecret.message, label).not.toMatch(/alice|dev-batch-a|owner|permission|denied|tenant/i);
    }
  });

  it("B cannot restore or force-purge A's soft-deleted secret", async () => {
    await expectCode(bob.restoreSecret({ name: "xDeleted" }), Code.NotFound);
    await expectCode(bob.deleteSecret({ name: "xDeleted", force: true }), Code.NotFound);
    const listed = await listedSecret(alice, "xDeleted");
    expect(listed?.deleteTime).toBeDefined();
  });

  it("B's BatchGetSecretValues reports A's secrets as NOT_FOUND, like absent ones", async () => {
    const res = await bob.batchGetSecretValues({ names: [A, "xDeleted", ABSENT] });
    expect(res.values).toEqual([]);
    expect(errorCodes(res)).toEqual({ [A]: Code.NotFound, xDeleted: Code.NotFound, [ABSENT]: Code.NotFound });
    const byName = Object.fromEntries(res.errors.map((e) => [e.name, e.message]));
    expect(byName[A]?.split(A).join("<name>")).toBe(byName[ABSENT]?.split(ABSENT).join("<name>"));
    expect(JSON.stringify(res)).not.toContain("alice-x");
  });

  it("B's ListSecrets with show_deleted does not show A's deleted secret, and B may use the same names", async () => {
    const names = (await bob.listSecrets({ showDeleted: true, pageSize: 1_000 })).secrets.map((s) => s.name);
    expect(names).not.toContain("xDeleted");
    expect(names).not.toContain(A);
    // Names are per developer: A's scheduled deletion holds nothing of B's.
    const created = await bob.createSecret({ name: "xDeleted", value: "bob's own" });
    expect(created.secret?.latestVersion).toBe(1n);
    expect(values(await bob.batchGetSecretValues({ names: ["xDeleted"] }))).toEqual([{ name: "xDeleted", version: 1n, value: "bob's own" }]);
  });

  it("none of B's attempts changed anything of A's", async () => {
    const secret = (await alice.getSecret({ name: A })).secret!;
    expect(secret).toMatchObject({ etag: aliceEtag, latestVersion: 2n, maxVersions: 5, updatedBy: "alice" });
    expect(secret.expireTime).toBeUndefined();
    expect(secret.deleteTime).toBeUndefined();
    expect(await versionStates(alice, A)).toEqual({ 2: "ENABLED", 1: "ENABLED" });
    expect(values(await alice.batchGetSecretValues({ names: [A] }))).toEqual([{ name: A, version: 2n, value: "alice-x-2" }]);
    expect((await alice.getSecretValue({ name: A, version: 1n })).value).toBe("alice-x-1");
    const deleted = await listedSecret(alice, "xDeleted");
    expect(deleted?.deleteTime).toBeDefined();
    const restored = await alice.restoreSecret({ name: "xDeleted" });
    expect((await alice.getSecretValue({ name: "xDeleted" })).value).toBe("alice-deleted");
    expect(restored.secret?.latestVersion).toBe(1n);
  });
});
