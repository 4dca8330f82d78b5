import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataLossError } from "../../src/errors.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";

// One exercise suite for every KeyProvider implementation.

export function keyProviderContract(kind: string, open: () => KeyProvider): void {
  describe(`KeyProvider contract: ${kind}`, () => {
    let keys: KeyProvider;
    beforeAll(() => {
      keys = open();
    });
    afterAll(async () => keys.close());
    const context = { developer: "dev_a", secret: "api_key", version: 1, incarnation: "7f3c2a94-first" };
    /** The context of versions sealed before incarnations were bound (format 1). */
    const { incarnation: _, ...legacyContext } = context;

    it("issues a fresh 256-bit data key per call, wrapped, with a key id", async () => {
      const a = await keys.generateDataKey(context);
      const b = await keys.generateDataKey(context);
      expect(a.plaintext).toHaveLength(32);
      expect(a.plaintext.equals(b.plaintext)).toBe(false);
      expect(a.keyId).not.toBe("");
      expect(Buffer.from(a.wrapped).includes(a.plaintext)).toBe(false);
    });

    it("unwraps a data key under the same context", async () => {
      const dk = await keys.generateDataKey(context);
      const plain = await keys.decryptDataKey(dk.keyId, dk.wrapped, context);
      expect(plain.equals(dk.plaintext)).toBe(true);
    });

    it.each([
      ["developer", { ...context, developer: "dev_b" }],
      ["secret", { ...context, secret: "other" }],
      ["version", { ...context, version: 2 }],
      ["incarnation (the same name purged and created again)", { ...context, incarnation: "0d9e8b51-second" }],
      ["context: one without the incarnation", legacyContext],
    ])("refuses to unwrap under another %s (DATA_LOSS)", async (_label, other) => {
      const dk = await keys.generateDataKey(context);
      await expect(keys.decryptDataKey(dk.keyId, dk.wrapped, other)).rejects.toBeInstanceOf(DataLossError);
    });

    it("still unwraps a key wrapped under a context without an incarnation, only under that context", async () => {
      const dk = await keys.generateDataKey(legacyContext);
      expect((await keys.decryptDataKey(dk.keyId, dk.wrapped, legacyContext)).equals(dk.plaintext)).toBe(true);
      await expect(keys.decryptDataKey(dk.keyId, dk.wrapped, context)).rejects.toBeInstanceOf(DataLossError);
    });

    it("refuses a tampered wrapped key (DATA_LOSS)", async () => {
      const dk = await keys.generateDataKey(context);
      const tampered = Buffer.from(dk.wrapped);
      tampered[tampered.length - 5]! ^= 0x01;
      await expect(keys.decryptDataKey(dk.keyId, tampered, context)).rejects.toBeInstanceOf(DataLossError);
    });
  });
}
