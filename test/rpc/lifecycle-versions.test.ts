import { Code } from "@connectrpc/connect";
import { durationFromMs, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VersionState, type Secret } from "../../gen/secrets/v1/secrets_pb.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { inParallel, listAllVersions, listedSecret, versionStates, waitUntil, type Secrets } from "../helpers/lifecycle.js";
import { openRawDocuments, rawSealedOf, type RawDocuments, type RawSealed } from "../helpers/raw-documents.js";
import { expectCode } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Versions over the real server and FerretDB: numbering, states and what version 0
// reads, destruction checked in the raw documents, idempotent state changes,
// retention (max_versions), ListSecretVersions paging (also while writers insert),
// and the secret's etag guarding every mutation.

const TENANT = "dev-versions";
const SUBJECT = "versioner";

let server: TestServer;
let raw: RawDocuments;
let alice: Secrets;

beforeAll(async () => {
  server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_versions" });
  raw = await openRawDocuments(server.fixture.db);
  alice = connectGrpcClient(server.baseUrl, await server.token(TENANT, SUBJECT));
});

afterAll(async () => {
  await raw?.close();
  await server?.close();
});

const secretOf = async (name: string): Promise<Secret> => (await alice.getSecret({ name })).secret!;
const valueOf = (name: string, version = 0n) => alice.getSecretValue({ name, version });

describe("version numbers", () => {
  it("are 1, 2, 3… with no gaps: a new version is latest_version + 1 whatever the states of earlier ones", async () => {
    const created = await alice.createSecret({ name: "numbered", value: "n1" });
    expect(created.secret?.latestVersion).toBe(1n);
    const v2 = await alice.putSecretValue({ name: "numbered", value: "n2" });
    expect(v2.version?.version).toBe(2n);
    expect(v2.secret?.latestVersion).toBe(2n);
    const v3 = await alice.updateSecret({ name: "numbered", value: "n3" });
    expect(v3.secret?.latestVersion).toBe(3n);

    // The newest version disabled, an older one destroyed: the next is still latest + 1.
    await alice.disableSecretVersion({ name: "numbered", version: 3n });
    await alice.destroySecretVersion({ name: "numbered", version: 2n });
    const v4 = await alice.putSecretValue({ name: "numbered", value: "n4" });
    expect(v4.version?.version).toBe(4n);
    // The newest version destroyed: its number is never handed out again.
    await alice.destroySecretVersion({ name: "numbered", version: 4n });
    const v5 = await alice.putSecretValue({ name: "numbered", value: "n5" });
    expect(v5.version?.version).toBe(5n);
    expect(v5.secret?.latestVersion).toBe(5n);

    expect(await versionStates(alice, "numbered")).toEqual({
      5: "ENABLED",
      4: "DESTROYED",
      3: "DISABLED",
      2: "DESTROYED",
      1: "ENABLED",
    });
    // Each version holds the value it was written with.
    expect((await valueOf("numbered", 1n)).value).toBe("n1");
    expect((await valueOf("numbered", 5n)).value).toBe("n5");
  });

  it("PutSecretValue returns the new version's metadata and the secret", async () => {
    await alice.createSecret({ name: "putMeta", value: "p1" });
    const res = await alice.putSecretValue({ name: "putMeta", value: "p2" });
    expect(res.version).toMatchObject({ name: "putMeta", version: 2n, state: VersionState.ENABLED, createdBy: SUBJECT, keyId: "k1" });
    expect(res.version?.destroyTime).toBeUndefined();
    expect(res.secret).toMatchObject({ name: "putMeta", latestVersion: 2n, updatedBy: SUBJECT });
    expect(res.secret?.etag).toBe((await secretOf("putMeta")).etag);
  });
});

describe("reading versions", () => {
  beforeAll(async () => {
    await alice.createSecret({ name: "rollback", value: "good" });
    await alice.putSecretValue({ name: "rollback", value: "bad" });
  });

  it("version 0 reads the newest enabled version, so disabling a bad new version rolls readers back at once", async () => {
    expect(await valueOf("rollback")).toMatchObject({ version: 2n, value: "bad" });

    await alice.disableSecretVersion({ name: "rollback", version: 2n });
    expect(await valueOf("rollback")).toMatchObject({ name: "rollback", version: 1n, value: "good" });

    await alice.enableSecretVersion({ name: "rollback", version: 2n });
    expect(await valueOf("rollback")).toMatchObject({ version: 2n, value: "bad" });

    await alice.disableSecretVersion({ name: "rollback", version: 2n });
    expect(await valueOf("rollback")).toMatchObject({ version: 1n, value: "good" });
  });

  it("a disabled version read by number is FAILED_PRECONDITION; an enabled one reads", async () => {
    await expectCode(valueOf("rollback", 2n), Code.FailedPrecondition, /disabled/);
    expect((await valueOf("rollback", 1n)).value).toBe("good");
  });

  it("a version number that never existed is NOT_FOUND, for reads and for state changes", async () => {
    for (const version of [3n, 4n, 1_000_000_000_000n]) {
      await expectCode(valueOf("rollback", version), Code.NotFound);
      await expectCode(alice.disableSecretVersion({ name: "rollback", version }), Code.NotFound);
      await expectCode(alice.enableSecretVersion({ name: "rollback", version }), Code.NotFound);
      await expectCode(alice.destroySecretVersion({ name: "rollback", version }), Code.NotFound);
    }
  });

  it("a negative version to read, or version 0 to change, is INVALID_ARGUMENT naming version", async () => {
    await expectCode(valueOf("rollback", -1n), Code.InvalidArgument, /^version\b/);
    await expectCode(alice.disableSecretVersion({ name: "rollback", version: 0n }), Code.InvalidArgument, /^version\b/);
    await expectCode(alice.enableSecretVersion({ name: "rollback", version: 0n }), Code.InvalidArgument, /^version\b/);
    await expectCode(alice.destroySecretVersion({ name: "rollback", version: 0n }), Code.InvalidArgument, /^version\b/);
  });

  it("version 0 with no enabled version left is FAILED_PRECONDITION; enabling one makes it readable again", async () => {
    await alice.createSecret({ name: "noneEnabled", value: "only" });
    await alice.disableSecretVersion({ name: "noneEnabled", version: 1n });
    await expectCode(valueOf("noneEnabled"), Code.FailedPrecondition);
    await expectCode(valueOf("noneEnabled", 1n), Code.FailedPrecondition);
    // Metadata stays readable: only values are withheld.
    expect((await secretOf("noneEnabled")).latestVersion).toBe(1n);

    await alice.enableSecretVersion({ name: "noneEnabled", version: 1n });
    expect(await valueOf("noneEnabled")).toMatchObject({ version: 1n, value: "only" });
  });

  it("a new version written after a rollback is what version 0 reads", async () => {
    await alice.putSecretValue({ name: "rollback", value: "fixed" });
    expect(await valueOf("rollback")).toMatchObject({ version: 3n, value: "fixed" });
  });
});

describe("destroying a version", () => {
  const NAME = "erase";
  const valueV = (v: number) => `erase-me-version-${v}-`.repeat(4);
  let id: string;
  const sealedBefore = new Map<number, RawSealed>();

  beforeAll(async () => {
    await alice.createSecret({ name: NAME, value: valueV(1) });
    await alice.putSecretValue({ name: NAME, value: valueV(2) });
    await alice.putSecretValue({ name: NAME, value: valueV(3) });
    id = await raw.secretIdOf(TENANT, NAME);
    for (const v of [1, 2, 3]) {
      const doc = await raw.versionDoc(id, v);
      expect(doc?.sealed, `version ${v} stored sealed`).toBeDefined();
      sealedBefore.set(v, rawSealedOf(doc!.sealed));
    }
  });

  /** True when some stored document of the secret still holds these bytes. */
  const stillStored = async (bytes: Buffer) => (await raw.serialisedDocsOf(id)).some((doc) => doc.includes(bytes));

  it("starts with the secret document holding a copy of the current version's sealed value", async () => {
    const doc = await raw.secretDoc(TENANT, NAME);
    expect(doc?.current?.version).toBe(3);
    expect(rawSealedOf(doc!.current.sealed).ciphertext.equals(sealedBefore.get(3)!.ciphertext)).toBe(true);
    expect(await stillStored(sealedBefore.get(3)!.wrappedKey)).toBe(true);
  });

  it.each([
    { version: 3, currentAfter: 2 },
    { version: 1, currentAfter: 2 },
    { version: 2, currentAfter: null },
  ])("erases version $version's ciphertext and wrapped key from every document (current then $currentAfter)", async ({ version, currentAfter }) => {
    const res = await alice.destroySecretVersion({ name: NAME, version: BigInt(version) });
    expect(res.version).toMatchObject({ name: NAME, version: BigInt(version), state: VersionState.DESTROYED, keyId: "k1" });
    expect(res.version?.destroyTime).toBeDefined();

    const doc = await raw.versionDoc(id, version);
    expect(doc, "the version document stays, as a record").not.toBeNull();
    expect(doc).not.toHaveProperty("sealed");
    expect(doc).toMatchObject({ state: "destroyed", version });
    expect(doc?.destroyTime).toBeInstanceOf(Date);

    const secretDoc = await raw.secretDoc(TENANT, NAME);
    expect(secretDoc?.current?.version ?? null).toBe(currentAfter);
    const erased = sealedBefore.get(version)!;
    expect(await stillStored(erased.ciphertext)).toBe(false);
    expect(await stillStored(erased.wrappedKey)).toBe(false);

    await expectCode(valueOf(NAME, BigInt(version)), Code.FailedPrecondition, /destroyed/);
    if (currentAfter === null) await expectCode(valueOf(NAME), Code.FailedPrecondition);
    else expect(await valueOf(NAME)).toMatchObject({ version: BigInt(currentAfter), value: valueV(currentAfter) });
  });

  it("is final: enabling or disabling a destroyed version is FAILED_PRECONDITION and changes nothing", async () => {
    const before = await secretOf(NAME);
    await expectCode(alice.enableSecretVersion({ name: NAME, version: 2n }), Code.FailedPrecondition, /destroyed/);
    await expectCode(alice.disableSecretVersion({ name: NAME, version: 1n }), Code.FailedPrecondition, /destroyed/);
    expect((await secretOf(NAME)).etag).toBe(before.etag);
    expect(await versionStates(alice, NAME)).toEqual({ 3: "DESTROYED", 2: "DESTROYED", 1: "DESTROYED" });
    expect(await raw.versionDoc(id, 2)).not.toHaveProperty("sealed");
  });

  it("ListSecretVersions shows destroy_time on destroyed versions only, and key_id on all", async () => {
    await alice.putSecretValue({ name: NAME, value: valueV(4) });
    const versions = await listAllVersions(alice, NAME);
    expect(versions.map((v) => v.version)).toEqual([4n, 3n, 2n, 1n]);
    for (const v of versions) {
      expect(v.keyId).toBe("k1");
      expect(v.name).toBe(NAME);
      expect(v.createdBy).toBe(SUBJECT);
      if (v.version === 4n) {
        expect(v.state).toBe(VersionState.ENABLED);
        expect(v.destroyTime).toBeUndefined();
      } else {
        expect(v.state).toBe(VersionState.DESTROYED);
        expect(timestampDate(v.destroyTime!).getTime()).toBeGreaterThanOrEqual(timestampDate(v.createTime!).getTime());
      }
    }
    // A new version after everything was destroyed is readable as the latest.
    expect(await valueOf(NAME)).toMatchObject({ version: 4n, value: valueV(4) });
  });
});

describe("state changes that are already so succeed and change nothing", () => {
  const NAME = "idempotent";

  beforeAll(async () => {
    await alice.createSecret({ name: NAME, value: "i1" });
    await alice.putSecretValue({ name: NAME, value: "i2" });
    await alice.putSecretValue({ name: NAME, value: "i3" });
    await alice.disableSecretVersion({ name: NAME, version: 1n });
    await alice.destroySecretVersion({ name: NAME, version: 2n });
  });

  it.each([
    { label: "disable of a disabled version", op: "disable" as const, version: 1n, state: VersionState.DISABLED },
    { label: "enable of an enabled version", op: "enable" as const, version: 3n, state: VersionState.ENABLED },
    { label: "destroy of a destroyed version", op: "destroy" as const, version: 2n, state: VersionState.DESTROYED },
  ])("$label (with and without the current etag)", async ({ op, version, state }) => {
    const before = await secretOf(NAME);
    const versionBefore = (await listAllVersions(alice, NAME)).find((v) => v.version === version)!;
    const call = (etag: string) => {
      const req = { name: NAME, version, etag };
      if (op === "disable") return alice.disableSecretVersion(req);
      if (op === "enable") return alice.enableSecretVersion(req);
      return alice.destroySecretVersion(req);
    };
    for (const etag of ["", before.etag]) {
      const res = await call(etag);
      expect(res.version?.state).toBe(state);
      expect(res.version?.destroyTime).toEqual(versionBefore.destroyTime);
      expect(res.secret?.etag).toBe(before.etag);
      expect(res.secret?.updateTime).toEqual(before.updateTime);
    }
    expect(await secretOf(NAME)).toEqual(before);
    expect(await versionStates(alice, NAME)).toEqual({ 3: "ENABLED", 2: "DESTROYED", 1: "DISABLED" });
  });
});

describe("max_versions", () => {
  it("shows the effective value: 100 by default or for 0, else what was asked (1 to 1,000)", async () => {
    const cases: [string, number, number][] = [
      ["mvDefault", 0, 100],
      ["mvOne", 1, 1],
      ["mvMax", 1_000, 1_000],
    ];
    for (const [name, asked, effective] of cases) {
      const created = await alice.createSecret({ name, value: "v", maxVersions: asked });
      expect(created.secret?.maxVersions, name).toBe(effective);
      expect((await secretOf(name)).maxVersions, name).toBe(effective);
    }
    await alice.createSecret({ name: "mvUnset", value: "v" });
    expect((await secretOf("mvUnset")).maxVersions).toBe(100);
  });

  it.each([1_001, -1, 2_147_483_647, -2_147_483_648])("%i is INVALID_ARGUMENT naming max_versions, at create and update", async (maxVersions) => {
    await expectCode(alice.createSecret({ name: "mvRefused", value: "v", maxVersions }), Code.InvalidArgument, /^max_versions\b/);
    await expectCode(alice.updateSecret({ name: "mvDefault", maxVersions }), Code.InvalidArgument, /^max_versions\b/);
    await expectCode(
      alice.updateSecret({ name: "mvDefault", maxVersions, updateMask: { paths: ["max_versions"] } }),
      Code.InvalidArgument,
      /^max_versions\b/,
    );
    await expectCode(alice.getSecret({ name: "mvRefused" }), Code.NotFound);
    expect((await secretOf("mvDefault")).maxVersions).toBe(100);
  });

  it("destroys the oldest versions when a new one would exceed it", async () => {
    // Long enough that its ciphertext cannot turn up by chance in other documents' random bytes.
    await alice.createSecret({ name: "retained", value: "r1-retained-first-version-value", maxVersions: 3 });
    await alice.putSecretValue({ name: "retained", value: "r2" });
    await alice.putSecretValue({ name: "retained", value: "r3" });
    expect(await versionStates(alice, "retained")).toEqual({ 3: "ENABLED", 2: "ENABLED", 1: "ENABLED" });

    const id = await raw.secretIdOf(TENANT, "retained");
    const v1Sealed = rawSealedOf((await raw.versionDoc(id, 1))!.sealed);
    const put = await alice.putSecretValue({ name: "retained", value: "r4" });
    expect(put.version?.version).toBe(4n);
    expect(await versionStates(alice, "retained")).toEqual({ 4: "ENABLED", 3: "ENABLED", 2: "ENABLED", 1: "DESTROYED" });
    await expectCode(valueOf("retained", 1n), Code.FailedPrecondition);
    // Retention destroys for good, as DestroySecretVersion does.
    expect(await raw.versionDoc(id, 1)).not.toHaveProperty("sealed");
    expect((await raw.serialisedDocsOf(id)).some((d) => d.includes(v1Sealed.ciphertext) || d.includes(v1Sealed.wrappedKey))).toBe(false);
    expect((await valueOf("retained", 2n)).value).toBe("r2");
  });

  it("counts versions not destroyed: destroyed ones free a place, disabled ones hold theirs", async () => {
    // retained: 2, 3, 4 live of 3.
    await alice.destroySecretVersion({ name: "retained", version: 3n });
    await alice.putSecretValue({ name: "retained", value: "r5" }); // 2, 4, 5 live: nothing to prune
    expect(await versionStates(alice, "retained")).toEqual({ 5: "ENABLED", 4: "ENABLED", 3: "DESTROYED", 2: "ENABLED", 1: "DESTROYED" });

    await alice.putSecretValue({ name: "retained", value: "r6" }); // 2 is the oldest live
    expect(await versionStates(alice, "retained")).toMatchObject({ 6: "ENABLED", 5: "ENABLED", 4: "ENABLED", 2: "DESTROYED" });

    await alice.disableSecretVersion({ name: "retained", version: 4n });
    await alice.putSecretValue({ name: "retained", value: "r7" }); // the disabled 4 is the oldest live
    expect(await versionStates(alice, "retained")).toEqual({
      7: "ENABLED",
      6: "ENABLED",
      5: "ENABLED",
      4: "DESTROYED",
      3: "DESTROYED",
      2: "DESTROYED",
      1: "DESTROYED",
    });
    expect(await valueOf("retained")).toMatchObject({ version: 7n, value: "r7" });
  });

  it("max_versions 1 keeps only the newest version", async () => {
    await alice.putSecretValue({ name: "mvOne", value: "second" });
    await alice.putSecretValue({ name: "mvOne", value: "third" });
    expect(await versionStates(alice, "mvOne")).toEqual({ 3: "ENABLED", 2: "DESTROYED", 1: "DESTROYED" });
  });

  it("lowered with UpdateSecret (mask max_versions), it prunes at the next write", async () => {
    await alice.createSecret({ name: "lowered", value: "l1", maxVersions: 10 });
    for (let v = 2; v <= 6; v++) await alice.putSecretValue({ name: "lowered", value: `l${v}` });
    const id = await raw.secretIdOf(TENANT, "lowered");

    const updated = await alice.updateSecret({ name: "lowered", maxVersions: 2, updateMask: { paths: ["max_versions"] } });
    expect(updated.secret?.maxVersions).toBe(2);
    expect(updated.secret?.latestVersion).toBe(6n);
    // Nothing is destroyed by lowering it alone.
    expect(Object.values(await versionStates(alice, "lowered")).every((s) => s === "ENABLED")).toBe(true);
    expect((await valueOf("lowered", 1n)).value).toBe("l1");

    await alice.putSecretValue({ name: "lowered", value: "l7" });
    expect(await versionStates(alice, "lowered")).toEqual({
      7: "ENABLED",
      6: "ENABLED",
      5: "DESTROYED",
      4: "DESTROYED",
      3: "DESTROYED",
      2: "DESTROYED",
      1: "DESTROYED",
    });
    for (let v = 1; v <= 5; v++) expect(await raw.versionDoc(id, v), `version ${v}`).not.toHaveProperty("sealed");
    expect((await secretOf("lowered")).maxVersions).toBe(2);

    // Raising it again brings nothing back.
    await alice.updateSecret({ name: "lowered", maxVersions: 50 });
    expect((await versionStates(alice, "lowered"))[5]).toBe("DESTROYED");
    await expectCode(valueOf("lowered", 5n), Code.FailedPrecondition);
  });

  it("lowered together with a new value in one UpdateSecret, it prunes in that write", async () => {
    await alice.createSecret({ name: "loweredWithValue", value: "w1" });
    await alice.putSecretValue({ name: "loweredWithValue", value: "w2" });
    await alice.putSecretValue({ name: "loweredWithValue", value: "w3" });
    const res = await alice.updateSecret({ name: "loweredWithValue", value: "w4", maxVersions: 1 });
    expect(res.secret).toMatchObject({ latestVersion: 4n, maxVersions: 1 });
    expect(await versionStates(alice, "loweredWithValue")).toEqual({ 4: "ENABLED", 3: "DESTROYED", 2: "DESTROYED", 1: "DESTROYED" });
  });
});

// Paging runs on FerretDB with a modest history and on the in-memory store with 500
// versions: 500 concurrent writes took 7 s on an idle FerretDB but 44 s to over 60 s
// while other suites shared it, too slow for a dependable suite.
const PAGING_CASES = [
  { store: "mongodb" as const, count: 80, setupTimeoutMs: 180_000 },
  { store: "memory" as const, count: 500, setupTimeoutMs: 60_000 },
];

/** Versions n, n-1, …, 1. */
const descending = (n: number) => Array.from({ length: n }, (_, i) => n - i);

describe.each(PAGING_CASES)("ListSecretVersions over the $store store ($count versions)", ({ store, count, setupTimeoutMs }) => {
  const NAME = "many";
  let paging: TestServer;
  let mine: Secrets;
  let others: Secrets;

  beforeAll(async () => {
    paging = await startTestServer({ store, keys: "local", label: "rpc_versions_paging" });
    mine = connectGrpcClient(paging.baseUrl, await paging.token(TENANT, SUBJECT));
    others = connectGrpcClient(paging.baseUrl, await paging.token("dev-versions-other", "other"));
    // Versions from 8 concurrent writers.
    await mine.createSecret({ name: NAME, value: "many-1", maxVersions: 1_000 });
    const numbers = Array.from({ length: count - 1 }, (_, i) => i + 2);
    await inParallel(numbers, 8, (i) => mine.putSecretValue({ name: NAME, value: `many-write-${i}` }));
    await mine.createSecret({ name: "fewVersions", value: "f1" });
    await mine.putSecretValue({ name: "fewVersions", value: "f2" });
    await mine.putSecretValue({ name: "fewVersions", value: "f3" });
    await others.createSecret({ name: NAME, value: "other's" });
    for (let i = 0; i < 3; i++) await others.putSecretValue({ name: NAME, value: "other's" });
  }, setupTimeoutMs);

  afterAll(async () => {
    await paging?.close();
  });

  it("holds every version written by 8 concurrent writers, numbered without gaps, newest first", async () => {
    expect((await mine.getSecret({ name: NAME })).secret?.latestVersion).toBe(BigInt(count));
    const all = await listAllVersions(mine, NAME);
    expect(all.map((v) => Number(v.version))).toEqual(descending(count));
    expect(all.every((v) => v.state === VersionState.ENABLED && v.keyId === "k1" && v.createdBy === SUBJECT && v.name === NAME)).toBe(true);
  });

  it("walks with page_size 37: complete, each version once, strictly descending, full pages but the last", async () => {
    const seen: number[] = [];
    const pageLengths: number[] = [];
    let pageToken = "";
    do {
      const page = await mine.listSecretVersions({ name: NAME, pageSize: 37, pageToken });
      seen.push(...page.versions.map((v) => Number(v.version)));
      pageLengths.push(page.versions.length);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual(descending(count));
    const full = Math.floor(count / 37);
    expect(pageLengths).toEqual([...Array<number>(full).fill(37), ...(count % 37 ? [count % 37] : [])]);
  });

  it("page_size 0 means 50", async () => {
    const page = await mine.listSecretVersions({ name: NAME, pageSize: 0 });
    expect(page.versions.map((v) => Number(v.version))).toEqual(descending(count).slice(0, 50));
    expect(page.nextPageToken).not.toBe("");
    const next = await mine.listSecretVersions({ name: NAME, pageToken: page.nextPageToken });
    expect(next.versions[0]?.version).toBe(BigInt(count - 50));
  });

  it("page_size above 1,000 is accepted (coerced, not refused)", async () => {
    const page = await mine.listSecretVersions({ name: NAME, pageSize: 1_001 });
    expect(page.versions).toHaveLength(count);
    expect(page.nextPageToken).toBe("");
  });

  it("a negative page_size is INVALID_ARGUMENT naming page_size", async () => {
    await expectCode(mine.listSecretVersions({ name: NAME, pageSize: -1 }), Code.InvalidArgument, /^page_size\b/);
  });

  it("a page token from another query, another developer or no query at all is INVALID_ARGUMENT naming page_token", async () => {
    const otherSecret = (await mine.listSecretVersions({ name: "fewVersions", pageSize: 1 })).nextPageToken;
    const otherDeveloper = (await others.listSecretVersions({ name: NAME, pageSize: 1 })).nextPageToken;
    const listSecrets = (await mine.listSecrets({ pageSize: 1 })).nextPageToken;
    for (const token of [otherSecret, otherDeveloper, listSecrets]) expect(token).not.toBe("");
    for (const pageToken of [otherSecret, otherDeveloper, listSecrets, "not-a-token", "e30"]) {
      await expectCode(mine.listSecretVersions({ name: NAME, pageSize: 10, pageToken }), Code.InvalidArgument, /^page_token\b/);
    }
    // The same tokens still work for their own queries.
    expect((await mine.listSecretVersions({ name: "fewVersions", pageSize: 1, pageToken: otherSecret })).versions[0]?.version).toBe(2n);
    expect((await others.listSecretVersions({ name: NAME, pageSize: 1, pageToken: otherDeveloper })).versions[0]?.version).toBe(3n);
  });

  it("a walk with page_size 37 stays complete and ordered while concurrent PutSecretValue calls add versions", async () => {
    const atStart = Number((await mine.getSecret({ name: NAME })).secret?.latestVersion);
    let committed = 0;
    let stop = false;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        await mine.putSecretValue({ name: NAME, value: `during-walk-${w}-${i}` });
        committed++;
      }
    });
    const seen: number[] = [];
    let pages = 0;
    try {
      let pageToken = "";
      do {
        const page = await mine.listSecretVersions({ name: NAME, pageSize: 37, pageToken });
        seen.push(...page.versions.map((v) => Number(v.version)));
        pageToken = page.nextPageToken;
        pages++;
        // At least one more version commits before the next page is read.
        const mark = committed;
        await waitUntil(() => committed > mark, "a writer commits a version", 30_000);
      } while (pageToken !== "");
    } finally {
      stop = true;
      // A writer failing fails the test here.
      await Promise.all(writers);
    }
    const atEnd = Number((await mine.getSecret({ name: NAME })).secret?.latestVersion);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(atStart / 37));
    expect(atEnd - atStart, "versions added during the walk").toBeGreaterThanOrEqual(pages);

    expect(new Set(seen).size, "no version listed twice").toBe(seen.length);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!, `position ${i}`).toBeLessThan(seen[i - 1]!);
    for (let v = 1; v <= atStart; v++) expect(seen.includes(v), `version ${v} listed`).toBe(true);
    expect(Math.max(...seen)).toBeLessThanOrEqual(atEnd);

    // Nothing written during the walk was lost either.
    const after = await listAllVersions(mine, NAME, 37);
    expect(after.map((v) => Number(v.version))).toEqual(descending(atEnd));
  });

  // 1,001 versions only where writes are cheap.
  if (store === "memory") it("page_size 5,000 returns 1,000 versions and a token to the rest", async () => {
    await mine.createSecret({ name: "thousand", value: "t1" });
    await inParallel(Array.from({ length: 1_000 }, (_, i) => i), 8, () => mine.putSecretValue({ name: "thousand", value: "t" }));
    const first = await mine.listSecretVersions({ name: "thousand", pageSize: 5_000 });
    expect(first.versions).toHaveLength(1_000);
    expect(first.versions[0]?.version).toBe(1_001n);
    expect(first.nextPageToken).not.toBe("");
    const second = await mine.listSecretVersions({ name: "thousand", pageSize: 5_000, pageToken: first.nextPageToken });
    expect(second.versions.map((v) => v.version)).toEqual([1n]);
    expect(second.nextPageToken).toBe("");
  });
});

describe("the secret's etag", () => {
  it("changes on every mutation, and every response returns the Secret as GetSecret then shows it", async () => {
    const NAME = "etagEvery";
    const etags: string[] = [];
    const record = async (secret: Secret | undefined, live = true) => {
      expect(secret?.name).toBe(NAME);
      expect(etags).not.toContain(secret!.etag);
      etags.push(secret!.etag);
      const now = live ? await secretOf(NAME) : await listedSecret(alice, NAME);
      expect(now?.etag).toBe(secret!.etag);
    };
    const inAnHour = timestampFromDate(new Date(Date.now() + 3_600_000));
    await record((await alice.createSecret({ name: NAME, value: "e1" })).secret);
    await record((await alice.updateSecret({ name: NAME, description: "described" })).secret);
    await record((await alice.updateSecret({ name: NAME, metadata: { k: "v" } })).secret);
    await record((await alice.updateSecret({ name: NAME, maxVersions: 7 })).secret);
    await record((await alice.updateSecret({ name: NAME, expireTime: inAnHour })).secret);
    await record((await alice.updateSecret({ name: NAME, ttl: durationFromMs(7_200_000) })).secret);
    await record((await alice.updateSecret({ name: NAME, updateMask: { paths: ["expire_time"] } })).secret);
    await record((await alice.updateSecret({ name: NAME, value: "e2" })).secret);
    await record((await alice.putSecretValue({ name: NAME, value: "e3" })).secret);
    await record((await alice.disableSecretVersion({ name: NAME, version: 3n })).secret);
    await record((await alice.enableSecretVersion({ name: NAME, version: 3n })).secret);
    await record((await alice.destroySecretVersion({ name: NAME, version: 1n })).secret);
    await record((await alice.deleteSecret({ name: NAME })).secret, false);
    await record((await alice.restoreSecret({ name: NAME })).secret);
    expect(etags).toHaveLength(14);
  });

  interface Guarded {
    label: string;
    /** Brings a fresh secret into the state the mutation applies to. */
    prepare?(name: string): Promise<unknown>;
    /** A change that makes the etag read before it stale. */
    touch?(name: string): Promise<{ secret?: Secret }>;
    act(name: string, etag: string): Promise<{ secret?: Secret }>;
    /** Where the secret is after the mutation succeeds. */
    after: "live" | "deleted" | "purged";
  }

  const touchMetadata = (name: string) => alice.updateSecret({ name, metadata: { touched: "yes" } });

  const guarded: Guarded[] = [
    { label: "UpdateSecret", act: (name, etag) => alice.updateSecret({ name, description: "changed", etag }), after: "live" },
    { label: "UpdateSecret (expiry)", act: (name, etag) => alice.updateSecret({ name, ttl: durationFromMs(3_600_000), etag }), after: "live" },
    { label: "PutSecretValue", act: (name, etag) => alice.putSecretValue({ name, value: "changed", etag }), after: "live" },
    { label: "DisableSecretVersion", act: (name, etag) => alice.disableSecretVersion({ name, version: 2n, etag }), after: "live" },
    {
      label: "EnableSecretVersion",
      prepare: (name) => alice.disableSecretVersion({ name, version: 2n }),
      act: (name, etag) => alice.enableSecretVersion({ name, version: 2n, etag }),
      after: "live",
    },
    { label: "DestroySecretVersion", act: (name, etag) => alice.destroySecretVersion({ name, version: 1n, etag }), after: "live" },
    { label: "DeleteSecret", act: (name, etag) => alice.deleteSecret({ name, etag }), after: "deleted" },
    { label: "DeleteSecret (force)", act: (name, etag) => alice.deleteSecret({ name, force: true, etag }), after: "purged" },
    {
      label: "RestoreSecret",
      touch: (name) => alice.deleteSecret({ name }),
      act: (name, etag) => alice.restoreSecret({ name, etag }),
      after: "live",
    },
    {
      label: "DeleteSecret (force) of a soft-deleted secret",
      touch: (name) => alice.deleteSecret({ name }),
      act: (name, etag) => alice.deleteSecret({ name, force: true, etag }),
      after: "purged",
    },
  ];

  /** Everything observable about a secret, live or soft-deleted (but when its value was last read: observing reads it). */
  async function observe(name: string) {
    const listed = await listedSecret(alice, name);
    const secret = listed && { ...listed, lastAccessTime: undefined };
    if (!secret || secret.deleteTime) return { secret };
    return { secret, states: await versionStates(alice, name), value: await valueOf(name) };
  }

  it.each(guarded.map((g, i) => ({ ...g, name: `guarded${i}` })))(
    "$label: a stale etag is ABORTED and changes nothing; the current one applies and returns a new etag",
    async ({ label, name, prepare, touch, act, after }) => {
      await alice.createSecret({ name, value: "g1" });
      await alice.putSecretValue({ name, value: "g2" });
      await prepare?.(name);
      const stale = (await listedSecret(alice, name))!.etag;
      const touched = await (touch ?? touchMetadata)(name);
      const current = touched.secret!.etag;
      expect(current).not.toBe(stale);

      const before = await observe(name);
      await expectCode(act(name, stale), Code.Aborted, /etag/);
      expect(await observe(name)).toEqual(before);

      const res = await act(name, current);
      expect(res.secret?.name).toBe(name);
      expect(res.secret?.etag).not.toBe(current);
      if (after === "purged") {
        await expectCode(alice.getSecret({ name }), Code.NotFound);
        expect(await listedSecret(alice, name)).toBeUndefined();
      } else {
        const now = await listedSecret(alice, name);
        expect(now?.etag).toBe(res.secret?.etag);
        expect(now?.deleteTime !== undefined).toBe(after === "deleted");
      }
      // The etag just replaced is stale in turn (RestoreSecret of a live secret is refused before any etag check).
      if (after === "live" && label !== "RestoreSecret") await expectCode(act(name, current), Code.Aborted);
    },
  );
});
