import { describe, expect, it } from "vitest";
import { MemorySecretStore } from "../../src/adapters/memory/memory-secret-store.js";
import { createAccessRecorder } from "../../src/core/access-times.js";
import type { Clock } from "../../src/ports/clock.js";
import type { SecretStore } from "../../src/ports/secret-store.js";
import { secretRecord } from "../contract/secret-store.contract.js";

// The recorder over the in-memory store, with a clock that moves only when the test moves it.

const HOUR = 3_600_000;
const t0 = new Date("2026-01-01T00:00:00.000Z");

class StoppedClock implements Clock {
  private ms = t0.getTime();
  now(): Date {
    return new Date(this.ms);
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** The memory store, its recordAccess calls counted and, while `failing`, refused. */
function wrappedStore() {
  const memory = new MemorySecretStore();
  const state = { calls: 0, failing: false };
  const store: Pick<SecretStore, "recordAccess"> = {
    async recordAccess(tenant, name, time) {
      state.calls++;
      if (state.failing) throw new Error("store down");
      await memory.recordAccess(tenant, name, time);
    },
  };
  return { memory, store, state };
}

async function setup() {
  const { memory, store, state } = wrappedStore();
  const clock = new StoppedClock();
  const reported: unknown[] = [];
  const recorder = createAccessRecorder({ store, clock, report: (err) => reported.push(err) });
  await memory.insertSecret(secretRecord({ name: "api_key" }));
  await memory.insertSecret(secretRecord({ name: "other" }));
  const lastAccess = async (name = "api_key") => (await memory.lastAccessTimes("dev_a", [name])).get(name);
  return { memory, state, clock, reported, recorder, lastAccess };
}

describe("access recorder", () => {
  it("stop drops the queued writes and waits for the one in progress", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const written: string[] = [];
    const store: Pick<SecretStore, "recordAccess"> = {
      async recordAccess(_tenant, name) {
        if (written.length === 0) await gate;
        written.push(name);
      },
    };
    const recorder = createAccessRecorder({ store, clock: new StoppedClock() });
    for (let i = 0; i < 10; i++) recorder.accessed("dev_a", `n${i}`);
    const stopped = recorder.stop();
    release();
    await stopped;
    expect(written).toEqual(["n0"]);
  });

  it("writes one at a time: 100 names read at once are 100 writes in sequence, and a full queue forgets what it cannot keep", async () => {
    let inFlight = 0;
    let most = 0;
    const names: string[] = [];
    const store: Pick<SecretStore, "recordAccess"> = {
      async recordAccess(_tenant, name) {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setImmediate(r));
        names.push(name);
        inFlight--;
      },
    };
    const recorder = createAccessRecorder({ store, clock: new StoppedClock() }, { maxPending: 150 });
    for (let i = 0; i < 200; i++) recorder.accessed("dev_a", `n${i}`);
    await recorder.flush();
    expect(most).toBe(1);
    // The first starts at once; 150 wait; the other 49 are forgotten, so their next read writes.
    expect(names).toEqual(Array.from({ length: 151 }, (_, i) => `n${i}`));
    recorder.accessed("dev_a", "n199");
    recorder.accessed("dev_a", "n100");
    await recorder.flush();
    expect(names.slice(151)).toEqual(["n199"]);
  });

  it("writes the first read's time", async () => {
    const { state, recorder, lastAccess } = await setup();
    expect(await lastAccess()).toBeUndefined();
    recorder.accessed("dev_a", "api_key");
    await recorder.flush();
    expect(state.calls).toBe(1);
    expect(await lastAccess()).toEqual(t0);
  });

  it("writes nothing more for reads within the interval, and again once it has passed", async () => {
    const { state, clock, recorder, lastAccess } = await setup();
    recorder.accessed("dev_a", "api_key");
    await recorder.flush();
    for (const step of [1, 60_000, HOUR - 60_002]) {
      clock.advance(step);
      recorder.accessed("dev_a", "api_key");
      await recorder.flush();
    }
    expect(state.calls).toBe(1);
    expect(await lastAccess()).toEqual(t0);
    clock.advance(1); // exactly one hour after the write
    recorder.accessed("dev_a", "api_key");
    await recorder.flush();
    expect(state.calls).toBe(2);
    expect(await lastAccess()).toEqual(new Date(t0.getTime() + HOUR));
  });

  it("keeps one interval per name and tenant", async () => {
    const { state, recorder, lastAccess } = await setup();
    recorder.accessed("dev_a", "api_key");
    recorder.accessed("dev_a", "other");
    recorder.accessed("dev_b", "api_key");
    recorder.accessed("dev_a", "api_key");
    await recorder.flush();
    expect(state.calls).toBe(3);
    expect(await lastAccess("other")).toEqual(t0);
  });

  it("reports a failed write and retries on the next read", async () => {
    const { state, clock, reported, recorder, lastAccess } = await setup();
    state.failing = true;
    expect(() => recorder.accessed("dev_a", "api_key")).not.toThrow();
    await recorder.flush();
    expect(reported).toHaveLength(1);
    expect((reported[0] as Error).message).toBe("store down");
    expect(await lastAccess()).toBeUndefined();
    state.failing = false;
    clock.advance(1);
    recorder.accessed("dev_a", "api_key");
    await recorder.flush();
    expect(state.calls).toBe(2);
    expect(await lastAccess()).toEqual(new Date(t0.getTime() + 1));
  });

  it("survives a store that throws synchronously and a reporter that throws", async () => {
    const store: Pick<SecretStore, "recordAccess"> = {
      recordAccess() {
        throw new Error("sync");
      },
    };
    const recorder = createAccessRecorder({
      store,
      clock: new StoppedClock(),
      report: () => {
        throw new Error("reporter");
      },
    });
    expect(() => recorder.accessed("dev_a", "api_key")).not.toThrow();
    await expect(recorder.flush()).resolves.toBeUndefined();
  });

  it("starts one write for 1000 concurrent reads of one name", async () => {
    const { state, recorder, lastAccess } = await setup();
    await Promise.all(Array.from({ length: 1000 }, async () => recorder.accessed("dev_a", "api_key")));
    await recorder.flush();
    expect(state.calls).toBe(1);
    expect(await lastAccess()).toEqual(t0);
  });

  it("does not start a second write while the first is still running", async () => {
    const { memory } = wrappedStore();
    await memory.insertSecret(secretRecord({ name: "api_key" }));
    let calls = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const store: Pick<SecretStore, "recordAccess"> = {
      async recordAccess(tenant, name, time) {
        calls++;
        await held;
        await memory.recordAccess(tenant, name, time);
      },
    };
    const clock = new StoppedClock();
    const recorder = createAccessRecorder({ store, clock });
    recorder.accessed("dev_a", "api_key");
    clock.advance(1);
    recorder.accessed("dev_a", "api_key");
    expect(calls).toBe(1);
    release();
    await recorder.flush();
    expect((await memory.lastAccessTimes("dev_a", ["api_key"])).get("api_key")).toEqual(t0);
  });

  it("stays bounded: a name pushed out of the table is written again on its next read", async () => {
    const { memory, store, state } = wrappedStore();
    await memory.insertSecret(secretRecord({ name: "api_key" }));
    const recorder = createAccessRecorder({ store, clock: new StoppedClock() }, { maxTracked: 2 });
    for (const name of ["api_key", "b", "c", "api_key"]) recorder.accessed("dev_a", name);
    await recorder.flush();
    expect(state.calls).toBe(4);
  });
});
