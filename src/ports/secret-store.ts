// Storage port. Storage is untrusted: it only ever sees sealed values.
// Every operation touches one document, and the only atomicity the core relies
// on is that of a unique insert (insertSecret, claimRevision, insertVersion):
// FerretDB's conditional updates are not atomic under concurrency, MongoDB's
// are, and the design must be correct on both. The core serialises the writers
// of one secret with revision claims (see core/secret-mutation.ts).

export type VersionState = "enabled" | "disabled" | "destroyed";

/** An AES-256-GCM sealed value plus its KMS-wrapped data key. */
export interface SealedValue {
  /** Layout version of this record; bumped if the sealing scheme ever changes. */
  readonly format: number;
  readonly keyId: string;
  readonly wrappedKey: Uint8Array;
  readonly iv: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly tag: Uint8Array;
}

export interface SecretRecord {
  /** Stable id of this incarnation of the secret (a re-created name gets a new one). */
  readonly id: string;
  readonly tenant: string;
  readonly name: string;
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Highest committed version; versions above it are uncommitted and invisible. */
  readonly latestVersion: number;
  readonly createTime: Date;
  readonly updateTime: Date;
  readonly createdBy: string;
  readonly updatedBy: string;
  readonly etag: string;
  /** Counts mutations; the next writer must claim revision + 1. */
  readonly revision: number;
}

/**
 * The right to write revision `revision` of a secret: whoever inserts it first
 * is the only writer of that revision. Released after the commit; a claim left
 * by a crashed writer is taken over once older than the lease.
 */
export interface RevisionClaim {
  readonly secretId: string;
  readonly revision: number;
  readonly writeId: string;
  readonly createTime: Date;
  /** The version number the claimant may insert (value writes). */
  readonly version?: number;
}

export interface VersionRecord {
  readonly secretId: string;
  readonly version: number;
  readonly state: VersionState;
  readonly createTime: Date;
  readonly createdBy: string;
  /** Nonce of the write that inserted it; lets that writer (or a takeover) remove it while uncommitted. */
  readonly writeId: string;
  /** Absent once destroyed. */
  readonly sealed?: SealedValue;
  readonly destroyTime?: Date;
}

/** Fields a committed mutation sets on the secret document. */
export interface SecretPatch {
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly latestVersion?: number;
  readonly revision: number;
  readonly updateTime: Date;
  readonly updatedBy: string;
  readonly etag: string;
}

export interface ListQuery {
  readonly tenant: string;
  /** "" for all names. */
  readonly namePrefix: string;
  /** Secrets must carry every pair. */
  readonly metadataFilter: Readonly<Record<string, string>>;
  /** Exclusive lower bound (the cursor). */
  readonly afterName?: string;
  readonly limit: number;
}

/**
 * Errors: AlreadyExistsError from insertSecret on a duplicate (tenant, name);
 * UnavailableError when the backing service cannot be reached.
 */
export interface SecretStore {
  insertSecret(secret: SecretRecord): Promise<void>;
  findSecret(tenant: string, name: string): Promise<SecretRecord | undefined>;
  /** Ordered by name (byte order). */
  listSecrets(query: ListQuery): Promise<SecretRecord[]>;
  /** Applies the patch if the stored revision is `expectedRevision`; undefined when it is not (or the secret is gone). */
  updateSecret(id: string, expectedRevision: number, patch: SecretPatch): Promise<SecretRecord | undefined>;
  /** False when the revision is already claimed. */
  claimRevision(claim: RevisionClaim): Promise<boolean>;
  findClaim(secretId: string, revision: number): Promise<RevisionClaim | undefined>;
  /** Removes the claim only if `writeId` holds it. */
  releaseClaim(secretId: string, revision: number, writeId: string): Promise<void>;
  /** False when (secretId, version) is already taken. */
  insertVersion(version: VersionRecord): Promise<boolean>;
  findVersion(secretId: string, version: number): Promise<VersionRecord | undefined>;
  /** Removes the version only if `writeId` wrote it; false otherwise. */
  removeVersion(secretId: string, version: number, writeId: string): Promise<boolean>;
  close(): Promise<void>;
}
