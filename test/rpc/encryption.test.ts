import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { Binary, MongoClient, type Db } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectGrpcClient } from "../helpers/clients.js";
import { services } from "../helpers/services.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Proof of encryption over the real services (FerretDB + KMS emulator): no plaintext
// value reaches the database or the logs, and a ciphertext that is tampered with or
// moved to another record fails to open with DATA_LOSS, never wrong data.

describe.each(["aws-kms", "local"] as const)("envelope encryption at rest (FerretDB + %s key provider)", (keysKind) => {
  let server: TestServer;
  let mongo: MongoClient;
  let db: Db;
  let alice: ReturnType<typeof connectGrpcClient>;
  let bob: ReturnType<typeof connectGrpcClient>;
  const plaintexts: string[] = []; // in creation order
  const secretValue = (label: string) => {
    const v = `${label}-${randomBytes(12).toString("hex")}`;
    plaintexts.push(v);
    return v;
  };

  beforeAll(async () => {
    // No value cache: these tests edit stored ciphertext behind the service's back, and a cached
    // value would (rightly) be served until its entry is invalidated by a commit.
    server = await startTestServer({ store: "mongodb", keys: keysKind, label: "enc", cache: false });
    mongo = new MongoClient(services.mongoUri);
    await mongo.connect();
    db = mongo.db(server.fixture.db!);
    alice = connectGrpcClient(server.baseUrl, await server.token("alice_dev"));
    bob = connectGrpcClient(server.baseUrl, await server.token("bob_dev"));
    for (const name of ["a1", "a2", "shared_name"]) await alice.createSecret({ name, value: secretValue(`alice-${name}`) });
    await alice.updateSecret({ name: "a1", value: secretValue("alice-a1-v2") });
    await bob.createSecret({ name: "shared_name", value: secretValue("bob-shared") });
  });
  afterAll(async () => {
    await mongo.close();
    await server.close();
  });

  type Sealed = Record<string, Binary>;
  const secretDoc = (tenant: string, name: string) =>
    db.collection<{ _id: string; sid: string; current: { sealed: Sealed } }>("secrets").findOne({ tenant, name });
  /** A version's sealed value, where reads by version number find it. */
  const versionSealed = async (tenant: string, name: string, version: number) => {
    const id = `${(await secretDoc(tenant, name))!.sid}:${version}`;
    const doc = await db.collection<{ _id: string; sealed: Sealed }>("secret_versions").findOne({ _id: id });
    return { sealed: doc!.sealed, set: (sealed: Sealed) => db.collection<{ _id: string }>("secret_versions").updateOne({ _id: id }, { $set: { sealed } }) };
  };
  /** The copy of the newest enabled version on the secret, where reads of the latest value find it. */
  const currentSealed = async (tenant: string, name: string) => {
    const doc = (await secretDoc(tenant, name))!;
    return {
      sealed: doc.current.sealed,
      set: (sealed: Sealed) => db.collection<{ _id: string }>("secrets").updateOne({ _id: doc._id }, { $set: { "current.sealed": sealed } }),
    };
  };
  const flipped = (sealed: Sealed, field: "ct" | "wk") => {
    const bytes = Buffer.from(sealed[field]!.buffer);
    bytes[bytes.length - 1]! ^= 0x01;
    return { ...sealed, [field]: new Binary(bytes) };
  };
  const expectDataLoss = async (p: Promise<unknown>) => {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.DataLoss);
  };

  it("reads every value back through the KMS-wrapped data keys", async () => {
    expect((await alice.getSecretValue({ name: "a1", version: 1n })).value).toBe(plaintexts[0]);
    expect((await alice.getSecretValue({ name: "a1" })).value).toBe(plaintexts[3]);
    expect((await bob.getSecretValue({ name: "shared_name" })).value).toBe(plaintexts[4]);
  });

  it("stores no plaintext value in any raw MongoDB document, in any encoding", async () => {
    const collections = await db.listCollections().toArray();
    expect(collections.map((c) => c.name)).toEqual(expect.arrayContaining(["secrets", "secret_versions"]));
    let scanned = 0;
    for (const { name } of collections) {
      for (const doc of await db.collection(name).find({}).toArray()) {
        scanned++;
        const haystacks = rawForms(doc);
        for (const p of plaintexts) {
          for (const h of haystacks) expect(h.includes(p), `${name} holds a plaintext value`).toBe(false);
        }
      }
    }
    expect(scanned).toBeGreaterThanOrEqual(9); // 4 secrets (each with a sealed copy of its latest), 5 versions
  });

  it("writes no plaintext value to the server's log", () => {
    expect(server.logLines.length).toBeGreaterThan(5);
    const log = server.logLines.join("\n");
    for (const p of plaintexts) expect(log.includes(p)).toBe(false);
  });

  it.each(["ct", "wk"] as const)("a flipped %s byte answers DATA_LOSS, by version number and for the latest", async (field) => {
    const v = await versionSealed("alice_dev", "a2", 1);
    await v.set(flipped(v.sealed, field));
    await expectDataLoss(alice.getSecretValue({ name: "a2", version: 1n }));
    await v.set(v.sealed);
    const c = await currentSealed("alice_dev", "a2");
    await c.set(flipped(c.sealed, field));
    await expectDataLoss(alice.getSecretValue({ name: "a2" }));
    await c.set(c.sealed);
    expect((await alice.getSecretValue({ name: "a2" })).value).toBe(plaintexts[1]);
    expect((await alice.getSecretValue({ name: "a2", version: 1n })).value).toBe(plaintexts[1]);
  });

  it("ciphertexts swapped between two secrets of one developer answer DATA_LOSS for both", async () => {
    for (const get of [(n: string) => versionSealed("alice_dev", n, 1), (n: string) => currentSealed("alice_dev", n)]) {
      const x = await get("a2");
      const y = await get("shared_name");
      await x.set(y.sealed);
      await y.set(x.sealed);
      await expectDataLoss(alice.getSecretValue({ name: "a2", version: 1n }).then(() => alice.getSecretValue({ name: "a2" })));
      await expectDataLoss(alice.getSecretValue({ name: "shared_name" }).then(() => alice.getSecretValue({ name: "shared_name", version: 1n })));
      await x.set(x.sealed);
      await y.set(y.sealed);
    }
    expect((await alice.getSecretValue({ name: "shared_name" })).value).toBe(plaintexts[2]);
  });

  it("ciphertexts swapped between developers (same name) answer DATA_LOSS", async () => {
    for (const get of [(t: string) => versionSealed(t, "shared_name", 1), (t: string) => currentSealed(t, "shared_name")]) {
      const a = await get("alice_dev");
      const b = await get("bob_dev");
      await b.set(a.sealed);
      await expectDataLoss(bob.getSecretValue({ name: "shared_name" }).then(() => bob.getSecretValue({ name: "shared_name", version: 1n })));
      await b.set(b.sealed);
    }
    expect((await bob.getSecretValue({ name: "shared_name" })).value).toBe(plaintexts[4]);
  });

  it("versions swapped within one secret answer DATA_LOSS", async () => {
    const v1 = await versionSealed("alice_dev", "a1", 1);
    const v2 = await versionSealed("alice_dev", "a1", 2);
    await v1.set(v2.sealed);
    await expectDataLoss(alice.getSecretValue({ name: "a1", version: 1n }));
    await v1.set(v1.sealed);
    const c = await currentSealed("alice_dev", "a1");
    await c.set(v1.sealed); // latest is version 2; version 1's ciphertext must not open as it
    await expectDataLoss(alice.getSecretValue({ name: "a1" }));
    await c.set(c.sealed);
  });

  it("keeps serving after DATA_LOSS answers", async () => {
    expect((await alice.getSecretValue({ name: "a1", version: 1n })).value).toBe(plaintexts[0]);
  });
});

/** A document as JSON text, and every binary field as utf8, base64 and hex. */
function rawForms(doc: unknown): string[] {
  const forms = [JSON.stringify(doc)];
  const walk = (v: unknown) => {
    if (v instanceof Binary) {
      const b = Buffer.from(v.buffer);
      forms.push(b.toString("utf8"), b.toString("latin1"), b.toString("base64"), b.toString("hex"));
    } else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(doc);
  return forms;
}
