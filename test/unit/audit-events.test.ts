import { describe, expect, it } from "vitest";
import { MemoryAuditStore } from "../../src/adapters/memory/memory-audit-store.js";
import { listAuditEvents, type ListAuditEventsInput } from "../../src/core/audit-events.js";
import { encodePageToken } from "../../src/core/page-token.js";
import { InvalidArgumentError } from "../../src/errors.js";
import type { AuditEvent, AuditQuery, AuditStore } from "../../src/ports/audit-store.js";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms);

function event(n: number, fields: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: `e${String(n).padStart(4, "0")}`,
    // Three events a millisecond: ties on time are ordered by id.
    time: at(Math.floor(n / 3)),
    requestId: `r${n}`,
    principal: "alice",
    tenant: "t1",
    delegated: false,
    tokenId: "",
    tokenLabel: "",
    method: n % 2 === 0 ? "GetSecretValue" : "PutSecretValue",
    names: [`s${n % 5}`],
    versions: [0],
    code: n % 7 === 0 ? 5 : 0,
    peerAddress: "",
    userAgent: "",
    mtlsSubject: "",
    ...fields,
  };
}

/** Counts the store's list calls and keeps their queries. */
class CountingStore implements AuditStore {
  readonly inner = new MemoryAuditStore();
  readonly queries: AuditQuery[] = [];
  append(events: readonly AuditEvent[]): Promise<void> {
    return this.inner.append(events);
  }
  list(query: AuditQuery): Promise<AuditEvent[]> {
    this.queries.push(query);
    return this.inner.list(query);
  }
  removeOlderThan(time: Date, limit: number): Promise<number> {
    return this.inner.removeOlderThan(time, limit);
  }
}

async function storeWith(count: number, fields: (n: number) => Partial<AuditEvent> = () => ({})): Promise<{ store: CountingStore; all: AuditEvent[] }> {
  const store = new CountingStore();
  const all = Array.from({ length: count }, (_, n) => event(n, fields(n)));
  await store.append(all);
  // Newest first.
  return { store, all: [...all].reverse() };
}

const base: ListAuditEventsInput = { pageSize: 0, pageToken: "", name: "", method: "" };

/** Follows next_page_token to the end; returns the ids seen and the pages' sizes. */
async function walk(store: AuditStore, input: Partial<ListAuditEventsInput>, visible?: (names: readonly string[]) => boolean) {
  const ids: string[] = [];
  const sizes: number[] = [];
  let pageToken = "";
  for (let page = 0; page < 1_000; page++) {
    const res = await listAuditEvents({ audit: store }, "t1", { ...base, ...input, pageToken }, visible);
    ids.push(...res.events.map((e) => e.id));
    sizes.push(res.events.length);
    if (res.nextPageToken === "") return { ids, sizes };
    pageToken = res.nextPageToken;
  }
  throw new Error("paging did not end");
}

const ids = (events: readonly AuditEvent[]) => events.map((e) => e.id);

describe("listAuditEvents", () => {
  it("walks every event exactly once, newest first, across ties on time", async () => {
    const { store, all } = await storeWith(57);
    const { ids: seen, sizes } = await walk(store, { pageSize: 10 });
    expect(seen).toEqual(ids(all));
    expect(sizes).toEqual([10, 10, 10, 10, 10, 7]);
  });

  it("ends without a token when the last page is exactly full", async () => {
    const { store } = await storeWith(20);
    const { sizes } = await walk(store, { pageSize: 10 });
    expect(sizes).toEqual([10, 10]);
  });

  it("uses 50 by default and at most 1,000 a page, asking the store for one more", async () => {
    const { store } = await storeWith(3);
    await listAuditEvents({ audit: store }, "t1", base);
    await listAuditEvents({ audit: store }, "t1", { ...base, pageSize: 5_000 });
    expect(store.queries.map((q) => q.limit)).toEqual([51, 1_001]);
  });

  it("filters by name, method, code and time range (start inclusive, end exclusive), paging within the filter", async () => {
    const { store, all } = await storeWith(90);
    const check = async (input: Partial<ListAuditEventsInput>, keep: (e: AuditEvent) => boolean) =>
      expect((await walk(store, { pageSize: 4, ...input })).ids).toEqual(ids(all.filter(keep)));
    await check({ name: "s3" }, (e) => e.names.includes("s3"));
    await check({ method: "PutSecretValue" }, (e) => e.method === "PutSecretValue");
    await check({ code: 5 }, (e) => e.code === 5);
    await check({ code: 0 }, (e) => e.code === 0);
    await check({ startTime: at(10) }, (e) => e.time >= at(10));
    await check({ endTime: at(10) }, (e) => e.time < at(10));
    await check({ startTime: at(5), endTime: at(20), method: "GetSecretValue", name: "s2" }, (e) => e.time >= at(5) && e.time < at(20) && e.method === "GetSecretValue" && e.names.includes("s2"));
    expect(store.queries.at(-1)).toMatchObject({ tenant: "t1", name: "s2", method: "GetSecretValue", startTime: at(5), endTime: at(20) });
  });

  it("lists only the caller's tenant", async () => {
    const store = new MemoryAuditStore();
    await store.append([event(1), event(2, { tenant: "t2" }), event(3, { tenant: "" })]);
    expect(ids((await listAuditEvents({ audit: store }, "t1", base)).events)).toEqual(["e0001"]);
  });

  it("leaves out events the caller may not see, and still walks every visible one exactly once", async () => {
    // One event in 37 is visible: pages come back short, bounded by the store round trips.
    const { store, all } = await storeWith(400, (n) => ({ names: n % 37 === 0 ? ["visible", `s${n}`] : [`hidden${n}`] }));
    const visible = (names: readonly string[]) => names.includes("visible");
    store.queries.length = 0;
    const first = await listAuditEvents({ audit: store }, "t1", { ...base, pageSize: 5 }, visible);
    expect(store.queries).toHaveLength(10);
    expect(first.events.length).toBeLessThan(5);
    expect(first.nextPageToken).not.toBe("");
    const { ids: seen, sizes } = await walk(store, { pageSize: 5 }, visible);
    expect(seen).toEqual(ids(all.filter((e) => visible(e.names))));
    expect(sizes.some((s) => s < 5)).toBe(true);
  });

  it("fills a page from several store pages when it can", async () => {
    const { store, all } = await storeWith(60, (n) => ({ names: n % 3 === 0 ? ["visible"] : ["hidden"] }));
    const visible = (names: readonly string[]) => names.includes("visible");
    store.queries.length = 0;
    const page = await listAuditEvents({ audit: store }, "t1", { ...base, pageSize: 5 }, visible);
    expect(ids(page.events)).toEqual(ids(all.filter((e) => visible(e.names))).slice(0, 5));
    expect(store.queries.length).toBeGreaterThan(1);
    expect(store.queries.length).toBeLessThanOrEqual(10);
    const next = await listAuditEvents({ audit: store }, "t1", { ...base, pageSize: 5, pageToken: page.nextPageToken }, visible);
    expect(ids(next.events)).toEqual(ids(all.filter((e) => visible(e.names))).slice(5, 10));
  });

  it("returns an empty last page when nothing is visible", async () => {
    const { store } = await storeWith(30);
    const { ids: seen } = await walk(store, { pageSize: 2 }, () => false);
    expect(seen).toEqual([]);
  });

  it("refuses bad input naming the proto field", async () => {
    const store = new MemoryAuditStore();
    const refused = async (input: Partial<ListAuditEventsInput>, field: string, tenant = "t1") => {
      const err = await listAuditEvents({ audit: store }, tenant, { ...base, ...input }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(input)).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).field, JSON.stringify(input)).toBe(field);
    };
    await refused({ pageSize: -1 }, "page_size");
    await refused({ name: "1bad" }, "name");
    await refused({ name: "a".repeat(129) }, "name");
    await refused({ method: "getSecret" }, "method");
    await refused({ method: "Get_Secret" }, "method");
    await refused({ method: "G" + "a".repeat(64) }, "method");
    await refused({ code: 17 }, "code");
    await refused({ code: -1 }, "code");
    await refused({ code: 1.5 }, "code");
    await refused({ startTime: new Date(Number.NaN) }, "start_time");
    await refused({ endTime: new Date(Number.NaN) }, "end_time");
    await refused({ startTime: at(5), endTime: at(5) }, "end_time");
    await refused({ startTime: at(6), endTime: at(5) }, "end_time");
    await refused({ pageToken: "!!not a token" }, "page_token");
    await refused({ pageToken: Buffer.from("[]").toString("base64url") }, "page_token");

    // A token belongs to its query and tenant.
    const mine = new MemoryAuditStore();
    await mine.append(Array.from({ length: 5 }, (_, n) => event(n)));
    const { nextPageToken } = await listAuditEvents({ audit: mine }, "t1", { ...base, pageSize: 2 });
    expect(nextPageToken).not.toBe("");
    await refused({ pageSize: 2, pageToken: nextPageToken, method: "GetSecretValue" }, "page_token");
    await refused({ pageSize: 2, pageToken: nextPageToken, code: 0 }, "page_token");
    await refused({ pageSize: 2, pageToken: nextPageToken }, "page_token", "t2");
    // The same query with another page size keeps its place.
    const next = await listAuditEvents({ audit: mine }, "t1", { ...base, pageSize: 10, pageToken: nextPageToken });
    expect(ids(next.events)).toEqual(["e0002", "e0001", "e0000"]);
    await expect(listAuditEvents({ audit: mine }, "t1", { ...base, method: "G", name: "a".repeat(128), code: 16 })).resolves.toEqual({ events: [], nextPageToken: "" });
  });

  it("refuses a token of the right query whose position is not one", async () => {
    const store = new MemoryAuditStore();
    await store.append([event(0), event(1)]);
    const good = (await listAuditEvents({ audit: store }, "t1", { ...base, pageSize: 1 })).nextPageToken;
    const digest = (JSON.parse(Buffer.from(good, "base64url").toString("utf8")) as { q: string }).q;
    // A position is "<ms>:<event id>".
    for (const position of ["", "12", ":e1", "x:e1", "1.5:e1", "99999999999999999:e1", "12:"]) {
      const err = await listAuditEvents({ audit: store }, "t1", { ...base, pageSize: 1, pageToken: encodePageToken(position, digest) }).catch((e: unknown) => e);
      expect(err, position).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).field, position).toBe("page_token");
    }
  });
});
