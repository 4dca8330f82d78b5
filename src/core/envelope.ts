import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { DataLossError } from "../errors.js";
import type { KeyContext, KeyProvider } from "../ports/key-provider.js";
import { encodeContext } from "../ports/key-context.js";
import type { SealedValue } from "../ports/secret-store.js";

// The barrier: the only place values are sealed and opened. Each version gets
// a fresh data key; the version's identity {developer, secret, version,
// incarnation} is bound both as the KMS encryption context and (after the format
// byte) as the AES-GCM associated data, so a ciphertext copied to another record,
// or into a secret purged and created again under the same name, fails to open.
// Format 1, from before incarnations were bound, bound {developer, secret, version}:
// such versions still open. The context comes from the stored format, never from
// the caller.

/** The format new versions are sealed in. */
export const SEALED_FORMAT = 2;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** What a sealed version is bound to. */
export interface VersionBinding {
  readonly developer: string;
  readonly secret: string;
  readonly version: number;
  /** The secret's incarnation id (SecretRecord.id), new on every create. */
  readonly incarnation: string;
}

/** The binding of version `version` of a secret: every seal and open takes it from here. */
export function versionBinding(tenant: string, secret: { readonly id: string; readonly name: string }, version: number): VersionBinding {
  return { developer: tenant, secret: secret.name, version, incarnation: secret.id };
}

export async function sealValue(keys: KeyProvider, binding: VersionBinding, value: string): Promise<SealedValue> {
  const context = keyContextOf(SEALED_FORMAT, binding);
  if (!context) throw new Error("cannot seal a version without its secret's incarnation id");
  const dataKey = await keys.generateDataKey(context);
  const plaintext = Buffer.from(value, "utf8");
  try {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", dataKey.plaintext, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(associatedData(SEALED_FORMAT, context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      format: SEALED_FORMAT,
      keyId: dataKey.keyId,
      wrappedKey: dataKey.wrapped,
      iv,
      ciphertext,
      tag: cipher.getAuthTag(),
    };
  } finally {
    dataKey.plaintext.fill(0);
    plaintext.fill(0);
  }
}

export async function openValue(keys: KeyProvider, binding: VersionBinding, sealed: SealedValue): Promise<string> {
  const context = keyContextOf(sealed.format, binding);
  if (!context || sealed.iv.length !== IV_BYTES || sealed.tag.length !== TAG_BYTES) throw new DataLossError();
  const key = await keys.decryptDataKey(sealed.keyId, sealed.wrappedKey, context);
  let plaintext: Buffer | undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, sealed.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(sealed.format, context));
    decipher.setAuthTag(sealed.tag);
    plaintext = Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
    return plaintext.toString("utf8");
  } catch {
    throw new DataLossError();
  } finally {
    key.fill(0);
    plaintext?.fill(0);
  }
}

/** The KMS context a stored sealed value's data key is bound to (key re-wrap); DataLossError for a format this code does not know. */
export function sealedKeyContext(binding: VersionBinding, sealed: Pick<SealedValue, "format">): KeyContext {
  const context = keyContextOf(sealed.format, binding);
  if (!context) throw new DataLossError();
  return context;
}

/** The key context a sealed format binds; undefined for a format this code does not know. */
function keyContextOf(format: number, b: VersionBinding): KeyContext | undefined {
  switch (format) {
    case 1:
      return { developer: b.developer, secret: b.secret, version: b.version };
    case 2:
      if (typeof b.incarnation !== "string" || b.incarnation === "") return undefined;
      return { developer: b.developer, secret: b.secret, version: b.version, incarnation: b.incarnation };
    default:
      return undefined;
  }
}

/** [format] + the context's encoding; format 1's is exactly what it always was. */
function associatedData(format: number, context: KeyContext): Buffer {
  return Buffer.concat([Buffer.from([format]), encodeContext(context)]);
}
