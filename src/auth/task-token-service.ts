import { LRUCache } from "lru-cache";
import { clip, FailedPreconditionError, NotFoundError, UnauthenticatedError, UnavailableError } from "../errors.js";
import type { Clock } from "../ports/clock.js";
import type { TaskTokenStore } from "../ports/task-token-store.js";
import type { Identity } from "./identity.js";
import { planTaskToken, type TaskTokenRequest } from "./task-token-policy.js";
import type { TaskTokenKeys } from "./task-tokens.js";

// Minting, revoking and checking task tokens. A minted token is recorded before it is signed, so
// every token in circulation can be revoked. Revocation lives in the database, not in Redis, so
// a cache restart cannot bring a revoked token back; each replica re-checks a token's record at
// most every `freshnessMs` (revocation reaches every replica within that), and one check serves
// every concurrent call presenting that token. A record that cannot be read fails the call
// (UNAVAILABLE): no check, no access.

export interface MintedTaskToken {
  readonly token: string;
  readonly tokenId: string;
  readonly expireTime: Date;
}

export interface TaskTokens {
  mint(caller: Identity, tenant: string, request: TaskTokenRequest): Promise<MintedTaskToken>;
  /** NotFoundError when the tenant has no such token; revoking twice is fine. */
  revoke(tenant: string, tokenId: string): Promise<void>;
  /** UnauthenticatedError when the token is unknown or revoked; UnavailableError when that cannot be told. */
  checkLive(identity: Identity): Promise<void>;
}

export interface TaskTokenDeps {
  readonly store: TaskTokenStore;
  /** Absent: minting is refused (FAILED_PRECONDITION); tokens are then refused by the verifier too. */
  readonly keys?: TaskTokenKeys;
  readonly clock: Clock;
}

/** Revocation reaches every replica within this (the bound is one second). */
export const DEFAULT_REVOCATION_FRESHNESS_MS = 500;

type Verdict = { readonly live: true; readonly checkedAt: number } | { readonly live: false };

export function createTaskTokens(deps: TaskTokenDeps, options: { freshnessMs?: number } = {}): TaskTokens {
  const freshnessMs = options.freshnessMs ?? DEFAULT_REVOCATION_FRESHNESS_MS;
  const verdicts = new LRUCache<string, Verdict>({ max: 100_000 });
  const pending = new Map<string, { readonly answer: Promise<Verdict>; readonly startedAt: number }>();

  async function lookUp(id: string, tenant: string, startedAt: number): Promise<Verdict> {
    let record;
    try {
      record = await deps.store.find(id);
    } catch (err) {
      throw new UnavailableError("task token revocation state is unreachable", { cause: err });
    }
    // A record of another tenant under this id cannot come from this service's own keys; refuse it all the same.
    const verdict: Verdict = record && !record.revokeTime && record.tenant === tenant ? { live: true, checkedAt: startedAt } : { live: false };
    const known = verdicts.get(id);
    // A slower, older read never replaces a newer verdict (or a revocation seen meanwhile).
    if (!known || (known.live && verdict.live ? known.checkedAt < startedAt : known.live)) verdicts.set(id, verdict);
    return verdict;
  }

  return {
    async mint(caller, tenant, request) {
      if (!deps.keys) throw new FailedPreconditionError("task tokens are not configured on this server (TASK_TOKEN_KEYS)");
      const now = deps.clock.now();
      const record = planTaskToken(caller, tenant, request, now);
      await deps.store.insert(record);
      const token = await deps.keys.sign({
        tokenId: record.id,
        subject: record.subject,
        tenant: record.tenant,
        scopes: record.scopes,
        secrets: record.secrets,
        label: record.label,
        issuedAt: now,
        expireTime: record.expireTime,
      });
      return { token, tokenId: record.id, expireTime: record.expireTime };
    },

    async revoke(tenant, tokenId) {
      if (!(await deps.store.revoke(tenant, tokenId, deps.clock.now()))) throw new NotFoundError(`task token "${clip(tokenId)}" not found`);
      verdicts.set(tokenId, { live: false });
    },

    async checkLive(identity) {
      const task = identity.task;
      if (!task) return;
      const now = performance.now();
      let verdict = verdicts.get(task.id);
      if (!verdict || (verdict.live && now - verdict.checkedAt >= freshnessMs)) {
        // Concurrent calls share one read, but only one that began within the freshness window:
        // a read that began before a revocation and is still running cannot answer a later call.
        let looking = pending.get(task.id);
        if (!looking || now - looking.startedAt >= freshnessMs) {
          const started = { startedAt: now, answer: lookUp(task.id, identity.tenant, now) };
          pending.set(task.id, started);
          void started.answer.finally(() => pending.get(task.id) === started && pending.delete(task.id)).catch(() => {});
          looking = started;
        }
        verdict = await looking.answer;
      }
      if (!verdict.live) throw new UnauthenticatedError("task token is revoked or unknown");
    },
  };
}
