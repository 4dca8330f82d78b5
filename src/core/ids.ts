import { randomBytes, randomUUID } from "node:crypto";

export const newSecretId = (): string => randomUUID();
/** Opaque, unguessable; changes on every mutation. */
export const newEtag = (): string => randomBytes(12).toString("base64url");
/** Nonce identifying one version write attempt. */
export const newWriteId = (): string => randomBytes(12).toString("base64url");
