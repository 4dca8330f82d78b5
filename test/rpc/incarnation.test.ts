import { createCipheriv, randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { Binary, type Document } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { openRawDocuments, type RawDocuments } from "../helpers/raw-documents.js";
import { expectCode } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Sealed values are bound to the secret's incarnation (the id its document gets at
// creation), not only to {developer, name, version}: a secret purged with force and
// created again under the same name reuses all three, so the old incarnation's
// ciphertext, restored into the new documents (a backup, anyone with write access to
// the database), must answer DATA_LOSS. Versions sealed before incarnations (format 1)
// keep reading. Over the real server on FerretDB, with both key providers.

const TENANT = "dev-incarnation";

describe.each(["local", "aws-kms"] as const)("sealed values are bound to the secret's incarnation (FerretDB + %s key provider)", (keysKind) => {
  let server: TestServer;
  let raw: RawDocuments;
  let alice: ReturnType<typeof connectGrpcClient>;

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: keysKind, label: "incarnation" });
    raw = await openRawDocuments(server.fixture.db);
    alice = connectGrpcClient(server.baseUrl, await server.token(TENANT));
  });
  afterAll(async () => {
    await raw?.close();
    await server?.close();
  });

  const currentSealedOf = async (name: string): Promise<Document> => (await raw.secretDoc(TENANT, name))!.current.sealed as Document;
  const versionSealedOf = async (secretId: string, version: number): Promise<Document> => (await raw.versionDoc(secretId, version))!.sealed as Document;

  it("a purged incarnation's ciphertext written into the re-created secret's documents answers DATA_LOSS for version 0 and version 1", async () => {
    const name = "reborn";
    await alice.createSecret({ name, value: `first-life-${randomBytes(8).toString("hex")}` });
    const oldId = await raw.secretIdOf(TENANT, name);
    const snapshot = { current: await currentSealedOf(name), v1: await versionSealedOf(oldId, 1) };

    await alice.deleteSecret({ name, force: true });
    const secondValue = `second-life-${randomBytes(8).toString("hex")}`;
    await alice.createSecret({ name, value: secondValue });
    const newId = await raw.secretIdOf(TENANT, name);
    expect(newId).not.toBe(oldId);
    const own = { current: await currentSealedOf(name), v1: await versionSealedOf(newId, 1) };

    await raw.setCurrentSealed(TENANT, name, snapshot.current);
    await raw.setVersionSealed(newId, 1, snapshot.v1);
    await expectCode(alice.getSecretValue({ name }), Code.DataLoss);
    await expectCode(alice.getSecretValue({ name, version: 1n }), Code.DataLoss);

    // Its own ciphertext put back, the new incarnation reads again: the refusal was the binding.
    await raw.setCurrentSealed(TENANT, name, own.current);
    await raw.setVersionSealed(newId, 1, own.v1);
    expect((await alice.getSecretValue({ name })).value).toBe(secondValue);
    expect((await alice.getSecretValue({ name, version: 1n })).value).toBe(secondValue);
  });

  it("versions sealed in format 1 (before incarnations) still read back byte for byte, beside format-2 versions", async () => {
    const name = "legacy";
    await alice.createSecret({ name, value: "written-now-v1" });
    await alice.putSecretValue({ name, value: "written-now-v2" });
    await alice.putSecretValue({ name, value: "written-now-v3" });
    const id = await raw.secretIdOf(TENANT, name);
    for (const v of [1, 2, 3]) expect((await versionSealedOf(id, v)).f, `version ${v}`).toBe(2);
    expect((await currentSealedOf(name)).f).toBe(2);

    // Versions 1 and 3 (the latest, also copied onto the secret) as an older release sealed them.
    const legacy1 = `sk_live_ünïcødé_🔑_${randomBytes(8).toString("hex")}`;
    const legacy3 = `line one\nline two\t\u0000${randomBytes(8).toString("hex")}`;
    await raw.setVersionSealed(id, 1, await sealFormat1(server.keys, { developer: TENANT, secret: name, version: 1 }, legacy1));
    const sealed3 = await sealFormat1(server.keys, { developer: TENANT, secret: name, version: 3 }, legacy3);
    await raw.setVersionSealed(id, 3, sealed3);
    await raw.setCurrentSealed(TENANT, name, sealed3);

    const bytesOf = (s: string) => Buffer.from(s, "utf8");
    expect(bytesOf((await alice.getSecretValue({ name, version: 1n })).value).equals(bytesOf(legacy1))).toBe(true);
    expect(bytesOf((await alice.getSecretValue({ name, version: 3n })).value).equals(bytesOf(legacy3))).toBe(true);
    expect(bytesOf((await alice.getSecretValue({ name })).value).equals(bytesOf(legacy3))).toBe(true);
    expect((await alice.getSecretValue({ name, version: 2n })).value).toBe("written-now-v2");

    // A new value is a format-2 version; the format-1 versions stay as they are.
    await alice.putSecretValue({ name, value: "written-now-v4" });
    expect((await versionSealedOf(id, 4)).f).toBe(2);
    expect((await currentSealedOf(name)).f).toBe(2);
    expect((await versionSealedOf(id, 1)).f).toBe(1);
    expect((await alice.getSecretValue({ name })).value).toBe("written-now-v4");
    expect((await alice.getSecretValue({ name, version: 1n })).value).toBe(legacy1);
  });

  it("a format-1 version stored as format 2 (or format 2 as format 1, or an unknown format) answers DATA_LOSS", async () => {
    const name = "relabelled";
    const value = `relabelled-${randomBytes(8).toString("hex")}`;
    await alice.createSecret({ name, value });
    const id = await raw.secretIdOf(TENANT, name);
    const own = await versionSealedOf(id, 1);
    const legacy = await sealFormat1(server.keys, { developer: TENANT, secret: name, version: 1 }, value);
    for (const relabelled of [{ ...legacy, f: 2 }, { ...own, f: 1 }, { ...own, f: 3 }, { ...legacy, f: 0 }]) {
      await raw.setVersionSealed(id, 1, relabelled);
      await expectCode(alice.getSecretValue({ name, version: 1n }), Code.DataLoss);
    }
    await raw.setVersionSealed(id, 1, own);
    expect((await alice.getSecretValue({ name, version: 1n })).value).toBe(value);
  });

  it("a request_id retry checks its value against the version it created, in format 2 and in format 1", async () => {
    const name = "legacy_replay";
    const value = `replayed-${randomBytes(8).toString("hex")}`;
    const requestId = "create-legacy-replay";
    const first = await alice.createSecret({ name, value, requestId });
    const id = await raw.secretIdOf(TENANT, name);
    expect((await versionSealedOf(id, 1)).f).toBe(2);
    const retry = async () => {
      expect((await alice.createSecret({ name, value, requestId })).secret?.etag).toBe(first.secret?.etag);
      await expectCode(alice.createSecret({ name, value: `${value}-other`, requestId }), Code.InvalidArgument);
    };
    await retry();
    await raw.setVersionSealed(id, 1, await sealFormat1(server.keys, { developer: TENANT, secret: name, version: 1 }, value));
    await retry();
  });
});

/**
 * A value sealed as format 1 was, built here independently of the service's envelope:
 * KMS encryption context {developer, secret, version}, AES-256-GCM with associated data
 * [1] + JSON ["secrets.v1", developer, secret, version]. The stored document shape.
 */
async function sealFormat1(keys: KeyProvider, context: { developer: string; secret: string; version: number }, value: string): Promise<Document> {
  const dataKey = await keys.generateDataKey(context);
  try {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", dataKey.plaintext, iv);
    cipher.setAAD(Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify(["secrets.v1", context.developer, context.secret, context.version]))]));
    const ct = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
    return { f: 1, kid: dataKey.keyId, wk: new Binary(Buffer.from(dataKey.wrapped)), iv: new Binary(iv), ct: new Binary(ct), tag: new Binary(cipher.getAuthTag()) };
  } finally {
    dataKey.plaintext.fill(0);
  }
}
