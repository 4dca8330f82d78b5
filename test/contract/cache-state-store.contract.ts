import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CacheStateStore, StoredCacheKey } from "../../src/ports/cache-state-store.js";
import { expectArgumentRefused } from "./refused-argument.js";

export function cacheStateStoreContract(kind: string, open: () => Promise<{ cacheState: CacheStateStore; dispose(): Promise<void> }>): void {
  describe(`CacheStateStore contract: ${kind}`, () => {
    let fixture: Awaited<ReturnType<typeof open>>;
    let store: CacheStateStore;
    beforeEach(async () => {
      fixture = await open();
      store = fixture.cacheState;
    });
    afterEach(async () => fixture.dispose());
    const key = (id: string, createTime: Date): StoredCacheKey => ({ id, keyId: "k1", wrapped: Uint8Array.from([0, 1, 2, 255]), createTime });
    const t0 = new Date("2026-01-01T00:00:00.000Z");

    it("starts with no epoch and no instance; the epoch and the instance are set, the instance kept when not given", async () => {
      expect(await store.readState()).toEqual({ epoch: "", instance: "" });
      await store.writeState({ epoch: "e1", instance: "redis-a" });
      expect(await store.readState()).toEqual({ epoch: "e1", instance: "redis-a" });
      await store.writeState({ epoch: "e2" });
      expect(await store.readState()).toEqual({ epoch: "e2", instance: "redis-a" });
    });

    it("stores a cache key once: a second insert of the id loses and the first stays, bytes intact", async () => {
      expect(await store.findCacheKey("ck-1")).toBeUndefined();
      const results = await Promise.all([store.insertCacheKey(key("ck-1", t0)), store.insertCacheKey({ ...key("ck-1", t0), keyId: "other" })]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const found = await store.findCacheKey("ck-1");
      expect(found?.id).toBe("ck-1");
      expect(Buffer.from(found!.wrapped)).toEqual(Buffer.from([0, 1, 2, 255]));
      expect(found?.createTime).toEqual(t0);
    });

    it("removes keys created before a time", async () => {
      await store.insertCacheKey(key("ck-1", t0));
      await store.insertCacheKey(key("ck-2", new Date("2026-01-03T00:00:00Z")));
      expect(await store.removeCacheKeysBefore(new Date("2026-01-02T00:00:00Z"))).toBe(1);
      expect(await store.findCacheKey("ck-1")).toBeUndefined();
      expect(await store.findCacheKey("ck-2")).toBeDefined();
    });

    it("refuses an array or an object for any argument with InvalidArgumentError, running no query", async () => {
      await store.writeState({ epoch: "kept", instance: "kept" });
      await store.insertCacheKey(key("ck-1", t0));
      const cases: Record<Exclude<keyof CacheStateStore, "readState">, [argument: string, call: (bad: never) => Promise<unknown>][]> = {
        writeState: [
          ["epoch", (bad) => store.writeState({ epoch: bad })],
          ["instance", (bad) => store.writeState({ epoch: "x", instance: bad })],
        ],
        findCacheKey: [["id", (bad) => store.findCacheKey(bad)]],
        insertCacheKey: [
          ["id", (bad) => store.insertCacheKey({ ...key("ck-9", t0), id: bad })],
          ["keyId", (bad) => store.insertCacheKey({ ...key("ck-9", t0), keyId: bad })],
          ["wrapped", (bad) => store.insertCacheKey({ ...key("ck-9", t0), wrapped: bad })],
          ["createTime", (bad) => store.insertCacheKey({ ...key("ck-9", t0), createTime: bad })],
        ],
        removeCacheKeysBefore: [["time", (bad) => store.removeCacheKeysBefore(bad)]],
      };
      for (const [method, calls] of Object.entries(cases)) {
        for (const [argument, call] of calls) {
          for (const bad of [["ck-1"], { $ne: null }]) {
            await expectArgumentRefused(`${method}(${argument} = ${JSON.stringify(bad)})`, argument, () => call(bad as never));
          }
        }
      }
      expect(await store.readState()).toEqual({ epoch: "kept", instance: "kept" });
      expect(await store.findCacheKey("ck-1")).toBeDefined();
      expect(await store.findCacheKey("ck-9")).toBeUndefined();
    });
  });
}
