import { Binary } from "mongodb";
import type {
  CurrentVersion,
  FieldsPatch,
  RevisionClaim,
  SealedValue,
  SecretPatch,
  SecretRecord,
  VersionRecord,
  VersionState,
} from "../../ports/secret-store.js";

// Document shapes in MongoDB. Metadata is stored as "key=value" labels: keys may
// contain dots (which MongoDB would read as paths) but never "=", and an array of
// strings is filtered with $all on every MongoDB-compatible server. Optional
// times are stored as null when absent, so filters can match them directly.

export interface SealedDoc {
  f: number;
  kid: string;
  wk: Binary;
  iv: Binary;
  ct: Binary;
  tag: Binary;
}

export interface SecretDoc {
  /** secretDocId(tenant, name): lookups by _id are the ones every MongoDB-compatible server indexes. */
  _id: string;
  /** The incarnation id (SecretRecord.id); versions and claims refer to it. */
  sid: string;
  tenant: string;
  name: string;
  description: string;
  labels: string[];
  maxVersions: number;
  /** Absent (or null once cleared) when the secret has none. */
  allowedHosts?: string[] | null;
  expireTime: Date | null;
  deleteTime: Date | null;
  purgeTime: Date | null;
  latestVersion: number;
  current: CurrentDoc | null;
  liveVersions: number;
  /** SecretRecord.retainedFrom; absent on documents written before it existed. */
  retainedFrom?: number;
  createTime: Date;
  updateTime: Date;
  createdBy: string;
  updatedBy: string;
  etag: string;
  revision: number;
}

/** One secret name's last value read, in its own collection (never in the secret document: see SecretStore.recordAccess). */
export interface AccessTimeDoc {
  _id: string;
  time: Date;
}

export interface CurrentDoc {
  version: number;
  createTime: Date;
  sealed: SealedDoc;
}

export interface ClaimDoc {
  _id: string; // secretId:revision
  secretId: string;
  revision: number;
  writeId: string;
  createTime: Date;
  version: number | null;
  patch: Record<string, unknown> | null;
  versionState: { version: number; state: VersionState } | null;
  subject: string;
  tenant: string;
  name: string;
}

export interface VersionDoc {
  _id: string; // secretId:version
  secretId: string;
  version: number;
  state: VersionState;
  createTime: Date;
  createdBy: string;
  writeId: string;
  keyId: string;
  sealed?: SealedDoc;
  destroyTime?: Date;
  stateRevision?: number;
  previousState?: VersionState;
}

export interface IdempotencyDoc {
  _id: string;
  writeId: string;
  fingerprint: string;
  createTime: Date;
  response: string | null;
}

export const versionDocId = (secretId: string, version: number) => `${secretId}:${version}`;
/** Unambiguous for any tenant string: its length comes first. */
export const secretDocId = (tenant: string, name: string) => `${tenant.length}:${tenant}/${name}`;
export const claimDocId = (secretId: string, revision: number) => `${secretId}:${revision}`;

export function toLabels(metadata: Readonly<Record<string, string>>): string[] {
  return Object.entries(metadata).map(([k, v]) => `${k}=${v}`);
}

export function fromLabels(labels: readonly string[]): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const label of labels) {
    const at = label.indexOf("=");
    metadata[label.slice(0, at)] = label.slice(at + 1);
  }
  return metadata;
}

export function toSecretDoc(s: SecretRecord): SecretDoc {
  return {
    _id: secretDocId(s.tenant, s.name),
    sid: s.id,
    tenant: s.tenant,
    name: s.name,
    description: s.description,
    labels: toLabels(s.metadata),
    maxVersions: s.maxVersions,
    ...(s.allowedHosts?.length ? { allowedHosts: [...s.allowedHosts] } : {}),
    expireTime: s.expireTime ?? null,
    deleteTime: s.deleteTime ?? null,
    purgeTime: s.purgeTime ?? null,
    latestVersion: s.latestVersion,
    current: s.current ? toCurrentDoc(s.current) : null,
    liveVersions: s.liveVersions,
    ...(s.retainedFrom !== undefined ? { retainedFrom: s.retainedFrom } : {}),
    createTime: s.createTime,
    updateTime: s.updateTime,
    createdBy: s.createdBy,
    updatedBy: s.updatedBy,
    etag: s.etag,
    revision: s.revision,
  };
}

export function fromSecretDoc(d: SecretDoc): SecretRecord {
  return {
    id: d.sid,
    tenant: d.tenant,
    name: d.name,
    description: d.description,
    metadata: fromLabels(d.labels),
    maxVersions: Number(d.maxVersions),
    ...(Array.isArray(d.allowedHosts) && d.allowedHosts.length > 0 ? { allowedHosts: d.allowedHosts.map(String) } : {}),
    ...(d.expireTime ? { expireTime: d.expireTime } : {}),
    ...(d.deleteTime ? { deleteTime: d.deleteTime } : {}),
    ...(d.purgeTime ? { purgeTime: d.purgeTime } : {}),
    latestVersion: Number(d.latestVersion),
    ...(d.current ? { current: fromCurrentDoc(d.current) } : {}),
    liveVersions: Number(d.liveVersions),
    ...(d.retainedFrom !== undefined && d.retainedFrom !== null ? { retainedFrom: Number(d.retainedFrom) } : {}),
    createTime: d.createTime,
    updateTime: d.updateTime,
    createdBy: d.createdBy,
    updatedBy: d.updatedBy,
    etag: d.etag,
    revision: Number(d.revision),
  };
}

/** $set for a patch: metadata becomes labels, null clears, undefined leaves alone. */
export function toSecretSet(patch: SecretPatch): Partial<SecretDoc> {
  const set: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (key === "metadata") set.labels = toLabels(value as Record<string, string>);
    else if (key === "current") set.current = value === null ? null : toCurrentDoc(value as CurrentVersion);
    else set[key] = value;
  }
  return set as Partial<SecretDoc>;
}

export function toClaimDoc(c: RevisionClaim): ClaimDoc {
  return {
    _id: claimDocId(c.secretId, c.revision),
    secretId: c.secretId,
    revision: c.revision,
    writeId: c.writeId,
    createTime: c.createTime,
    version: c.version ?? null,
    patch: c.patch ? toClaimPatch(c.patch) : null,
    versionState: c.versionState ? { ...c.versionState } : null,
    subject: c.subject,
    tenant: c.tenant,
    name: c.name,
  };
}

export function fromClaimDoc(d: ClaimDoc): RevisionClaim {
  return {
    secretId: d.secretId,
    revision: Number(d.revision),
    writeId: d.writeId,
    createTime: d.createTime,
    ...(d.version !== null && d.version !== undefined ? { version: Number(d.version) } : {}),
    ...(d.patch ? { patch: fromClaimPatch(d.patch) } : {}),
    ...(d.versionState ? { versionState: { version: Number(d.versionState.version), state: d.versionState.state } } : {}),
    subject: d.subject,
    tenant: d.tenant,
    name: d.name,
  };
}

// Metadata keys may hold dots, so a claim's metadata is stored as labels too.
function toClaimPatch(patch: FieldsPatch): Record<string, unknown> {
  const { metadata, ...rest } = patch;
  return metadata ? { ...rest, labels: toLabels(metadata) } : { ...rest };
}

function fromClaimPatch(doc: Record<string, unknown>): FieldsPatch {
  const { labels, ...rest } = doc;
  return (Array.isArray(labels) ? { ...rest, metadata: fromLabels(labels as string[]) } : rest) as FieldsPatch;
}

const bin = (b: Uint8Array) => new Binary(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const bytes = (b: Binary) => new Uint8Array(b.buffer);

export function toVersionDoc(v: VersionRecord): VersionDoc {
  const doc: VersionDoc = {
    _id: versionDocId(v.secretId, v.version),
    secretId: v.secretId,
    version: v.version,
    state: v.state,
    createTime: v.createTime,
    createdBy: v.createdBy,
    writeId: v.writeId,
    keyId: v.keyId,
  };
  if (v.sealed) doc.sealed = toSealedDoc(v.sealed);
  if (v.destroyTime) doc.destroyTime = v.destroyTime;
  if (v.stateRevision !== undefined) doc.stateRevision = v.stateRevision;
  if (v.previousState) doc.previousState = v.previousState;
  return doc;
}

export function fromVersionDoc(d: VersionDoc): VersionRecord {
  return {
    secretId: d.secretId,
    version: Number(d.version),
    state: d.state,
    createTime: d.createTime,
    createdBy: d.createdBy,
    writeId: d.writeId,
    keyId: d.keyId,
    ...(d.sealed ? { sealed: fromSealedDoc(d.sealed) } : {}),
    ...(d.destroyTime ? { destroyTime: d.destroyTime } : {}),
    ...(d.stateRevision !== undefined && d.stateRevision !== null ? { stateRevision: Number(d.stateRevision) } : {}),
    ...(d.previousState ? { previousState: d.previousState } : {}),
  };
}

function toCurrentDoc(c: CurrentVersion): CurrentDoc {
  return { version: c.version, createTime: c.createTime, sealed: toSealedDoc(c.sealed) };
}

function fromCurrentDoc(d: CurrentDoc): CurrentVersion {
  return { version: Number(d.version), createTime: d.createTime, sealed: fromSealedDoc(d.sealed) };
}

function toSealedDoc(s: SealedValue): SealedDoc {
  return { f: s.format, kid: s.keyId, wk: bin(s.wrappedKey), iv: bin(s.iv), ct: bin(s.ciphertext), tag: bin(s.tag) };
}

function fromSealedDoc(d: SealedDoc): SealedValue {
  return { format: d.f, keyId: d.kid, wrappedKey: bytes(d.wk), iv: bytes(d.iv), ciphertext: bytes(d.ct), tag: bytes(d.tag) };
}
