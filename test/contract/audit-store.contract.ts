import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/errors.js";
import type { AuditEvent, AuditQuery, AuditStore } from "../../src/ports/audit-store.js";
import { expectArgumentRefused } from "./refused-argument.js";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms);

function event(id: string, fields: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id,
    time: at(0),
    requestId: `r-${id}`,
    principal: "alice",
    tenant: "t1",
    delegated: false,
    tokenId: "",
    tokenLabel: "",
    method: "GetSecretValue",
    names: ["db_password"],
    versions: [0],
    code: 0,
    peerAddress: "127.0.0.1:5000",
    userAgent: "grpc-node/1.0",
    mtlsSubject: "",
    ...fields,
  };
}

const ids = (events: readonly AuditEvent[]) => events.map((e) => e.id);

export function auditStoreContract(kind: string, open: () => Promise<{ audit: AuditStore; dispose(): Promise<void> }>): void {
  describe(`AuditStore contract: ${kind}`, () => {
    let fixture: Awaited<ReturnType<typeof open>>;
    let store: AuditStore;
    beforeEach(async () => {
      fixture = await open();
      store = fixture.audit;
    });
    afterEach(async () => fixture.dispose());

    const list = (q: Partial<AuditQuery> = {}) => store.list({ tenant: "t1", limit: 100, ...q });

    it("lists what was appended, field for field", async () => {
      const full = event("e1", {
        time: new Date("2026-03-04T05:06:07.089Z"),
        requestId: "req-1",
        principal: "agent-7",
        delegated: true,
        tokenId: "tok-1",
        tokenLabel: "nightly build",
        method: "BatchGetSecretValues",
        names: ["a", "b_2", "c"],
        versions: [3, 0, 12345678901],
        code: 5,
        peerAddress: "[::1]:6000",
        userAgent: "connect-es/2.0",
        mtlsSubject: "CN=agent,O=Example",
      });
      const bare = event("e0", { names: [], versions: [], principal: "", time: new Date("2026-03-04T05:06:07.088Z") });
      await store.append([full, bare]);
      const found = await list();
      expect(found).toEqual([full, bare]);
      expect(found[0]!.time).toBeInstanceOf(Date);
    });

    it("appends nothing for an empty batch", async () => {
      await store.append([]);
      expect(await list()).toEqual([]);
    });

    it("orders by time then id, newest first, ties on time broken by id", async () => {
      await store.append([event("b", { time: at(1) }), event("a", { time: at(2) }), event("c", { time: at(1) }), event("d", { time: at(0) }), event("a2", { time: at(1) })]);
      expect(ids(await list())).toEqual(["a", "c", "b", "a2", "d"]);
      expect(ids(await list({ limit: 2 }))).toEqual(["a", "c"]);
      expect(await list({ limit: 0 })).toEqual([]);
    });

    it("walks every event exactly once with the cursor, across ties", async () => {
      const all: AuditEvent[] = [];
      for (let i = 0; i < 23; i++) all.push(event(`e${String(i).padStart(2, "0")}`, { time: at(Math.floor(i / 3)) }));
      await store.append(all.slice(0, 12));
      await store.append(all.slice(12));
      const seen: string[] = [];
      let before: AuditQuery["before"];
      for (let round = 0; round < 50; round++) {
        const page = await list({ limit: 4, ...(before ? { before } : {}) });
        seen.push(...ids(page));
        const last = page.at(-1);
        if (page.length < 4 || !last) break;
        before = { time: last.time, id: last.id };
      }
      const expected = [...all].sort((x, y) => y.time.getTime() - x.time.getTime() || (x.id < y.id ? 1 : -1));
      expect(seen).toEqual(ids(expected));
      expect(new Set(seen).size).toBe(23);
    });

    it("filters by name, method, code and time range (start inclusive, end exclusive)", async () => {
      await store.append([
        event("e1", { time: at(10), names: ["a", "b"], method: "GetSecretValue", code: 0 }),
        event("e2", { time: at(20), names: ["b"], method: "PutSecretValue", code: 5 }),
        event("e3", { time: at(30), names: ["c"], method: "GetSecretValue", code: 5 }),
        event("e4", { time: at(40), names: [], method: "ListSecrets", code: 0 }),
      ]);
      expect(ids(await list({ name: "b" }))).toEqual(["e2", "e1"]);
      expect(ids(await list({ name: "a" }))).toEqual(["e1"]);
      expect(ids(await list({ name: "zzz" }))).toEqual([]);
      expect(ids(await list({ method: "GetSecretValue" }))).toEqual(["e3", "e1"]);
      expect(ids(await list({ code: 5 }))).toEqual(["e3", "e2"]);
      expect(ids(await list({ code: 0 }))).toEqual(["e4", "e1"]);
      expect(ids(await list({ startTime: at(20) }))).toEqual(["e4", "e3", "e2"]);
      expect(ids(await list({ endTime: at(30) }))).toEqual(["e2", "e1"]);
      expect(ids(await list({ startTime: at(20), endTime: at(40) }))).toEqual(["e3", "e2"]);
      expect(ids(await list({ startTime: at(21), endTime: at(30) }))).toEqual([]);
      expect(ids(await list({ name: "b", code: 5, method: "PutSecretValue", startTime: at(20), endTime: at(21) }))).toEqual(["e2"]);
      expect(ids(await list({ method: "GetSecretValue", before: { time: at(30), id: "e3" } }))).toEqual(["e1"]);
      expect(ids(await list({ startTime: at(10), before: { time: at(30), id: "e4" } }))).toEqual(["e3", "e2", "e1"]);
    });

    it("lists only the tenant's own events, never another's nor those of unauthenticated calls", async () => {
      await store.append([
        event("mine", { time: at(1) }),
        event("theirs", { time: at(2), tenant: "t2" }),
        event("anon", { time: at(3), tenant: "", principal: "" }),
        event("prefix", { time: at(4), tenant: "t1x" }),
      ]);
      expect(ids(await list())).toEqual(["mine"]);
      expect(ids(await list({ tenant: "t2" }))).toEqual(["theirs"]);
      await expectArgumentRefused("list(tenant = \"\")", "tenant", () => list({ tenant: "" }));
    });

    it("accepts an already stored id without error or duplicate, keeping the first", async () => {
      await store.append([event("e1", { time: at(1), code: 0 })]);
      await store.append([event("e1", { time: at(1), code: 13 }), event("e2", { time: at(2) })]);
      await store.append([event("e2", { time: at(2) }), event("e2", { time: at(2) })]);
      const found = await list();
      expect(ids(found)).toEqual(["e2", "e1"]);
      expect(found[1]!.code).toBe(0);
    });

    it("removes at most `limit` events older than the time, oldest first", async () => {
      await store.append([
        event("o1", { time: at(1) }),
        event("o2", { time: at(2) }),
        event("o3", { time: at(3), tenant: "t2" }),
        event("edge", { time: at(10) }),
        event("new", { time: at(20) }),
      ]);
      expect(await store.removeOlderThan(at(10), 2)).toBe(2);
      expect(ids(await list())).toEqual(["new", "edge"]);
      expect(ids(await list({ tenant: "t2" }))).toEqual(["o3"]);
      expect(await store.removeOlderThan(at(10), 0)).toBe(0);
      expect(await store.removeOlderThan(at(10), 100)).toBe(1);
      expect(await store.removeOlderThan(at(10), 100)).toBe(0);
      expect(ids(await list())).toEqual(["new", "edge"]);
    });

    it("refuses an array or an object for any argument of every method with InvalidArgumentError, running no query", async () => {
      const kept = event("kept", { time: at(5) });
      await store.append([kept]);
      const planted = event("planted", { time: at(6) });
      const appendWith = (field: keyof AuditEvent) => (bad: never) => store.append([{ ...planted, [field]: bad }]);
      const query: AuditQuery = { tenant: "t1", limit: 10 };
      const later = at(1_000_000);
      // The compiler checks that no method is left out.
      const cases: Record<keyof AuditStore, [argument: string, usual: unknown, call: (bad: never) => Promise<unknown>][]> = {
        append: [
          ["event.id", "planted", appendWith("id")],
          ["event.time", at(6), appendWith("time")],
          ["event.requestId", "r", appendWith("requestId")],
          ["event.principal", "alice", appendWith("principal")],
          ["event.tenant", "t1", appendWith("tenant")],
          ["event.delegated", false, appendWith("delegated")],
          ["event.tokenId", "", appendWith("tokenId")],
          ["event.tokenLabel", "", appendWith("tokenLabel")],
          ["event.method", "GetSecretValue", appendWith("method")],
          ["event.names", ["db_password"], appendWith("names")],
          ["event.versions", [0], appendWith("versions")],
          ["event.code", 0, appendWith("code")],
          ["event.peerAddress", "", appendWith("peerAddress")],
          ["event.userAgent", "", appendWith("userAgent")],
          ["event.mtlsSubject", "", appendWith("mtlsSubject")],
        ],
        list: [
          ["tenant", "t1", (bad) => store.list({ ...query, tenant: bad })],
          ["name", "db_password", (bad) => store.list({ ...query, name: bad })],
          ["method", "GetSecretValue", (bad) => store.list({ ...query, method: bad })],
          ["code", 0, (bad) => store.list({ ...query, code: bad })],
          ["startTime", at(0), (bad) => store.list({ ...query, startTime: bad })],
          ["endTime", later, (bad) => store.list({ ...query, endTime: bad })],
          ["before.time", later, (bad) => store.list({ ...query, before: { time: bad, id: "z" } })],
          ["before.id", "z", (bad) => store.list({ ...query, before: { time: later, id: bad } })],
          ["limit", 10, (bad) => store.list({ ...query, limit: bad })],
        ],
        removeOlderThan: [
          ["time", later, (bad) => store.removeOlderThan(bad, 100)],
          ["limit", 100, (bad) => store.removeOlderThan(later, bad)],
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
      await expect(store.append({ 0: planted, length: 1 } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expectArgumentRefused("list(limit = -1)", "limit", () => store.list({ ...query, limit: -1 }));
      await expectArgumentRefused("removeOlderThan(limit = -1)", "limit", () => store.removeOlderThan(later, -1));
      expect(await list()).toEqual([kept]);
    });
  });
}
