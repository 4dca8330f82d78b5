import type { ChangeListener } from "../ports/change-events.js";
import type { Clock } from "../ports/clock.js";
import type { IdempotencyStore } from "../ports/idempotency-store.js";
import type { AuditStore } from "../ports/audit-store.js";
import type { SecretStore } from "../ports/secret-store.js";
import type { TaskTokenStore } from "../ports/task-token-store.js";
import { REQUEST_ID_RETENTION_MS } from "./limits.js";
import { purgeSecret } from "./changes.js";
import { completeClaim } from "./secret-mutation.js";

// Removes what has run out, in the service (no TTL indexes): secrets past their
// recovery window or expiry (every version, claim and the document), and request_id
// records older than 24 hours; and completes writes whose writer died (claims older
// than the lease), so a crash is repaired even if no one writes that secret again.
// Every step is idempotent and purges by the secret's id, never its name, so any
// number of replicas may sweep at once.

export interface SweepDeps {
  readonly store: SecretStore;
  readonly idempotency: IdempotencyStore;
  readonly clock: Clock;
  readonly pendingLeaseMs: number;
  readonly changes?: ChangeListener;
  /** Expired task token records are removed (revocations are kept until the token's own expiry). */
  readonly taskTokens?: TaskTokenStore;
  /** Events older than the retention are removed. */
  readonly audit?: { readonly store: AuditStore; readonly retentionMs: number };
}

export interface SweepResult {
  readonly purgedSecrets: number;
  readonly removedRequestIds: number;
  readonly completedWrites: number;
  readonly removedTaskTokens: number;
  readonly removedAuditEvents: number;
}

export async function sweepOnce(deps: SweepDeps, batch = 100): Promise<SweepResult> {
  const now = deps.clock.now();
  const abandoned = await deps.store.findClaimsOlderThan(new Date(now.getTime() - deps.pendingLeaseMs), batch);
  for (const claim of abandoned) await completeClaim(deps, claim);
  let purgedSecrets = 0;
  for (;;) {
    const due = await deps.store.findDue(now, batch);
    for (const secret of due) await purgeSecret(deps, secret);
    purgedSecrets += due.length;
    if (due.length < batch) break;
  }
  const removedRequestIds = await deps.idempotency.removeOlderThan(new Date(now.getTime() - REQUEST_ID_RETENTION_MS), 10_000);
  // A token past its exp is refused by its signature check alone; its record is no longer needed.
  const removedTaskTokens = deps.taskTokens ? await deps.taskTokens.removeExpiredBefore(new Date(now.getTime() - TASK_TOKEN_RECORD_GRACE_MS), 10_000) : 0;
  const removedAuditEvents = deps.audit ? await deps.audit.store.removeOlderThan(new Date(now.getTime() - deps.audit.retentionMs), AUDIT_SWEEP_BATCH) : 0;
  return { purgedSecrets, removedRequestIds, completedWrites: abandoned.length, removedTaskTokens, removedAuditEvents };
}

/** Records outlive their token by the longest clock skew accepted, so a token within skew still finds its record. */
const TASK_TOKEN_RECORD_GRACE_MS = 60 * 60 * 1000;
const AUDIT_SWEEP_BATCH = 50_000;

export interface Sweeper {
  stop(): Promise<void>;
}

/** Sweeps every `intervalMs` (with jitter, so replicas spread out) until stopped. */
export function startSweeper(deps: SweepDeps, intervalMs: number, onResult: (r: SweepResult | Error) => void): Sweeper {
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(tick, intervalMs * (0.75 + Math.random() * 0.5));
    timer.unref();
  };
  const tick = () => {
    running = sweepOnce(deps)
      .then(onResult, (err: unknown) => onResult(err instanceof Error ? err : new Error(String(err))))
      .finally(schedule);
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
