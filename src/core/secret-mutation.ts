import { setTimeout as sleep } from "node:timers/promises";
import { AbortedError, NotFoundError } from "../errors.js";
import type { Clock } from "../ports/clock.js";
import type { KeyProvider } from "../ports/key-provider.js";
import type { SecretPatch, SecretRecord, SecretStore } from "../ports/secret-store.js";
import { sealValue } from "./envelope.js";
import { newEtag, newWriteId } from "./ids.js";
import type { Principal } from "./principal.js";

// Every change to an existing secret goes through here, without transactions:
//   1. read the secret at revision r;
//   2. claim revision r+1 (a unique insert: one writer wins, on MongoDB and FerretDB alike);
//   3. for a new value, insert version latestVersion+1 (invisible: readers never look above latestVersion);
//   4. commit: update the secret from revision r to r+1 (the only writer of r+1, so FerretDB's
//      non-atomic conditional update is never raced), then release the claim.
// A crash anywhere leaves either the old state or the new, never a readable partial
// version, and latestVersion only ever points at a stored version. A claim left by a
// crashed writer blocks the secret until it is older than the lease; then the next
// writer removes it and its uncommitted version. A writer commits only within half
// the lease of its claim, so a takeover never races a live commit (clock skew < lease/2).

export interface MutationDeps {
  readonly store: SecretStore;
  readonly keys: KeyProvider;
  readonly clock: Clock;
  /** How old a claim must be before another writer may take it over. */
  readonly pendingLeaseMs: number;
  /** How long a writer waits for other writers of the same secret before answering ABORTED. */
  readonly contentionBudgetMs?: number;
}

export interface Mutation {
  readonly principal: Principal;
  readonly name: string;
  /** The caller's etag: when set, a secret changed since then answers ABORTED. */
  readonly expectedEtag?: string;
  readonly patch: Pick<SecretPatch, "description" | "metadata">;
  /** A new value: becomes version latestVersion + 1. */
  readonly value?: string;
}

export async function mutateSecret(deps: MutationDeps, m: Mutation): Promise<SecretRecord> {
  const giveUpAt = performance.now() + (deps.contentionBudgetMs ?? 15_000);
  for (let attempt = 0; ; attempt++) {
    const secret = await deps.store.findSecret(m.principal.tenant, m.name);
    if (!secret) throw new NotFoundError(`secret "${m.name}" not found`);
    if (m.expectedEtag && secret.etag !== m.expectedEtag) {
      throw new AbortedError("etag does not match the secret's current etag; re-read and retry");
    }
    const committed = await tryCommit(deps, m, secret);
    if (committed) return committed;
    if (performance.now() > giveUpAt) throw new AbortedError(`too many concurrent writes to secret "${m.name}"; retry`);
    await sleep(Math.random() * Math.min(40, 2 + attempt * 2));
  }
}

/** One attempt at revision + 1; undefined when another writer got there first. */
async function tryCommit(deps: MutationDeps, m: Mutation, secret: SecretRecord): Promise<SecretRecord | undefined> {
  const { store } = deps;
  const revision = secret.revision + 1;
  const version = m.value !== undefined ? secret.latestVersion + 1 : undefined;
  const writeId = newWriteId();
  const claim = { secretId: secret.id, revision, writeId, createTime: deps.clock.now(), ...(version ? { version } : {}) };
  if (!(await store.claimRevision(claim))) {
    await takeOverAbandonedClaim(deps, secret, revision);
    return undefined;
  }
  const claimedAt = performance.now();
  let inserted = false;
  let committed: SecretRecord | undefined;
  try {
    if (version !== undefined && m.value !== undefined) {
      const context = { developer: m.principal.tenant, secret: m.name, version };
      const sealed = await sealValue(deps.keys, context, m.value);
      inserted = await store.insertVersion({
        secretId: secret.id,
        version,
        state: "enabled",
        createTime: deps.clock.now(),
        createdBy: m.principal.subject,
        writeId,
        sealed,
      });
    }
    // Not inserted: a writer committed this version after our read (and released its
    // claim, which is how we got ours); the revision check below would fail too. Retry.
    const mayCommit = (version === undefined || inserted) && performance.now() - claimedAt < deps.pendingLeaseMs / 2;
    committed = mayCommit
      ? await store.updateSecret(secret.id, secret.revision, {
          ...m.patch,
          ...(version ? { latestVersion: version } : {}),
          revision,
          updateTime: deps.clock.now(),
          updatedBy: m.principal.subject,
          etag: newEtag(),
        })
      : undefined;
  } finally {
    if (!committed && inserted && version) await store.removeVersion(secret.id, version, writeId).catch(() => {});
    await store.releaseClaim(secret.id, revision, writeId).catch(() => {});
  }
  return committed;
}

/** Removes a claim (and its uncommitted version) left by a crashed writer, once its lease is over. */
async function takeOverAbandonedClaim(deps: MutationDeps, secret: SecretRecord, revision: number): Promise<void> {
  const claim = await deps.store.findClaim(secret.id, revision);
  if (!claim) return;
  if (deps.clock.now().getTime() - claim.createTime.getTime() < deps.pendingLeaseMs) return;
  const current = await deps.store.findSecret(secret.tenant, secret.name);
  if (current?.id === secret.id && current.revision >= revision) {
    // Committed but not released (crash after the commit): only the claim is left over.
    await deps.store.releaseClaim(secret.id, revision, claim.writeId);
    return;
  }
  if (claim.version !== undefined) await deps.store.removeVersion(secret.id, claim.version, claim.writeId);
  await deps.store.releaseClaim(secret.id, revision, claim.writeId);
}
