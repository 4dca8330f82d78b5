import { clip, FailedPreconditionError, InvalidArgumentError, NotFoundError, SecretsError } from "../errors.js";
import type { KeyProvider } from "../ports/key-provider.js";
import type { Clock } from "../ports/clock.js";
import type { SealedValue, SecretRecord, SecretStore } from "../ports/secret-store.js";
import { openValue, versionBinding } from "./envelope.js";
import { BATCH_MAX_NAMES } from "./limits.js";
import type { Principal } from "./principal.js";
import { isValidName, validateName } from "./validation.js";
import { isLive, visibleVersion } from "./visibility.js";

export interface SecretValue {
  readonly name: string;
  readonly version: number;
  readonly value: string;
  readonly createTime: Date;
  /** The secret's allowed_hosts (ProxyHttpRequest's destinations); absent = none. Not part of the value. */
  readonly allowedHosts?: readonly string[];
}

export interface BatchResult {
  /** In request order. */
  readonly values: SecretValue[];
  readonly errors: { readonly name: string; readonly error: SecretsError }[];
}

export interface ReadDeps {
  readonly store: SecretStore;
  readonly keys: KeyProvider;
  readonly clock: Clock;
}

const notFound = (name: string) => new NotFoundError(`secret "${name}" not found`);

/** A value as read from the store, with what a cache needs to know about it. */
export interface OpenedValue {
  readonly value: SecretValue;
  /** The secret's incarnation id. */
  readonly incarnation: string;
  /** Reads must stop returning it from this instant. */
  readonly expireTime?: Date;
}

/** The outcome of reading one name of a batch. */
export type BatchOutcome = { readonly name: string; readonly opened: OpenedValue; readonly error?: undefined } | { readonly name: string; readonly opened?: undefined; readonly error: SecretsError };

/** Version 0 reads the newest enabled version (one query: it is copied onto the secret). */
export async function getSecretValue(deps: ReadDeps, p: Principal, name: string, version: number): Promise<SecretValue> {
  checkValueRead(name, version);
  return (await readValue(deps, p, name, version)).value;
}

export function checkValueRead(name: string, version: number): void {
  validateName(name);
  if (!Number.isSafeInteger(version) || version < 0) throw new InvalidArgumentError("version", "must be 0 (latest) or a positive version number");
}

/** Reads from the store and opens; the arguments were checked (checkValueRead). */
export async function readValue(deps: ReadDeps, p: Principal, name: string, version: number): Promise<OpenedValue> {
  const secret = await deps.store.findSecret(p.tenant, name);
  if (!secret || !isLive(secret, deps.clock.now())) throw notFound(name);
  if (version === 0) return openCurrent(deps, p, secret);
  const stored = version <= secret.latestVersion ? await deps.store.findVersion(secret.id, version) : undefined;
  const record = stored && visibleVersion(stored, secret);
  if (!record) throw new NotFoundError(`secret "${name}" has no version ${version}`);
  if (record.state !== "enabled" || !record.sealed) {
    throw new FailedPreconditionError(`version ${version} of secret "${name}" is ${record.state}`);
  }
  return open(deps, p, secret, version, record.createTime, record.sealed);
}

/** 1 to 100 distinct names, one store round trip, per-name errors. */
export async function batchGetSecretValues(deps: ReadDeps, p: Principal, names: readonly string[]): Promise<BatchResult> {
  checkBatchNames(names);
  return assembleBatch(await readCurrentValues(deps, p, names));
}

/** 1 to 100 distinct names (each name's own validity is a per-name error). */
export function checkBatchNames(names: readonly string[]): void {
  if (names.length === 0) throw new InvalidArgumentError("names", "must name at least one secret");
  if (names.length > BATCH_MAX_NAMES) throw new InvalidArgumentError("names", `must name at most ${BATCH_MAX_NAMES} secrets`);
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new InvalidArgumentError("names", `names "${clip(name)}" twice`);
    seen.add(name);
  }
}

/** The newest enabled version of each name, in one store round trip; outcomes in the order given. */
export async function readCurrentValues(deps: ReadDeps, p: Principal, names: readonly string[]): Promise<BatchOutcome[]> {
  const valid = names.filter((n) => isValidName(n));
  const found = new Map((valid.length ? await deps.store.findSecrets(p.tenant, valid) : []).map((s) => [s.name, s]));
  const now = deps.clock.now();
  return Promise.all(
    names.map(async (name): Promise<BatchOutcome> => {
      try {
        validateName(name, "names");
        const secret = found.get(name);
        if (!secret || !isLive(secret, now)) throw notFound(name);
        return { name, opened: await openCurrent(deps, p, secret) };
      } catch (err) {
        if (err instanceof SecretsError) return { name, error: err };
        throw err;
      }
    }),
  );
}

export function assembleBatch(outcomes: readonly BatchOutcome[]): BatchResult {
  return {
    values: outcomes.flatMap((o) => (o.opened ? [o.opened.value] : [])),
    errors: outcomes.flatMap((o) => (o.error ? [{ name: o.name, error: o.error }] : [])),
  };
}

function openCurrent(deps: ReadDeps, p: Principal, secret: SecretRecord): Promise<OpenedValue> {
  if (!secret.current) throw new FailedPreconditionError(`secret "${secret.name}" has no enabled version`);
  return open(deps, p, secret, secret.current.version, secret.current.createTime, secret.current.sealed);
}

async function open(deps: ReadDeps, p: Principal, secret: SecretRecord, version: number, createTime: Date, sealed: SealedValue): Promise<OpenedValue> {
  const value = await openValue(deps.keys, versionBinding(p.tenant, secret, version), sealed);
  return {
    value: { name: secret.name, version, value, createTime, ...(secret.allowedHosts?.length ? { allowedHosts: secret.allowedHosts } : {}) },
    incarnation: secret.id,
    ...(secret.expireTime ? { expireTime: secret.expireTime } : {}),
  };
}
