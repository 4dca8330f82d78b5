import { AlreadyExistsError } from "../../errors.js";
import { applyPatch } from "../../ports/apply-patch.js";
import { compareNames, isDue, matchesListQuery } from "../../ports/list-query.js";
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

/** A full in-memory SecretStore for dev mode and unit tests. Data lives only in the process. */
export class MemorySecretStore implements SecretStore {
  private readonly secrets = new Map<string, SecretRecord>(); // by id
  private readonly byName = new Map<string, string>(); // tenant\0name -> id
  private readonly versions = new Map<string, Map<number, VersionRecord>>(); // secretId -> version -> record
  private readonly claims = new Map<string, RevisionClaim>(); // secretId:revision
  private readonly accessTimes = new Map<string, Date>(); // tenant\0name -> last read

  async insertSecret(secret: SecretRecord): Promise<void> {
    checkSecretRecord(secret);
    const key = nameKey(secret.tenant, secret.name);
    if (this.byName.has(key)) throw new AlreadyExistsError(`secret "${secret.name}" already exists`);
    this.byName.set(key, secret.id);
    this.secrets.set(secret.id, copy(secret));
  }

  async findSecret(tenant: string, name: string): Promise<SecretRecord | undefined> {
    checkString("tenant", tenant);
    checkString("name", name);
    const id = this.byName.get(nameKey(tenant, name));
    const found = id === undefined ? undefined : this.secrets.get(id);
    return found && copy(found);
  }

  async findSecrets(tenant: string, names: readonly string[]): Promise<SecretRecord[]> {
    checkString("tenant", tenant);
    checkStrings("names", names);
    const found = await Promise.all(names.map((n) => this.findSecret(tenant, n)));
    return found.filter((s): s is SecretRecord => s !== undefined);
  }

  async listSecrets(query: ListQuery): Promise<SecretRecord[]> {
    checkListQuery(query);
    return [...this.secrets.values()]
      .filter((s) => matchesListQuery(s, query))
      .sort((a, b) => compareNames(a.name, b.name))
      .slice(0, query.limit)
      .map(({ current: _omitted, ...s }) => copy(s));
  }

  async updateSecret(ref: SecretRef, expectedRevision: number, patch: SecretPatch): Promise<SecretRecord | undefined> {
    checkSecretRef("secret", ref);
    checkInteger("expectedRevision", expectedRevision);
    checkSecretPatch(patch);
    const id = ref.id;
    const current = this.secrets.get(id);
    if (!current || current.revision !== expectedRevision) return undefined;
    const next = applyPatch(current, copy(patch));
    this.secrets.set(id, next);
    return copy(next);
  }

  async recordAccess(tenant: string, name: string, time: Date): Promise<void> {
    checkString("tenant", tenant);
    checkString("name", name);
    checkDate("time", time);
    const key = nameKey(tenant, name);
    const noted = this.accessTimes.get(key);
    if (noted && noted >= time) return;
    this.accessTimes.set(key, new Date(time));
  }

  async lastAccessTimes(tenant: string, names: readonly string[]): Promise<Map<string, Date>> {
    checkString("tenant", tenant);
    checkStrings("names", names);
    const out = new Map<string, Date>();
    for (const name of names) {
      const time = this.accessTimes.get(nameKey(tenant, name));
      if (time) out.set(name, new Date(time));
    }
    return out;
  }

  async claimRevision(claim: RevisionClaim): Promise<boolean> {
    checkClaim(claim);
    const key = `${claim.secretId}:${claim.revision}`;
    if (this.claims.has(key)) return false;
    this.claims.set(key, copy(claim));
    return true;
  }

  async findClaim(secretId: string, revision: number): Promise<RevisionClaim | undefined> {
    checkString("secretId", secretId);
    checkInteger("revision", revision);
    const found = this.claims.get(`${secretId}:${revision}`);
    return found && copy(found);
  }

  async releaseClaim(secretId: string, revision: number, writeId: string): Promise<void> {
    checkString("secretId", secretId);
    checkInteger("revision", revision);
    checkString("writeId", writeId);
    const key = `${secretId}:${revision}`;
    if (this.claims.get(key)?.writeId === writeId) this.claims.delete(key);
  }

  async insertVersion(version: VersionRecord): Promise<boolean> {
    checkVersionRecord(version);
    const versions = this.versionsOf(version.secretId);
    if (versions.has(version.version)) return false;
    versions.set(version.version, copy(version));
    return true;
  }

  async findVersion(secretId: string, version: number): Promise<VersionRecord | undefined> {
    checkString("secretId", secretId);
    checkInteger("version", version);
    const found = this.versions.get(secretId)?.get(version);
    return found && copy(found);
  }

  async listVersions(secretId: string, atMost: number, limit: number): Promise<VersionRecord[]> {
    checkString("secretId", secretId);
    checkInteger("atMost", atMost);
    checkInteger("limit", limit);
    return this.sorted(secretId, atMost)
      .reverse()
      .slice(0, limit)
      .map(({ sealed: _omitted, ...v }) => copy(v));
  }

  async newestEnabledVersion(secretId: string, atMost: number): Promise<VersionRecord | undefined> {
    checkString("secretId", secretId);
    checkInteger("atMost", atMost);
    const found = this.sorted(secretId, atMost).reverse().find((v) => v.state === "enabled");
    return found && copy(found);
  }

  async oldestLiveVersions(secretId: string, atMost: number, limit: number, from = 1): Promise<number[]> {
    checkString("secretId", secretId);
    checkInteger("atMost", atMost);
    checkInteger("limit", limit);
    checkInteger("from", from);
    return this.sorted(secretId, atMost)
      .filter((v) => v.state !== "destroyed" && v.version >= from)
      .slice(0, limit)
      .map((v) => v.version);
  }

  async countLiveVersions(secretId: string, atMost: number): Promise<number> {
    checkString("secretId", secretId);
    checkInteger("atMost", atMost);
    return this.sorted(secretId, atMost).filter((v) => v.state !== "destroyed").length;
  }

  async setVersionState(secretId: string, version: number, state: VersionState, revision: number, at: Date): Promise<void> {
    checkString("secretId", secretId);
    checkInteger("version", version);
    checkVersionState("state", state);
    checkInteger("revision", revision);
    checkDate("at", at);
    const versions = this.versions.get(secretId);
    const current = versions?.get(version);
    if (!versions || !current || current.stateRevision === revision) return; // idempotent for one revision
    versions.set(version, {
      ...current,
      state,
      previousState: current.state,
      stateRevision: revision,
      ...(state === "destroyed" ? { destroyTime: at } : {}),
    });
  }

  async undoVersionState(secretId: string, version: number, revision: number): Promise<void> {
    checkString("secretId", secretId);
    checkInteger("version", version);
    checkInteger("revision", revision);
    const versions = this.versions.get(secretId);
    const current = versions?.get(version);
    if (!versions || !current || current.stateRevision !== revision || !current.previousState) return;
    // The core never changes the state of a destroyed version, so the previous state had no destroy time.
    const { previousState, stateRevision: _r, destroyTime: _d, ...rest } = current;
    versions.set(version, { ...rest, state: previousState });
  }

  async eraseDestroyedVersions(secretId: string, committedRevision: number, only?: readonly number[]): Promise<void> {
    checkString("secretId", secretId);
    checkInteger("committedRevision", committedRevision);
    if (only !== undefined) checkIntegers("versions", only);
    const versions = this.versions.get(secretId);
    for (const [n, v] of versions ?? []) {
      if (only && !only.includes(n)) continue;
      if (v.state === "destroyed" && v.sealed && (v.stateRevision ?? 0) <= committedRevision) {
        const { sealed: _erased, ...rest } = v;
        versions!.set(n, rest);
      }
    }
  }

  async scanSecrets(after: string | undefined, limit: number): Promise<{ key: string; secret: SecretRecord }[]> {
    if (after !== undefined) checkString("after", after);
    checkInteger("limit", limit);
    return [...this.secrets.values()]
      .map((secret) => ({ key: nameKey(secret.tenant, secret.name), secret }))
      .filter(({ key }) => after === undefined || key > after)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, limit)
      .map(({ key, secret }) => ({ key, secret: copy(secret) }));
  }

  async rewrapVersion(secretId: string, version: number, from: Uint8Array, to: { keyId: string; wrapped: Uint8Array }): Promise<boolean> {
    checkRewrap(secretId, version, from, to);
    const versions = this.versions.get(secretId);
    const found = versions?.get(version);
    if (!found?.sealed || found.state === "destroyed" || !Buffer.from(found.sealed.wrappedKey).equals(Buffer.from(from))) return false;
    const sealed = { ...found.sealed, keyId: to.keyId, wrappedKey: new Uint8Array(to.wrapped) };
    versions!.set(version, { ...found, keyId: to.keyId, sealed });
    return true;
  }

  async findClaimsOlderThan(before: Date, limit: number): Promise<RevisionClaim[]> {
    checkDate("before", before);
    checkInteger("limit", limit);
    return [...this.claims.values()].filter((c) => c.createTime < before).slice(0, limit).map(copy);
  }

  async removeVersion(secretId: string, version: number, writeId: string): Promise<boolean> {
    checkString("secretId", secretId);
    checkInteger("version", version);
    checkString("writeId", writeId);
    const versions = this.versions.get(secretId);
    if (versions?.get(version)?.writeId !== writeId) return false;
    return versions.delete(version);
  }

  async findDue(now: Date, limit: number): Promise<SecretRecord[]> {
    checkDate("now", now);
    checkInteger("limit", limit);
    return [...this.secrets.values()].filter((s) => isDue(s, now)).slice(0, limit).map(copy);
  }

  async purgeSecret(ref: SecretRef): Promise<boolean> {
    checkSecretRef("secret", ref);
    const secretId = ref.id;
    this.versions.delete(secretId);
    for (const key of [...this.claims.keys()]) if (key.startsWith(`${secretId}:`)) this.claims.delete(key);
    const secret = this.secrets.get(secretId);
    if (!secret) return false;
    this.secrets.delete(secretId);
    if (this.byName.get(nameKey(secret.tenant, secret.name)) === secretId) this.byName.delete(nameKey(secret.tenant, secret.name));
    this.accessTimes.delete(nameKey(secret.tenant, secret.name));
    return true;
  }

  async close(): Promise<void> {}

  private versionsOf(secretId: string): Map<number, VersionRecord> {
    let versions = this.versions.get(secretId);
    if (!versions) {
      versions = new Map();
      this.versions.set(secretId, versions);
    }
    return versions;
  }

  private sorted(secretId: string, atMost: number): VersionRecord[] {
    return [...(this.versions.get(secretId)?.values() ?? [])].filter((v) => v.version <= atMost).sort((a, b) => a.version - b.version);
  }
}

const nameKey = (tenant: string, name: string) => `${tenant}\u0000${name}`;
const copy = <T>(value: T): T => structuredClone(value);
