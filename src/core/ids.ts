import { randomBytes, randomUUID } from "node:crypto";

/** The incarnation id: new on every create, so a secret purged and created again under its name is another record, to the barrier too. */
export const newSecretId = (): string => randomUUID();
/** Opaque, unguessable; changes on every mutation. */
export const newEtag = (): string => randomBytes(12).toString("base64url");
/** Nonce identifying one version write attempt. */
export const newWriteId = (): string => randomBytes(12).toString("base64url");
