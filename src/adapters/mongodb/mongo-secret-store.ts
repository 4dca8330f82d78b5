import { Binary, type Collection, type Db, type Filter } from "mongodb";
import { AlreadyExistsError } from "../../errors.js";
import type {
  ListQuery,
  RevisionClaim,
  SecretPatch,
  SecretRecord,
  SecretRef,
  SecretStore,
  VersionRecord,
  VersionState,
} from "../../ports/secret-store.js";
import {
  claimDocId,
  secretDocId,
  fromClaimDoc,
  fromSecretDoc,
  fromVersionDoc,
  toClaimDoc,
  toLabels,
  toSecretDoc,
  toSecretSet,
  toVersionDoc,
  versionDocId,
  type AccessTimeDoc,
  type ClaimDoc,
  type SecretDoc,
  type VersionDoc,
} from "./documents.js";
import { guard, insertUnique, isDuplicateKey, unavailable } from "./errors.js";
import {
  checkClaim,
  checkDate,
  checkInteger,
  checkIntegers,
  checkListQuery,
  checkRewrap,
  checkSecretPatch,
  checkSecretRecord,
  checkSecretRef,
  checkString,
  checkStrings,
  checkVersionRecord,
  checkVersionState,
} from "../store-arguments.js";

// Names are [A-Za-z0-9_]; "{" sorts after every allowed character, so
// [prefix, prefix + "{") is exactly the names starting with prefix.
const AFTER_NAME_CHARS = "{";
const NO_SEALED = { projection: { current: 0 } } as const;

/** Most lookups one search for the oldest live versions makes by _id before it queries instead. */
const PROBE_LIMIT = 32;

/**
 * SecretStore on MongoDB (or FerretDB). Secrets, versions and claims live in
 * separate collections; no transactions, TTL or partial indexes are used.
 */
export class MongoSecretStore implements SecretStore {
  private readonly secrets: Collection<SecretDoc>;
  private readonly versions: Collection<VersionDoc>;
  private readonly claims: Collection<ClaimDoc>;
  private readonly accessTimes: Collection<AccessTimeDoc>;

  constructor(db: Db) {
    this.secrets = db.collection("secrets");
    this.versions = db.collection("secret_versions");
    this.claims = db.collection("secret_claims");
    this.accessTimes = db.collection("secret_access_times");
  }

  async ensureIndexes(): Promise<void> {
    await guard(async () => {
      await this.secrets.createIndex({ tenant: 1, name: 1 }, { unique: true, name: "tenant_name_unique" });
      await this.secrets.createIndex({ purgeTime: 1 }, { name: "purge_time" });
      await this.secrets.createIndex({ expireTime: 1 }, { name: "expire_time" });
      await this.versions.createIndex({ secretId: 1, version: -1 }, { name: "secret_version" });
      await this.claims.createIndex({ secretId: 1 }, { name: "secret" });
    });
  }

  async insertSecret(secret: SecretRecord): Promise<void> {
    checkSecretRecord(secret);
    try {
      await this.secrets.insertOne(toSecretDoc(secret));
    } catch (err) {
      if (isDuplicateKey(err)) throw new AlreadyExistsError(`secret "${secret.name}" already exists`);
      throw unavailable(err);
    }
  }

  async findSecret(tenant: string, name: string): Promise<SecretRecord | undefined> {
    checkString("tenant", tenant);
    checkString("name", name);
    const doc = await guard(() => this.secrets.findOne({ _id: secretDocId(tenant, name) }));
    return doc ? fromSecretDoc(doc) : undefined;
  }

  async findSecrets(tenant: string, names: readonly string[]): Promise<SecretRecord[]> {
    checkString("tenant", tenant);
    checkStrings("names", names);
    const docs = await guard(() => this.secrets.find({ _id: { $in: names.map((n) => secretDocId(tenant, n)) } }).toArray());
    return docs.map(fromSecretDoc);
  }

  async listSecrets(query: ListQuery): Promise<SecretRecord[]> {
    checkListQuery(query);
    if (query.nameGlobs?.length === 0) return [];
    const name: Record<string, string> = {};
    if (query.namePrefix) {
      name.$gte = query.namePrefix;
      name.$lt = query.namePrefix + AFTER_NAME_CHARS;
    }
    if (query.afterName !== undefined) name.$gt = query.afterName;
    const filter: Filter<SecretDoc> = {
      tenant: query.tenant,
      $or: [{ expireTime: null }, { expireTime: { $gt: query.now } }],
    };
    if (Object.keys(name).length > 0) filter.name = name;
    if (!query.showDeleted) filter.deleteTime = null;
    // checkListQuery let only the glob alphabet through, so each glob is a plain anchored pattern.
    if (query.nameGlobs) filter.$and = [{ $or: query.nameGlobs.map((g) => ({ name: { $regex: globPattern(g) } })) }];
    const labels = toLabels(query.metadataFilter);
    if (labels.length > 0) filter.labels = { $all: labels };
    const docs = await guard(() => this.secrets.find(filter, NO_SEALED).sort({ name: 1 }).limit(query.limit).toArray());
    return docs.map(fromSecretDoc);
  }

  async updateSecret(ref: SecretRef, expectedRevision: number, patch: SecretPatch): Promise<SecretRecord | undefined> {
    checkSecretRef("secret", ref);
    checkInteger("expectedRevision", expectedRevision);
    checkSecretPatch(patch);
    const filter = { _id: secretDocId(ref.tenant, ref.name), sid: ref.id, revision: expectedRevision };
    const doc = await guard(() => this.secrets.findOneAndUpdate(filter, { $set: toSecretSet(patch) }, { returnDocument: "after" }));
    return doc ? fromSecretDoc(doc) : undefined;
  }

  async recordAccess(tenant: string, name: string, time: Date): Promise<void> {
    checkString("tenant", tenant);
    checkString("name", name);
    checkDate("time", time);
    // Upserted: when a later time is stored the filter misses and the insert hits the key, which is
    // the "keep the later one" outcome. Two replicas racing may keep either: it is a hint.
    const filter = { _id: secretDocId(tenant, name), time: { $lt: time } };
    try {
      await this.accessTimes.updateOne(filter, { $set: { time } }, { upsert: true });
    } catch (err) {
      if (!isDuplicateKey(err)) throw unavailable(err);
    }
  }

  async lastAccessTimes(tenant: string, names: readonly string[]): Promise<Map<string, Date>> {
    checkString("tenant", tenant);
    checkStrings("names", names);
    if (names.length === 0) return new Map();
    const ids = new Map(names.map((n) => [secretDocId(tenant, n), n]));
    const docs = await guard(() => this.accessTimes.find({ _id: { $in: [...ids.keys()] } }).toArray());
    return new Map(docs.map((d) => [ids.get(d._id)!, d.time]));
  }

  async claimRevision(claim: RevisionClaim): Promise<boolean> {
    checkClaim(claim);
    return insertUnique(() => this.claims.insertOne(toClaimDoc(claim)));
  }

  async findClaim(secretId: string, revision: number): Promise<RevisionClaim | undefined> {
    checkString("secretId", secretId);
    checkInteger("revision", revision);
    const doc = await guard(() => this.claims.findOne({ _id: claimDocId(secretId, revision) }));
    return doc ? fromClaimDoc(doc) : undefined;
  }

  async releaseClaim(secretId: string, revision: number, writeId: string): Promise<void> {
    checkString("secretId", secretId);
    checkInteger("revision", revision);
    checkString("writeId", writeId);
    await guard(() => this.claims.deleteOne({ _id: claimDocId(secretId, revision), writeId }));
  }

  async insertVersion(version: VersionRecord): Promise<boolean> {
    checkVersionRecord(version);
    return insertUnique(() => this.versions.insertOne(toVersionDoc(version)));
  }

  async findVersion(secretId: string, version: number): Promise<VersionRecord | undefined> {
    checkString("secretId", secretId);
    checkInteger("version", version);
    const doc = await guard(() => this.versions.findOne({ _id: versionDocId(secretId, version) }));
    return doc ? fromVersionDoc(doc) : undefined;
  }

  async listVersions(secretId: string, atMost: number, limit: number): Promise<VersionRecord[]> {
    checkString("secretId", secretId);
    checkInteger("atMost", atMost);
    checkInteger("limit", limit);
    const docs = await guard(() =>
      this.versions
        .find({ secretId, version: { $lte: atMost } }, { projection: { sealed: 0 } })
        .sort({ version: -1 })
        .limit(limit)
        .toArray(),
    );
    return docs.map(fromVersionDoc);
  }

  async newestEnabledVersion(secretId: string, atMost: number): Promise<VersionRecord | undefined> {
    checkString("secretId", secretId);
    checkInteger("atMost", atMost);
    const doc = await guard(() =>
      this.versions.find({ secretId, version: { $lte: atMost }, state: "enabled" }).sort({ version: -1 }).limit(1).next(),
    );
    return doc ? fromVersionDoc(doc) : undefined;
  }

  async oldestLiveVersions(secretId: string, atMost: number, limit: number, from?: number): Promise<number[]> {
    checkString("secretId", secretId);
    checkInteger("atMost", atMost);
    checkInteger("limit", limit);
    if (from !== undefined) {
      checkInteger("from", from);
      const found = await this.probeLiveVersions(secretId, from, atMost, limit);
      if (found) return found;
    }
    const docs = await guard(() =>
      this.versions
        .find({ secretId, version: { $lte: atMost, $gte: from ?? 1 }, state: { $ne: "destroyed" } }, { projection: { version: 1 } })
        .sort({ version: 1 })
        .limit(limit)
        .toArray(),
    );
    return docs.map((d) => Number(d.version));
  }

  /**
   * The oldest live versions from `from` on, looked up by _id (the one filter FerretDB's SQLite backend
   * answers without reading the whole collection); undefined when more than PROBE_LIMIT lookups would
   * be needed (long runs of destroyed versions), so the caller falls back to one query.
   */
  private async probeLiveVersions(secretId: string, from: number, atMost: number, limit: number): Promise<number[] | undefined> {
    const found: number[] = [];
    for (let v = Math.max(1, from), probes = 0; v <= atMost && found.length < limit; v++, probes++) {
      if (probes >= PROBE_LIMIT) return undefined;
      const doc = await guard(() => this.versions.findOne({ _id: versionDocId(secretId, v) }, { projection: { state: 1 } }));
      if (doc && doc.state !== "destroyed") found.push(v);
    }
    return found;
  }

  async countLiveVersions(secretId: string, atMost: number): Promise<number> {
    checkString("secretId", secretId);
    checkInteger("atMost", atMost);
    return guard(() => this.versions.countDocuments({ secretId, version: { $lte: atMost }, state: { $ne: "destroyed" } }));
  }

  async setVersionState(secretId: string, version: number, state: VersionState, revision: number, at: Date): Promise<void> {
    checkString("secretId", secretId);
    checkInteger("version", version);
    checkVersionState("state", state);
    checkInteger("revision", revision);
    checkDate("at", at);
    await guard(async () => {
      const current = await this.versions.findOne({ _id: versionDocId(secretId, version) }, { projection: { state: 1, stateRevision: 1 } });
      if (!current || current.stateRevision === revision) return; // idempotent for one revision
      const set = { state, previousState: current.state, stateRevision: revision, ...(state === "destroyed" ? { destroyTime: at } : {}) };
      await this.versions.updateOne({ _id: versionDocId(secretId, version) }, { $set: set });
    });
  }

  async undoVersionState(secretId: string, version: number, revision: number): Promise<void> {
    checkString("secretId", secretId);
    checkInteger("version", version);
    checkInteger("revision", revision);
    await guard(async () => {
      const current = await this.versions.findOne({ _id: versionDocId(secretId, version), stateRevision: revision });
      if (!current?.previousState) return;
      // The core never changes the state of a destroyed version, so the previous state had no destroy time.
      const unset = { previousState: "" as const, stateRevision: "" as const, destroyTime: "" as const };
      await this.versions.updateOne({ _id: current._id, stateRevision: revision }, { $set: { state: current.previousState }, $unset: unset });
    });
  }

  async eraseDestroyedVersions(secretId: string, committedRevision: number, versions?: readonly number[]): Promise<void> {
    checkString("secretId", secretId);
    checkInteger("committedRevision", committedRevision);
    const committed = (doc: Pick<VersionDoc, "stateRevision">) => doc.stateRevision === undefined || doc.stateRevision === null || Number(doc.stateRevision) <= committedRevision;
    if (versions !== undefined) {
      checkIntegers("versions", versions);
      // By _id only (see probeLiveVersions). A committed destroy is never undone, so checking, then erasing, is safe.
      for (const v of versions) {
        const _id = versionDocId(secretId, v);
        const doc = await guard(() => this.versions.findOne({ _id }, { projection: { state: 1, stateRevision: 1, sealed: 1 } }));
        if (doc?.state === "destroyed" && doc.sealed && committed(doc)) await guard(() => this.versions.updateOne({ _id }, { $unset: { sealed: "" } }));
      }
      return;
    }
    const filter = { $or: [{ stateRevision: { $lte: committedRevision } }, { stateRevision: { $exists: false } }] };
    await guard(() => this.versions.updateMany({ secretId, state: "destroyed", sealed: { $exists: true }, ...filter }, { $unset: { sealed: "" } }));
  }

  async findClaimsOlderThan(before: Date, limit: number): Promise<RevisionClaim[]> {
    checkDate("before", before);
    checkInteger("limit", limit);
    const docs = await guard(() => this.claims.find({ createTime: { $lt: before } }).limit(limit).toArray());
    return docs.map(fromClaimDoc);
  }

  async removeVersion(secretId: string, version: number, writeId: string): Promise<boolean> {
    checkString("secretId", secretId);
    checkInteger("version", version);
    checkString("writeId", writeId);
    const res = await guard(() => this.versions.deleteOne({ _id: versionDocId(secretId, version), writeId }));
    return res.deletedCount === 1;
  }

  async scanSecrets(after: string | undefined, limit: number): Promise<{ key: string; secret: SecretRecord }[]> {
    if (after !== undefined) checkString("after", after);
    checkInteger("limit", limit);
    const filter: Filter<SecretDoc> = after === undefined ? {} : { _id: { $gt: after } };
    const docs = await guard(() => this.secrets.find(filter).sort({ _id: 1 }).limit(limit).toArray());
    return docs.map((d) => ({ key: d._id, secret: fromSecretDoc(d) }));
  }

  async rewrapVersion(secretId: string, version: number, from: Uint8Array, to: { keyId: string; wrapped: Uint8Array }): Promise<boolean> {
    checkRewrap(secretId, version, from, to);
    const _id = versionDocId(secretId, version);
    return guard(async () => {
      // By _id only (see probeLiveVersions); the claim keeps every other writer of this document away.
      const doc = await this.versions.findOne({ _id }, { projection: { state: 1, sealed: 1 } });
      if (!doc?.sealed || doc.state === "destroyed" || !Buffer.from(doc.sealed.wk.buffer).equals(Buffer.from(from))) return false;
      const res = await this.versions.updateOne({ _id }, { $set: { keyId: to.keyId, "sealed.kid": to.keyId, "sealed.wk": new Binary(to.wrapped) } });
      return res.matchedCount === 1;
    });
  }

  async findDue(now: Date, limit: number): Promise<SecretRecord[]> {
    checkDate("now", now);
    checkInteger("limit", limit);
    const docs = await guard(() =>
      this.secrets.find({ $or: [{ purgeTime: { $lte: now } }, { expireTime: { $lte: now } }] }, NO_SEALED).limit(limit).toArray(),
    );
    return docs.map(fromSecretDoc);
  }

  async purgeSecret(ref: SecretRef): Promise<boolean> {
    checkSecretRef("secret", ref);
    // Versions first: a crash midway leaves the secret document, so the next sweep finishes the job.
    return guard(async () => {
      await this.versions.deleteMany({ secretId: ref.id });
      await this.claims.deleteMany({ secretId: ref.id });
      const removed = await this.secrets.deleteOne({ _id: secretDocId(ref.tenant, ref.name), sid: ref.id });
      // A read racing the purge may note a time again; the core ignores a time before a creation.
      await this.accessTimes.deleteOne({ _id: secretDocId(ref.tenant, ref.name) });
      return removed.deletedCount === 1;
    });
  }

  async close(): Promise<void> {}
}

/** `stripe_*` as `^stripe_.*$`: the glob alphabet has no other character special to a regular expression. */
function globPattern(glob: string): string {
  return `^${glob.replaceAll("*", ".*").replaceAll("?", ".")}$`;
}
