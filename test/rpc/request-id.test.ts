import { randomBytes } from "node:crypto";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { InvalidArgumentError } from "../../src/errors.js";
import { sweepOnce } from "../../src/core/sweeper.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import { openKeys, openStore, type StoreFixture } from "../helpers/adapters.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { ManualClock, coreOver, principal, uniqueName } from "../helpers/core.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { connectErrorOf } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// request_id on CreateSecret and PutSecretValue, over the real server and FerretDB:
// a retry within 24 hours returns the first successful response as it was then and
// creates nothing; the same id with another body is INVALID_ARGUMENT; failures are not
// remembered; the id is scoped to developer, method and name; concurrent retries make
// one version; after 24 hours the id is free again; no value is ever stored in the record.

type Secrets = Client<typeof SecretsService>;

const DAY_MS = 24 * 60 * 60 * 1000;
const rid = () => `req-${randomBytes(6).toString("hex")}`;

/** Counts the raw documents a call could have created. */
async function docCounts(raw: RawDb): Promise<{ secrets: number; versions: number }> {
  return {
    secrets: await raw.db.collection("secrets").countDocuments(),
    versions: await raw.db.collection("secret_versions").countDocuments(),
  };
}

describe("request_id over RPC (FerretDB)", () => {
  let server: TestServer;
  let raw: RawDb;
  let alice: Secrets;
  let bob: Secrets;
  /** Every value sent in this suite: none may appear in the idempotency collection. */
  const sentValues: string[] = [];
  const value = (label: string) => {
    const v = `plaintext-${label}-${randomBytes(8).toString("hex")}`;
    sentValues.push(v);
    return v;
  };

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_reqid" });
    raw = await openRawDb(server.fixture.db!);
    alice = connectGrpcClient(server.baseUrl, await server.token("dev-alice", "alice"));
    bob = connectGrpcClient(server.baseUrl, await server.token("dev-bob", "bob"));
  });
  afterAll(async () => {
    await raw?.close();
    await server?.close();
  });

  it("CreateSecret retried returns the first response as it was, even after later writes, and creates nothing", async () => {
    const name = uniqueName("create_retry");
    const requestId = rid();
    const body = { name, value: value("create"), description: "first", metadata: { team: "a" }, requestId };
    const first = await alice.createSecret(body);
    expect(first.secret).toMatchObject({ name, latestVersion: 1n });

    const put = await alice.putSecretValue({ name, value: value("later") });
    expect(put.secret!.etag).not.toBe(first.secret!.etag);
    const before = await docCounts(raw);

    const retry = await alice.createSecret(body);
    expect(retry).toEqual(first); // etag, times, latest_version of that time
    expect(retry.secret!.latestVersion).toBe(1n);
    expect(await docCounts(raw)).toEqual(before);
    const now = (await alice.getSecret({ name })).secret!;
    expect(now.latestVersion).toBe(2n);
    expect(now.etag).toBe(put.secret!.etag);
    expect((await alice.getSecretValue({ name, version: 1n })).value).toBe(body.value);
  });

  it("CreateSecret with the same id and another value, description or metadata is INVALID_ARGUMENT naming request_id", async () => {
    const name = uniqueName("create_diff");
    const requestId = rid();
    const body = { name, value: value("create"), description: "d", metadata: { k: "v" }, requestId };
    await alice.createSecret(body);
    const before = await docCounts(raw);
    for (const [label, changed] of [
      ["value", { ...body, value: value("other") }],
      ["description", { ...body, description: "d2" }],
      ["metadata", { ...body, metadata: { k: "v2" } }],
      ["metadata key", { ...body, metadata: { k: "v", extra: "x" } }],
      ["max_versions", { ...body, maxVersions: 5 }],
    ] as const) {
      const err = await connectErrorOf(alice.createSecret(changed));
      expect(err.code, label).toBe(Code.InvalidArgument);
      expect(err.rawMessage, label).toContain("request_id");
      expect(err.rawMessage, label).not.toContain(changed.value);
    }
    expect(await docCounts(raw)).toEqual(before);
    expect((await alice.getSecretValue({ name })).value).toBe(body.value);
  });

  it("PutSecretValue retried returns the first response (version and secret of that time) and makes no version", async () => {
    const name = uniqueName("put_retry");
    await alice.createSecret({ name, value: value("v1") });
    const requestId = rid();
    const body = { name, value: value("v2"), requestId };
    const first = await alice.putSecretValue(body);
    expect(first.version!.version).toBe(2n);

    const later = await alice.updateSecret({ name, description: "changed after", updateMask: { paths: ["description"] } });
    const before = await docCounts(raw);
    const retry = await alice.putSecretValue(body);
    expect(retry).toEqual(first);
    expect(retry.secret!.etag).not.toBe(later.secret!.etag);
    expect(retry.secret!.description).toBe("");
    expect(await docCounts(raw)).toEqual(before);
    expect((await alice.getSecret({ name })).secret!.latestVersion).toBe(2n);
    expect((await alice.getSecretValue({ name })).value).toBe(body.value);

    const err = await connectErrorOf(alice.putSecretValue({ ...body, value: value("v3") }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("request_id");
    expect(await docCounts(raw)).toEqual(before);
  });

  it("a failed first attempt is not remembered: stale etag ABORTED, then the same id with the right etag succeeds", async () => {
    const name = uniqueName("put_failed");
    const created = await alice.createSecret({ name, value: value("v1") });
    const staleEtag = created.secret!.etag;
    const moved = await alice.putSecretValue({ name, value: value("v2") });
    const requestId = rid();
    const body = { name, value: value("v3"), requestId };

    const failed = await connectErrorOf(alice.putSecretValue({ ...body, etag: staleEtag }));
    expect(failed.code).toBe(Code.Aborted);

    const ok = await alice.putSecretValue({ ...body, etag: moved.secret!.etag });
    expect(ok.version!.version).toBe(3n);
    expect((await alice.getSecretValue({ name })).value).toBe(body.value);
    // and that success is what the id now replays
    expect(await alice.putSecretValue({ ...body, etag: moved.secret!.etag })).toEqual(ok);
    // the etag is part of the body: the failed attempt's body is now a different request
    const mismatch = await connectErrorOf(alice.putSecretValue({ ...body, etag: staleEtag }));
    expect(mismatch.code).toBe(Code.InvalidArgument);
    expect(mismatch.rawMessage).toContain("request_id");
  });

  it("a failed CreateSecret (ALREADY_EXISTS) is not remembered: once the name is free the same id creates", async () => {
    const name = uniqueName("create_failed");
    await alice.createSecret({ name, value: value("holder") });
    const requestId = rid();
    const body = { name, value: value("mine"), requestId };
    expect((await connectErrorOf(alice.createSecret(body))).code).toBe(Code.AlreadyExists);
    await alice.deleteSecret({ name, force: true });
    const created = await alice.createSecret(body);
    expect(created.secret!.latestVersion).toBe(1n);
    expect((await alice.getSecretValue({ name })).value).toBe(body.value);
    expect(await alice.createSecret(body)).toEqual(created);
  });

  it("the same id on another name, another method or another developer is independent", async () => {
    const requestId = rid();
    const n1 = uniqueName("scope");
    const n2 = uniqueName("scope");
    const c1 = await alice.createSecret({ name: n1, value: value("n1"), requestId });
    // another name: a new secret, not a replay of n1's response
    const c2 = await alice.createSecret({ name: n2, value: value("n2"), requestId });
    expect(c2.secret!.name).toBe(n2);
    expect(c2.secret!.etag).not.toBe(c1.secret!.etag);
    // another method on the same name: a new version, neither a replay nor INVALID_ARGUMENT
    const p1 = await alice.putSecretValue({ name: n1, value: value("n1v2"), requestId });
    expect(p1.version!.version).toBe(2n);
    const p2 = await alice.putSecretValue({ name: n2, value: value("n2v2"), requestId });
    expect(p2.version!.version).toBe(2n);
    // another developer, same name, same id, another value: their own secret
    const b1 = await bob.createSecret({ name: n1, value: value("bob"), requestId });
    expect(b1.secret!.latestVersion).toBe(1n);
    expect(b1.secret!.createdBy).toBe("bob");
    const bp = await bob.putSecretValue({ name: n1, value: value("bobv2"), requestId });
    expect(bp.version!.version).toBe(2n);
    expect((await alice.getSecret({ name: n1 })).secret!.latestVersion).toBe(2n);
    expect((await bob.getSecret({ name: n1 })).secret!.latestVersion).toBe(2n);
  });

  it("10 concurrent PutSecretValue with one id and body make exactly one version", async () => {
    const name = uniqueName("put_concurrent");
    await alice.createSecret({ name, value: value("v1") });
    const before = await docCounts(raw);
    const body = { name, value: value("racing"), requestId: rid() };
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => alice.putSecretValue(body)));
    const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const failed = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of ok) expect(r).toEqual(ok[0]);
    expect(ok[0]!.version!.version).toBe(2n);
    for (const reason of failed) {
      const err = await connectErrorOf(Promise.reject(reason));
      expect(err.code).toBe(Code.Aborted);
      expect(err.rawMessage).toMatch(/in progress/);
    }
    expect(await docCounts(raw)).toEqual({ secrets: before.secrets, versions: before.versions + 1 });
    expect((await alice.getSecret({ name })).secret!.latestVersion).toBe(2n);
    // once settled, every retry replays
    expect(await alice.putSecretValue(body)).toEqual(ok[0]);
  });

  it("10 concurrent CreateSecret with one id and body make exactly one secret", async () => {
    const name = uniqueName("create_concurrent");
    const before = await docCounts(raw);
    const body = { name, value: value("racing_create"), requestId: rid() };
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => alice.createSecret(body)));
    const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of ok) expect(r).toEqual(ok[0]);
    for (const r of results) {
      if (r.status === "rejected") {
        const err = await connectErrorOf(Promise.reject(r.reason));
        expect(err.code).toBe(Code.Aborted);
        expect(err.rawMessage).toMatch(/in progress/);
      }
    }
    expect(await docCounts(raw)).toEqual({ secrets: before.secrets + 1, versions: before.versions + 1 });
    expect(await alice.createSecret(body)).toEqual(ok[0]);
  });

  it("the idempotency collection never holds a plaintext value (checked after every test above)", async () => {
    const records = await raw.db.collection("idempotency").find({}).toArray();
    expect(records.length).toBeGreaterThan(5);
    const text = await raw.dumpText();
    const idempotencyText = text.split("\n").find((l) => l.startsWith("idempotency:"))!;
    expect(sentValues.length).toBeGreaterThan(20);
    for (const v of sentValues) {
      expect(idempotencyText).not.toContain(v);
      expect(idempotencyText).not.toContain(Buffer.from(v).toString("base64"));
      expect(idempotencyText).not.toContain(Buffer.from(v).toString("hex"));
    }
    // and no sealed bytes either: the stored responses are metadata only
    for (const r of records) {
      if (r.response === null) continue;
      expect(String(r.response)).not.toMatch(/"(sealed|current|wrappedKey|ciphertext)"/);
    }
  });
});

describe("request_id after 24 hours (FerretDB, sweeper)", () => {
  let server: TestServer;
  let raw: RawDb;
  let alice: Secrets;

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_reqid_24h" });
    raw = await openRawDb(server.fixture.db!);
    alice = connectGrpcClient(server.baseUrl, await server.token("dev-alice", "alice"));
  });
  afterAll(async () => {
    await raw?.close();
    await server?.close();
  });

  it("the sweeper removes records older than 24 h, and the id can then be reused", async () => {
    const name = uniqueName("expiring");
    const createId = rid();
    const putId = rid();
    await alice.createSecret({ name, value: "v1", requestId: createId });
    const first = await alice.putSecretValue({ name, value: "v2", requestId: putId });
    expect(await raw.db.collection("idempotency").countDocuments()).toBe(2);

    const clock = new ManualClock();
    const deps = { store: server.fixture.store, idempotency: server.fixture.idempotency, clock, pendingLeaseMs: 30_000 };
    // Not yet 24 hours: nothing removed, the ids still replay.
    clock.advance(DAY_MS - 60_000);
    expect((await sweepOnce(deps)).removedRequestIds).toBe(0);
    expect(await alice.putSecretValue({ name, value: "v2", requestId: putId })).toEqual(first);

    clock.advance(2 * 60_000);
    const swept = await sweepOnce(deps);
    expect(swept.removedRequestIds).toBe(2);
    expect(swept.purgedSecrets).toBe(0);
    expect(await raw.db.collection("idempotency").countDocuments()).toBe(0);

    // The put id is free: another value is a new request, making version 3.
    const reused = await alice.putSecretValue({ name, value: "v3", requestId: putId });
    expect(reused.version!.version).toBe(3n);
    // The create id is free too: the name is taken, so it is a real (failing) create, not a replay.
    expect((await connectErrorOf(alice.createSecret({ name, value: "v1", requestId: createId }))).code).toBe(Code.AlreadyExists);
  });
});

describe("request_id retention at the core, with a manual clock (FerretDB)", () => {
  let fixture: StoreFixture;
  let keys: KeyProvider;
  const dev = principal("dev_reqid_core");

  beforeAll(async () => {
    fixture = await openStore("mongodb", "reqid_core");
    keys = openKeys("local");
  });
  afterAll(async () => {
    await keys.close();
    await fixture.dispose();
  });

  it("replays until 24 h have passed, then the id runs again even without a sweep", async () => {
    const clock = new ManualClock();
    const core = coreOver(fixture.store, keys, clock, 30_000, fixture.idempotency);
    const name = uniqueName("core");
    await core.createSecret(dev, { name, value: "v1", description: "", metadata: {} });
    const put = { name, value: "v2", etag: "", requestId: "rid-core" };
    const first = await core.putSecretValue(dev, put);
    expect(first.version.version).toBe(2);

    clock.advance(DAY_MS - 1_000);
    const replay = await core.putSecretValue(dev, put);
    expect(replay.version.version).toBe(2);
    expect(replay.secret.etag).toBe(first.secret.etag);
    await expect(core.putSecretValue(dev, { ...put, value: "other" })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect((await core.getSecret(dev, name)).latestVersion).toBe(2);

    clock.advance(2_000);
    const again = await core.putSecretValue(dev, { ...put, value: "v3" });
    expect(again.version.version).toBe(3);
    expect((await core.getSecretValue(dev, name, 0)).value).toBe("v3");
    // and the new run is what the id replays from now on
    expect((await core.putSecretValue(dev, { ...put, value: "v3" })).version.version).toBe(3);
  });
});
