import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectArgumentRefused } from "./refused-argument.js";
import type { IdempotencyRecord, IdempotencyStore } from "../../src/ports/idempotency-store.js";

export function idempotencyStoreContract(kind: string, open: () => Promise<{ idempotency: IdempotencyStore; dispose(): Promise<void> }>): void {
  describe(`IdempotencyStore contract: ${kind}`, () => {
    let fixture: Awaited<ReturnType<typeof open>>;
    let store: IdempotencyStore;
    beforeEach(async () => {
      fixture = await open();
      store = fixture.idempotency;
    });
    afterEach(async () => fixture.dispose());
    const t0 = new Date("2026-01-01T00:00:00.000Z");

    it("records a key once; only its writer completes or abandons it", async () => {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.begin({ key: "k", writeId: `w${i}`, fingerprint: "f", createTime: t0 })),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const holder = `w${results.indexOf(true)}`;
      await store.complete("k", "intruder", "{}");
      expect((await store.find("k"))?.response).toBeUndefined();
      await store.complete("k", holder, '{"ok":1}');
      expect(await store.find("k")).toEqual({ key: "k", writeId: holder, fingerprint: "f", createTime: t0, response: '{"ok":1}' });
      await store.abandon("k", "intruder");
      expect(await store.find("k")).toBeDefined();
      await store.abandon("k", holder);
      expect(await store.find("k")).toBeUndefined();
    });

    it("removes records older than a time", async () => {
      await store.begin({ key: "old", writeId: "w", fingerprint: "f", createTime: t0 });
      await store.begin({ key: "new", writeId: "w", fingerprint: "f", createTime: new Date("2026-01-03T00:00:00Z") });
      expect(await store.removeOlderThan(new Date("2026-01-02T00:00:00Z"), 100)).toBe(1);
      expect(await store.find("old")).toBeUndefined();
      expect(await store.find("new")).toBeDefined();
    });

    it("refuses an array or an object for any argument of every method with InvalidArgumentError, running no query", async () => {
      const kept: IdempotencyRecord = { key: "kept", writeId: "w", fingerprint: "f", createTime: t0, response: '{"ok":1}' };
      await store.begin(kept);
      const fresh = { key: "planted", writeId: "w2", fingerprint: "f", createTime: t0 };
      // The compiler checks that no method is left out.
      const cases: Record<keyof IdempotencyStore, [argument: string, usual: unknown, call: (bad: never) => Promise<unknown>][]> = {
        begin: [
          ["key", "kept", (bad) => store.begin({ ...fresh, key: bad })],
          ["writeId", "w", (bad) => store.begin({ ...fresh, writeId: bad })],
          ["fingerprint", "f", (bad) => store.begin({ ...fresh, fingerprint: bad })],
          ["createTime", t0, (bad) => store.begin({ ...fresh, createTime: bad })],
          ["response", "{}", (bad) => store.begin({ ...fresh, response: bad })],
        ],
        find: [["key", "kept", (bad) => store.find(bad)]],
        complete: [
          ["key", "kept", (bad) => store.complete(bad, "w", "{}")],
          ["writeId", "w", (bad) => store.complete("kept", bad, "{}")],
          ["response", "{}", (bad) => store.complete("kept", "w", bad)],
        ],
        abandon: [
          ["key", "kept", (bad) => store.abandon(bad, "w")],
          ["writeId", "w", (bad) => store.abandon("kept", bad)],
        ],
        removeOlderThan: [
          ["time", new Date("2100-01-01T00:00:00Z"), (bad) => store.removeOlderThan(bad, 100)],
          ["limit", 100, (bad) => store.removeOlderThan(new Date("2100-01-01T00:00:00Z"), bad)],
        ],
      };
      for (const [method, calls] of Object.entries(cases)) {
        for (const [argument, usual, call] of calls) {
          for (const bad of [[usual], { $ne: null }]) {
            const label = `${method}(${argument} = ${JSON.stringify(bad)})`;
            await expectArgumentRefused(label, argument, () => call(bad as never));
          }
        }
      }
      expect(await store.find("kept")).toEqual(kept);
      expect(await store.find("planted")).toBeUndefined();
    });
  });
}
