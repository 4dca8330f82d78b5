import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { IdempotencyStore } from "../../src/ports/idempotency-store.js";

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
  });
}
