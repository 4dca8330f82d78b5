import { Binary } from "mongodb";
import type { RevisionClaim, SealedValue, SecretRecord, VersionRecord, VersionState } from "../../ports/secret-store.js";

// Document shapes in MongoDB. Metadata is stored as "key=value" labels: keys
// may contain dots (which MongoDB would read as paths) but never "=", and an
// array of strings is filtered with $all on every MongoDB-compatible server.

export interface SecretDoc {
  _id: string;
  tenant: string;
  name: string;
  description: string;
  labels: string[];
  latestVersion: number;
  createTime: Date;
  updateTime: Date;
  createdBy: string;
  updatedBy: string;
  etag: string;
  revision: number;
}

export interface ClaimDoc {
  _id: string; // secretId:revision
  secretId: string;
  revision: number;
  writeId: string;
  createTime: Date;
  version?: number;
}

export interface SealedDoc {
  f: number;
  kid: string;
  wk: Binary;
  iv: Binary;
  ct: Binary;
  tag: Binary;
}

export interface VersionDoc {
  _id: string; // secretId:version
  secretId: string;
  version: number;
  state: VersionState;
  createTime: Date;
  createdBy: string;
  writeId: string;
  sealed?: SealedDoc;
  destroyTime?: Date;
}

export const versionDocId = (secretId: string, version: number) => `${secretId}:${version}`;
export const claimDocId = (secretId: string, revision: number) => `${secretId}:${revision}`;

export function toClaimDoc(c: RevisionClaim): ClaimDoc {
  return {
    _id: claimDocId(c.secretId, c.revision),
    secretId: c.secretId,
    revision: c.revision,
    writeId: c.writeId,
    createTime: c.createTime,
    ...(c.version !== undefined ? { version: c.version } : {}),
  };
}

export function fromClaimDoc(d: ClaimDoc): RevisionClaim {
  return {
    secretId: d.secretId,
    revision: Number(d.revision),
    writeId: d.writeId,
    createTime: d.createTime,
    ...(d.version !== undefined && d.version !== null ? { version: Number(d.version) } : {}),
  };
}

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
    _id: s.id,
    tenant: s.tenant,
    name: s.name,
    description: s.description,
    labels: toLabels(s.metadata),
    latestVersion: s.latestVersion,
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
    id: d._id,
    tenant: d.tenant,
    name: d.name,
    description: d.description,
    metadata: fromLabels(d.labels),
    latestVersion: Number(d.latestVersion),
    createTime: d.createTime,
    updateTime: d.updateTime,
    createdBy: d.createdBy,
    updatedBy: d.updatedBy,
    etag: d.etag,
    revision: Number(d.revision),
  };
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
  };
  if (v.sealed) doc.sealed = toSealedDoc(v.sealed);
  if (v.destroyTime) doc.destroyTime = v.destroyTime;
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
    ...(d.sealed ? { sealed: fromSealedDoc(d.sealed) } : {}),
    ...(d.destroyTime ? { destroyTime: d.destroyTime } : {}),
  };
}

function toSealedDoc(s: SealedValue): SealedDoc {
  return { f: s.format, kid: s.keyId, wk: bin(s.wrappedKey), iv: bin(s.iv), ct: bin(s.ciphertext), tag: bin(s.tag) };
}

function fromSealedDoc(d: SealedDoc): SealedValue {
  return { format: d.f, keyId: d.kid, wrappedKey: bytes(d.wk), iv: bytes(d.iv), ciphertext: bytes(d.ct), tag: bytes(d.tag) };
}
