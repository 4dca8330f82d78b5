import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { DataLossError } from "../errors.js";
import type { KeyContext, KeyProvider } from "../ports/key-provider.js";
import { encodeContext } from "../ports/key-context.js";
import type { SealedValue } from "../ports/secret-store.js";

// The barrier: the only place values are sealed and opened. Each version gets
// a fresh data key; {developer, secret, version} is bound both as the KMS
// encryption context and as the AES-GCM associated data, so a ciphertext
// copied to another record fails to open.

export const SEALED_FORMAT = 1;
const IV_BYTES = 12;

export async function sealValue(keys: KeyProvider, context: KeyContext, value: string): Promise<SealedValue> {
  const dataKey = await keys.generateDataKey(context);
  const plaintext = Buffer.from(value, "utf8");
  try {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", dataKey.plaintext, iv);
    cipher.setAAD(associatedData(context));
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

export async function openValue(keys: KeyProvider, context: KeyContext, sealed: SealedValue): Promise<string> {
  if (sealed.format !== SEALED_FORMAT || sealed.iv.length !== IV_BYTES) throw new DataLossError();
  const key = await keys.decryptDataKey(sealed.keyId, sealed.wrappedKey, context);
  let plaintext: Buffer | undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, sealed.iv);
    decipher.setAAD(associatedData(context));
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

function associatedData(context: KeyContext): Buffer {
  return Buffer.concat([Buffer.from([SEALED_FORMAT]), encodeContext(context)]);
}
