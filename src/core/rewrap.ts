import { setTimeout as sleep } from "node:timers/promises";
import { AbortedError, FailedPreconditionError, InvalidArgumentError, UnavailableError } from "../errors.js";
import type { Clock } from "../ports/clock.js";
import type { KeyProvider, WrappedKey } from "../ports/key-provider.js";
import type { CurrentVersion, RevisionClaim, SecretRecord, SecretStore } from "../ports/secret-store.js";
import { sealedKeyContext, versionBinding } from "./envelope.js";
import { newWriteId } from "./ids.js";
import { decodePageToken, encodePageToken, queryDigest } from "./page-token.js";
import type { Principal } from "./principal.js";
import { claimOrHelp, DEFAULT_CONTENTION_BUDGET_MS } from "./secret-mutation.js";

// Key rotation: every stored version's data key wrapped again under the active master key, secret by
// secret, over every tenant, one page per call. The data key itself does not change (KMS ReEncrypt:
// its plaintext never leaves KMS), so the ciphertext stays and a reader sees either wrapping, both
// valid while the old key is enabled. The KMS calls come first, paced by the rate limit; then the
// new wrappings are written under the secret's revision claim (on FerretDB an update racing another
// writer's update of the same document can undo it), and the commit moves the secret's copy of its
// current version. Etag, update time and the change feed are left alone: no value changed. A run
// stopped anywhere resumes from its last page token, or starts over: what is under the key is skipped.
// The last page rotates the cache key (a new cache epoch), so nothing sealed under the old master
// key is needed any more.

export const REWRAP_DEFAULT_PAGE = 100;
export const REWRAP_MAX_PAGE = 1_000;
export const REWRAP_DEFAULT_RATE = 50;
export const REWRAP_MAX_RATE = 1_000;
const KEY_MAX_CHARS = 2_048;

export interface RewrapDeps {
  readonly store: SecretStore;
  readonly keys: KeyProvider;
  readonly clock: Clock;
  readonly pendingLeaseMs: number;
  readonly contentionBudgetMs?: number;
  /** Absent when the server runs without a cache. */
  readonly rotateCacheKey?: () => Promise<boolean>;
}

export interface RewrapRequest {
  readonly toKey: string;
  readonly pageToken: string;
  readonly pageSize: number;
  readonly rateLimit: number;
  /** performance.now() past which no further secret is begun (the page ends early, resumable). */
  readonly stopAt?: number;
}

export interface RewrapCounts {
  secrets: number;
  rewrapped: number;
  already: number;
  skipped: number;
}

export interface RewrapResult extends RewrapCounts {
  readonly nextPageToken: string;
  readonly cacheKeyRotated: boolean;
  readonly keyId: string;
}

export async function rewrapKeys(deps: RewrapDeps, principal: Principal, req: RewrapRequest): Promise<RewrapResult> {
  const pageSize = bounded(req.pageSize, "page_size", REWRAP_DEFAULT_PAGE, REWRAP_MAX_PAGE);
  const rate = bounded(req.rateLimit, "rate_limit", REWRAP_DEFAULT_RATE, REWRAP_MAX_RATE);
  const keyId = await targetKey(deps.keys, req.toKey);
  const digest = queryDigest(["rewrap", keyId]);
  const after = decodePageToken(req.pageToken, digest);
  const page = await deps.store.scanSecrets(after, pageSize);
  const counts: RewrapCounts = { secrets: 0, rewrapped: 0, already: 0, skipped: 0 };
  const pace = pacer(rate);
  let last: string | undefined;
  for (const { key, secret } of page) {
    if (req.stopAt !== undefined && performance.now() > req.stopAt && last !== undefined) break;
    await rewrapSecret(deps, principal, secret, keyId, pace, counts);
    counts.secrets++;
    last = key;
  }
  const done = counts.secrets === page.length && page.length < pageSize;
  const rotated = done && deps.rotateCacheKey ? await deps.rotateCacheKey() : false;
  return {
    ...counts,
    nextPageToken: done || last === undefined ? "" : encodePageToken(last, digest),
    cacheKeyRotated: rotated,
    keyId,
  };
}

function bounded(value: number, field: string, fallback: number, max: number): number {
  if (value === 0) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) throw new InvalidArgumentError(field, `must be 0 (default ${fallback}) or 1 to ${max}`);
  return value;
}

/** The canonical id of to_key, which must be the key new versions are sealed with. */
async function targetKey(keys: KeyProvider, toKey: string): Promise<string> {
  if (toKey === "") throw new InvalidArgumentError("to_key", "is required");
  if (toKey.length > KEY_MAX_CHARS || !/^[\x21-\x7e]+$/.test(toKey)) throw new InvalidArgumentError("to_key", "must be a key id, ARN or alias");
  let keyId: string;
  try {
    keyId = await keys.resolveKeyId(toKey);
  } catch (err) {
    if (err instanceof FailedPreconditionError) throw new FailedPreconditionError(`to_key: ${err.message}`, { cause: err });
    throw err;
  }
  if (keyId !== (await keys.activeKeyId())) {
    throw new FailedPreconditionError("to_key is not the key new versions are sealed with: make it the active key of every replica first, then re-wrap");
  }
  return keyId;
}

/** Spaces calls at least 1/rate s apart. */
function pacer(rate: number): () => Promise<void> {
  const interval = 1000 / rate;
  let next = performance.now();
  return async () => {
    const now = performance.now();
    const wait = next - now;
    next = Math.max(now, next) + interval;
    if (wait > 0) await sleep(wait);
  };
}

interface Planned {
  readonly version: number;
  readonly from: Uint8Array;
  readonly to: WrappedKey;
}

async function rewrapSecret(deps: RewrapDeps, principal: Principal, scanned: SecretRecord, keyId: string, pace: () => Promise<void>, counts: RewrapCounts): Promise<void> {
  const giveUpAt = performance.now() + (deps.contentionBudgetMs ?? DEFAULT_CONTENTION_BUDGET_MS);
  // KMS answers kept across attempts: the same wrapped key re-wraps to an equally good one.
  const done = new Map<string, WrappedKey>();
  const rewrap = async (secret: SecretRecord, version: number, sealed: NonNullable<CurrentVersion["sealed"]>): Promise<WrappedKey> => {
    const memo = Buffer.from(sealed.wrappedKey).toString("base64");
    const known = done.get(memo);
    if (known) return known;
    await pace();
    const context = sealedKeyContext(versionBinding(secret.tenant, secret, version), sealed);
    const to = await deps.keys.rewrapDataKey(sealed.keyId, sealed.wrappedKey, context, keyId);
    done.set(memo, to);
    return to;
  };
  let secret: SecretRecord | undefined = scanned;
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) secret = await deps.store.findSecret(scanned.tenant, scanned.name);
    if (!secret || secret.id !== scanned.id) return; // purged meanwhile: nothing left to re-wrap
    const tally = { already: 0, skipped: 0 };
    const planned: Planned[] = [];
    for (let v = 1; v <= secret.latestVersion; v++) {
      const record = await deps.store.findVersion(secret.id, v);
      if (!record?.sealed || record.state === "destroyed") tally.skipped++;
      else if (record.sealed.keyId === keyId) tally.already++;
      else planned.push({ version: v, from: record.sealed.wrappedKey, to: await rewrap(secret, v, record.sealed) });
    }
    const current = secret.current;
    const newCurrent: CurrentVersion | undefined =
      current && current.sealed.keyId !== keyId
        ? { ...current, sealed: { ...current.sealed, ...rewrapped(await rewrap(secret, current.version, current.sealed)) } }
        : undefined;
    if (planned.length === 0 && !newCurrent) {
      counts.already += tally.already;
      counts.skipped += tally.skipped;
      return;
    }
    const written = await underClaim(deps, principal, secret, planned, newCurrent);
    if (written !== undefined) {
      counts.rewrapped += written + (newCurrent ? 1 : 0);
      counts.already += tally.already;
      counts.skipped += tally.skipped + (planned.length - written);
      return;
    }
    if (performance.now() > giveUpAt) throw new AbortedError(`secret "${secret.name}" kept changing during the re-wrap; resume to retry it`);
    await sleep(Math.random() * Math.min(40, 2 + attempt * 2));
  }
}

const tooLong = (name: string) => new UnavailableError(`re-wrap of secret "${name}" took too long; resume to retry it`);

const rewrapped = (to: WrappedKey) => ({ keyId: to.keyId, wrappedKey: to.wrapped });

/** Writes the new wrappings and commits the current copy as revision + 1; undefined when another writer came first. */
async function underClaim(deps: RewrapDeps, principal: Principal, secret: SecretRecord, planned: readonly Planned[], newCurrent: CurrentVersion | undefined): Promise<number | undefined> {
  const { store, clock } = deps;
  const claim: RevisionClaim = {
    secretId: secret.id,
    revision: secret.revision + 1,
    writeId: newWriteId(),
    createTime: clock.now(),
    subject: principal.subject,
    tenant: secret.tenant,
    name: secret.name,
  };
  if (!(await claimOrHelp(deps, claim))) return undefined;
  const claimedAt = performance.now();
  const withinLease = () => performance.now() - claimedAt < deps.pendingLeaseMs / 2;
  // Nothing here needs undoing: a written wrapping is as good as the one it replaced.
  const release = () => store.releaseClaim(secret.id, claim.revision, claim.writeId);
  const now = await store.findSecret(secret.tenant, secret.name);
  if (now?.id !== secret.id || now.revision !== secret.revision) {
    await release();
    return undefined;
  }
  let written = 0;
  let committed: SecretRecord | undefined;
  try {
    for (const p of planned) {
      if (!withinLease()) throw tooLong(secret.name);
      if (await store.rewrapVersion(secret.id, p.version, p.from, p.to)) written++;
    }
    if (!withinLease()) throw tooLong(secret.name);
    committed = await store.updateSecret(secret, secret.revision, {
      ...(newCurrent ? { current: newCurrent } : {}),
      revision: claim.revision,
      updateTime: secret.updateTime,
      updatedBy: secret.updatedBy,
      etag: secret.etag,
    });
  } catch (err) {
    // Within half the lease the claim is still ours alone, and a wrapping written is as good as the
    // one it replaced (the secret's copy, not yet moved, too): letting go keeps other writers from
    // waiting out the lease. Past it, the claim is left to be rolled forward (a no-op commit).
    if (withinLease()) await release().catch(() => {});
    throw err;
  }
  await release().catch(() => {});
  // Not committed: our claim was rolled forward by another writer after the lease; try again on top of it.
  return committed ? written : undefined;
}
