import { AlreadyExistsError } from "../../errors.js";
import type {
  ListQuery,
  RevisionClaim,
  SecretPatch,
  SecretRecord,
  SecretStore,
  VersionRecord,
} from "../../ports/secret-store.js";
import { compareNames, matchesListQuery } from "../../ports/list-query.js";

/** A full in-memory SecretStore for dev mode and unit tests. Data lives only in the process. */
export class MemorySecretStore implements SecretStore {
  private readonly secrets = new Map<string, SecretRecord>(); // by id
  private readonly byName = new Map<string, string>(); // tenant\0name -> id
  private readonly versions = new Map<string, VersionRecord>(); // secretId:version
  private readonly claims = new Map<string, RevisionClaim>(); // secretId:revision

  async insertSecret(secret: SecretRecord): Promise<void> {
    const key = nameKey(secret.tenant, secret.name);
    if (this.byName.has(key)) throw new AlreadyExistsError(`secret "${secret.name}" already exists`);
    this.byName.set(key, secret.id);
    this.secrets.set(secret.id, structuredClone(secret));
  }

  async findSecret(tenant: string, name: string): Promise<SecretRecord | undefined> {
    const id = this.byName.get(nameKey(tenant, name));
    const found = id === undefined ? undefined : this.secrets.get(id);
    return found && structuredClone(found);
  }

  async listSecrets(query: ListQuery): Promise<SecretRecord[]> {
    return [...this.secrets.values()]
      .filter((s) => matchesListQuery(s, query))
      .sort((a, b) => compareNames(a.name, b.name))
      .slice(0, query.limit)
      .map((s) => structuredClone(s));
  }

  async updateSecret(id: string, expectedRevision: number, patch: SecretPatch): Promise<SecretRecord | undefined> {
    const current = this.secrets.get(id);
    if (!current || current.revision !== expectedRevision) return undefined;
    const next: SecretRecord = { ...current, ...structuredClone(patch) };
    this.secrets.set(id, next);
    return structuredClone(next);
  }

  async claimRevision(claim: RevisionClaim): Promise<boolean> {
    const key = versionKey(claim.secretId, claim.revision);
    if (this.claims.has(key)) return false;
    this.claims.set(key, structuredClone(claim));
    return true;
  }

  async findClaim(secretId: string, revision: number): Promise<RevisionClaim | undefined> {
    const found = this.claims.get(versionKey(secretId, revision));
    return found && structuredClone(found);
  }

  async releaseClaim(secretId: string, revision: number, writeId: string): Promise<void> {
    const key = versionKey(secretId, revision);
    if (this.claims.get(key)?.writeId === writeId) this.claims.delete(key);
  }

  async insertVersion(version: VersionRecord): Promise<boolean> {
    const key = versionKey(version.secretId, version.version);
    if (this.versions.has(key)) return false;
    this.versions.set(key, structuredClone(version));
    return true;
  }

  async findVersion(secretId: string, version: number): Promise<VersionRecord | undefined> {
    const found = this.versions.get(versionKey(secretId, version));
    return found && structuredClone(found);
  }

  async removeVersion(secretId: string, version: number, writeId: string): Promise<boolean> {
    const key = versionKey(secretId, version);
    if (this.versions.get(key)?.writeId !== writeId) return false;
    return this.versions.delete(key);
  }

  async close(): Promise<void> {}
}

const nameKey = (tenant: string, name: string) => `${tenant}\u0000${name}`;
const versionKey = (secretId: string, version: number) => `${secretId}:${version}`;
