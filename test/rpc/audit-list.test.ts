import { randomBytes } from "node:crypto";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, type CallOptions, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AuditEvent, ListAuditEventsRequestSchema, SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { connectErrorOf, expectCode } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// ListAuditEvents over the real server and FerretDB: a tenant's events, newest first, walked by
// cursor pages exactly once; the filters (name, method, code set and unset, start inclusive, end
// exclusive); what a tenant sees (its own events, delegated ones included, never another
// tenant's, never unauthenticated calls; only names its globs cover); the listing's own event
// shows up in the next listing. Also Secret.last_access_time, written in the background.

type Secrets = Client<typeof SecretsService>;
type ListInput = MessageInitShape<typeof ListAuditEventsRequestSchema>;

const ALICE = "al-alice";
const rid = (label: string) => `list-${label}-${randomBytes(5).toString("hex")}`;
const withId = (requestId: string, extra: Record<string, string> = {}): CallOptions => ({ headers: { "x-request-id": requestId, ...extra } });
const timeOf = (e: AuditEvent) => timestampDate(e.eventTime!).getTime();

interface StoredEvent {
  readonly id: string;
  /** ms */
  readonly time: number;
  readonly names: string[];
  readonly method: string;
  readonly code: number;
  readonly requestId: string;
}

/** Every event of one query, following next_page_token. */
async function listAll(client: Secrets, query: ListInput = {}, pageSize = 1_000): Promise<AuditEvent[]> {
  const all: AuditEvent[] = [];
  let pageToken = "";
  do {
    const page = await client.listAuditEvents({ ...query, pageSize, pageToken });
    expect(page.events.length).toBeLessThanOrEqual(pageSize);
    all.push(...page.events);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return all;
}

describe("ListAuditEvents", () => {
  let server: TestServer;
  let raw: RawDb;
  let alice: Secrets;
  let bob: Secrets;
  let delegate: Secrets;
  let anonymous: Secrets;
  /** Request ids of calls that must never be listed to alice. */
  const bobIds: string[] = [];
  const anonymousIds: string[] = [];
  const delegatedIds: string[] = [];

  /** alice's events as stored, newest first: what a complete listing must show. */
  async function storedFor(tenant: string): Promise<StoredEvent[]> {
    const docs = await raw.db.collection<{ _id: string; time: Date; names: string[]; method: string; code: number; requestId: string }>("audit_events").find({ tenant }).toArray();
    return docs
      .map((d) => ({ id: d._id, time: d.time.getTime(), names: d.names, method: d.method, code: d.code, requestId: d.requestId }))
      .sort((a, b) => b.time - a.time || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_audit_list" });
    raw = await openRawDb(server.fixture.db!);
    alice = connectGrpcClient(server.baseUrl, await server.token(ALICE, "alice"));
    bob = connectGrpcClient(server.baseUrl, await server.token("al-bob", "bob"));
    delegate = connectGrpcClient(server.baseUrl, await server.token("al-deleg", "deleg-bot", { scope: "secrets.read secrets.access secrets.write secrets.delegate" }));
    anonymous = connectGrpcClient(server.baseUrl, "");

    for (const name of ["stripe_live", "stripe_test", "openai_key", "la_read", "la_unread"]) await alice.createSecret({ name, value: `v-${name}` });
    await alice.getSecretValue({ name: "stripe_live" });
    await alice.getSecretValue({ name: "openai_key" });
    await expectCode(alice.getSecretValue({ name: "nosuch" }), Code.NotFound);
    await expectCode(alice.getSecret({ name: "openai_key_old" }), Code.NotFound);
    await alice.putSecretValue({ name: "stripe_test", value: "v2" });
    await alice.listSecrets({});
    await alice.batchGetSecretValues({ names: ["stripe_live", "openai_key"] });

    // A delegate acting for alice's tenant.
    for (const name of ["stripe_live", "openai_key"]) {
      const id = rid("delegated");
      delegatedIds.push(id);
      await delegate.getSecretValue({ name }, withId(id, { "x-developer-id": ALICE }));
    }
    // Bob has a secret of the same name; his events are his.
    const bobId = () => {
      const id = rid("bob");
      bobIds.push(id);
      return id;
    };
    await bob.createSecret({ name: "stripe_live", value: "bob" }, withId(bobId()));
    await bob.getSecretValue({ name: "stripe_live" }, withId(bobId()));
    await expectCode(bob.getSecretValue({ name: "nosuch" }, withId(bobId())), Code.NotFound);
    // Unauthenticated calls naming alice's secrets.
    for (let i = 0; i < 2; i++) {
      const id = rid("anonymous");
      anonymousIds.push(id);
      await expectCode(anonymous.getSecretValue({ name: "stripe_live" }, withId(id)), Code.Unauthenticated);
    }
    // 12 of alice's own calls, 2 delegated, 3 of bob's, 2 unauthenticated: one event each, stored before each answer.
    expect(await raw.db.collection("audit_events").countDocuments()).toBe(19);
  });

  afterAll(async () => {
    await raw?.close();
    await server?.close();
  });

  it("lists the tenant's events newest first, (event_time, event_id) descending, exactly as stored", async () => {
    const stored = await storedFor(ALICE);
    const listed = await listAll(alice);
    expect(listed.map((e) => e.eventId)).toEqual(stored.map((e) => e.id));
    for (let i = 1; i < listed.length; i++) {
      const [newer, older] = [listed[i - 1]!, listed[i]!];
      const ordered = timeOf(newer) > timeOf(older) || (timeOf(newer) === timeOf(older) && newer.eventId > older.eventId);
      expect(ordered, `${newer.eventId} before ${older.eventId}`).toBe(true);
    }
    expect(listed.every((e) => e.developerId === ALICE)).toBe(true);
    expect(listed.length).toBeGreaterThan(12);
  });

  it("pages of 3 walk every event exactly once; a bad page_token is INVALID_ARGUMENT naming page_token", async () => {
    const stored = await storedFor(ALICE);
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await alice.listAuditEvents({ pageSize: 3, pageToken });
      expect(page.events.length).toBeLessThanOrEqual(3);
      if (page.nextPageToken !== "") expect(page.events).toHaveLength(3);
      seen.push(...page.events.map((e) => e.eventId));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "");
    // The walk's own calls are newer than its first page: the walk is the trail as it was when it began.
    expect(seen).toEqual(stored.map((e) => e.id));
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(stored.length / 3));

    for (const bad of ["garbage", "AAAA", `${pageToken}x`]) {
      const err = await connectErrorOf(alice.listAuditEvents({ pageSize: 3, pageToken: bad }));
      expect(err.code, bad).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toMatch(/page_token/);
    }
    // A token of one query does not continue another.
    const first = await alice.listAuditEvents({ pageSize: 3, method: "GetSecretValue" });
    expect(first.nextPageToken).not.toBe("");
    const err = await connectErrorOf(alice.listAuditEvents({ pageSize: 3, method: "CreateSecret", pageToken: first.nextPageToken }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/page_token/);
  });

  /** Lists `query` and checks it shows exactly the stored events `keep` selects, in order (read just before: listings add events). */
  async function expectListing(query: ListInput, keep: (e: StoredEvent) => boolean): Promise<AuditEvent[]> {
    const want = (await storedFor(ALICE)).filter(keep).map((e) => e.id);
    const listed = await listAll(alice, query);
    expect(listed.map((e) => e.eventId), JSON.stringify(query, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).toEqual(want);
    return listed;
  }

  it("filters by name, method and code (code 0 = OK only; unset = any)", async () => {
    const byName = await expectListing({ name: "openai_key" }, (e) => e.names.includes("openai_key"));
    expect(byName.length).toBeGreaterThanOrEqual(4);
    expect(byName.every((e) => e.names.includes("openai_key"))).toBe(true);

    const byMethod = await expectListing({ method: "GetSecretValue" }, (e) => e.method === "GetSecretValue");
    expect(byMethod.every((e) => e.method === "GetSecretValue")).toBe(true);
    expect(byMethod.length).toBeGreaterThanOrEqual(5);

    const ok = await expectListing({ code: 0 }, (e) => e.code === 0);
    expect(ok.some((e) => e.code !== 0)).toBe(false);
    const notFound = await expectListing({ code: Code.NotFound }, (e) => e.code === Code.NotFound);
    expect(notFound.length).toBeGreaterThanOrEqual(2);
    expect(notFound.every((e) => e.code === Code.NotFound)).toBe(true);
    // Unset: every code, the NOT_FOUND ones too.
    const any = await expectListing({}, () => true);
    expect(any.filter((e) => e.code === Code.NotFound).map((e) => e.eventId)).toEqual(notFound.map((e) => e.eventId));

    const combined = await expectListing({ name: "nosuch", method: "GetSecretValue", code: Code.NotFound }, (e) => e.names.includes("nosuch") && e.method === "GetSecretValue" && e.code === Code.NotFound);
    expect(combined).toHaveLength(1);
  });

  it("start_time is inclusive, end_time exclusive", async () => {
    const first = await listAll(alice);
    // A time in the middle of the trail, taken from the listing itself.
    const pivot = first[Math.floor(first.length / 2)]!;
    const oldest = first.at(-1)!;
    const at = timeOf(pivot);

    const since = await expectListing({ startTime: pivot.eventTime! }, (e) => e.time >= at);
    expect(since.map((e) => e.eventId)).toContain(pivot.eventId);
    const before = await expectListing({ endTime: pivot.eventTime! }, (e) => e.time < at);
    expect(before.map((e) => e.eventId)).not.toContain(pivot.eventId);
    expect(before.length).toBeGreaterThan(0);
    const window = await expectListing({ startTime: oldest.eventTime!, endTime: pivot.eventTime! }, (e) => e.time >= timeOf(oldest) && e.time < at);
    expect(window.map((e) => e.eventId)).toContain(oldest.eventId);
    expect(window.length).toBe(before.length);

    expect(await listAll(alice, { startTime: timestampFromDate(new Date(Date.now() + 3_600_000)) })).toEqual([]);
  });

  it("a tenant sees its own events, delegated ones included; never another tenant's or unauthenticated calls", async () => {
    const listed = await listAll(alice);
    const requestIds = new Set(listed.map((e) => e.requestId));
    for (const id of delegatedIds) {
      const event = listed.find((e) => e.requestId === id);
      expect(event, id).toMatchObject({ delegated: true, principal: "deleg-bot", developerId: ALICE, method: "GetSecretValue", code: 0 });
    }
    expect(listed.filter((e) => e.delegated)).toHaveLength(delegatedIds.length);
    expect(listed.filter((e) => !e.delegated).every((e) => e.principal === "alice")).toBe(true);
    for (const id of [...bobIds, ...anonymousIds]) expect(requestIds.has(id), id).toBe(false);

    const bobs = await listAll(bob);
    expect(bobs.map((e) => e.requestId)).toEqual([...bobIds].reverse());
    expect(bobs.every((e) => e.developerId === "al-bob" && e.principal === "bob")).toBe(true);

    // The delegate's own tenant holds none of the calls it made for alice.
    const delegates = await listAll(delegate);
    for (const id of delegatedIds) expect(delegates.some((e) => e.requestId === id)).toBe(false);

    // Unauthenticated events are stored, under no tenant, and listed to nobody.
    const anonymousStored = await raw.db.collection("audit_events").find({ requestId: { $in: anonymousIds } }).toArray();
    expect(anonymousStored).toHaveLength(anonymousIds.length);
    expect(anonymousStored.every((d) => d.tenant === "" && d.principal === "")).toBe(true);
    await expectCode(anonymous.listAuditEvents({}), Code.Unauthenticated);
  });

  it("a listing's own event is not in its response but is in the next listing", async () => {
    const id = rid("own");
    const page = await alice.listAuditEvents({ pageSize: 1_000 }, withId(id));
    expect(page.events.some((e) => e.requestId === id)).toBe(false);
    const next = await alice.listAuditEvents({ pageSize: 1_000, method: "ListAuditEvents" });
    const own = next.events.find((e) => e.requestId === id);
    expect(own).toMatchObject({ method: "ListAuditEvents", code: 0, principal: "alice", developerId: ALICE, names: [], versions: [] });
    // Newest first: it is the newest ListAuditEvents event but the one of `next` itself.
    expect(next.events[0]?.requestId).toBe(id);
  });

  it("a token whose globs cover only stripe_* sees no event naming openai_key; without secrets.read it is PERMISSION_DENIED", async () => {
    const globbed = connectGrpcClient(server.baseUrl, await server.token(ALICE, "stripe-reader", { scope: "secrets.read", secrets: ["stripe_*"] }));
    const visible = await listAll(globbed);
    expect(visible.length).toBeGreaterThan(0);
    expect(visible.some((e) => e.names.includes("stripe_live"))).toBe(true);
    expect(visible.some((e) => e.names.includes("openai_key"))).toBe(false);
    // Events naming both (the batch, ListSecrets) are hidden whole.
    expect(visible.some((e) => e.method === "BatchGetSecretValues")).toBe(false);
    const all = await listAll(alice);
    expect(all.some((e) => e.names.includes("openai_key"))).toBe(true);
    // Asking for it by name shows nothing either.
    expect(await listAll(globbed, { name: "openai_key" })).toEqual([]);
    // Small pages still walk what it may see, once each.
    const paged = await listAll(globbed, {}, 2);
    expect(new Set(paged.map((e) => e.eventId)).size).toBe(paged.length);
    expect(paged.some((e) => e.names.includes("openai_key"))).toBe(false);

    const noRead = connectGrpcClient(server.baseUrl, await server.token(ALICE, "no-reader", { scope: "secrets.access secrets.write" }));
    await expectCode(noRead.listAuditEvents({}), Code.PermissionDenied, /secrets\.read/);
  });

  it("GetSecretValue sets Secret.last_access_time (in the background, near now); a secret never read has none", async () => {
    expect((await alice.getSecret({ name: "la_read" })).secret?.lastAccessTime).toBeUndefined();
    const readAt = Date.now();
    await alice.getSecretValue({ name: "la_read" });
    await waitUntil(async () => (await alice.getSecret({ name: "la_read" })).secret?.lastAccessTime !== undefined, "la_read has a last access time");
    const accessed = timestampDate((await alice.getSecret({ name: "la_read" })).secret!.lastAccessTime!).getTime();
    expect(Math.abs(accessed - readAt)).toBeLessThan(60_000);
    expect(Math.abs(accessed - Date.now())).toBeLessThan(60_000);
    expect((await alice.getSecret({ name: "la_unread" })).secret?.lastAccessTime).toBeUndefined();
  });
});
