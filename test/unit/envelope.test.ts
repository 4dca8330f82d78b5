import { createCipheriv, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { LocalKeyProvider } from "../../src/adapters/local-kms/local-key-provider.js";
import { openValue, sealValue, versionBinding, type VersionBinding } from "../../src/core/envelope.js";
import { DataLossError } from "../../src/errors.js";
import type { DataKey, KeyContext, KeyProvider } from "../../src/ports/key-provider.js";
import type { SealedValue } from "../../src/ports/secret-store.js";

describe("envelope sealing", () => {
  const ctx: VersionBinding = { developer: "dev_a", secret: "api_key", version: 3, incarnation: "4b0c7d1e-incarnation-1" };
  const localKeys = () => new LocalKeyProvider(new Map([["k1", randomBytes(32)]]), "k1");

  it("seals with a fresh IV and data key per call and opens only under the same record", async () => {
    const keys = localKeys();
    const a = await sealValue(keys, ctx, "sk_live_✓");
    const b = await sealValue(keys, ctx, "sk_live_✓");
    expect(Buffer.from(a.iv).equals(Buffer.from(b.iv))).toBe(false);
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(false);
    expect(a).toMatchObject({ format: 2, keyId: "k1" });
    expect(await openValue(keys, ctx, a)).toBe("sk_live_✓");
    await expect(openValue(keys, { ...ctx, version: 4 }, a)).rejects.toBeInstanceOf(DataLossError);
    await expect(openValue(keys, { ...ctx, secret: "other" }, a)).rejects.toBeInstanceOf(DataLossError);
    await expect(openValue(keys, { ...ctx, developer: "dev_b" }, a)).rejects.toBeInstanceOf(DataLossError);
    await expect(openValue(keys, ctx, { ...a, tag: randomBytes(16) })).rejects.toBeInstanceOf(DataLossError);
    await expect(openValue(keys, ctx, { ...a, tag: a.tag.subarray(0, 12) })).rejects.toBeInstanceOf(DataLossError);
  });

  it("binds a version to its tenant, its secret's name and incarnation id, and its number", () => {
    expect(versionBinding("dev_a", { id: "4b0c7d1e-incarnation-1", name: "api_key" }, 3)).toEqual(ctx);
  });

  it("format 2 does not open under another incarnation of the same developer, name and version", async () => {
    const keys = localKeys();
    const sealed = await sealValue(keys, ctx, "first-life");
    const reborn = { ...ctx, incarnation: "9e2f5a60-incarnation-2" };
    await expect(openValue(keys, reborn, sealed)).rejects.toBeInstanceOf(DataLossError);
    await expect(openValue(keys, { ...ctx, incarnation: "" }, sealed)).rejects.toBeInstanceOf(DataLossError);
  });

  it("binds the incarnation in the GCM associated data too, not only in the key context", async () => {
    // A key provider that ignores the context: only the value's associated data can refuse.
    const unbound: KeyProvider = {
      async generateDataKey(): Promise<DataKey> {
        const plaintext = randomBytes(32);
        return { plaintext, wrapped: Buffer.from(plaintext), keyId: "none" };
      },
      async decryptDataKey(_id, wrapped) {
        return Buffer.from(wrapped);
      },
      rewrapDataKey: async (_id, wrapped) => ({ wrapped, keyId: "none" }),
      resolveKeyId: async () => "none",
      activeKeyId: async () => "none",
      close: async () => {},
    };
    const sealed = await sealValue(unbound, ctx, "value");
    expect(await openValue(unbound, ctx, sealed)).toBe("value");
    await expect(openValue(unbound, { ...ctx, incarnation: "9e2f5a60-incarnation-2" }, sealed)).rejects.toBeInstanceOf(DataLossError);
    await expect(openValue(unbound, ctx, { ...sealed, format: 1 })).rejects.toBeInstanceOf(DataLossError);
  });

  it.each([0, 1, 3, 255])("a format-2 value relabelled as format %i answers DataLossError", async (format) => {
    const keys = localKeys();
    const sealed = await sealValue(keys, ctx, "value");
    await expect(openValue(keys, ctx, { ...sealed, format })).rejects.toBeInstanceOf(DataLossError);
  });

  it("opens format 1 (sealed before incarnations) under its own context, whatever the incarnation", async () => {
    const keys = localKeys();
    const legacy = await sealFormat1(keys, { developer: ctx.developer, secret: ctx.secret, version: ctx.version }, "sk_legacy_✓");
    expect(await openValue(keys, ctx, legacy)).toBe("sk_legacy_✓");
    expect(await openValue(keys, { ...ctx, incarnation: "any-other" }, legacy)).toBe("sk_legacy_✓");
    await expect(openValue(keys, { ...ctx, version: 4 }, legacy)).rejects.toBeInstanceOf(DataLossError);
    await expect(openValue(keys, ctx, { ...legacy, format: 2 })).rejects.toBeInstanceOf(DataLossError);
  });

  it("refuses to seal without an incarnation id", async () => {
    const keys = localKeys();
    await expect(sealValue(keys, { ...ctx, incarnation: "" }, "value")).rejects.toThrow(/incarnation/);
  });

  it("zeroes the plaintext data key after sealing and after opening, in both formats", async () => {
    const inner = localKeys();
    const handedOut: Buffer[] = [];
    const spy: KeyProvider = {
      async generateDataKey(c: KeyContext): Promise<DataKey> {
        const dk = await inner.generateDataKey(c);
        handedOut.push(dk.plaintext);
        return dk;
      },
      async decryptDataKey(id, wrapped, c) {
        const k = await inner.decryptDataKey(id, wrapped, c);
        handedOut.push(k);
        return k;
      },
      rewrapDataKey: (id, wrapped, c, to) => inner.rewrapDataKey(id, wrapped, c, to),
      resolveKeyId: (key) => inner.resolveKeyId(key),
      activeKeyId: () => inner.activeKeyId(),
      close: () => inner.close(),
    };
    const sealed = await sealValue(spy, ctx, "value");
    await openValue(spy, ctx, sealed);
    const legacy = await sealFormat1(inner, { developer: ctx.developer, secret: ctx.secret, version: ctx.version }, "value");
    await openValue(spy, ctx, legacy);
    expect(handedOut).toHaveLength(3);
    for (const k of handedOut) expect(k.every((byte) => byte === 0)).toBe(true);
  });
});

/** Format 1 as an older release sealed it, built independently: context and associated data without incarnation. */
async function sealFormat1(keys: KeyProvider, context: KeyContext, value: string): Promise<SealedValue> {
  const dataKey = await keys.generateDataKey(context);
  try {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", dataKey.plaintext, iv);
    cipher.setAAD(Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify(["secrets.v1", context.developer, context.secret, context.version]))]));
    const ciphertext = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
    return { format: 1, keyId: dataKey.keyId, wrappedKey: dataKey.wrapped, iv, ciphertext, tag: cipher.getAuthTag() };
  } finally {
    dataKey.plaintext.fill(0);
  }
}
