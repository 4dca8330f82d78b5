import { LRUCache } from "lru-cache";
import type { Clock } from "../ports/clock.js";
import type { SecretStore } from "../ports/secret-store.js";

// Secret.last_access_time lets operators find secrets nobody reads. It is a hint, not an audit:
// reads must not wait for it, and writing it on every read would double the store's load, so
// each (tenant, name) is written at most once an interval, in the background. Forgetting a name
// (evicted from the bounded table, or a process restart) costs at most one extra write. Writes go
// one at a time: a batch read of 100 names must not become 100 concurrent updates (FerretDB's
// SQLite backend wedged a database under that), and a bounded queue sheds what it cannot keep.

export interface AccessRecorder {
  /** Notes a value read; at most one store write per (tenant, name) per interval, in the background. Never throws, never waits. */
  accessed(tenant: string, name: string): void;
  /** Waits for every write queued so far (tests). */
  flush(): Promise<void>;
  /** Drops the writes still queued (they are hints; the next process writes them again) and waits for the one in progress (shutdown). */
  stop(): Promise<void>;
}

export interface AccessRecorderDeps {
  readonly store: Pick<SecretStore, "recordAccess">;
  readonly clock: Clock;
  /** Told of a failed write (the read it came from has already succeeded). */
  readonly report?: (err: unknown) => void;
}

export interface AccessRecorderOptions {
  /** Least time between two writes for one secret; default one hour. */
  readonly intervalMs?: number;
  /** Names remembered at once; default 100 000. */
  readonly maxTracked?: number;
  /** Writes waiting at most; beyond, a name is forgotten (its next read tries again). Default 10 000. */
  readonly maxPending?: number;
}

/** When the next read of a name writes; present from the start of a write, so concurrent reads start one. */
interface Tracked {
  readonly dueMs: number;
}

export function createAccessRecorder(deps: AccessRecorderDeps, options: AccessRecorderOptions = {}): AccessRecorder {
  const intervalMs = options.intervalMs ?? 3_600_000;
  const tracked = new LRUCache<string, Tracked>({ max: options.maxTracked ?? 100_000 });
  const maxPending = options.maxPending ?? 10_000;
  const pending: (() => Promise<void>)[] = [];
  let draining: Promise<void> | undefined;

  function report(err: unknown): void {
    try {
      deps.report?.(err);
    } catch {
      // A failing reporter must not turn a background write into an unhandled rejection.
    }
  }

  async function drain(): Promise<void> {
    for (let job = pending.shift(); job; job = pending.shift()) await job();
    draining = undefined;
  }

  function write(key: string, entry: Tracked, tenant: string, name: string, time: Date): void {
    const forget = () => {
      if (tracked.peek(key) === entry) tracked.delete(key);
    };
    if (pending.length >= maxPending) return forget();
    pending.push(async () => {
      try {
        // Inside the try: a store throwing synchronously is reported like a rejection.
        await deps.store.recordAccess(tenant, name, time);
      } catch (err) {
        report(err);
        // Forgotten, so the next read retries rather than waiting out the interval.
        forget();
      }
    });
    draining ??= drain();
  }

  return {
    accessed(tenant, name) {
      try {
        const now = deps.clock.now();
        const key = `${tenant.length}:${tenant}/${name}`;
        const seen = tracked.get(key);
        if (seen && now.getTime() < seen.dueMs) return;
        const entry = { dueMs: now.getTime() + intervalMs };
        tracked.set(key, entry);
        write(key, entry, tenant, name, now);
      } catch (err) {
        report(err);
      }
    },
    async flush() {
      while (draining) await draining;
    },
    async stop() {
      // Dropped: the names stay remembered in this process only, which is about to end.
      pending.length = 0;
      await draining;
    },
  };
}
