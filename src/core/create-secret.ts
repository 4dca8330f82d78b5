import { AlreadyExistsError } from "../errors.js";
import { normalizeAllowedHosts } from "../ports/host-patterns.js";
import type { SecretRecord } from "../ports/secret-store.js";
import { emitChange, purgeSecret } from "./changes.js";
import { sealValue, versionBinding } from "./envelope.js";
import { newEtag, newSecretId, newWriteId } from "./ids.js";
import type { Principal } from "./principal.js";
import { decodeRecords, encodeRecords, sameStoredValue } from "./replay.js";
import { withRequestId } from "./request-ids.js";
import { longestWriteMs } from "./secret-mutation.js";
import type { SecretsServiceDeps } from "./secrets-service.js";
import {
  resolveExpiry,
  resolveMaxVersions,
  validateDescription,
  validateMetadata,
  validateName,
  validateRequestId,
  validateValue,
} from "./validation.js";
import { isDue, isExpired } from "./visibility.js";

export interface CreateSecretInput {
  readonly name: string;
  readonly value: string;
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly expireTime?: Date;
  readonly ttlMs?: number;
  /** 0 means the default. */
  readonly maxVersions?: number;
  readonly requestId?: string;
  readonly allowedHosts?: readonly string[];
}

export async function createSecret(deps: SecretsServiceDeps, p: Principal, input: CreateSecretInput): Promise<SecretRecord> {
  validateName(input.name);
  validateValue(input.value);
  validateDescription(input.description);
  validateMetadata(input.metadata);
  const maxVersions = resolveMaxVersions(input.maxVersions ?? 0);
  const allowedHosts = normalizeAllowedHosts("allowed_hosts", input.allowedHosts ?? []);
  const requestId = input.requestId ?? "";
  validateRequestId(requestId);
  const now = deps.clock.now();
  const expireTime = resolveExpiry(input, now);
  const fields = [input.description, Object.entries(input.metadata).sort(), input.expireTime?.toISOString(), input.ttlMs, maxVersions, allowedHosts];
  const scope = { tenant: p.tenant, method: "CreateSecret", name: input.name, requestId, fields };
  const codec = {
    encode: (s: SecretRecord) => encodeRecords(s),
    decode: (json: string) => decodeRecords<SecretRecord>(json),
    sameValue: (s: SecretRecord) => sameStoredValue(deps, p, s, 1, input.value),
  };
  return withRequestId({ ...deps, requestIdLeaseMs: longestWriteMs(deps) }, scope, codec, () =>
    insertNew(deps, p, input, { maxVersions, ...(allowedHosts.length > 0 ? { allowedHosts } : {}), ...(expireTime ? { expireTime } : {}) }),
  );
}

async function insertNew(
  deps: SecretsServiceDeps,
  p: Principal,
  input: CreateSecretInput,
  lifecycle: { maxVersions: number; allowedHosts?: readonly string[]; expireTime?: Date },
): Promise<SecretRecord> {
  const { store, clock } = deps;
  const existing = await store.findSecret(p.tenant, input.name);
  if (existing) {
    // An expired secret, or one past its recovery window, is as good as purged: finish the job.
    if (isDue(existing, clock.now())) await purgeSecret(deps, existing);
    else throw alreadyExists(input.name, existing.deleteTime !== undefined && !isExpired(existing, clock.now()));
  }
  // Version first, then the secret that makes it visible: a crash in between
  // leaves only an unreferenced version document.
  const id = newSecretId();
  const writeId = newWriteId();
  const now = clock.now();
  const sealed = await sealValue(deps.keys, versionBinding(p.tenant, { id, name: input.name }, 1), input.value);
  await store.insertVersion({ secretId: id, version: 1, state: "enabled", createTime: now, createdBy: p.subject, writeId, keyId: sealed.keyId, sealed });
  const secret: SecretRecord = {
    id,
    tenant: p.tenant,
    name: input.name,
    description: input.description,
    metadata: input.metadata,
    ...lifecycle,
    latestVersion: 1,
    current: { version: 1, createTime: now, sealed },
    liveVersions: 1,
    createTime: now,
    updateTime: now,
    createdBy: p.subject,
    updatedBy: p.subject,
    etag: newEtag(),
    revision: 1,
  };
  try {
    await store.insertSecret(secret);
  } catch (err) {
    if (err instanceof AlreadyExistsError) {
      await store.removeVersion(id, 1, writeId).catch(() => {});
      const holder = await store.findSecret(p.tenant, input.name);
      throw alreadyExists(input.name, holder?.deleteTime !== undefined);
    }
    // Any other failure may have stored the secret all the same (a reply lost with the connection):
    // its version stays, unreferenced at worst, like after a crash.
    throw err;
  }
  await emitChange(deps, secret, "created", [1]);
  return secret;
}

function alreadyExists(name: string, scheduledForDeletion: boolean): AlreadyExistsError {
  return new AlreadyExistsError(
    scheduledForDeletion
      ? `secret "${name}" is scheduled for deletion; restore it or wait until it is purged`
      : `secret "${name}" already exists`,
  );
}
