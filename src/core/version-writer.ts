import { setTimeout as sleep } from "node:timers/promises";
import { AbortedError, NotFoundError } from "../errors.js";
import type { Clock } from "../ports/clock.js";
import type { KeyProvider } from "../ports/key-provider.js";
import type { SealedValue, SecretPatch, SecretRecord, SecretStore } from "../ports/secret-store.js";
import { sealValue } from "./envelope.js";
import { newEtag, newWriteId } from "./ids.js";
import type { Principal } from "./principal.js";

// Adding a version without transactions, in two single-document steps:
//   1. insert the version document (secretId, n+1) — unique, so one writer wins the slot;
//   2. compare-and-set the secret from etag e to latestVersion n+1 — the commit point.
// Readers never look above latestVersion, so a crash between 1 and 2 leaves an
// invisible leftover, never a readable partial version, and latestVersion always
// points at a stored version. A leftover blocks slot n+1 until its lease runs
// out; then the next writer removes it (only if still uncommitted) and retries.
// A writer commits only within half the lease of its insert, so a takeover never
// removes a version that is about to be committed (tolerates clock skew < lease/2).

export interface VersionWriterDeps {
  readonly store: SecretStore;
  readonly keys: KeyProvider;
  readonly clock: Clock;
  /** How old an uncommitted version must be before another writer may remove it. */
  readonly pendingLeaseMs: number;
  /** Bound on attempts under contention before answering ABORTED. */
  readonly maxAttempts?: number;
}

export interface NewVersionRequest {
  readonly principal: Principal;
  readonly name: string;
  readonly value: string;
  /** The caller's etag: when set, a secret changed since then answers ABORTED. */
  readonly expectedEtag?: string;
  /** Other fields committed together with the new version. */
  readonly patch?: Pick<SecretPatch, "description" | "metadata">;
}

export async function writeNewVersion(deps: VersionWriterDeps, req: NewVersionRequest): Promise<SecretRecord> {
  const maxAttempts = deps.maxAttempts ?? 200;
  let sealed: { version: number; value: SealedValue } | undefined;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const secret = await deps.store.findSecret(req.principal.tenant, req.name);
    if (!secret) throw new NotFoundError(`secret "${req.name}" not found`);
    if (req.expectedEtag && secret.etag !== req.expectedEtag) throw staleEtag();
    const version = secret.latestVersion + 1;
    if (sealed?.version !== version) {
      const context = { developer: req.principal.tenant, secret: req.name, version };
      sealed = { version, value: await sealValue(deps.keys, context, req.value) };
    }
    const writeId = newWriteId();
    const startedAt = performance.now();
    const inserted = await deps.store.insertVersion({
      secretId: secret.id,
      version,
      state: "enabled",
      createTime: deps.clock.now(),
      createdBy: req.principal.subject,
      writeId,
      sealed: sealed.value,
    });
    if (!inserted) {
      await releaseAbandonedSlot(deps, secret, version);
      await backoff(attempt);
      continue;
    }
    if (performance.now() - startedAt < deps.pendingLeaseMs / 2) {
      const committed = await deps.store.updateSecret(secret.id, secret.etag, {
        ...req.patch,
        latestVersion: version,
        updateTime: deps.clock.now(),
        updatedBy: req.principal.subject,
        etag: newEtag(),
      });
      if (committed) return committed;
    }
    await deps.store.removeVersion(secret.id, version, writeId);
    if (req.expectedEtag) throw staleEtag();
    await backoff(attempt);
  }
  throw new AbortedError(`too many concurrent writes to secret "${req.name}"; retry`);
}

/** Removes an uncommitted version left behind by a crashed writer, once its lease is over. */
async function releaseAbandonedSlot(deps: VersionWriterDeps, secret: SecretRecord, version: number): Promise<void> {
  const blocking = await deps.store.findVersion(secret.id, version);
  if (!blocking) return;
  const age = deps.clock.now().getTime() - blocking.createTime.getTime();
  if (age < deps.pendingLeaseMs) return;
  const current = await deps.store.findSecret(secret.tenant, secret.name);
  if (current?.id !== secret.id || current.latestVersion >= version) return;
  await deps.store.removeVersion(secret.id, version, blocking.writeId);
}

function staleEtag(): AbortedError {
  return new AbortedError("etag does not match the secret's current etag; re-read and retry");
}

function backoff(attempt: number): Promise<void> {
  const cap = Math.min(50, 2 + attempt * 2);
  return sleep(Math.random() * cap);
}
