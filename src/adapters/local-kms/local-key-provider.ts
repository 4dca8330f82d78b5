import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { DataLossError, FailedPreconditionError } from "../../errors.js";
import type { DataKey, KeyContext, KeyProvider, WrappedKey } from "../../ports/key-provider.js";
import { encodeContext } from "../../ports/key-context.js";

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/**
 * Key provider for users without a cloud KMS (and dev mode): data keys are
 * wrapped with AES-256-GCM under a local 256-bit master key, the record's
 * context as associated data. Several master keys may be loaded by id so one
 * can rotate: new keys are wrapped by the active one, old ones still unwrap, and
 * rewrapDataKey moves a data key to another.
 * Wrapped layout: iv(12) | ciphertext(32) | tag(16).
 */
export class LocalKeyProvider implements KeyProvider {
  private readonly keys: Map<string, Buffer>;

  constructor(
    masterKeys: ReadonlyMap<string, Uint8Array>,
    private readonly active: string,
  ) {
    this.keys = new Map();
    for (const [id, key] of masterKeys) {
      if (key.length !== KEY_BYTES) throw new Error(`local master key "${id}" must be 32 bytes`);
      this.keys.set(id, Buffer.from(key));
    }
    if (!this.keys.has(active)) throw new Error(`local master key "${active}" is not loaded`);
  }

  async generateDataKey(context: KeyContext): Promise<DataKey> {
    const plaintext = randomBytes(KEY_BYTES);
    return { plaintext, wrapped: this.wrap(this.active, plaintext, context), keyId: this.active };
  }

  async rewrapDataKey(keyId: string, wrapped: Uint8Array, context: KeyContext, toKeyId: string): Promise<WrappedKey> {
    this.master(toKeyId); // an unknown target fails before anything is unwrapped
    const plaintext = await this.decryptDataKey(keyId, wrapped, context);
    try {
      return { wrapped: this.wrap(toKeyId, plaintext, context), keyId: toKeyId };
    } finally {
      plaintext.fill(0);
    }
  }

  async resolveKeyId(key: string): Promise<string> {
    this.master(key);
    return key;
  }

  async activeKeyId(): Promise<string> {
    return this.active;
  }

  private wrap(keyId: string, plaintext: Buffer, context: KeyContext): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.master(keyId), iv);
    cipher.setAAD(encodeContext(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([iv, ciphertext, cipher.getAuthTag()]);
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
