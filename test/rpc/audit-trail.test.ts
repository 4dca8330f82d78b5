import { randomBytes } from "node:crypto";
import { create, fromBinary, fromJson, toBinary, toJson, type DescMessage, type DescMethodUnary, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type CallOptions, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { BSON, type Collection } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { mintToken } from "../../src/auth/dev-token.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// The audit trail is complete, exact and keeps no secret, over the real server and FerretDB:
// 54 calls over three client stacks (connect gRPC, @grpc/grpc-js, Connect JSON by fetch) —
// successes of every RPC, NOT_FOUND, INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED,
// delegated calls, a refused delegation, malformed bodies the edge refuses, task-token calls —
// each with its own x-request-id, leave exactly one event each in `audit_events`, read raw,
// with the right method, code, principal, tenant, names, versions, peer and user agent.
// No value, token or request body text appears in the trail or in the server's log.

type MethodName = keyof typeof SecretsService.method;
type Via = "connect" | "grpc-js" | "json";

/** Who calls: the token sent (none when absent), extra headers, and what the event must say of the caller. */
interface Caller {
  readonly token?: string;
  readonly headers?: Record<string, string>;
  readonly principal: string;
  readonly tenant: string;
  readonly delegated?: boolean;
  readonly tokenId?: string;
  readonly tokenLabel?: string;
}

interface Expected {
  readonly requestId: string;
  readonly method: string;
  readonly code: number;
  readonly principal: string;
  readonly tenant: string;
  readonly delegated: boolean;
  readonly tokenId: string;
  readonly tokenLabel: string;
  readonly names: readonly string[];
  readonly versions: readonly number[];
  readonly userAgent: RegExp;
  readonly label: string;
}

/** An audit_events document as stored. */
interface RawEvent {
  _id: string;
  time: Date;
  requestId: string;
  principal: string;
  tenant: string;
  delegated: boolean;
  tokenId: string;
  tokenLabel: string;
  method: string;
  names: string[];
  versions: number[];
  code: number;
  peerAddress: string;
  userAgent: string;
  mtlsSubject: string;
}

interface Reply {
  readonly code: number;
  /** The decoded response on success (loosely typed: one helper serves every method). */
  readonly res?: any;
  /** The x-request-id response header. */
  readonly requestId: string | null | undefined;
}

const GRPC_JS_AGENT = "audit-trail-grpcjs/1.0";
const JSON_AGENT = "audit-trail-json/2.0 (fetch)";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const AGENTS: Record<Via, RegExp> = {
  connect: /^connect-es\/\d/,
  "grpc-js": new RegExp(`^${GRPC_JS_AGENT.replace(/[./]/g, "\\$&")} grpc-node-js/`),
  json: new RegExp(`^${JSON_AGENT.replace(/[./()]/g, "\\$&")}$`),
};
const hex = () => randomBytes(6).toString("hex");

/** "invalid_argument" → Code.InvalidArgument. */
function codeOfJson(name: unknown): number {
  const key = String(name).replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase()) as keyof typeof Code;
  const code = Code[key];
  if (typeof code !== "number") throw new Error(`unknown Connect code ${String(name)}`);
  return code;
}

describe("audit trail completeness over the real server", () => {
  let server: TestServer;
  let raw: RawDb;
  let events: Collection<RawEvent>;
  let connect: Client<typeof SecretsService>;
  let grpcJs: grpc.Client;
  const expected: Expected[] = [];
  /** Every value, request body text and token sent: none may be recorded or logged. */
  const secrets: string[] = [];
  const value = (label: string) => {
    const v = `VALUE-${label}-${hex()}`;
    secrets.push(v);
    return v;
  };
  const body = (label: string) => {
    const b = `BODY-${label}-${hex()}`;
    secrets.push(b);
    return b;
  };
  const started = new Date();

  async function send(via: Via, method: MethodName, request: Record<string, unknown>, headers: Record<string, string>): Promise<Reply> {
    const desc = SecretsService.method[method] as unknown as DescMethodUnary<DescMessage, DescMessage>;
    if (via === "connect") {
      let header: Headers | undefined;
      const fn = (connect as unknown as Record<string, (req: object, opts: CallOptions) => Promise<unknown>>)[method]!;
      try {
        const res = await fn.call(connect, request, { headers, onHeader: (h) => (header = h) });
        return { code: 0, res, requestId: header?.get("x-request-id") };
      } catch (err) {
        const e = ConnectError.from(err);
        return { code: e.code, requestId: e.metadata.get("x-request-id") };
      }
    }
    if (via === "grpc-js") {
      const metadata = new grpc.Metadata();
      for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
      return new Promise((resolve) => {
        let header: grpc.Metadata | undefined;
        const call = grpcJs.makeUnaryRequest(
          `/${SecretsService.typeName}/${desc.name}`,
          (m: Record<string, unknown>) => Buffer.from(toBinary(desc.input, create(desc.input, m))),
          (bytes: Buffer) => fromBinary(desc.output, bytes),
          request,
          metadata,
          (err, res) => {
            const id = header?.get("x-request-id")[0];
            resolve({ code: err ? err.code : 0, res, requestId: id === undefined ? undefined : String(id) });
          },
        );
        call.on("metadata", (m: grpc.Metadata) => (header = m));
      });
    }
    const res = await fetch(`${server.baseUrl}/${SecretsService.typeName}/${desc.name}`, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": JSON_AGENT, ...headers },
      body: JSON.stringify(toJson(desc.input, create(desc.input, request))),
    });
    const json = (await res.json()) as JsonValue & { code?: unknown };
    if (res.status === 200) return { code: 0, res: fromJson(desc.output, json), requestId: res.headers.get("x-request-id") };
    return { code: codeOfJson(json.code), requestId: res.headers.get("x-request-id") };
  }

  /** One recorded call: checks its code and echoed request id, and notes the event it must leave. */
  async function call(
    via: Via,
    method: MethodName,
    request: Record<string, unknown>,
    who: Caller,
    /** The gRPC code expected (0 = OK). */
    code: number,
    touched: [names: string[], versions: number[]],
    options: { requestId?: false } = {},
  ): Promise<Reply> {
    const requestId = options.requestId === false ? undefined : `audit-${method}-${expected.length}-${hex()}`;
    const headers: Record<string, string> = {
      ...(who.token !== undefined ? { authorization: `Bearer ${who.token}` } : {}),
      ...(requestId ? { "x-request-id": requestId } : {}),
      ...who.headers,
    };
    const label = `#${expected.length} ${via} ${method} as ${who.principal || "nobody"}`;
    const reply = await send(via, method, request, headers);
    expect(reply.code, label).toBe(code);
    if (requestId) expect(reply.requestId, label).toBe(requestId);
    else expect(reply.requestId, label).toMatch(UUID);
    expected.push({
      requestId: requestId ?? reply.requestId!,
      method: SecretsService.method[method].name,
      code,
      principal: who.principal,
      tenant: who.tenant,
      delegated: who.delegated ?? false,
      tokenId: who.tokenId ?? "",
      tokenLabel: who.tokenLabel ?? "",
      names: touched[0],
      versions: touched[1],
      userAgent: AGENTS[via],
      label,
    });
    return reply;
  }

  /** A Connect unary POST whose application/proto body is no message: the edge refuses and records it. */
  async function malformed(method: string, token: string | undefined): Promise<void> {
    const requestId = `audit-malformed-${expected.length}-${hex()}`;
    const res = await fetch(`${server.baseUrl}/${SecretsService.typeName}/${method}`, {
      method: "POST",
      headers: {
        "content-type": "application/proto",
        "user-agent": JSON_AGENT,
        "x-request-id": requestId,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: Buffer.from([0xff, 0xff, 0xff, 0x0a, 0x7f]),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
    expect(res.headers.get("x-request-id")).toBe(requestId);
    expected.push({
      requestId,
      method,
      code: Code.InvalidArgument,
      principal: "",
      tenant: "",
      delegated: false,
      tokenId: "",
      tokenLabel: "",
      names: [],
      versions: [],
      userAgent: AGENTS.json,
      label: `#${expected.length} malformed ${method}`,
    });
  }

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_audit_trail" });
    raw = await openRawDb(server.fixture.db!);
    events = raw.db.collection<RawEvent>("audit_events");
    connect = createClient(SecretsService, createGrpcTransport({ baseUrl: server.baseUrl }));
    grpcJs = new grpc.Client(server.target, grpc.credentials.createInsecure(), { "grpc.primary_user_agent": GRPC_JS_AGENT });

    const aliceToken = await server.token("at-alice", "alice");
    const readerToken = await server.token("at-alice", "reader", { scope: "secrets.read" });
    const delegateToken = await server.token("at-delegator", "deleg-bot", { scope: "secrets.read secrets.access secrets.write secrets.delegate" });
    const foreignToken = await mintToken(randomBytes(32).toString("base64url"), { sub: "alice", developer_id: "at-alice" });
    const garbageToken = `not-a-jwt-${hex()}`;
    secrets.push(aliceToken, readerToken, delegateToken, foreignToken, garbageToken);

    const alice: Caller = { token: aliceToken, principal: "alice", tenant: "at-alice" };
    const reader: Caller = { token: readerToken, principal: "reader", tenant: "at-alice" };
    const delegate: Caller = { token: delegateToken, headers: { "x-developer-id": "other-tenant" }, principal: "deleg-bot", tenant: "other-tenant", delegated: true };
    // A delegation refused: recorded under the caller's own tenant, not the one it asked for.
    const aliceAsOther: Caller = { ...alice, headers: { "x-developer-id": "other-tenant" } };
    const delegateBadHeader: Caller = { token: delegateToken, headers: { "x-developer-id": "bad tenant!" }, principal: "deleg-bot", tenant: "at-delegator" };
    const forged: Caller = { token: foreignToken, principal: "", tenant: "" };
    const garbage: Caller = { token: garbageToken, principal: "", tenant: "" };
    const nobody: Caller = { principal: "", tenant: "" };

    // Successes of every kind, as alice.
    await call("connect", "createSecret", { name: "alpha", value: value("a1"), description: body("alpha"), metadata: { note: body("meta") } }, alice, 0, [["alpha"], [1]]);
    await call("grpc-js", "createSecret", { name: "beta", value: value("b1"), description: body("beta") }, alice, 0, [["beta"], [1]]);
    await call("json", "createSecret", { name: "gamma", value: value("g1"), description: body("gamma") }, alice, 0, [["gamma"], [1]]);
    const taskValue = value("t1");
    await call("json", "createSecret", { name: "task_db", value: taskValue }, alice, 0, [["task_db"], [1]]);
    const put2 = await call("connect", "putSecretValue", { name: "alpha", value: value("a2") }, alice, 0, [["alpha"], [2]]);
    expect(put2.res.version.version).toBe(2n);
    const alphaLatest = value("a3");
    await call("grpc-js", "putSecretValue", { name: "alpha", value: alphaLatest }, alice, 0, [["alpha"], [3]]);
    await call("json", "putSecretValue", { name: "beta", value: value("b2") }, alice, 0, [["beta"], [2]]);
    // Version 0 (latest) records the version actually read.
    const latest = await call("connect", "getSecretValue", { name: "alpha", version: 0n }, alice, 0, [["alpha"], [3]]);
    expect(latest.res).toMatchObject({ version: 3n, value: alphaLatest });
    await call("grpc-js", "getSecretValue", { name: "alpha", version: 1n }, alice, 0, [["alpha"], [1]]);
    await call("json", "getSecretValue", { name: "beta" }, alice, 0, [["beta"], [2]]);
    await call("connect", "getSecret", { name: "alpha" }, alice, 0, [["alpha"], [0]]);
    await call("grpc-js", "getSecret", { name: "gamma" }, alice, 0, [["gamma"], [0]]);
    await call("json", "listSecrets", {}, alice, 0, [["alpha", "beta", "gamma", "task_db"], [0, 0, 0, 0]]);
    await call("connect", "listSecretVersions", { name: "alpha" }, alice, 0, [["alpha"], [0]]);
    await call("grpc-js", "updateSecret", { name: "gamma", description: body("gamma2"), updateMask: { paths: ["description"] } }, alice, 0, [["gamma"], [0]]);
    await call("json", "updateSecret", { name: "gamma", value: value("g2") }, alice, 0, [["gamma"], [2]]);
    await call("connect", "disableSecretVersion", { name: "alpha", version: 1n }, alice, 0, [["alpha"], [1]]);
    await call("grpc-js", "enableSecretVersion", { name: "alpha", version: 1n }, alice, 0, [["alpha"], [1]]);
    await call("json", "destroySecretVersion", { name: "beta", version: 1n }, alice, 0, [["beta"], [1]]);
    // A batch names every requested name, with the version read, 0 for the ones that failed.
    const batch = await call("connect", "batchGetSecretValues", { names: ["alpha", "beta", "nosuch_batch"] }, alice, 0, [["alpha", "beta", "nosuch_batch"], [3, 2, 0]]);
    expect(batch.res.errors.map((e: { name: string }) => e.name)).toEqual(["nosuch_batch"]);
    await call("grpc-js", "batchGetSecretValues", { names: ["gamma", "alpha"] }, alice, 0, [["gamma", "alpha"], [2, 3]]);
    await call("connect", "deleteSecret", { name: "gamma" }, alice, 0, [["gamma"], [0]]);
    await call("grpc-js", "restoreSecret", { name: "gamma" }, alice, 0, [["gamma"], [0]]);
    await call("json", "listAuditEvents", { name: "alpha", pageSize: 5 }, alice, 0, [["alpha"], [0]]);

    // A task token: its calls carry its id and label.
    const label = `task-label-${hex()}`;
    const minted = await call("connect", "createTaskToken", { secrets: ["task_*"], scopes: ["secrets.access"], label }, alice, 0, [["task_*"], [0]]);
    const taskToken = String(minted.res.token);
    secrets.push(taskToken);
    const task: Caller = { token: taskToken, principal: "alice", tenant: "at-alice", tokenId: String(minted.res.tokenId), tokenLabel: label };
    expect(task.tokenId).toMatch(/^tt_/);
    const taskRead = await call("connect", "getSecretValue", { name: "task_db" }, task, 0, [["task_db"], [1]]);
    expect(taskRead.res.value).toBe(taskValue);
    await call("grpc-js", "batchGetSecretValues", { names: ["task_db", "alpha"] }, task, 0, [["task_db", "alpha"], [1, 0]]);
    await call("json", "getSecretValue", { name: "alpha" }, task, Code.NotFound, [["alpha"], [0]]);
    await call("connect", "getSecret", { name: "task_db" }, task, Code.PermissionDenied, [["task_db"], [0]]);
    await call("connect", "revokeTaskToken", { tokenId: task.tokenId }, alice, 0, [[], []]);

    // NOT_FOUND and INVALID_ARGUMENT.
    await call("connect", "getSecretValue", { name: "nosuch" }, alice, Code.NotFound, [["nosuch"], [0]]);
    await call("grpc-js", "getSecret", { name: "nosuch" }, alice, Code.NotFound, [["nosuch"], [0]]);
    await call("json", "deleteSecret", { name: "nosuch" }, alice, Code.NotFound, [["nosuch"], [0]]);
    await call("connect", "getSecretValue", { name: "alpha", version: 99n }, alice, Code.NotFound, [["alpha"], [99]]);
    await call("connect", "createSecret", { name: "9-bad name", value: value("bad1"), description: body("bad1") }, alice, Code.InvalidArgument, [["9-bad name"], [0]]);
    await call("grpc-js", "getSecret", { name: "bad name!" }, alice, Code.InvalidArgument, [["bad name!"], [0]]);
    await call("json", "putSecretValue", { name: "bad-name", value: value("bad2") }, alice, Code.InvalidArgument, [["bad-name"], [0]]);

    // PERMISSION_DENIED by scope.
    await call("connect", "getSecretValue", { name: "alpha" }, reader, Code.PermissionDenied, [["alpha"], [0]]);
    await call("grpc-js", "putSecretValue", { name: "alpha", value: value("denied1") }, reader, Code.PermissionDenied, [["alpha"], [0]]);
    await call("json", "createSecret", { name: "zeta", value: value("denied2"), description: body("denied2") }, reader, Code.PermissionDenied, [["zeta"], [0]]);

    // UNAUTHENTICATED: no principal, no tenant.
    await call("connect", "getSecretValue", { name: "alpha" }, forged, Code.Unauthenticated, [["alpha"], [0]]);
    await call("grpc-js", "getSecret", { name: "alpha" }, garbage, Code.Unauthenticated, [["alpha"], [0]]);
    await call("json", "listSecrets", {}, nobody, Code.Unauthenticated, [[], []]);
    await call("connect", "getSecretValue", { name: "alpha" }, nobody, Code.Unauthenticated, [["alpha"], [0]]);

    // Delegation: for other-tenant, under the delegate's own name.
    const otherValue = value("o1");
    await call("connect", "createSecret", { name: "other_db", value: otherValue, description: body("other") }, delegate, 0, [["other_db"], [1]]);
    const delegatedRead = await call("grpc-js", "getSecretValue", { name: "other_db" }, delegate, 0, [["other_db"], [1]]);
    expect(delegatedRead.res.value).toBe(otherValue);
    await call("json", "listSecrets", {}, delegate, 0, [["other_db"], [0]]);
    await call("connect", "getSecretValue", { name: "other_db" }, aliceAsOther, Code.PermissionDenied, [["other_db"], [0]]);
    await call("grpc-js", "listSecrets", {}, aliceAsOther, Code.PermissionDenied, [[], []]);
    await call("json", "getSecret", { name: "other_db" }, delegateBadHeader, Code.InvalidArgument, [["other_db"], [0]]);

    // Malformed bodies, refused at the edge before any principal is known (even with a valid token).
    await malformed("GetSecretValue", aliceToken);
    await malformed("CreateSecret", undefined);

    // No x-request-id: the server makes one, echoes and records it.
    await call("connect", "getSecret", { name: "alpha" }, alice, 0, [["alpha"], [0]], { requestId: false });
    await call("json", "getSecretValue", { name: "task_db" }, alice, 0, [["task_db"], [1]], { requestId: false });

    // The edge writes its events after the response: wait until every call has one.
    await waitUntil(async () => (await events.countDocuments()) >= expected.length, `${expected.length} audit events are stored`);
  });

  afterAll(async () => {
    grpcJs?.close();
    await raw?.close();
    await server?.close();
  });

  it("stores exactly one event per call, found by its request id", async () => {
    expect(expected.length).toBeGreaterThanOrEqual(40);
    const stored = await events.find({}).toArray();
    expect(stored).toHaveLength(expected.length);
    expect(new Set(stored.map((e) => e.requestId))).toEqual(new Set(expected.map((e) => e.requestId)));
    expect(new Set(stored.map((e) => e._id)).size).toBe(stored.length);
    // Every protocol and every outcome kind took part.
    expect(new Set(expected.map((e) => e.code))).toEqual(new Set([0, Code.NotFound, Code.InvalidArgument, Code.PermissionDenied, Code.Unauthenticated]));
  });

  it("each event records the call's method, code, principal, tenant, delegation, token, names and versions", async () => {
    const byRequest = new Map((await events.find({}).toArray()).map((e) => [e.requestId, e]));
    const ended = new Date();
    for (const want of expected) {
      const got = byRequest.get(want.requestId);
      expect(got, want.label).toBeDefined();
      expect(
        {
          method: got!.method,
          code: got!.code,
          principal: got!.principal,
          tenant: got!.tenant,
          delegated: got!.delegated,
          tokenId: got!.tokenId,
          tokenLabel: got!.tokenLabel,
          names: got!.names,
          versions: got!.versions.map(Number),
          mtlsSubject: got!.mtlsSubject,
        },
        want.label,
      ).toEqual({
        method: want.method,
        code: want.code,
        principal: want.principal,
        tenant: want.tenant,
        delegated: want.delegated,
        tokenId: want.tokenId,
        tokenLabel: want.tokenLabel,
        names: want.names,
        versions: want.versions,
        mtlsSubject: "",
      });
      expect(got!.peerAddress, want.label).toMatch(/^127\.0\.0\.1:\d{1,5}$/);
      expect(got!.userAgent, want.label).toMatch(want.userAgent);
      expect(got!.time.getTime(), want.label).toBeGreaterThanOrEqual(started.getTime() - 1_000);
      expect(got!.time.getTime(), want.label).toBeLessThanOrEqual(ended.getTime() + 1_000);
    }
  });

  it("never records or logs a value, a token or request body text", async () => {
    expect(secrets.length).toBeGreaterThan(20);
    const trail = BSON.EJSON.stringify(await events.find({}).toArray(), { relaxed: false });
    const logs = server.logLines.join("\n");
    expect(logs).toContain('"msg":"call"');
    for (const secret of secrets) {
      expect(trail.includes(secret), `audit trail holds ${secret}`).toBe(false);
      expect(logs.includes(secret), `log holds ${secret}`).toBe(false);
      // A token's signature alone gives it away as well.
      const signature = secret.split(".")[2];
      if (signature) {
        expect(trail.includes(signature), `audit trail holds a token signature`).toBe(false);
        expect(logs.includes(signature), `log holds a token signature`).toBe(false);
      }
    }
  });
});
