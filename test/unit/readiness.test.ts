import { describe, expect, it } from "vitest";
import { startReadiness, type Dependency } from "../../src/core/readiness.js";

// The readiness rounds over stand-in ports: which dependency failed, a hung one bounded by the timeout.

const key = () => ({ plaintext: Buffer.alloc(32, 7), wrapped: new Uint8Array(1), keyId: "k" });

function recorder() {
  const rounds: Array<{ ready: boolean; failing: Dependency[] }> = [];
  return { rounds, report: (ready: boolean, failing: ReadonlyArray<{ dependency: Dependency }>) => rounds.push({ ready, failing: failing.map((f) => f.dependency) }) };
}

describe("readiness rounds", () => {
  it("ready when both answer; the data key it asked for is zeroed", async () => {
    const r = recorder();
    let plaintext: Buffer | undefined;
    const readiness = startReadiness(
      { store: { findSecret: async () => undefined }, keys: { generateDataKey: async () => { const k = key(); plaintext = k.plaintext; return k; } }, report: r.report },
      { intervalMs: 60_000, timeoutMs: 1_000 },
    );
    expect(await readiness.check()).toBe(true);
    expect(r.rounds).toEqual([{ ready: true, failing: [] }]);
    expect(plaintext?.every((b) => b === 0)).toBe(true);
    await readiness.stop();
  });

  it("names the dependency that failed, and the one that hung past the timeout", async () => {
    const r = recorder();
    const readiness = startReadiness(
      { store: { findSecret: () => new Promise(() => {}) }, keys: { generateDataKey: async () => Promise.reject(new Error("kms down")) }, report: r.report },
      { intervalMs: 60_000, timeoutMs: 50 },
    );
    expect(await readiness.check()).toBe(false);
    expect(r.rounds).toEqual([{ ready: false, failing: ["store", "kms"] }]);
    await readiness.stop();
  });

  it("one round at a time: checks during a round share it; nothing is reported after stop", async () => {
    const r = recorder();
    let calls = 0;
    const readiness = startReadiness(
      { store: { findSecret: async () => (calls++, undefined) }, keys: { generateDataKey: async () => key() }, report: r.report },
      { intervalMs: 60_000, timeoutMs: 1_000 },
    );
    await Promise.all([readiness.check(), readiness.check(), readiness.check()]);
    expect(calls).toBe(1);
    const last = readiness.check();
    await readiness.stop();
    await last;
    expect(r.rounds).toHaveLength(1);
  });
});
