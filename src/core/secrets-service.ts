import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from "../errors.js";
import type { Clock } from "../ports/clock.js";
import type { KeyProvider } from "../ports/key-provider.js";
import type { SecretRecord, SecretStore } from "../ports/secret-store.js";
import { openValue, sealValue } from "./envelope.js";
import { newEtag, newSecretId, newWriteId } from "./ids.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "./limits.js";
import { decodePageToken, encodePageToken, pageSize, queryDigest } from "./page-token.js";
import type { Principal } from "./principal.js";
import { planUpdate } from "./update-plan.js";
import { validateDescription, validateMetadata, validateName, validateNamePrefix, validateValue } from "./validation.js";
import { mutateSecret } from "./secret-mutation.js";

export interface SecretsServiceDeps {
  readonly store: SecretStore;
  readonly keys: KeyProvider;
  readonly clock: Clock;
  /** See secret-mutation.ts. */
  readonly pendingLeaseMs: number;
}

export interface CreateSecretInput {
  readonly name: string;
  readonly value: string;
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface UpdateSecretInput {
  readonly name: string;
  /** update_mask paths; empty means "every field that carries something". */
  readonly updateMask: readonly string[];
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly value?: string;
  readonly etag: string;
}

export interface ListSecretsInput {
  readonly pageSize: number;
  readonly pageToken: string;
  readonly namePrefix: string;
  readonly metadataFilter: Readonly<Record<string, string>>;
}

export interface SecretValue {
  readonly name: string;
  readonly version: number;
  readonly value: string;
  readonly createTime: Date;
}

export interface SecretsService {
  createSecret(p: Principal, input: CreateSecretInput): Promise<SecretRecord>;
  getSecret(p: Principal, name: string): Promise<SecretRecord>;
  getSecretValue(p: Principal, name: string, version: number): Promise<SecretValue>;
  listSecrets(p: Principal, input: ListSecretsInput): Promise<{ secrets: SecretRecord[]; nextPageToken: string }>;
  updateSecret(p: Principal, input: UpdateSecretInput): Promise<SecretRecord>;
}

export function createSecretsService(deps: SecretsServiceDeps): SecretsService {
  const { store, keys, clock } = deps;

  async function requireSecret(p: Principal, name: string): Promise<SecretRecord> {
    validateName(name);
    const secret = await store.findSecret(p.tenant, name);
    // Another developer's secret and an absent one look the same.
    if (!secret) throw new NotFoundError(`secret "${name}" not found`);
    return secret;
  }

  return {
    async createSecret(p, input) {
      validateName(input.name);
      validateValue(input.value);
      validateDescription(input.description);
      validateMetadata(input.metadata);
      if (await store.findSecret(p.tenant, input.name)) throw alreadyExists(input.name);

      // Version first, then the secret that makes it visible: a crash in between
      // leaves only an unreferenced version document.
      const id = newSecretId();
      const writeId = newWriteId();
      const now = clock.now();
      const sealed = await sealValue(keys, { developer: p.tenant, secret: input.name, version: 1 }, input.value);
      await store.insertVersion({ secretId: id, version: 1, state: "enabled", createTime: now, createdBy: p.subject, writeId, sealed });
      const secret: SecretRecord = {
        id,
        tenant: p.tenant,
        name: input.name,
        description: input.description,
        metadata: input.metadata,
        latestVersion: 1,
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
        await store.removeVersion(id, 1, writeId);
        if (err instanceof AlreadyExistsError) throw alreadyExists(input.name);
        throw err;
      }
      return secret;
    },

    getSecret: requireSecret,

    async getSecretValue(p, name, version) {
      if (!Number.isSafeInteger(version) || version < 0) throw new InvalidArgumentError("version", "must be 0 (latest) or a positive version number");
      const secret = await requireSecret(p, name);
      const number = version === 0 ? secret.latestVersion : version;
      const record = number <= secret.latestVersion ? await store.findVersion(secret.id, number) : undefined;
      if (!record?.sealed) throw new NotFoundError(`secret "${name}" has no version ${number}`);
      const value = await openValue(keys, { developer: p.tenant, secret: name, version: number }, record.sealed);
      return { name, version: number, value, createTime: record.createTime };
    },

    async listSecrets(p, input) {
      const limit = pageSize(input.pageSize, { default: DEFAULT_PAGE_SIZE, max: MAX_PAGE_SIZE });
      validateNamePrefix(input.namePrefix);
      validateMetadata(input.metadataFilter, "metadata_filter");
      const filterPairs = Object.entries(input.metadataFilter).sort(([a], [b]) => (a < b ? -1 : 1));
      const digest = queryDigest(["secrets", p.tenant, input.namePrefix, filterPairs]);
      const afterName = decodePageToken(input.pageToken, digest);
      // One extra item tells whether another page exists without a count query.
      const found = await store.listSecrets({
        tenant: p.tenant,
        namePrefix: input.namePrefix,
        metadataFilter: input.metadataFilter,
        limit: limit + 1,
        ...(afterName !== undefined ? { afterName } : {}),
      });
      const secrets = found.slice(0, limit);
      const last = secrets.at(-1);
      const nextPageToken = found.length > limit && last ? encodePageToken(last.name, digest) : "";
      return { secrets, nextPageToken };
    },

    async updateSecret(p, input) {
      validateName(input.name);
      const plan = planUpdate(input);
      return mutateSecret(deps, {
        principal: p,
        name: input.name,
        patch: plan.patch,
        ...(plan.value !== undefined ? { value: plan.value } : {}),
        ...(input.etag ? { expectedEtag: input.etag } : {}),
      });
    },
  };
}

function alreadyExists(name: string): AlreadyExistsError {
  return new AlreadyExistsError(`secret "${name}" already exists`);
}
