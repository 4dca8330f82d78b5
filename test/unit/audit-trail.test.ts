import { describe, expect, it } from "vitest";
import { MemoryAuditStore } from "../../src/adapters/memory/memory-audit-store.js";
import { createAuditTrail, newEventId, type AuditObserver } from "../../src/core/audit-trail.js";
import { UnavailableError } from "../../src/errors.js";
import type { AuditEvent, AuditQuery, AuditStore } from "../../src/ports/audit-store.js";
import type { Clock } from "../../src/ports/clock.js";

const T0 = new Date("2026-01-01T00:00:00.000Z");
const fixedClock: Clock = { now: () => new Date(T0) };

function input(n: number): Omit<AuditEvent, "id" | "time"> {
  return {
    requestId: `r${n}`,
    principal: "alice",
    tenant: "t1",
    delegated: false,
    tokenId: "",
    tokenLabel: "",
    method: "GetSecretValue",
    names: [`s${n}`],
    versions: [0],
    code: 0,
    peerAddress: "",
    userAgent: "",
    mtlsSubject: "",
  };
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets the event loop run a few turns: enough for anything already due (never a verdict on speed). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** A store whose appends each wait for the test to release them, succeeding or failing. */
class GatedStore implements AuditStore {
  readonly inner = new MemoryAuditStore();
  /** The request ids of each append, in call order. */
  readonly batches: string[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  private readonly gates: Deferred<unknown>[] = [];
  private released = 0;
  private readonly callWaiters: { n: number; wake(): void }[] = [];

  async append(events: readonly AuditEvent[]): Promise<void> {
    this.batches.push(events.map((e) => e.requestId));
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const gate = this.gateOf(this.batches.length - 1);
    for (const w of this.callWaiters.filter((w) => w.n <= this.batches.length)) w.wake();
    try {
      const failure = await gate.promise;
      if (failure) throw failure;
      await this.inner.append(events);
    } finally {
      this.inFlight--;
    }
  }

  list(query: AuditQuery): Promise<AuditEvent[]> {
    return this.inner.list(query);
  }

  removeOlderThan(time: Date, limit: number): Promise<number> {
    return this.inner.removeOlderThan(time, limit);
  }

  /** Resolves once the n-th append (from 1) has been called. */
  called(n: number): Promise<void> {
    if (this.batches.length >= n) return Promise.resolve();
    return new Promise((wake) => this.callWaiters.push({ n, wake }));
  }

  /** Lets the oldest held (or next) append finish; with an error it fails. */
  release(failure?: Error): void {
    this.gateOf(this.released++).resolve(failure);
  }

  private gateOf(i: number): Deferred<unknown> {
    while (this.gates.length <= i) this.gates.push(deferred());
    return this.gates[i]!;
  }
}

const stored = (store: AuditStore) => store.list({ tenant: "t1", limit: 10_000 });

describe("audit trail", () => {
  it("writes what arrives during an append as the next batch, one append in flight at a time", async () => {
    const store = new GatedStore();
    const trail = createAuditTrail({ store, clock: fixedClock }, { groupCommitMs: 0, maxQueue: 1_000 });
    const first = trail.record(input(0));
    await store.called(1);
    const rest = Array.from({ length: 199 }, (_, i) => trail.record(input(i + 1)));
    expect(trail.depth()).toBe(200);
    await settle();
    expect(store.batches).toHaveLength(1);
    store.release();
    await store.called(2);
    expect(store.batches[1]).toHaveLength(199);
    store.release();
    const events = await Promise.all([first, ...rest]);
    expect(store.batches.map((b) => b.length)).toEqual([1, 199]);
    expect(store.maxInFlight).toBe(1);
    expect(trail.depth()).toBe(0);
    expect(events.map((e) => e.requestId)).toEqual(Array.from({ length: 200 }, (_, i) => `r${i}`));
    expect((await stored(store)).length).toBe(200);
  });

  it("with maxInFlight 2, a second append starts while the first is out; later events wait for a free slot", async () => {
    const store = new GatedStore();
    const trail = createAuditTrail({ store, clock: fixedClock }, { groupCommitMs: 0, maxQueue: 1_000, maxInFlight: 2 });
    const first = trail.record(input(0));
    await store.called(1);
    const second = trail.record(input(1));
    await store.called(2);
    const rest = Array.from({ length: 50 }, (_, i) => trail.record(input(i + 2)));
    await settle();
    // Both slots are out: the 50 wait, as one batch, for the first slot to free.
    expect(store.batches.map((b) => b.length)).toEqual([1, 1]);
    expect(store.inFlight).toBe(2);
    store.release();
    await store.called(3);
    expect(store.batches[2]).toHaveLength(50);
    store.release();
    store.release();
    await Promise.all([first, second, ...rest]);
    expect(store.maxInFlight).toBe(2);
    expect(trail.depth()).toBe(0);
    expect((await stored(store)).length).toBe(52);
    await trail.stop();
  });

  it("splits a long queue into batches of at most maxBatch", async () => {
    const store = new GatedStore();
    const trail = createAuditTrail({ store, clock: fixedClock }, { groupCommitMs: 0, maxQueue: 1_000, maxBatch: 50 });
    const first = trail.record(input(0));
    await store.called(1);
    const rest = Array.from({ length: 199 }, (_, i) => trail.record(input(i + 1)));
    for (let n = 2; n <= 5; n++) {
      store.release();
      await store.called(n);
      await settle();
      expect(store.batches).toHaveLength(n);
    }
    store.release();
    await Promise.all([first, ...rest]);
    expect(store.batches.map((b) => b.length)).toEqual([1, 50, 50, 50, 49]);
    expect(store.maxInFlight).toBe(1);
    expect(store.batches.flat()).toEqual(Array.from({ length: 200 }, (_, i) => `r${i}`));
  });

  it("lets events recorded within the window share one append", async () => {
    const store = new MemoryAuditStore();
    const appends: number[] = [];
    const counting: AuditStore = {
      append: (events) => (appends.push(events.length), store.append(events)),
      list: (q) => store.list(q),
      removeOlderThan: (t, l) => store.removeOlderThan(t, l),
    };
    const trail = createAuditTrail({ store: counting, clock: fixedClock }, { groupCommitMs: 20, maxQueue: 100 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => trail.record(input(i))));
    expect(appends).toEqual([10]);
  });

  it("rejects every event of a failed batch with UnavailableError keeping the cause, and writes the next batch", async () => {
    const store = new GatedStore();
    const lines: string[] = [];
    const trail = createAuditTrail({ store, clock: fixedClock, lines: (e) => lines.push(e.requestId) }, { groupCommitMs: 0, maxQueue: 100 });
    const failing = [trail.record(input(0)), trail.record(input(1))].map((p) => p.then(() => undefined, (e: unknown) => e));
    await store.called(1);
    const next = [trail.record(input(2)), trail.record(input(3))];
    const cause = new Error("disk on fire");
    store.release(cause);
    await store.called(2);
    store.release();
    for (const err of await Promise.all(failing)) {
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as Error).message).toBe("audit trail unavailable");
      expect((err as Error).cause).toBe(cause);
    }
    expect((await Promise.all(next)).map((e) => e.requestId)).toEqual(["r2", "r3"]);
    expect(lines).toEqual(["r2", "r3"]);
    expect((await stored(store)).map((e) => e.requestId).sort()).toEqual(["r2", "r3"]);
    // No lasting failure state: a later event is written too.
    const later = trail.record(input(4));
    store.release();
    await expect(later).resolves.toMatchObject({ requestId: "r4" });
  });

  it("an append that never settles is given up after appendTimeoutMs: its events are refused and the next batch is written", async () => {
    const store = new GatedStore();
    const trail = createAuditTrail({ store, clock: fixedClock }, { groupCommitMs: 0, maxQueue: 1_000, appendTimeoutMs: 50 });
    const hung = trail.record(input(0)); // its append is never released
    await store.called(1);
    const err = await hung.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(((err as Error).cause as Error).message).toBe("audit append took longer than 50 ms");
    const next = trail.record(input(1));
    await store.called(2);
    store.release(); // the first gate: the hung append now ends, too late to matter
    store.release();
    expect((await next).requestId).toBe("r1");
    expect(trail.depth()).toBe(0);
  });

  it("rejects at once when the queue is full, without calling the store", async () => {
    const store = new GatedStore();
    const trail = createAuditTrail({ store, clock: fixedClock }, { groupCommitMs: 0, maxQueue: 2 });
    const a = trail.record(input(0));
    const b = trail.record(input(1));
    await expect(trail.record(input(2))).rejects.toBeInstanceOf(UnavailableError);
    expect(store.batches).toEqual([]);
    await store.called(1);
    // Events being written still count: memory stays bounded while the store is slow.
    await expect(trail.record(input(3))).rejects.toThrow("audit trail queue full");
    store.release();
    await Promise.all([a, b]);
    expect(store.batches).toEqual([["r0", "r1"]]);
    const c = trail.record(input(4));
    store.release();
    await c;
    expect((await stored(store)).map((e) => e.requestId).sort()).toEqual(["r0", "r1", "r4"]);
  });

  it("stop writes what is queued, waits for the append in flight, then refuses new events", async () => {
    const store = new GatedStore();
    const trail = createAuditTrail({ store, clock: fixedClock }, { groupCommitMs: 3_600_000, maxQueue: 100 });
    const queued = [trail.record(input(0)), trail.record(input(1))];
    let stopped = false;
    const stopping = trail.stop().then(() => (stopped = true));
    await store.called(1);
    await settle();
    expect(stopped).toBe(false);
    store.release();
    await stopping;
    expect((await Promise.all(queued)).map((e) => e.requestId)).toEqual(["r0", "r1"]);
    await expect(trail.record(input(2))).rejects.toBeInstanceOf(UnavailableError);
    expect(store.batches).toEqual([["r0", "r1"]]);
    await trail.stop();
  });

  it("stop while an append is in flight also writes what arrived meanwhile", async () => {
    const store = new GatedStore();
    const trail = createAuditTrail({ store, clock: fixedClock }, { groupCommitMs: 0, maxQueue: 100 });
    const first = trail.record(input(0));
    await store.called(1);
    const second = trail.record(input(1));
    const stopping = trail.stop();
    store.release();
    await store.called(2);
    store.release();
    await stopping;
    await Promise.all([first, second]);
    expect(store.batches).toEqual([["r0"], ["r1"]]);
  });

  it("stamps events with the clock and ids that strictly increase", async () => {
    const store = new MemoryAuditStore();
    let ms = T0.getTime();
    // A clock that stands still and steps back: ids still increase.
    const clock: Clock = { now: () => new Date((ms += [0, 5, -3][ms % 3]!)) };
    const trail = createAuditTrail({ store, clock }, { groupCommitMs: 0, maxQueue: 2_000 });
    const events = await Promise.all(Array.from({ length: 1_000 }, (_, i) => trail.record(input(i))));
    for (let i = 1; i < events.length; i++) expect(events[i]!.id > events[i - 1]!.id, `id ${i}`).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(1_000);
    expect(events.every((e) => e.time instanceof Date && e.id.length === 26)).toBe(true);
    expect((await stored(store)).length).toBe(1_000);
  });

  it("makes ids whose order is the order of creation, starting with the time", () => {
    const later = new Date(T0.getTime() + 86_400_000);
    const a = newEventId(later);
    const b = newEventId(later);
    const c = newEventId(new Date(later.getTime() + 10_000));
    expect(a < b && b < c).toBe(true);
    expect(c.slice(0, 12)).toBe((later.getTime() + 10_000).toString(36).padStart(12, "0"));
    expect(c).toMatch(/^[0-9a-z]{16}[0-9a-v]{10}$/);
    const many = Array.from({ length: 20_000 }, () => newEventId(later));
    expect([...many].sort()).toEqual(many);
  });

  it("writes the JSON-lines copy only after the batch is stored, and a failing copy fails no call", async () => {
    const store = new GatedStore();
    const copied: string[] = [];
    const lines = (e: AuditEvent) => {
      copied.push(e.requestId);
      throw new Error("stdout closed");
    };
    const trail = createAuditTrail({ store, clock: fixedClock, lines }, { groupCommitMs: 0, maxQueue: 100 });
    const done = trail.record(input(0));
    await store.called(1);
    await settle();
    expect(copied).toEqual([]);
    store.release();
    await expect(done).resolves.toMatchObject({ requestId: "r0" });
    expect(copied).toEqual(["r0"]);
  });

  it("tells the observer the depth on every change and each batch's outcome", async () => {
    const store = new GatedStore();
    const seen: string[] = [];
    const observe: AuditObserver = {
      queued: (depth) => seen.push(`queued ${depth}`),
      batch: (size, seconds, ok) => seen.push(`batch ${size} ${ok} ${seconds >= 0}`),
    };
    const trail = createAuditTrail({ store, clock: fixedClock, observe }, { groupCommitMs: 0, maxQueue: 100 });
    const a = [trail.record(input(0)), trail.record(input(1))];
    await store.called(1);
    store.release(new Error("down"));
    await Promise.allSettled(a);
    const b = trail.record(input(2));
    store.release();
    await b;
    expect(seen).toEqual(["queued 1", "queued 2", "batch 2 false true", "queued 0", "queued 1", "batch 1 true true", "queued 0"]);
  });
});
