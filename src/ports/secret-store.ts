// Storage port. Storage is untrusted: it only ever sees sealed values.
// Every operation touches one document or one collection, and the only atomicity
// the core relies on is that of a unique insert (insertSecret, claimRevision,
// insertVersion): FerretDB's conditional updates are not atomic under concurrency,
// MongoDB's are, and the design must be correct on both. The core serialises the
// writers of one secret with revision claims (see core/secret-mutation.ts).

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

/** The fields of a secret a writer sets directly (the rest are derived from its versions). */
export interface SecretFields {
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Effective retention: versions kept before the oldest are destroyed. */
  readonly maxVersions: number;
  /** Host patterns ProxyHttpRequest may send the secret to (ports/host-patterns.ts); absent = none. */
  readonly allowedHosts?: readonly string[];
  readonly expireTime?: Date;
  readonly deleteTime?: Date;
  readonly purgeTime?: Date;
}

/** The newest enabled version, copied onto the secret so reading the latest value takes one query. */
export interface CurrentVersion {
  readonly version: number;
  readonly createTime: Date;
  readonly sealed: SealedValue;
}

/** Derived from the versions; kept on the secret and changed only by the writer holding the claim. */
export interface VersionSummary {
  /** Highest committed version; versions above it are uncommitted and invisible. */
  readonly latestVersion: number;
  /** What version 0 reads; absent when no version is enabled. */
  readonly current?: CurrentVersion;
  /** Versions not destroyed. */
  readonly liveVersions: number;
  /**
   * Every version below it is destroyed: where retention starts looking for the oldest live version
   * (absent on records written before it existed: the store then searches from version 1).
   */
  readonly retainedFrom?: number;
}

export interface SecretRecord extends SecretFields, VersionSummary {
  /** Stable id of this incarnation of the secret (a re-created name gets a new one). */
  readonly id: string;
  readonly tenant: string;
  readonly name: string;
  readonly createTime: Date;
  readonly updateTime: Date;
  readonly createdBy: string;
  readonly updatedBy: string;
  readonly etag: string;
  /** Counts mutations; the next writer must claim revision + 1. */
  readonly revision: number;
  /**
   * When a value was last read (recorded at most once an hour per secret by core/access-times.ts);
   * absent if never. The store keeps it apart from the record (see lastAccessTimes): find and list
   * never return it; the core adds it where a response shows it.
   */
  readonly lastAccessTime?: Date;
}

/** Optional fields use null to clear. */
export type FieldsPatch = {
  readonly [K in keyof SecretFields]?: undefined extends SecretFields[K] ? SecretFields[K] | null : SecretFields[K];
};

/** What a committed mutation sets on the secret document. */
export interface SecretPatch extends FieldsPatch, Partial<Omit<VersionSummary, "current">> {
  readonly current?: CurrentVersion | null;
  readonly revision: number;
  readonly updateTime: Date;
  readonly updatedBy: string;
  readonly etag: string;
}

/**
 * The right to write revision `revision` of a secret, and the intent of that write:
 * whoever inserts it first is the only writer of that revision. Released after the
 * commit; a claim left by a crashed writer is rolled forward once older than the lease.
 */
export interface RevisionClaim {
  readonly secretId: string;
  readonly revision: number;
  readonly writeId: string;
  readonly createTime: Date;
  /** The version number the claimant inserts (value writes). */
  readonly version?: number;
  /** Direct field changes of the write, so a takeover can complete it. */
  readonly patch?: FieldsPatch;
  /** A version state change of the write. */
  readonly versionState?: { readonly version: number; readonly state: VersionState };
  /** The principal writing, recorded as updated_by if a takeover completes the write. */
  readonly subject: string;
  /** The secret's tenant and name, so a sweeper can complete an abandoned write. */
  readonly tenant: string;
  readonly name: string;
}

export interface VersionRecord {
  readonly secretId: string;
  readonly version: number;
  readonly state: VersionState;
  readonly createTime: Date;
  readonly createdBy: string;
  /** Nonce of the write that inserted it; lets that writer remove it while uncommitted. */
  readonly writeId: string;
  readonly keyId: string;
  /** Erased once a destroy is committed. */
  readonly sealed?: SealedValue;
  readonly destroyTime?: Date;
  /**
   * The secret revision whose write last set `state`, and the state before it. Until the
   * secret reaches that revision the change is uncommitted and readers see `previousState`.
   */
  readonly stateRevision?: number;
  readonly previousState?: VersionState;
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
  /** Include secrets scheduled for deletion. */
  readonly showDeleted: boolean;
  /** Secrets whose expireTime is at or before this are left out. */
  readonly now: Date;
  /** Only names matching one of these globs (ports/name-globs.ts); absent = every name. */
  readonly nameGlobs?: readonly string[];
}

/** Names one incarnation of a secret. */
export type SecretRef = Pick<SecretRecord, "id" | "tenant" | "name">;

/**
 * Errors: AlreadyExistsError from insertSecret on a duplicate (tenant, name);
 * UnavailableError when the backing service cannot be reached.
 */
export interface SecretStore {
  insertSecret(secret: SecretRecord): Promise<void>;
  /** Any secret holding the name, deleted or expired included. */
  findSecret(tenant: string, name: string): Promise<SecretRecord | undefined>;
  /** One round trip for many names; order not guaranteed. */
  findSecrets(tenant: string, names: readonly string[]): Promise<SecretRecord[]>;
  /** Ordered by name (byte order); records come without `current`. */
  listSecrets(query: ListQuery): Promise<SecretRecord[]>;
  /** Applies the patch if the stored revision is `expectedRevision`; undefined when it is not (or the secret is gone). */
  updateSecret(secret: SecretRef, expectedRevision: number, patch: SecretPatch): Promise<SecretRecord | undefined>;
  /**
   * Notes that (tenant, name) was read at `time`, unless a later time is already noted. Kept apart
   * from the secret's record, never written into it: an update of the record outside the revision
   * claim could undo a commit on FerretDB, whose updates rewrite the whole document without
   * isolation. A missing secret is not an error; purgeSecret forgets the name's time.
   */
  recordAccess(tenant: string, name: string, time: Date): Promise<void>;
  /** The noted access times of those names (absent when none), one round trip. */
  lastAccessTimes(tenant: string, names: readonly string[]): Promise<Map<string, Date>>;

  /** False when the revision is already claimed. */
  claimRevision(claim: RevisionClaim): Promise<boolean>;
  findClaim(secretId: string, revision: number): Promise<RevisionClaim | undefined>;
  /** Removes the claim only if `writeId` holds it. */
  releaseClaim(secretId: string, revision: number, writeId: string): Promise<void>;

  /** False when (secretId, version) is already taken. */
  insertVersion(version: VersionRecord): Promise<boolean>;
  findVersion(secretId: string, version: number): Promise<VersionRecord | undefined>;
  /** Newest first, versions up to `atMost`, without sealed values. */
  listVersions(secretId: string, atMost: number, limit: number): Promise<VersionRecord[]>;
  /** Newest enabled version up to `atMost`, with its sealed value. */
  newestEnabledVersion(secretId: string, atMost: number): Promise<VersionRecord | undefined>;
  /**
   * Oldest versions not destroyed, up to `atMost`. `from`: every version below it is known to be
   * destroyed, so the search starts there (on FerretDB a query by anything but _id reads the whole
   * collection, so the store looks versions up one by one from `from`).
   */
  oldestLiveVersions(secretId: string, atMost: number, limit: number, from?: number): Promise<number[]>;
  countLiveVersions(secretId: string, atMost: number): Promise<number>;
  /** Sets the state on behalf of secret revision `revision`, keeping the previous state (see VersionRecord). */
  setVersionState(secretId: string, version: number, state: VersionState, revision: number, at: Date): Promise<void>;
  /** Takes back an uncommitted state change of revision `revision` (a no-op if another revision set it). */
  undoVersionState(secretId: string, version: number, revision: number): Promise<void>;
  /**
   * Erases, for good, the sealed value of every version destroyed by a revision up to `committedRevision`;
   * with `versions`, of those versions only (the ones a committed write just destroyed: looked up by id).
   */
  eraseDestroyedVersions(secretId: string, committedRevision: number, versions?: readonly number[]): Promise<void>;
  /** Removes the version only if `writeId` wrote it; false otherwise. */
  removeVersion(secretId: string, version: number, writeId: string): Promise<boolean>;

  /** Claims created before `before`, any secret: writes whose writer may have died. */
  findClaimsOlderThan(before: Date, limit: number): Promise<RevisionClaim[]>;

  /**
   * Every tenant's secrets (deleted and expired ones too, with `current`), in the order of an opaque
   * key: those after `after` (a `key` this returned), at most `limit`. For work over the whole
   * deployment (key re-wrap).
   */
  scanSecrets(after: string | undefined, limit: number): Promise<{ readonly key: string; readonly secret: SecretRecord }[]>;
  /**
   * Replaces a version's wrapped data key (key rotation: the same data key, wrapped under another
   * master key), only if it still holds `from` and is not destroyed; false otherwise. Called under the
   * secret's revision claim, like every other change to a version.
   */
  rewrapVersion(secretId: string, version: number, from: Uint8Array, to: { readonly keyId: string; readonly wrapped: Uint8Array }): Promise<boolean>;

  /** Secrets whose purge time or expire time has come, any tenant. */
  findDue(now: Date, limit: number): Promise<SecretRecord[]>;
  /**
   * Removes every trace of one incarnation: versions, claims, then the secret. Idempotent; true only
   * for the call that removed the secret's record (of several racing, exactly one), so one purge is
   * announced once.
   */
  purgeSecret(secret: SecretRef): Promise<boolean>;

  close(): Promise<void>;
}
