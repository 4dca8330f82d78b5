import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { LocalKeyProvider } from "../../src/adapters/local-kms/local-key-provider.js";
import { openValue, sealValue } from "../../src/core/envelope.js";
import { DataLossError } from "../../src/errors.js";
import type { DataKey, KeyContext, KeyProvider } from "../../src/ports/key-provider.js";

describe("envelope sealing", () => {
  const ctx = { developer: "dev_a", secret: "api_key", version: 3 };

  it("seals with a fresh IV and data key per call and opens only under the same record", async () => {
    const keys = new LocalKeyProvider(new Map([["k1", randomBytes(32)]]), "k1");
    const a = await sealValue(keys, ctx, "sk_live_✓");
    const b = await sealValue(keys, ctx, "sk_live_✓");
    expect(Buffer.from(a.iv).equals(Buffer.from(b.iv))).toBe(false);
    expect(Buffer.from(a.ciphertext).equals(Buffer.from(b.ciphertext))).toBe(false);
    expect(a).toMatchObject({ format: 1, keyId: "k1" });
    expect(await openValue(keys, ctx, a)).toBe("sk_live_✓");
    await expect(openValue(keys, { ...ctx, version: 4 }, a)).rejects.toBeInstanceOf(DataLossError);
    await expect(openValue(keys, ctx, { ...a, format: 2 })).rejects.toBeInstanceOf(DataLossError);
    await expect(openValue(keys, ctx, { ...a, tag: randomBytes(16) })).rejects.toBeInstanceOf(DataLossError);
  });

  it("zeroes the plaintext data key after sealing and after opening", async () => {
    const inner = new LocalKeyProvider(new Map([["k1", randomBytes(32)]]), "k1");
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
      close: () => inner.close(),
    };
    const sealed = await sealValue(spy, ctx, "value");
    await openValue(spy, ctx, sealed);
    expect(handedOut).toHaveLength(2);
    for (const k of handedOut) expect(k.every((byte) => byte === 0)).toBe(true);
  });
});
