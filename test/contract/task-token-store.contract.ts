import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectArgumentRefused } from "./refused-argument.js";
import type { TaskTokenRecord, TaskTokenStore } from "../../src/ports/task-token-store.js";

export function taskTokenStoreContract(kind: string, open: () => Promise<{ taskTokens: TaskTokenStore; dispose(): Promise<void> }>): void {
  describe(`TaskTokenStore contract: ${kind}`, () => {
    let fixture: Awaited<ReturnType<typeof open>>;
    let store: TaskTokenStore;
    beforeEach(async () => {
      fixture = await open();
      store = fixture.taskTokens;
    });
    afterEach(async () => fixture.dispose());
    const t0 = new Date("2026-01-01T00:00:00.000Z");
    const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
    const token = (id: string, fields: Partial<TaskTokenRecord> = {}): TaskTokenRecord => ({
      id,
      tenant: "dev_a",
      subject: "agent-1",
      label: "nightly build",
      scopes: ["secrets.read", "secrets.access"],
      secrets: ["stripe_*", "db_password"],
      createTime: t0,
      expireTime: at(15),
      ...fields,
    });

    it("returns what was inserted, field for field; unknown ids are undefined", async () => {
      const record = token("tt_1");
      await store.insert(record);
      expect(await store.find("tt_1")).toEqual(record);
      const revoked = token("tt_2", { label: "", scopes: ["secrets.write"], secrets: ["*"], revokeTime: at(3) });
      await store.insert(revoked);
      expect(await store.find("tt_2")).toEqual(revoked);
      expect(await store.find("tt_unknown")).toBeUndefined();
    });

    it("keeps its own copy: changing a record after insert or find changes nothing stored", async () => {
      const scopes = ["secrets.read"];
      await store.insert(token("tt_1", { scopes }));
      scopes.push("secrets.write");
      const found = (await store.find("tt_1"))!;
      (found.secrets as string[]).push("planted");
      expect(await store.find("tt_1")).toEqual(token("tt_1", { scopes: ["secrets.read"] }));
    });

    it("refuses to insert an id twice and keeps the first record", async () => {
      await store.insert(token("tt_1"));
      await expect(store.insert(token("tt_1", { tenant: "dev_b" }))).rejects.toBeInstanceOf(Error);
      expect(await store.find("tt_1")).toEqual(token("tt_1"));
    });

    it("revokes only the tenant's own token, and keeps the first revocation time", async () => {
      await store.insert(token("tt_1"));
      expect(await store.revoke("dev_b", "tt_1", at(1))).toBe(false);
      expect(await store.find("tt_1")).toEqual(token("tt_1"));
      expect(await store.revoke("dev_a", "tt_1", at(2))).toBe(true);
      expect(await store.find("tt_1")).toEqual(token("tt_1", { revokeTime: at(2) }));
      expect(await store.revoke("dev_a", "tt_1", at(5))).toBe(true);
      expect(await store.find("tt_1")).toEqual(token("tt_1", { revokeTime: at(2) }));
      expect(await store.revoke("dev_b", "tt_1", at(6))).toBe(false);
      expect(await store.revoke("dev_a", "tt_unknown", at(2))).toBe(false);
      expect(await store.find("tt_unknown")).toBeUndefined();
    });

    it("revokes the same token from concurrent callers", async () => {
      await store.insert(token("tt_1"));
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.revoke("dev_a", "tt_1", at(2 + i))));
      expect(results).toEqual(Array(8).fill(true));
      const revokeTime = (await store.find("tt_1"))?.revokeTime;
      expect(revokeTime).toBeInstanceOf(Date);
      expect(revokeTime!.getTime()).toBeGreaterThanOrEqual(at(2).getTime());
    });

    it("removes records that expired before a time, at most `limit`", async () => {
      await store.insert(token("tt_old1", { expireTime: at(10) }));
      await store.insert(token("tt_old2", { expireTime: at(20) }));
      await store.insert(token("tt_edge", { expireTime: at(30) }));
      await store.insert(token("tt_new", { expireTime: at(40) }));
      expect(await store.removeExpiredBefore(at(30), 0)).toBe(0);
      expect(await store.removeExpiredBefore(at(30), 1)).toBe(1);
      expect(await store.removeExpiredBefore(at(30), 100)).toBe(1);
      expect(await store.removeExpiredBefore(at(30), 100)).toBe(0);
      expect(await store.find("tt_old1")).toBeUndefined();
      expect(await store.find("tt_old2")).toBeUndefined();
      expect(await store.find("tt_edge")).toEqual(token("tt_edge", { expireTime: at(30) }));
      expect(await store.find("tt_new")).toBeDefined();
    });

    it("refuses an array or an object for any argument of every method with InvalidArgumentError, running no query", async () => {
      const kept = token("kept");
      await store.insert(kept);
      const fresh = token("planted");
      const future = new Date("2100-01-01T00:00:00Z");
      // The compiler checks that no method is left out.
      const cases: Record<keyof TaskTokenStore, [argument: string, usual: unknown, call: (bad: never) => Promise<unknown>][]> = {
        insert: [
          ["record.id", "kept", (bad) => store.insert({ ...fresh, id: bad })],
          ["record.tenant", "dev_a", (bad) => store.insert({ ...fresh, tenant: bad })],
          ["record.subject", "agent-1", (bad) => store.insert({ ...fresh, subject: bad })],
          ["record.label", "l", (bad) => store.insert({ ...fresh, label: bad })],
          ["record.scopes", ["secrets.read"], (bad) => store.insert({ ...fresh, scopes: bad })],
          ["record.secrets", ["*"], (bad) => store.insert({ ...fresh, secrets: bad })],
          ["record.createTime", t0, (bad) => store.insert({ ...fresh, createTime: bad })],
          ["record.expireTime", at(15), (bad) => store.insert({ ...fresh, expireTime: bad })],
          ["record.revokeTime", at(1), (bad) => store.insert({ ...fresh, revokeTime: bad })],
        ],
        find: [["id", "kept", (bad) => store.find(bad)]],
        revoke: [
          ["tenant", "dev_a", (bad) => store.revoke(bad, "kept", at(1))],
          ["id", "kept", (bad) => store.revoke("dev_a", bad, at(1))],
          ["time", at(1), (bad) => store.revoke("dev_a", "kept", bad)],
        ],
        removeExpiredBefore: [
          ["time", future, (bad) => store.removeExpiredBefore(bad, 100)],
          ["limit", 100, (bad) => store.removeExpiredBefore(future, bad)],
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
