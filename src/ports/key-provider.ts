/**
 * Binds a data key to the record it protects. Passed to KMS as the encryption
 * context, so a wrapped key only unwraps for the same {developer, secret,
 * version, incarnation}.
 */
export interface KeyContext {
  readonly developer: string;
  readonly secret: string;
  readonly version: number;
  /**
   * The id the secret's document got at creation: a secret purged and created again
   * under the same name is another incarnation. Absent only in the context of versions
   * sealed before incarnations were bound (sealed format 1).
   */
  readonly incarnation?: string;
}

export interface DataKey {
  /** 32 bytes of plaintext key. The caller zeroes it after use. */
  readonly plaintext: Buffer;
  /** The key wrapped by the provider's master key; safe to store. */
  readonly wrapped: Uint8Array;
  /** Id of the master key that wrapped it (stored so rotation can find it). */
  readonly keyId: string;
}

/**
 * Issues and unwraps per-version data keys (envelope encryption).
 * Errors: UnavailableError when the provider cannot be reached; DataLossError
 * when a wrapped key does not authenticate under the given context.
 */
export interface KeyProvider {
  generateDataKey(context: KeyContext): Promise<DataKey>;
  /** Returns the 32-byte plaintext key. The caller zeroes it after use. */
  decryptDataKey(keyId: string, wrapped: Uint8Array, context: KeyContext): Promise<Buffer>;
  /**
   * The same data key wrapped under master key `toKeyId` (the same context), for key rotation. On a
   * KMS the plaintext never leaves it (ReEncrypt); a local provider unwraps and wraps in memory.
   */
  rewrapDataKey(keyId: string, wrapped: Uint8Array, context: KeyContext, toKeyId: string): Promise<WrappedKey>;
  /**
   * The id data keys wrapped under `key` are stored with (a KMS key's ARN, for any of its id, ARN or
   * alias; a local key's id). FailedPreconditionError when there is no such usable key.
   */
  resolveKeyId(key: string): Promise<string>;
  /** resolveKeyId of the key new data keys are wrapped under. */
  activeKeyId(): Promise<string>;
  close(): Promise<void>;
}

/** A data key in its wrapped form, and the id of the master key that wrapped it. */
export interface WrappedKey {
  readonly wrapped: Uint8Array;
  readonly keyId: string;
}
