import { setTimeout as sleep } from "node:timers/promises";
import { AbortedError, NotFoundError, UnavailableError } from "../errors.js";
import type { Clock } from "../ports/clock.js";
import type { KeyProvider } from "../ports/key-provider.js";
import type {
  FieldsPatch,
  RevisionClaim,
  SecretPatch,
  SecretRecord,
  SecretStore,
  VersionRecord,
  VersionState,
} from "../ports/secret-store.js";
import type { ChangeListener } from "../ports/change-events.js";
import { changeKind, emitChange } from "./changes.js";
import { sealValue, versionBinding } from "./envelope.js";
import { newEtag, newWriteId } from "./ids.js";
import type { Principal } from "./principal.js";
import { isLive } from "./visibility.js";

// Every change to an existing secret goes through here, without transactions:
//   1. read the secret at revision r, plan the write;
//   2. claim revision r+1 with the plan (a unique insert: one writer wins, on MongoDB and FerretDB alike),
//      and check the secret is still at r (a writer that read r late could claim r+1 after it was released);
//   3. change the version documents, invisibly to readers: insert the new version (readers never look
//      above latestVersion); set a version's state, or mark what retention destroys, tagged with r+1
//      (readers see the previous state until the secret reaches r+1);
//   4. commit: move the secret from r to r+1 with the fields derived from the versions;
//   5. erase the ciphertext of what was destroyed, then release the claim.
// One writer per revision, so FerretDB's non-atomic conditional update is never raced. A crash leaves the
// old state or, once the claim is completed, the new one: never a readable partial version, and
// latestVersion only ever points at a stored version. A claim older than the lease is completed by the next
// writer of that secret or by the sweeper (completeClaim); writers commit only within half the lease of
// their claim, and undo their own changes only within it and only before the commit was sent (a commit whose
// reply was lost may have landed; tolerates clock skew < lease/2).

export const DEFAULT_CONTENTION_BUDGET_MS = 15_000;

/** Longer than any one write may last: contention budget, then a last attempt bounded by the lease. */
export function longestWriteMs(deps: MutationDeps): number {
  return (deps.contentionBudgetMs ?? DEFAULT_CONTENTION_BUDGET_MS) + 2 * deps.pendingLeaseMs;
}

export interface MutationDeps {
  readonly store: SecretStore;
  readonly keys: KeyProvider;
  readonly clock: Clock;
  /** How old a claim must be before another writer rolls it forward. */
  readonly pendingLeaseMs: number;
  /** How long a writer waits for other writers of the same secret before answering ABORTED. */
  readonly contentionBudgetMs?: number;
  /** Told of every committed change before the write returns. */
  readonly changes?: ChangeListener;
}

/** What one write changes. */
export interface WritePlan {
  readonly patch?: FieldsPatch;
  /** A new value: becomes version latestVersion + 1. */
  readonly value?: string;
  readonly versionState?: { readonly version: number; readonly state: VersionState };
}

export interface Mutation {
  readonly principal: Principal;
  readonly name: string;
  /** The caller's etag: when set, a secret changed since then answers ABORTED. */
  readonly expectedEtag?: string;
  /** Which secrets the write applies to; others answer NOT_FOUND. Default: live ones. */
  readonly applies?: (secret: SecretRecord, now: Date) => boolean;
  /** Decides the write from the current secret; undefined means "nothing to change". May throw. */
  plan(secret: SecretRecord): Promise<WritePlan | undefined> | WritePlan | undefined;
}

export interface MutationResult {
  readonly secret: SecretRecord;
  /** False when the plan said there was nothing to change. */
  readonly changed: boolean;
  /** The version inserted by a value write. */
  readonly version?: VersionRecord;
}

export async function mutateSecret(deps: MutationDeps, m: Mutation): Promise<MutationResult> {
  const giveUpAt = performance.now() + (deps.contentionBudgetMs ?? DEFAULT_CONTENTION_BUDGET_MS);
  const applies = m.applies ?? isLive;
  for (let attempt = 0; ; attempt++) {
    const secret = await deps.store.findSecret(m.principal.tenant, m.name);
    if (!secret || !applies(secret, deps.clock.now())) throw new NotFoundError(`secret "${m.name}" not found`);
    if (m.expectedEtag && secret.etag !== m.expectedEtag) {
      throw new AbortedError("etag does not match the secret's current etag; re-read and retry");
    }
    const plan = await m.plan(secret);
    if (!plan) return { secret, changed: false };
    const result = await tryCommit(deps, m.principal, secret, plan);
    if (result) return result;
    if (performance.now() > giveUpAt) throw new AbortedError(`too many concurrent writes to secret "${m.name}"; retry`);
    await sleep(Math.random() * Math.min(40, 2 + attempt * 2));
  }
}

/** One attempt at revision + 1; undefined when another writer got there first. */
async function tryCommit(deps: MutationDeps, principal: Principal, secret: SecretRecord, plan: WritePlan): Promise<MutationResult | undefined> {
  const { store, clock } = deps;
  const revision = secret.revision + 1;
  const version = plan.value !== undefined ? secret.latestVersion + 1 : undefined;
  const claim: RevisionClaim = {
    secretId: secret.id,
    revision,
    writeId: newWriteId(),
    createTime: clock.now(),
    subject: principal.subject,
    tenant: secret.tenant,
    name: secret.name,
    ...(version ? { version } : {}),
    ...(plan.patch ? { patch: plan.patch } : {}),
    ...(plan.versionState ? { versionState: plan.versionState } : {}),
  };
  if (!(await claimOrHelp(deps, claim))) return undefined;
  const claimedAt = performance.now();
  // Until the lease is half over no one can take the claim over, so undoing our own writes is safe.
  const withinLease = () => performance.now() - claimedAt < deps.pendingLeaseMs / 2;
  let inserted: VersionRecord | undefined;
  let commitSent = false;
  const marked: number[] = [];
  const undo = async () => {
    for (const v of marked) await store.undoVersionState(secret.id, v, revision);
    if (inserted) await store.removeVersion(secret.id, inserted.version, claim.writeId);
    await store.releaseClaim(secret.id, revision, claim.writeId);
  };
  try {
    // A writer that read revision r late may claim r+1 after its committed holder released it.
    const now = await store.findSecret(secret.tenant, secret.name);
    if (now?.id !== secret.id || now.revision !== secret.revision) {
      await undo();
      return undefined;
    }
    if (version !== undefined && plan.value !== undefined) {
      const sealed = await sealValue(deps.keys, versionBinding(secret.tenant, secret, version), plan.value);
      if (!withinLease()) {
        await undo();
        return undefined;
      }
      inserted = {
        secretId: secret.id,
        version,
        state: "enabled",
        createTime: clock.now(),
        createdBy: principal.subject,
        writeId: claim.writeId,
        keyId: sealed.keyId,
        sealed,
      };
      await insertOwnVersion(store, inserted);
    }
    // Past half the lease another writer may have rolled our claim forward, committing our version:
    // undoing now could remove a committed version. Neither commit nor undo; recovery completes it.
    if (!withinLease()) throw leftToRecovery(secret.name);
    const summary = inserted
      ? await afterNewVersion(deps, secret, inserted, plan.patch?.maxVersions ?? secret.maxVersions, revision, marked)
      : await afterStateChange(deps, secret, plan.versionState, revision, marked);
    if (!withinLease()) throw leftToRecovery(secret.name);
    // From here the commit may have landed even if it reports an error (a reply lost with the
    // connection): undoing would remove what the secret now points at, so only recovery may finish it.
    commitSent = true;
    const committed = await store.updateSecret(secret, secret.revision, {
      ...plan.patch,
      ...summary,
      revision,
      updateTime: clock.now(),
      updatedBy: principal.subject,
      etag: newEtag(),
    });
    const change = { addedVersion: inserted?.version, versionState: plan.versionState, patch: plan.patch };
    const committedVersions = [...(inserted ? [inserted.version] : []), ...marked];
    if (committed) {
      const destroyed = plan.versionState?.state === "destroyed" || (inserted !== undefined && marked.length > 0);
      await finishCommitted(store, claim, destroyed ? revision : undefined, marked).catch(() => {});
      await emitChange(deps, committed, changeKind(change), committedVersions);
      return { secret: committed, changed: true, ...(inserted ? { version: inserted } : {}) };
    }
    // We held revision r+1 and the secret was at r: only a roll-forward of our own claim
    // (our commit reached the database after the lease) moves it. The write happened.
    const after = await store.findSecret(secret.tenant, secret.name);
    if (after?.id === secret.id && after.revision >= revision) {
      await emitChange(deps, after, changeKind(change), committedVersions);
      return { secret: after, changed: true, ...(inserted ? { version: inserted } : {}) };
    }
    throw leftToRecovery(secret.name);
  } catch (err) {
    if (!commitSent && withinLease()) await undo().catch(() => {});
    throw err;
  }
}

/** Past half the lease, a write is neither committed nor undone here: its claim is rolled forward later. */
function leftToRecovery(name: string): UnavailableError {
  return new UnavailableError(`write to secret "${name}" took too long; it will be completed by recovery`);
}

/**
 * Inserts the version the claim allows. A document already in that slot cannot be
 * committed (the secret is still below it and we hold the only claim that may commit
 * it): it was left by a writer that lost its claim, so it is removed.
 */
async function insertOwnVersion(store: SecretStore, record: VersionRecord): Promise<void> {
  if (await store.insertVersion(record)) return;
  const blocking = await store.findVersion(record.secretId, record.version);
  if (blocking && blocking.writeId !== record.writeId) await store.removeVersion(record.secretId, record.version, blocking.writeId);
  if (!(await store.insertVersion(record))) throw new AbortedError(`version ${record.version} is being written; retry`);
}

type Summary = Pick<SecretPatch, "latestVersion" | "current" | "liveVersions" | "retainedFrom">;

/** A new version is the newest enabled one; retention marks the oldest beyond maxVersions destroyed. */
async function afterNewVersion(
  deps: MutationDeps,
  secret: SecretRecord,
  inserted: VersionRecord,
  maxVersions: number,
  revision: number,
  marked: number[],
): Promise<Summary> {
  let live = secret.liveVersions + 1;
  if (live > maxVersions) {
    const oldest = await deps.store.oldestLiveVersions(secret.id, secret.latestVersion, live - maxVersions, secret.retainedFrom);
    for (const v of oldest) {
      marked.push(v);
      await deps.store.setVersionState(secret.id, v, "destroyed", revision, deps.clock.now());
    }
    live -= oldest.length;
  }
  // The oldest live versions are destroyed, so every version up to the last of them is.
  const retainedFrom = marked.length > 0 ? Math.max(...marked) + 1 : secret.retainedFrom;
  return {
    latestVersion: inserted.version,
    current: { version: inserted.version, createTime: inserted.createTime, sealed: inserted.sealed! },
    liveVersions: live,
    ...(retainedFrom !== undefined ? { retainedFrom } : {}),
  };
}

/** Marks a version state change (if any) and derives the summary from the stored versions. */
async function afterStateChange(deps: MutationDeps, secret: SecretRecord, change: WritePlan["versionState"], revision: number, marked: number[]): Promise<Summary> {
  if (!change) return {};
  marked.push(change.version);
  await deps.store.setVersionState(secret.id, change.version, change.state, revision, deps.clock.now());
  return deriveSummary(deps.store, secret.id, secret.latestVersion);
}

/** Under the claim, stored states are those of the revision being written. */
async function deriveSummary(store: SecretStore, secretId: string, latestVersion: number): Promise<Summary> {
  const [newest, live] = await Promise.all([
    store.newestEnabledVersion(secretId, latestVersion),
    store.countLiveVersions(secretId, latestVersion),
  ]);
  return {
    latestVersion,
    current: newest?.sealed ? { version: newest.version, createTime: newest.createTime, sealed: newest.sealed } : null,
    liveVersions: live,
  };
}

/**
 * After the commit: the ciphertext of what was destroyed (up to `committedRevision`; only `destroyed`
 * when the writer knows what it destroyed) is erased for good, then the claim released.
 */
async function finishCommitted(store: SecretStore, claim: RevisionClaim, committedRevision: number | undefined, destroyed?: readonly number[]): Promise<void> {
  if (committedRevision !== undefined) await store.eraseDestroyedVersions(claim.secretId, committedRevision, destroyed);
  await store.releaseClaim(claim.secretId, claim.revision, claim.writeId);
}

/** Claims the revision; when another writer holds it and is past its lease, completes that write instead (false). */
export async function claimOrHelp(deps: Pick<MutationDeps, "store" | "clock" | "pendingLeaseMs" | "changes">, claim: RevisionClaim): Promise<boolean> {
  if (await deps.store.claimRevision(claim)) return true;
  const holder = await deps.store.findClaim(claim.secretId, claim.revision);
  if (holder && isAbandoned(deps, holder)) await completeClaim(deps, holder);
  return false;
}

/** A claim older than the lease: its writer is taken to be dead. */
export function isAbandoned(deps: Pick<MutationDeps, "clock" | "pendingLeaseMs">, claim: RevisionClaim): boolean {
  return deps.clock.now().getTime() - claim.createTime.getTime() >= deps.pendingLeaseMs;
}

/**
 * Completes a write whose writer died after claiming it. Not yet committed: the version it
 * inserted (if it got that far) is committed, its state change re-applied, its fields set.
 * Committed: what it destroyed is erased. Then the claim is released. Idempotent.
 */
export async function completeClaim(deps: Pick<MutationDeps, "store" | "clock" | "changes">, claim: RevisionClaim): Promise<void> {
  const { store, clock } = deps;
  const secret = await store.findSecret(claim.tenant, claim.name);
  if (secret?.id !== claim.secretId) {
    // Purged (or purged and created anew): only the claim and its uncommitted version are left.
    if (claim.version !== undefined) await store.removeVersion(claim.secretId, claim.version, claim.writeId);
    await store.releaseClaim(claim.secretId, claim.revision, claim.writeId);
    return;
  }
  let committedRevision = secret.revision;
  if (secret.revision === claim.revision - 1) {
    committedRevision = claim.revision;
    const inserted = claim.version !== undefined ? await store.findVersion(secret.id, claim.version) : undefined;
    const latest = inserted?.writeId === claim.writeId ? inserted.version : secret.latestVersion;
    if (claim.versionState) await store.setVersionState(secret.id, claim.versionState.version, claim.versionState.state, claim.revision, clock.now());
    const committed = await store.updateSecret(secret, secret.revision, {
      ...claim.patch,
      ...(await deriveSummary(store, secret.id, latest)),
      revision: claim.revision,
      updateTime: clock.now(),
      updatedBy: claim.subject,
      etag: newEtag(),
    });
    if (committed) {
      const added = latest === claim.version ? claim.version : undefined;
      const change = { addedVersion: added, versionState: claim.versionState, patch: claim.patch };
      const versions = [...(added !== undefined ? [added] : []), ...(claim.versionState ? [claim.versionState.version] : [])];
      await emitChange(deps, committed, changeKind(change), versions);
    }
  }
  await finishCommitted(store, claim, committedRevision);
}
