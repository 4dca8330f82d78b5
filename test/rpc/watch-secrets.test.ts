import path from "node:path";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SecretEventType, SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { versionStates, waitUntil } from "../helpers/lifecycle.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { brief, codeOf, collectWatch, type Watch } from "../helpers/watch.js";

// WatchSecrets over the real server (FerretDB, local keys, the Redis change feed): which event each
// write yields, who sees it (watched names, the token's globs, the tenant), the protocols that carry
// the stream, and how a stream ends (scope, token expiry, task token revocation).
//
// Every watch waits for its first heartbeat before the test writes: from then on every commit reaches
// it. "Nothing else was delivered" is checked with a sentinel write after the others: events of one
// replica arrive in commit order, so once the sentinel's event is in, any stray one would be too.

type Secrets = Client<typeof SecretsService>;

const HEARTBEAT_MS = 250;
const WAIT_MS = 30_000;
const SENTINEL = "zz_sentinel_";


describe("WatchSecrets", () => {
  let server: TestServer;
  let raw: RawDb;
  const watches: Watch[] = [];
  let sentinels = 0;

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_watch", watchHeartbeatMs: HEARTBEAT_MS });
    raw = await openRawDb(server.fixture.db!);
  });
  afterAll(async () => {
    await raw?.close();
    await server?.close();
  });
  afterEach(async () => {
    await Promise.all(watches.splice(0).map((w) => w.stop()));
  });

  const as = async (developer: string, extra?: Parameters<TestServer["token"]>[2]) => connectGrpcClient(server.baseUrl, await server.token(developer, undefined, extra));

  /** Opens a watch on `client`, without waiting. */
  function watchOn(client: Secrets, names: string[] = []): Watch {
    const w = collectWatch((signal) => client.watchSecrets({ names }, { signal }), WAIT_MS);
    watches.push(w);
    return w;
  }

  /** Opens a watch and waits for its first message, which must be the heartbeat. */
  async function live(client: Secrets, names: string[] = []): Promise<Watch> {
    const w = watchOn(client, names);
    await w.until((x) => x.events.length > 0, "the first message");
    expect(brief(w.events[0]!)).toBe("HEARTBEAT  0");
    return w;
  }

  /** Writes a sentinel secret and waits for its event: every earlier commit's event has arrived. Returns the events but the sentinels'. */
  async function settle(w: Watch, writer: Secrets): Promise<string[]> {
    const name = `${SENTINEL}${++sentinels}`;
    await writer.createSecret({ name, value: "s" });
    const mark = `CREATED ${name} 1`;
    await w.until((x) => x.named().includes(mark), `the sentinel ${name} arrives`);
    const named = w.named();
    expect(named.at(-1)).toBe(mark);
    return named.filter((e) => !e.split(" ")[1]!.startsWith(SENTINEL));
  }

  describe("events of each write", () => {
    it("creates, values, updates, version states, delete and restore", async () => {
      const c = await as("w-rules");
      const w = await live(c);
      await c.createSecret({ name: "rules_a", value: "v1" });
      await c.putSecretValue({ name: "rules_a", value: "v2" });
      await c.updateSecret({ name: "rules_a", value: "v3", updateMask: { paths: ["value"] } });
      await c.updateSecret({ name: "rules_a", description: "d", updateMask: { paths: ["description"] } });
      await c.updateSecret({ name: "rules_a", metadata: { team: "x" } });
      await c.updateSecret({ name: "rules_a", ttl: durationFromMs(3_600_000), updateMask: { paths: ["ttl"] } });
      await c.updateSecret({ name: "rules_a", updateMask: { paths: ["expire_time"] } });
      await c.updateSecret({ name: "rules_a", maxVersions: 50, updateMask: { paths: ["max_versions"] } });
      await c.disableSecretVersion({ name: "rules_a", version: 2n });
      await c.enableSecretVersion({ name: "rules_a", version: 2n });
      await c.destroySecretVersion({ name: "rules_a", version: 1n });
      await c.deleteSecret({ name: "rules_a" });
      await c.restoreSecret({ name: "rules_a" });

      expect(await settle(w, c)).toEqual([
        "CREATED rules_a 1",
        "VERSION_ADDED rules_a 2",
        "VERSION_ADDED rules_a 3",
        "UPDATED rules_a 3",
        "UPDATED rules_a 3",
        "UPDATED rules_a 3",
        "UPDATED rules_a 3",
        "UPDATED rules_a 3",
        "VERSION_STATE_CHANGED rules_a 2",
        "VERSION_STATE_CHANGED rules_a 2",
        "VERSION_STATE_CHANGED rules_a 1",
        "DELETED rules_a 3",
        "RESTORED rules_a 3",
      ]);
      for (const e of w.events) expect(e.eventTime, brief(e)).toBeDefined();
    });

    it("force delete: one PURGED (no DELETED), for a live secret and for one already soft-deleted", async () => {
      const c = await as("w-force");
      const w = await live(c);
      await c.createSecret({ name: "force_a", value: "a" });
      await c.putSecretValue({ name: "force_a", value: "a2" });
      await c.deleteSecret({ name: "force_a", force: true });
      await c.createSecret({ name: "force_b", value: "b" });
      await c.deleteSecret({ name: "force_b", recoveryWindowDays: 1 });
      await c.deleteSecret({ name: "force_b", force: true });
      expect(await settle(w, c)).toEqual(["CREATED force_a 1", "VERSION_ADDED force_a 2", "PURGED force_a 2", "CREATED force_b 1", "DELETED force_b 1", "PURGED force_b 1"]);
    });

    it("max_versions pruning: one VERSION_STATE_CHANGED per destroyed version, after the VERSION_ADDED", async () => {
      const c = await as("w-prune");
      const w = await live(c);
      await c.createSecret({ name: "prune_a", value: "1", maxVersions: 2 });
      await c.putSecretValue({ name: "prune_a", value: "2" });
      await c.putSecretValue({ name: "prune_a", value: "3" });
      // A value update that also lowers the limit to 1 destroys the two older live versions.
      await c.updateSecret({ name: "prune_a", value: "4", maxVersions: 1, updateMask: { paths: ["value", "max_versions"] } });
      expect(await settle(w, c)).toEqual([
        "CREATED prune_a 1",
        "VERSION_ADDED prune_a 2",
        "VERSION_ADDED prune_a 3",
        "VERSION_STATE_CHANGED prune_a 1",
        "VERSION_ADDED prune_a 4",
        "VERSION_STATE_CHANGED prune_a 2",
        "VERSION_STATE_CHANGED prune_a 3",
      ]);
      expect(await versionStates(c, "prune_a")).toEqual({ 1: "DESTROYED", 2: "DESTROYED", 3: "DESTROYED", 4: "ENABLED" });
    });

    it("a retried write (same request_id) is one commit: one event", async () => {
      const c = await as("w-retry");
      const w = await live(c);
      await c.createSecret({ name: "retry_a", value: "1", requestId: "req-create-1" });
      await c.createSecret({ name: "retry_a", value: "1", requestId: "req-create-1" });
      await c.putSecretValue({ name: "retry_a", value: "2", requestId: "req-put-1" });
      await c.putSecretValue({ name: "retry_a", value: "2", requestId: "req-put-1" });
      expect(await settle(w, c)).toEqual(["CREATED retry_a 1", "VERSION_ADDED retry_a 2"]);
    });

    it("the sweeper (RunMaintenance, secrets.admin) purges a secret past its recovery window and an expired one: PURGED once each", async () => {
      const c = await as("w-sweep");
      const admin = await as("w-sweep-operator", { scope: "secrets.admin" });
      const w = await live(c);
      await c.createSecret({ name: "sweep_deleted", value: "d" });
      await c.putSecretValue({ name: "sweep_deleted", value: "d2" });
      await c.deleteSecret({ name: "sweep_deleted", recoveryWindowDays: 1 });
      // The recovery window has no shorter setting than a day: its end is moved into the past.
      const moved = await raw.db.collection("secrets").updateOne({ tenant: "w-sweep", name: "sweep_deleted" }, { $set: { purgeTime: new Date(Date.now() - 1_000) } });
      expect(moved.modifiedCount).toBe(1);
      const expiring = await c.createSecret({ name: "sweep_expired", value: "e", ttl: durationFromMs(1_000) });
      const expiresAt = Number(expiring.secret!.expireTime!.seconds) * 1000 + expiring.secret!.expireTime!.nanos / 1e6;
      await waitUntil(() => Date.now() > expiresAt + 50, "the secret is past its expiry");
      expect(await settle(w, c)).toEqual(["CREATED sweep_deleted 1", "VERSION_ADDED sweep_deleted 2", "DELETED sweep_deleted 2", "CREATED sweep_expired 1"]);

      const first = await admin.runMaintenance({});
      expect(first.purgedSecrets).toBeGreaterThanOrEqual(2);
      await admin.runMaintenance({});
      const after = await settle(w, c);
      expect(after.slice(4).sort()).toEqual(["PURGED sweep_deleted 2", "PURGED sweep_expired 1"]);
    });

    it("events carry names and versions only; heartbeats have an empty name and version 0 and keep coming", async () => {
      const c = await as("w-beat");
      const w = await live(c);
      await c.createSecret({ name: "beat_a", value: "a-very-secret-value" });
      await w.until((x) => x.named().length === 1, "the create event");
      const created = w.events.find((e) => e.type === SecretEventType.CREATED)!;
      expect(JSON.stringify(created, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toContain("a-very-secret-value");
      await w.until((x) => x.heartbeats().length >= 3, "three heartbeats");
      for (const h of w.heartbeats()) {
        expect(h.name).toBe("");
        expect(h.version).toBe(0n);
        expect(h.eventTime).toBeDefined();
      }
      expect(w.ended).toBe(false);
    });
  });

  describe("who sees what", () => {
    it("names: only the watched secrets' events (duplicates allowed)", async () => {
      const c = await as("w-names");
      const w = await live(c, ["names_a", "names_b", "names_a"]);
      await c.createSecret({ name: "names_c", value: "c" });
      await c.createSecret({ name: "names_a", value: "a" });
      await c.putSecretValue({ name: "names_c", value: "c2" });
      await c.createSecret({ name: "names_b", value: "b" });
      await w.until((x) => x.named().includes("CREATED names_b 1"), "names_b's event");
      expect(w.named()).toEqual(["CREATED names_a 1", "CREATED names_b 1"]);
    });

    it("names: 100 is the most; a 101st, a bad name or a glob is INVALID_ARGUMENT", async () => {
      const c = await as("w-limits");
      const hundred = Array.from({ length: 100 }, (_, i) => `limit_${i}`);
      await live(c, hundred);
      for (const names of [[...hundred, "limit_100"], ["1starts_with_digit"], ["limit_*"], [""], ["has-dash"], ["x".repeat(129)]]) {
        const w = watchOn(c, names);
        await w.until((x) => x.ended, `the watch of ${names.length} names ends`);
        expect(w.events).toEqual([]);
        expect(codeOf(w.error), names.slice(-1)[0]).toBe("InvalidArgument");
        expect(ConnectError.from(w.error).rawMessage).toContain("names");
      }
    });

    it("a token's globs: events outside them are never delivered, even for names watched", async () => {
      const owner = await as("w-globs");
      const narrow = await as("w-globs", { secrets: ["app_*", "zz_sentinel_*"] });
      const all = await live(narrow);
      const named = await live(narrow, ["other_x", "app_y"]);
      await owner.createSecret({ name: "other_x", value: "x" });
      await owner.createSecret({ name: "app_y", value: "y" });
      await owner.deleteSecret({ name: "other_x" });
      await named.until((x) => x.named().includes("CREATED app_y 1"), "app_y's event");
      expect(await settle(all, owner)).toEqual(["CREATED app_y 1"]);
      expect(named.named()).toEqual(["CREATED app_y 1"]);
    });

    it("tenants: a watcher never sees another tenant's events, same names included", async () => {
      const x = await as("w-tenant-x");
      const y = await as("w-tenant-y");
      const wx = await live(x);
      const wy = await live(y, ["same_name"]);
      const wyAll = await live(y);
      for (const c of [x, y]) {
        await c.createSecret({ name: "same_name", value: "v" });
        await c.putSecretValue({ name: "same_name", value: "v2" });
      }
      await x.deleteSecret({ name: "same_name" });
      expect(await settle(wx, x)).toEqual(["CREATED same_name 1", "VERSION_ADDED same_name 2", "DELETED same_name 2"]);
      expect(await settle(wyAll, y)).toEqual(["CREATED same_name 1", "VERSION_ADDED same_name 2"]);
      expect(wy.named()).toEqual(["CREATED same_name 1", "VERSION_ADDED same_name 2"]);
    });
  });

  describe("protocols", () => {
    const withToken = (token: string): Interceptor[] => [
      (next) => (req) => {
        req.header.set("authorization", `Bearer ${token}`);
        return next(req);
      },
    ];
    const transports: [string, (token: string) => Transport][] = [
      ["gRPC (HTTP/2)", (token) => createGrpcTransport({ baseUrl: server.baseUrl, interceptors: withToken(token) })],
      ["gRPC-Web (HTTP/1.1)", (token) => createGrpcWebTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", interceptors: withToken(token) })],
      ["gRPC-Web (HTTP/2)", (token) => createGrpcWebTransport({ baseUrl: server.baseUrl, httpVersion: "2", interceptors: withToken(token) })],
      ["Connect JSON (HTTP/1.1)", (token) => createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors: withToken(token) })],
      ["Connect binary (HTTP/2)", (token) => createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "2", useBinaryFormat: true, interceptors: withToken(token) })],
    ];

    it.each(transports)("%s: heartbeat, events, heartbeats again", async (label, transport) => {
      const developer = `w-proto-${label.replace(/\W+/g, "-").toLowerCase()}`;
      const c = createClient(SecretsService, transport(await server.token(developer)));
      const w = await live(c);
      await c.createSecret({ name: "proto_a", value: "v" });
      await c.putSecretValue({ name: "proto_a", value: "v2" });
      await w.until((x) => x.named().length === 2, "two events");
      const beats = w.heartbeats().length;
      await w.until((x) => x.heartbeats().length > beats, "a heartbeat after the events");
      expect(w.named()).toEqual(["CREATED proto_a 1", "VERSION_ADDED proto_a 2"]);
      // A refusal travels as the stream's status.
      const refused = collectWatch((signal) => c.watchSecrets({ names: ["bad-name"] }, { signal }), WAIT_MS);
      watches.push(refused);
      await refused.until((x) => x.ended, "the refused watch ends");
      expect(codeOf(refused.error)).toBe("InvalidArgument");
    });

    it("@grpc/grpc-js, built from the .proto alone", async () => {
      const definition = protoLoader.loadSync("secrets/v1/secrets.proto", {
        includeDirs: [path.resolve(import.meta.dirname, "../../proto")],
        longs: String,
        enums: String,
        defaults: true,
        oneofs: true,
      });
      const pkg = grpc.loadPackageDefinition(definition) as unknown as { secrets: { v1: { SecretsService: grpc.ServiceClientConstructor } } };
      const client = new pkg.secrets.v1.SecretsService(server.target, grpc.credentials.createInsecure());
      try {
        const metadata = new grpc.Metadata();
        metadata.set("authorization", `Bearer ${await server.token("w-grpc-js")}`);
        const call = (client as unknown as Record<string, (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<{ event: { name: string; version: string; type: string } }>>)
          .WatchSecrets!.call(client, { names: [] }, metadata);
        const got: string[] = [];
        let status: grpc.ServiceError | undefined;
        call.on("data", (res) => got.push(`${res.event.type} ${res.event.name} ${res.event.version}`));
        call.on("error", (err: grpc.ServiceError) => (status = err));
        await waitUntil(() => got.length > 0, "the first message", WAIT_MS);
        expect(got[0]).toBe("SECRET_EVENT_TYPE_HEARTBEAT  0");
        const c = await as("w-grpc-js");
        await c.createSecret({ name: "grpcjs_a", value: "v" });
        await c.deleteSecret({ name: "grpcjs_a" });
        await waitUntil(() => got.filter((g) => !g.includes("HEARTBEAT")).length === 2, "two events", WAIT_MS);
        expect(got.filter((g) => !g.includes("HEARTBEAT"))).toEqual(["SECRET_EVENT_TYPE_CREATED grpcjs_a 1", "SECRET_EVENT_TYPE_DELETED grpcjs_a 1"]);
        call.cancel();
        await waitUntil(() => status !== undefined, "the cancelled call ends", WAIT_MS);
        expect(status!.code).toBe(grpc.status.CANCELLED);
      } finally {
        client.close();
      }
    });
  });

  describe("access and the stream's end", () => {
    it("needs secrets.read: secrets.access or secrets.write alone is PERMISSION_DENIED; no token is UNAUTHENTICATED", async () => {
      for (const scope of ["secrets.access", "secrets.write", "secrets.access secrets.write"]) {
        const w = watchOn(await as("w-scope", { scope }));
        await w.until((x) => x.ended, `the ${scope} watch ends`);
        expect(w.events, scope).toEqual([]);
        expect(codeOf(w.error), scope).toBe("PermissionDenied");
      }
      const anonymous = createClient(SecretsService, createGrpcTransport({ baseUrl: server.baseUrl }));
      const w = watchOn(anonymous);
      await w.until((x) => x.ended, "the anonymous watch ends");
      expect(codeOf(w.error)).toBe("Unauthenticated");
      // secrets.read alone is enough.
      const reader = await live(await as("w-scope", { scope: "secrets.read" }));
      await (await as("w-scope")).createSecret({ name: "scope_a", value: "v" });
      await reader.until((x) => x.named().includes("CREATED scope_a 1"), "the event");
    });

    it("ends with UNAUTHENTICATED when the token expires", async () => {
      const c = await as("w-expiry", { expiresIn: "3s" });
      const w = await live(c);
      await w.until((x) => x.ended, "the stream ends at the token's expiry");
      expect(codeOf(w.error)).toBe("Unauthenticated");
      expect(ConnectError.from(w.error).rawMessage).toMatch(/expired/);
    });

    it("ends with UNAUTHENTICATED when its task token is revoked; other watches go on", async () => {
      const owner = await as("w-task");
      const minted = await owner.createTaskToken({ scopes: ["secrets.read"], secrets: ["task_*"], label: "watcher" });
      const other = await owner.createTaskToken({ scopes: ["secrets.read"], secrets: ["task_*"], label: "bystander" });
      const taskClient = connectGrpcClient(server.baseUrl, minted.token);
      const w = await live(taskClient);
      const bystander = await live(connectGrpcClient(server.baseUrl, other.token));
      await owner.createSecret({ name: "task_a", value: "v" });
      await owner.createSecret({ name: "outside_task", value: "v" });
      await w.until((x) => x.named().length > 0, "the event");
      await owner.revokeTaskToken({ tokenId: minted.tokenId });
      await w.until((x) => x.ended, "the stream ends after the revocation");
      expect(codeOf(w.error)).toBe("Unauthenticated");
      expect(ConnectError.from(w.error).rawMessage).toMatch(/revoked/);
      // A new watch with the revoked token is refused at once.
      const again = watchOn(taskClient);
      await again.until((x) => x.ended, "the new watch ends");
      expect(codeOf(again.error)).toBe("Unauthenticated");
      await owner.putSecretValue({ name: "task_a", value: "v2" });
      await bystander.until((x) => x.named().includes("VERSION_ADDED task_a 2"), "the bystander's event");
      expect(bystander.ended).toBe(false);
      expect(w.named()).toEqual(["CREATED task_a 1"]);
    });

    it("an AbortController ends the stream on the client (CANCELED) while other watches of the tenant go on", async () => {
      const c = await as("w-abort");
      const a = await live(c);
      const b = await live(c);
      await a.stop();
      expect(codeOf(a.error)).toBe("Canceled");
      await c.createSecret({ name: "abort_a", value: "v" });
      await b.until((x) => x.named().includes("CREATED abort_a 1"), "the other watch's event");
      expect(a.named()).toEqual([]);
    });

    it("writes one audit event when the stream opens (method WatchSecrets), and one for a refusal", async () => {
      const c = await as("w-audit");
      const w = await live(c, ["audit_a", "audit_b"]);
      const opened = await c.listAuditEvents({ method: "WatchSecrets" });
      expect(opened.events).toHaveLength(1);
      expect(opened.events[0]).toMatchObject({ method: "WatchSecrets", developerId: "w-audit", principal: "w-audit-user", code: 0, names: ["audit_a", "audit_b"] });
      await c.createSecret({ name: "audit_a", value: "v" });
      await w.until((x) => x.named().length === 1 && x.heartbeats().length >= 3, "an event and more heartbeats");
      await w.stop();
      const refused = watchOn(c, ["audit-bad"]);
      await refused.until((x) => x.ended, "the refused watch ends");
      const events = (await c.listAuditEvents({ method: "WatchSecrets" })).events;
      expect(events.map((e) => e.code)).toEqual([Code.InvalidArgument, 0]);
    });
  });
});
