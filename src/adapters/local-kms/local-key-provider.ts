import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { DataLossError, FailedPreconditionError } from "../../errors.js";
import type { DataKey, KeyContext, KeyProvider } from "../../ports/key-provider.js";
import { encodeContext } from "../../ports/key-context.js";

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/**
 * Key provider for users without a cloud KMS (and dev mode): data keys are
 * wrapped with AES-256-GCM under a local 256-bit master key, the record's
 * context as associated data. Several master keys may be loaded by id so one
 * can rotate: new keys are wrapped by `activeKeyId`, old ones still unwrap.
 * Wrapped layout: iv(12) | ciphertext(32) | tag(16).
 */
export class LocalKeyProvider implements KeyProvider {
  private readonly keys: Map<string, Buffer>;

  constructor(
    masterKeys: ReadonlyMap<string, Uint8Array>,
    private readonly activeKeyId: string,
  ) {
    this.keys = new Map();
    for (const [id, key] of masterKeys) {
      if (key.length !== KEY_BYTES) throw new Error(`local master key "${id}" must be 32 bytes`);
      this.keys.set(id, Buffer.from(key));
    }
    if (!this.keys.has(activeKeyId)) throw new Error(`local master key "${activeKeyId}" is not loaded`);
  }

  async generateDataKey(context: KeyContext): Promise<DataKey> {
    const plaintext = randomBytes(KEY_BYTES);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.master(this.activeKeyId), iv);
    cipher.setAAD(encodeContext(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const wrapped = Buffer.concat([iv, ciphertext, cipher.getAuthTag()]);
    return { plaintext, wrapped, keyId: this.activeKeyId };
  }

  async decryptDataKey(keyId: string, wrapped: Uint8Array, context: KeyContext): Promise<Buffer> {
    const master = this.master(keyId);
    if (wrapped.length !== IV_BYTES + KEY_BYTES + TAG_BYTES) throw new DataLossError();
    const w = Buffer.from(wrapped);
    const decipher = createDecipheriv("aes-256-gcm", master, w.subarray(0, IV_BYTES));
    decipher.setAAD(encodeContext(context));
    decipher.setAuthTag(w.subarray(IV_BYTES + KEY_BYTES));
    try {
      return Buffer.concat([decipher.update(w.subarray(IV_BYTES, IV_BYTES + KEY_BYTES)), decipher.final()]);
    } catch {
      throw new DataLossError();
    }
  }

  private master(keyId: string): Buffer {
    const key = this.keys.get(keyId);
    if (!key) throw new FailedPreconditionError(`master key "${keyId}" is not configured`);
    return key;
  }

  async close(): Promise<void> {
    for (const key of this.keys.values()) key.fill(0);
    this.keys.clear();
  }
}
