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
    server = await startTestServer({ store: "mongodb", keys: keysKind, label: "enc" });
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

  const sealedOf = async (developerClient: "alice_dev" | "bob_dev", name: string, version: number) => {
    const secret = await db.collection<{ _id: string }>("secrets").findOne({ tenant: developerClient, name });
    const id = `${secret!._id}:${version}`;
    const doc = await db.collection<{ _id: string; sealed: Record<string, Binary> }>("secret_versions").findOne({ _id: id });
    return { id, sealed: doc!.sealed };
  };
  const setSealed = (id: string, sealed: Record<string, unknown>) =>
    db.collection<{ _id: string }>("secret_versions").updateOne({ _id: id }, { $set: { sealed } });
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
    expect(scanned).toBeGreaterThanOrEqual(9); // 4 secrets, 5 versions
  });

  it("writes no plaintext value to the server's log", () => {
    expect(server.logLines.length).toBeGreaterThan(5);
    const log = server.logLines.join("\n");
    for (const p of plaintexts) expect(log.includes(p)).toBe(false);
  });

  it("a flipped ciphertext byte answers DATA_LOSS", async () => {
    const { id, sealed } = await sealedOf("alice_dev", "a2", 1);
    const ct = Buffer.from(sealed.ct!.buffer);
    ct[0]! ^= 0x01;
    await setSealed(id, { ...sealed, ct: new Binary(ct) });
    await expectDataLoss(alice.getSecretValue({ name: "a2" }));
    await setSealed(id, sealed);
    expect((await alice.getSecretValue({ name: "a2" })).value).toBe(plaintexts[1]);
  });

  it("a flipped wrapped-key byte answers DATA_LOSS", async () => {
    const { id, sealed } = await sealedOf("alice_dev", "a2", 1);
    const wk = Buffer.from(sealed.wk!.buffer);
    wk[wk.length - 1]! ^= 0x01;
    await setSealed(id, { ...sealed, wk: new Binary(wk) });
    await expectDataLoss(alice.getSecretValue({ name: "a2" }));
    await setSealed(id, sealed);
  });

  it("ciphertexts swapped between two secrets of one developer answer DATA_LOSS for both", async () => {
    const x = await sealedOf("alice_dev", "a2", 1);
    const y = await sealedOf("alice_dev", "shared_name", 1);
    await setSealed(x.id, y.sealed);
    await setSealed(y.id, x.sealed);
    await expectDataLoss(alice.getSecretValue({ name: "a2" }));
    await expectDataLoss(alice.getSecretValue({ name: "shared_name" }));
    await setSealed(x.id, x.sealed);
    await setSealed(y.id, y.sealed);
  });

  it("ciphertexts swapped between developers (same name) answer DATA_LOSS", async () => {
    const a = await sealedOf("alice_dev", "shared_name", 1);
    const b = await sealedOf("bob_dev", "shared_name", 1);
    await setSealed(b.id, a.sealed);
    await expectDataLoss(bob.getSecretValue({ name: "shared_name" }));
    await setSealed(b.id, b.sealed);
    expect((await bob.getSecretValue({ name: "shared_name" })).value).toBe(plaintexts[4]);
  });

  it("versions swapped within one secret answer DATA_LOSS", async () => {
    const v1 = await sealedOf("alice_dev", "a1", 1);
    const v2 = await sealedOf("alice_dev", "a1", 2);
    await setSealed(v1.id, v2.sealed);
    await expectDataLoss(alice.getSecretValue({ name: "a1", version: 1n }));
    await setSealed(v1.id, v1.sealed);
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
