import { randomFillSync } from "node:crypto";
import { UnavailableError } from "../errors.js";
import type { AuditEvent, AuditStore } from "../ports/audit-store.js";
import type { Clock } from "../ports/clock.js";

// The audit trail fails closed: a call that must be audited waits for its event to be durably
// stored, and fails when it cannot be. Writing each event alone would cost one insert per call,
// so events are group-committed: at most `maxInFlight` appends at a time; what arrives while they
// are all out waits and goes in the next append, so batches grow with load and no timer runs then.
// The queue is bounded: when it is full the call fails at once instead of holding memory.

export interface AuditObserver {
  queued(depth: number): void;
  batch(size: number, seconds: number, ok: boolean): void;
}

export interface AuditTrail {
  /** Resolves with the stored event once it is durably written; rejects with UnavailableError when the store fails or the queue is full. */
  record(event: Omit<AuditEvent, "id" | "time">): Promise<AuditEvent>;
  /** Events waiting now. */
  depth(): number;
  /** Writes what is queued, then refuses new events. */
  stop(): Promise<void>;
}

export interface AuditTrailDeps {
  readonly store: AuditStore;
  readonly clock: Clock;
  /** The JSON-lines copy; called once an event is durably stored. */
  readonly lines?: (e: AuditEvent) => void;
  readonly observe?: AuditObserver;
}

export interface AuditTrailOptions {
  /** How long the first waiting event waits for others to share its append; 0 = the next turn of the event loop. */
  readonly groupCommitMs: number;
  /** Events waiting or being written, at most. */
  readonly maxQueue: number;
  /** Events per append, at most (default 500). */
  readonly maxBatch?: number;
  /** Appends in flight at once (default 1). More lets an event start its append without waiting for one already out. */
  readonly maxInFlight?: number;
  /**
   * How long one append may take before its events are refused (default 5 s). Without a bound, one
   * append that never settles (a connection to a restarting database left hanging) would hold its
   * slot for good, and every later call would wait on it: a wedged process instead of a failed call.
   */
  readonly appendTimeoutMs?: number;
}

const DEFAULT_APPEND_TIMEOUT_MS = 5_000;

/** The append, or a rejection once `ms` have passed; a late outcome of the append is dropped. */
async function bounded(append: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`audit append took longer than ${ms} ms`)), ms);
  });
  append.catch(() => {});
  try {
    await Promise.race([append, expired]);
  } finally {
    clearTimeout(timer);
  }
}

const DEFAULT_MAX_BATCH = 500;

interface Waiting {
  readonly event: AuditEvent;
  resolve(e: AuditEvent): void;
  reject(err: unknown): void;
}

export function createAuditTrail(deps: AuditTrailDeps, options: AuditTrailOptions): AuditTrail {
  const { store, clock, lines, observe } = deps;
  const maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH);
  const maxInFlight = Math.max(1, options.maxInFlight ?? 1);
  const waiting: Waiting[] = [];
  /** Events in appends that are out, and how many appends. */
  let writing = 0;
  let inFlight = 0;
  /** Cancels the armed group-commit window, if any. */
  let disarm: (() => void) | undefined;
  let stopped = false;
  let idle: (() => void)[] = [];

  const depth = () => waiting.length + writing;

  function cancelWindow(): void {
    disarm?.();
    disarm = undefined;
  }

  function arm(fire: () => void): () => void {
    if (options.groupCommitMs > 0) {
      const timer = setTimeout(fire, options.groupCommitMs);
      return () => clearTimeout(timer);
    }
    const immediate = setImmediate(fire);
    return () => clearImmediate(immediate);
  }

  /** Starts an append now, or arms the group-commit window; nothing while every append slot is out (the end of one starts the next). */
  function schedule(): void {
    if (inFlight >= maxInFlight || waiting.length === 0) return;
    if (waiting.length >= maxBatch || stopped) {
      cancelWindow();
      void writeBatch();
      return;
    }
    if (disarm !== undefined) return;
    disarm = arm(() => {
      disarm = undefined;
      void writeBatch();
    });
  }

  async function writeBatch(): Promise<void> {
    if (inFlight >= maxInFlight || waiting.length === 0) return;
    const batch = waiting.splice(0, maxBatch);
    writing += batch.length;
    inFlight++;
    const started = performance.now();
    let failure: unknown;
    let ok = true;
    try {
      await bounded(store.append(batch.map((w) => w.event)), options.appendTimeoutMs ?? DEFAULT_APPEND_TIMEOUT_MS);
    } catch (err) {
      ok = false;
      failure = err;
    }
    writing -= batch.length;
    inFlight--;
    const seconds = (performance.now() - started) / 1000;
    quietly(() => observe?.batch(batch.length, seconds, ok));
    quietly(() => observe?.queued(depth()));
    for (const w of batch) {
      if (!ok) {
        w.reject(new UnavailableError("audit trail unavailable", { cause: failure }));
        continue;
      }
      // The copy is a convenience: the stored event is the record, and it is written.
      quietly(() => lines?.(w.event));
      w.resolve(w.event);
    }
    // What arrived during the append has waited long enough: it goes now, as one batch.
    if (waiting.length > 0) {
      cancelWindow();
      void writeBatch();
    } else if (inFlight === 0) {
      const done = idle;
      idle = [];
      for (const wake of done) wake();
    }
  }

  return {
    record(input) {
      if (stopped) return Promise.reject(new UnavailableError("audit trail stopped"));
      if (depth() >= options.maxQueue) return Promise.reject(new UnavailableError("audit trail queue full"));
      const time = clock.now();
      const event: AuditEvent = { ...input, names: [...input.names], versions: [...input.versions], id: newEventId(time), time };
      const stored = new Promise<AuditEvent>((resolve, reject) => waiting.push({ event, resolve, reject }));
      quietly(() => observe?.queued(depth()));
      schedule();
      return stored;
    },

    depth,

    stop() {
      stopped = true;
      if (depth() === 0) return Promise.resolve();
      const drained = new Promise<void>((resolve) => idle.push(resolve));
      schedule();
      return drained;
    },
  };
}

/** Runs a side outlet (metrics, the JSON-lines copy): its failure must not change the outcome of a call. */
function quietly(outlet: () => void): void {
  try {
    outlet();
  } catch {
    // ignored on purpose
  }
}

// Event ids: 12 base36 digits of milliseconds, 4 of a counter within the millisecond, 10 random
// base32 digits. Fixed widths make string order the order of creation within a process, even
// when the clock stands still or steps back (the id then keeps the last time it saw); the random
// tail keeps ids of different replicas apart.
const COUNTER_LIMIT = 36 ** 4;
const BASE32 = "0123456789abcdefghijklmnopqrstuv";
let lastMs = 0;
let counter = 0;

// Random bytes drawn a pool at a time: ResolveReferences writes an event per name, and a call to the
// generator for every 10 bytes showed in its profile.
const pool = Buffer.alloc(4_096);
let poolAt = pool.length;
function randomByte(): number {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return pool[poolAt++]!;
}

export function newEventId(time: Date): string {
  let ms = Math.max(0, Math.trunc(time.getTime()));
  if (!(ms > lastMs)) {
    ms = lastMs;
    counter++;
    if (counter === COUNTER_LIMIT) {
      ms++;
      counter = 0;
    }
  } else {
    counter = 0;
  }
  lastMs = ms;
  let tail = "";
  for (let i = 0; i < 10; i++) tail += BASE32[randomByte() & 31];
  return ms.toString(36).padStart(12, "0") + counter.toString(36).padStart(4, "0") + tail;
}
