import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../errors.js";
import type { IdempotencyStore } from "../ports/idempotency-store.js";
import type { SecretRecord, VersionRecord, VersionState } from "../ports/secret-store.js";
import { purgeSecret } from "./changes.js";
import { createSecret, type CreateSecretInput } from "./create-secret.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "./limits.js";
import { decodePageToken, encodePageToken, pageSize, queryDigest } from "./page-token.js";
import { validatePrincipal, type Principal } from "./principal.js";
import { batchGetSecretValues, getSecretValue, type BatchResult, type SecretValue } from "./reads.js";
import { decodeRecords, encodeRecords, sameStoredValue } from "./replay.js";
import { withRequestId, type ReplayCodec } from "./request-ids.js";
import { longestWriteMs, mutateSecret, type MutationDeps } from "./secret-mutation.js";
import type { AccessRecorder } from "./access-times.js";
import { withNameScope } from "./name-scope.js";
import type { ValueCache } from "./value-cache.js";
import { planUpdate, type UpdateFields } from "./update-plan.js";
import { resolveRecoveryWindowDays, validateName, validateNamePrefix, validateMetadata, validateRequestId, validateValue, validateVersionNumber } from "./validation.js";
import { isLive, isRecoverable, visibleVersion } from "./visibility.js";

export type { CreateSecretInput } from "./create-secret.js";
export type { BatchResult, SecretValue } from "./reads.js";

export interface SecretsServiceDeps extends MutationDeps {
  readonly idempotency: IdempotencyStore;
  /** Value reads through the cache (core/value-cache.ts); without it, every read goes to the store and KMS. */
  readonly cache?: Pick<ValueCache, "getSecretValue" | "batchGetSecretValues">;
  /** Told of every value read (Secret.last_access_time). */
  readonly accessed?: Pick<AccessRecorder, "accessed">;
}

export interface UpdateSecretInput extends UpdateFields {
  readonly name: string;
  readonly etag: string;
}

export interface ListSecretsInput {
  readonly pageSize: number;
  readonly pageToken: string;
  readonly namePrefix: string;
  readonly metadataFilter: Readonly<Record<string, string>>;
  readonly showDeleted?: boolean;
}

export interface VersionRef {
  readonly name: string;
  readonly version: number;
  readonly etag: string;
}

export interface SecretsService {
  createSecret(p: Principal, input: CreateSecretInput): Promise<SecretRecord>;
  getSecret(p: Principal, name: string): Promise<SecretRecord>;
  getSecretValue(p: Principal, name: string, version: number): Promise<SecretValue>;
  batchGetSecretValues(p: Principal, names: readonly string[]): Promise<BatchResult>;
  listSecrets(p: Principal, input: ListSecretsInput): Promise<{ secrets: SecretRecord[]; nextPageToken: string }>;
  updateSecret(p: Principal, input: UpdateSecretInput): Promise<SecretRecord>;
  putSecretValue(p: Principal, input: { name: string; value: string; etag: string; requestId: string }): Promise<{ version: VersionRecord; secret: SecretRecord }>;
  listSecretVersions(p: Principal, input: { name: string; pageSize: number; pageToken: string }): Promise<{ versions: VersionRecord[]; nextPageToken: string }>;
  setVersionState(p: Principal, ref: VersionRef, state: VersionState): Promise<{ version: VersionRecord; secret: SecretRecord }>;
  deleteSecret(p: Principal, input: { name: string; force: boolean; recoveryWindowDays: number; etag: string }): Promise<SecretRecord>;
  restoreSecret(p: Principal, input: { name: string; etag: string }): Promise<SecretRecord>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export function createSecretsService(deps: SecretsServiceDeps): SecretsService {
  const { store, clock } = deps;

  async function requireLive(p: Principal, name: string): Promise<SecretRecord> {
    validateName(name);
    const secret = await store.findSecret(p.tenant, name);
    // Another developer's secret, an absent one, a deleted and an expired one all look the same.
    if (!secret || !isLive(secret, clock.now())) throw new NotFoundError(`secret "${name}" not found`);
    return secret;
  }

  /** The records with their last access times (kept apart from them in the store). */
  async function withAccessTimes(p: Principal, secrets: SecretRecord[]): Promise<SecretRecord[]> {
    if (secrets.length === 0) return secrets;
    const times = await store.lastAccessTimes(p.tenant, secrets.map((s) => s.name));
    return secrets.map((s) => {
      const time = times.get(s.name);
      // A time before this incarnation was created belongs to an earlier one (a read racing its purge).
      return time && time >= s.createTime ? { ...s, lastAccessTime: time } : s;
    });
  }

  const etagOf = (etag: string) => (etag ? { expectedEtag: etag } : {});

  return withValidPrincipal(withNameScope({
    createSecret: (p, input) => createSecret(deps, p, input),

    async getSecret(p, name) {
      return (await withAccessTimes(p, [await requireLive(p, name)]))[0]!;
    },

    async getSecretValue(p, name, version) {
      const value = await (deps.cache ? deps.cache.getSecretValue(p, name, version) : getSecretValue(deps, p, name, version));
      deps.accessed?.accessed(p.tenant, value.name);
      return value;
    },

    async batchGetSecretValues(p, names) {
      const result = await (deps.cache ? deps.cache.batchGetSecretValues(p, names) : batchGetSecretValues(deps, p, names));
      for (const v of result.values) deps.accessed?.accessed(p.tenant, v.name);
      return result;
    },

    async listSecrets(p, input) {
      const limit = pageSize(input.pageSize, { default: DEFAULT_PAGE_SIZE, max: MAX_PAGE_SIZE });
      validateNamePrefix(input.namePrefix);
      validateMetadata(input.metadataFilter, "metadata_filter");
      const showDeleted = input.showDeleted ?? false;
      const filterPairs = Object.entries(input.metadataFilter).sort(([a], [b]) => (a < b ? -1 : 1));
      const digest = queryDigest(["secrets", p.tenant, input.namePrefix, filterPairs, showDeleted, p.globs ?? null]);
      const afterName = decodePageToken(input.pageToken, digest);
      // One extra item tells whether another page exists without a count query.
      const found = await store.listSecrets({
        tenant: p.tenant,
        namePrefix: input.namePrefix,
        metadataFilter: input.metadataFilter,
        limit: limit + 1,
        showDeleted,
        now: clock.now(),
        ...(afterName !== undefined ? { afterName } : {}),
        // The token's globs filter in the store: no page, and no cursor, holds a name outside them.
        ...(p.globs ? { nameGlobs: p.globs } : {}),
      });
      const secrets = await withAccessTimes(p, found.slice(0, limit));
      const last = secrets.at(-1);
      return { secrets, nextPageToken: found.length > limit && last ? encodePageToken(last.name, digest) : "" };
    },

    async updateSecret(p, input) {
      validateName(input.name);
      const plan = planUpdate(input, clock.now());
      const result = await mutateSecret(deps, { principal: p, name: input.name, ...etagOf(input.etag), plan: () => plan });
      return result.secret;
    },

    async putSecretValue(p, input) {
      validateName(input.name);
      validateValue(input.value);
      validateRequestId(input.requestId);
      const scope = { tenant: p.tenant, method: "PutSecretValue", name: input.name, requestId: input.requestId, fields: [input.etag] };
      return withRequestId({ ...deps, requestIdLeaseMs: longestWriteMs(deps) }, scope, versionReplay(deps, p, input.value), async () => {
        const result = await mutateSecret(deps, { principal: p, name: input.name, ...etagOf(input.etag), plan: () => ({ value: input.value }) });
        return { version: result.version!, secret: result.secret };
      });
    },

    async listSecretVersions(p, input) {
      const secret = await requireLive(p, input.name);
      const limit = pageSize(input.pageSize, { default: DEFAULT_PAGE_SIZE, max: MAX_PAGE_SIZE });
      const digest = queryDigest(["versions", p.tenant, secret.id]);
      const after = decodePageToken(input.pageToken, digest);
      const below = after === undefined ? secret.latestVersion : Number(after) - 1;
      if (!Number.isSafeInteger(below)) throw new InvalidArgumentError("page_token", "is not a valid page token");
      const found = await store.listVersions(secret.id, below, limit + 1);
      const versions = found.slice(0, limit).map((v) => visibleVersion(v, secret));
      const last = versions.at(-1);
      return { versions, nextPageToken: found.length > limit && last ? encodePageToken(String(last.version), digest) : "" };
    },

    async setVersionState(p, ref, state) {
      validateName(ref.name);
      validateVersionNumber(ref.version);
      let target: VersionRecord | undefined;
      const result = await mutateSecret(deps, {
        principal: p,
        name: ref.name,
        ...etagOf(ref.etag),
        async plan(secret) {
          const stored = ref.version <= secret.latestVersion ? await store.findVersion(secret.id, ref.version) : undefined;
          target = stored && visibleVersion(stored, secret);
          if (!target) throw new NotFoundError(`secret "${ref.name}" has no version ${ref.version}`);
          if (target.state === state) return undefined; // already so: succeed and change nothing
          if (target.state === "destroyed") throw new FailedPreconditionError(`version ${ref.version} of secret "${ref.name}" is destroyed`);
          return { versionState: { version: ref.version, state } };
        },
      });
      const stored = result.changed ? await store.findVersion(result.secret.id, ref.version) : target;
      return { version: withoutSealed(visibleVersion(stored!, result.secret)), secret: result.secret };
    },

    async deleteSecret(p, input) {
      validateName(input.name);
      const days = resolveRecoveryWindowDays(input.recoveryWindowDays, input.force);
      const now = clock.now();
      const result = await mutateSecret(deps, {
        principal: p,
        name: input.name,
        ...etagOf(input.etag),
        // force also purges a secret already scheduled for deletion
        applies: (s, at) => isLive(s, at) || (input.force && isRecoverable(s, at)),
        plan: () => ({ patch: { deleteTime: now, purgeTime: input.force ? now : new Date(now.getTime() + days * DAY_MS) } }),
      });
      // Marked first, so a crash before the purge leaves it to the sweeper.
      if (input.force) await purgeSecret(deps, result.secret);
      return result.secret;
    },

    async restoreSecret(p, input) {
      validateName(input.name);
      const found = await store.findSecret(p.tenant, input.name);
      if (found && isLive(found, clock.now())) throw new FailedPreconditionError(`secret "${input.name}" is not deleted`);
      const result = await mutateSecret(deps, {
        principal: p,
        name: input.name,
        ...etagOf(input.etag),
        applies: isRecoverable,
        plan: () => ({ patch: { deleteTime: null, purgeTime: null } }),
      });
      return result.secret;
    },
  }));
}

type Operation = (p: Principal, ...args: never[]) => Promise<unknown>;

/**
 * Every operation refuses an invalid principal before it does anything: the tenant scopes
 * every store query, so it must be a plain principal id (see principal.ts), whatever the caller.
 */
function withValidPrincipal(service: SecretsService): SecretsService {
  const operations = Object.entries(service as unknown as Record<string, Operation>);
  const checked = operations.map(([name, op]): [string, Operation] => [
    name,
    async (p, ...args) => {
      validatePrincipal(p);
      return op(p, ...args);
    },
  ]);
  return Object.fromEntries(checked) as unknown as SecretsService;
}

function withoutSealed(v: VersionRecord): VersionRecord {
  const { sealed: _omitted, ...rest } = v;
  return rest;
}

/** Replays a PutSecretValue: the stored response, checked against the value of the version it created. */
function versionReplay(deps: SecretsServiceDeps, p: Principal, value: string): ReplayCodec<{ version: VersionRecord; secret: SecretRecord }> {
  return {
    encode: (r) => encodeRecords(r),
    decode: (json) => decodeRecords(json),
    sameValue: (r) => sameStoredValue(deps, p, r.secret, r.version.version, value),
  };
}
