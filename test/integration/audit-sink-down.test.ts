import { randomBytes } from "node:crypto";
import { startTcpProxy } from "../helpers/tcp-proxy.js";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, type Client } from "@connectrpc/connect";
import { MongoClient } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { MongoAuditStore } from "../../src/adapters/mongodb/mongo-audit-store.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { connectErrorOf } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { dropDatabase, freshDbName, services } from "../helpers/services.js";

// The audit trail fails closed in a real outage: the audit store (MongoAuditStore) reaches
// FerretDB through a TCP proxy, the secrets store directly. With the proxy cut, every call that
// would return secret material or change a secret answers UNAVAILABLE, and no value leaves;
// once the proxy is back, calls succeed and are recorded again.

type Secrets = Client<typeof SecretsService>;

/** Fail-fast window of the request pipeline after an audit write failed (transport/access.ts); waited out to reach the real sink. */
const FAIL_FAST_MS = 1_000;

describe("audit sink down (MongoAuditStore through a cut TCP proxy)", () => {
  const auditDb = freshDbName("audit_down");
  let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
  let auditClient: MongoClient;
  let server: TestServer;
  let client: Secrets;
  let token: string;
  let raw: RawDb;
  const rid = (label: string) => `sink-${label}-${randomBytes(5).toString("hex")}`;
  const withId = (requestId: string) => ({ headers: { "x-request-id": requestId } });
  const values: string[] = [];
  const value = (label: string) => {
    const v = `VALUE-${label}-${randomBytes(8).toString("hex")}`;
    values.push(v);
    return v;
  };
  const storedIds = async () => new Set((await raw.db.collection("audit_events").find({}).toArray()).map((d) => String(d.requestId)));
  const eventOf = (requestId: string) => raw.db.collection("audit_events").findOne({ requestId });

  /** A Connect JSON call, returning the raw response text (to look for values in it). */
  async function json(method: string, body: unknown, requestId: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`${server.baseUrl}/secrets.v1.SecretsService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "x-request-id": requestId },
      body: JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  }

  /** The four calls that must not go unrecorded, over gRPC, each with the request id given. */
  const grpcCalls: [label: string, call: (requestId: string) => Promise<unknown>][] = [
    ["GetSecretValue", (id) => client.getSecretValue({ name: "sink_key" }, withId(id))],
    ["BatchGetSecretValues", (id) => client.batchGetSecretValues({ names: ["sink_key", "sink_other"] }, withId(id))],
    ["GetSecret", (id) => client.getSecret({ name: "sink_key" }, withId(id))],
    ["PutSecretValue", (id) => client.putSecretValue({ name: "sink_other", value: value("put-grpc") }, withId(id))],
  ];
  const jsonCalls: [method: string, body: () => unknown][] = [
    ["GetSecretValue", () => ({ name: "sink_key" })],
    ["BatchGetSecretValues", () => ({ names: ["sink_key", "sink_other"] })],
    ["GetSecret", () => ({ name: "sink_key" })],
    ["PutSecretValue", () => ({ name: "sink_other", value: value("put-json") })],
  ];

  beforeAll(async () => {
    const mongoPort = Number(new URL(services.mongoUri).port || 27017);
    proxy = await startTcpProxy(mongoPort, new URL(services.mongoUri).hostname);
    // Short timeouts so the outage is noticed quickly; a short heartbeat so the recovery is too.
    auditClient = new MongoClient(`mongodb://127.0.0.1:${proxy.port}/${auditDb}`, {
      serverSelectionTimeoutMS: 1_500,
      socketTimeoutMS: 1_500,
      connectTimeoutMS: 1_500,
      heartbeatFrequencyMS: 500,
      retryWrites: false,
      retryReads: false,
      directConnection: true,
    });
    await auditClient.connect();
    const store = new MongoAuditStore(auditClient.db(auditDb));
    await store.ensureIndexes();
    server = await startTestServer({ store: "mongodb", keys: "local", label: "audit_down", audit: { store } });
    raw = await openRawDb(auditDb);
    token = await server.token("sink-dev", "sink-user");
    client = connectGrpcClient(server.baseUrl, token);
    await client.createSecret({ name: "sink_key", value: value("key") });
    await client.createSecret({ name: "sink_other", value: value("other") });
  });

  afterAll(async () => {
    await server?.close();
    await auditClient?.close(true);
    await proxy?.close();
    await raw?.close();
    await dropDatabase(auditDb);
  });

  it("with the sink up, reads are served and recorded in the proxied store", async () => {
    const id = rid("up");
    const read = await client.getSecretValue({ name: "sink_key" }, withId(id));
    expect(read.value).toBe(values[0]);
    expect(await eventOf(id)).toMatchObject({ method: "GetSecretValue", code: 0, tenant: "sink-dev", principal: "sink-user", names: ["sink_key"] });
  });

  it("with the sink cut, GetSecretValue, BatchGetSecretValues, GetSecret and PutSecretValue answer UNAVAILABLE and no value leaves", async () => {
    const before = await raw.db.collection("audit_events").countDocuments();
    proxy.cut();
    // Each call twice: at once (likely inside the fail-fast window), and after the window, when it
    // runs to the end and its event fails to be stored.
    for (const [label, call] of grpcCalls) {
      for (const wait of [0, FAIL_FAST_MS + 100]) {
        await sleep(wait);
        const err = await connectErrorOf(call(rid(`down-${label}`)));
        expect(err.code, `${label}: ${err.rawMessage}`).toBe(Code.Unavailable);
        for (const v of values) expect(JSON.stringify({ message: err.rawMessage, metadata: [...err.metadata] })).not.toContain(v);
      }
    }
    for (const [method, body] of jsonCalls) {
      for (const wait of [0, FAIL_FAST_MS + 100]) {
        await sleep(wait);
        const res = await json(method, body(), rid(`down-json-${method}`));
        expect(res.status, `${method}: ${res.text}`).toBe(503);
        expect(JSON.parse(res.text)).toMatchObject({ code: "unavailable" });
        for (const v of values) expect(res.text).not.toContain(v);
      }
    }
    // Nothing could be written meanwhile, through the direct connection the test reads with.
    expect(await raw.db.collection("audit_events").countDocuments()).toBe(before);
  });

  it("after the proxy heals, the same calls succeed and are recorded again", async () => {
    proxy.heal();
    // The pipeline refuses calls for a second after a failure, and the driver has to find the server again.
    await waitUntil(
      async () => {
        try {
          await client.getSecretValue({ name: "sink_key" }, withId(rid("probe")));
          return true;
        } catch {
          return false;
        }
      },
      "reads succeed again after the audit store is back",
      60_000,
    );
    const sent: [label: string, id: string][] = [];
    for (const [label, call] of grpcCalls) {
      const id = rid(`healed-${label}`);
      await expect(call(id), label).resolves.toBeDefined();
      sent.push([label, id]);
    }
    for (const [method, body] of jsonCalls) {
      const id = rid(`healed-json-${method}`);
      const res = await json(method, body(), id);
      expect(res.status, `${method}: ${res.text}`).toBe(200);
      sent.push([method, id]);
    }
    const stored = await storedIds();
    for (const [label, id] of sent) {
      expect(stored.has(id), `${label} ${id} is recorded`).toBe(true);
      expect(await eventOf(id), label).toMatchObject({ method: label, code: 0, tenant: "sink-dev" });
    }
    const read = await client.getSecretValue({ name: "sink_key" });
    expect(read.value).toBe(values[0]);
  });
});
