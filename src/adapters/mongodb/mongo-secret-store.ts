import {
  MongoClient,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  type Collection,
  type Db,
  type Filter,
} from "mongodb";
import { AlreadyExistsError, UnavailableError } from "../../errors.js";
import type {
  ListQuery,
  RevisionClaim,
  SecretPatch,
  SecretRecord,
  SecretStore,
  VersionRecord,
} from "../../ports/secret-store.js";
import {
  fromClaimDoc,
  fromSecretDoc,
  toClaimDoc,
  claimDocId,
  type ClaimDoc,
  fromVersionDoc,
  toLabels,
  toSecretDoc,
  toVersionDoc,
  versionDocId,
  type SecretDoc,
  type VersionDoc,
} from "./documents.js";

const DUPLICATE_KEY = 11000;
// Names are [A-Za-z0-9_]; "{" sorts after every allowed character, so
// [prefix, prefix + "{") is exactly the names starting with prefix.
const AFTER_NAME_CHARS = "{";

export interface MongoStoreOptions {
  uri: string;
  /** Used when the URI names no database. */
  defaultDb: string;
  serverSelectionTimeoutMS?: number;
}

/**
 * SecretStore on MongoDB (or FerretDB). Secrets and versions live in separate
 * collections; no transactions, TTL or partial indexes are used.
 */
export class MongoSecretStore implements SecretStore {
  private constructor(
    private readonly client: MongoClient,
    private readonly secrets: Collection<SecretDoc>,
    private readonly versions: Collection<VersionDoc>,
    private readonly claims: Collection<ClaimDoc>,
  ) {}

  static async connect(options: MongoStoreOptions): Promise<MongoSecretStore> {
    const client = new MongoClient(options.uri, {
      serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 5_000,
      retryWrites: false, // FerretDB has no sessions for retryable writes; our writes are idempotent by design
    });
    try {
      await client.connect();
      const db: Db = client.db(dbNameFromUri(options.uri) ?? options.defaultDb);
      const store = new MongoSecretStore(client, db.collection("secrets"), db.collection("secret_versions"), db.collection("secret_claims"));
      await store.ensureIndexes();
      return store;
    } catch (err) {
      await client.close().catch(() => {});
      throw unavailable(err);
    }
  }

  private async ensureIndexes(): Promise<void> {
    await this.secrets.createIndex({ tenant: 1, name: 1 }, { unique: true, name: "tenant_name_unique" });
    await this.versions.createIndex({ secretId: 1, version: -1 }, { name: "secret_version" });
  }

  async insertSecret(secret: SecretRecord): Promise<void> {
    try {
      await this.secrets.insertOne(toSecretDoc(secret));
    } catch (err) {
      if (isDuplicateKey(err)) throw new AlreadyExistsError(`secret "${secret.name}" already exists`);
      throw unavailable(err);
    }
  }

  async findSecret(tenant: string, name: string): Promise<SecretRecord | undefined> {
    const doc = await guard(() => this.secrets.findOne({ tenant, name }));
    return doc ? fromSecretDoc(doc) : undefined;
  }

  async listSecrets(query: ListQuery): Promise<SecretRecord[]> {
    const name: Record<string, string> = {};
    if (query.namePrefix) {
      name.$gte = query.namePrefix;
      name.$lt = query.namePrefix + AFTER_NAME_CHARS;
    }
    if (query.afterName !== undefined) name.$gt = query.afterName;
    const filter: Filter<SecretDoc> = { tenant: query.tenant };
    if (Object.keys(name).length > 0) filter.name = name;
    const labels = toLabels(query.metadataFilter);
    if (labels.length > 0) filter.labels = { $all: labels };
    const docs = await guard(() => this.secrets.find(filter).sort({ name: 1 }).limit(query.limit).toArray());
    return docs.map(fromSecretDoc);
  }

  async updateSecret(id: string, expectedRevision: number, patch: SecretPatch): Promise<SecretRecord | undefined> {
    const set: Partial<SecretDoc> = {
      updateTime: patch.updateTime,
      updatedBy: patch.updatedBy,
      etag: patch.etag,
      revision: patch.revision,
    };
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.metadata !== undefined) set.labels = toLabels(patch.metadata);
    if (patch.latestVersion !== undefined) set.latestVersion = patch.latestVersion;
    const doc = await guard(() =>
      this.secrets.findOneAndUpdate({ _id: id, revision: expectedRevision }, { $set: set }, { returnDocument: "after" }),
    );
    return doc ? fromSecretDoc(doc) : undefined;
  }

  async claimRevision(claim: RevisionClaim): Promise<boolean> {
    return this.insertUnique(() => this.claims.insertOne(toClaimDoc(claim)));
  }

  async findClaim(secretId: string, revision: number): Promise<RevisionClaim | undefined> {
    const doc = await guard(() => this.claims.findOne({ _id: claimDocId(secretId, revision) }));
    return doc ? fromClaimDoc(doc) : undefined;
  }

  async releaseClaim(secretId: string, revision: number, writeId: string): Promise<void> {
    await guard(() => this.claims.deleteOne({ _id: claimDocId(secretId, revision), writeId }));
  }

  async insertVersion(version: VersionRecord): Promise<boolean> {
    return this.insertUnique(() => this.versions.insertOne(toVersionDoc(version)));
  }

  /** True when inserted, false when the _id was taken. */
  private async insertUnique(insert: () => Promise<unknown>): Promise<boolean> {
    try {
      await insert();
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw unavailable(err);
    }
  }

  async findVersion(secretId: string, version: number): Promise<VersionRecord | undefined> {
    const doc = await guard(() => this.versions.findOne({ _id: versionDocId(secretId, version) }));
    return doc ? fromVersionDoc(doc) : undefined;
  }

  async removeVersion(secretId: string, version: number, writeId: string): Promise<boolean> {
    const res = await guard(() => this.versions.deleteOne({ _id: versionDocId(secretId, version), writeId }));
    return res.deletedCount === 1;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

function dbNameFromUri(uri: string): string | undefined {
  const path = uri.replace(/^mongodb(\+srv)?:\/\/[^/]*/, "").split("?")[0] ?? "";
  const name = decodeURIComponent(path.replace(/^\//, ""));
  return name || undefined;
}

function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

async function guard<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw unavailable(err);
  }
}

/** Connection-level failures become UnavailableError; anything else is a bug and stays as it is. */
function unavailable(err: unknown): unknown {
  const down =
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoNotConnectedError ||
    err instanceof MongoTopologyClosedError;
  return down ? new UnavailableError(`secret store unavailable (${err.name})`, { cause: err }) : err;
}
