import { createServer as createHttp2Server, type Http2Server } from "node:http2";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretEventType, SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { baseUrlOf, createSecretsClient } from "../../src/client/index.js";
import { connectErrorOf } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// The SDK's createSecretsClient: against the real server (token, reads and writes, the watch left
// open past the unary deadline), and against a scripted SecretsService on loopback for what a real
// server cannot be made to do on cue (answer UNAVAILABLE n times, never answer).

const execFileAsync = promisify(execFile);

let server: TestServer;
let flaky: { url: string; calls: Map<string, unknown[]>; failNext: Map<string, number>; close(): Promise<void> };
let silent: { url: string; close(): Promise<void> };

beforeAll(async () => {
  server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_sdk_client" });
  flaky = await startFlakyServer();
  silent = await startSilentServer();
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([server?.close(), flaky?.close(), silent?.close()]);
});

const tenant = () => `dev_sdk_${randomBytes(4).toString("hex")}`;

describe("createSecretsClient against the service", () => {
  it("speaks gRPC with the bearer token: create, read, list; a token function is asked on every call", async () => {
    const developer = tenant();
    let asked = 0;
    const token = await server.token(developer);
    const client = createSecretsClient({
      address: server.target,
      plaintext: true,
      token: () => {
        asked++;
        return token;
      },
    });
    await client.createSecret({ name: "sdk_key", value: "sk_sdk_1" });
    expect((await client.getSecretValue({ name: "sdk_key" })).value).toBe("sk_sdk_1");
    expect((await client.listSecrets({})).secrets.map((s) => s.name)).toEqual(["sdk_key"]);
    expect(asked).toBe(3);

    const anonymous = createSecretsClient({ address: server.baseUrl });
    expect((await connectErrorOf(anonymous.getSecretValue({ name: "sdk_key" }))).code).toBe(Code.Unauthenticated);
  });

  it("a create retried by the SDK carries one request_id, so the server answers a repeat with the first outcome", async () => {
    const client = createSecretsClient({ address: server.baseUrl, token: await server.token(tenant()) });
    const first = await client.createSecret({ name: "once", value: "v", requestId: "req-fixed-1" });
    const repeat = await client.createSecret({ name: "once", value: "v", requestId: "req-fixed-1" });
    expect(repeat.secret?.etag).toBe(first.secret?.etag);
    expect((await connectErrorOf(client.createSecret({ name: "once", value: "v" }))).code).toBe(Code.AlreadyExists);
  });

  it("WatchSecrets is not ended by the unary deadline: events still arrive after it has passed", async () => {
    const token = await server.token(tenant());
    const client = createSecretsClient({ address: server.baseUrl, token, timeoutMs: 300 });
    const abort = new AbortController();
    const stream = client.watchSecrets({}, { signal: abort.signal })[Symbol.asyncIterator]();
    try {
      const first = await stream.next();
      expect(first.value?.event?.type).toBe(SecretEventType.HEARTBEAT);
      // Well past the 300 ms deadline a unary call would have.
      await new Promise((r) => setTimeout(r, 1_500));
      await client.createSecret({ name: "after_deadline", value: "x" });
      let next = await stream.next();
      while (next.value?.event?.type === SecretEventType.HEARTBEAT) next = await stream.next();
      expect(next.value?.event).toMatchObject({ name: "after_deadline", type: SecretEventType.CREATED });
    } finally {
      abort.abort();
      await stream.return?.();
    }
  });
});

describe("the README's SDK example (examples/sdk-quickstart.ts)", () => {
  it("runs against a live server and prints what it says it does", async () => {
    const env = { ...process.env, SECRETS_ADDR: server.target, SECRETS_TOKEN: await server.token(tenant()) };
    const root = join(import.meta.dirname, "../..");
    const { stdout } = await execFileAsync("bash", [join(root, "scripts/with-node.sh"), "tsx", join(root, "examples/sdk-quickstart.ts")], { env, cwd: root, timeout: 110_000 });
    const lines = stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^quickstart_\d+: version 2 is 11 characters; version 1 too$/);
    expect(lines[1]).toBe("cached reads: 1 hit(s)");
    expect(lines[2]).toBe("absent secret: NotFound");
  });
});

describe("createSecretsClient: deadlines and retries", () => {
  it("a unary call to a server that never answers ends with DEADLINE_EXCEEDED; a call's own timeoutMs wins", async () => {
    const client = createSecretsClient({ address: silent.url, timeoutMs: 300, retry: { maxAttempts: 1 } });
    expect((await connectErrorOf(client.getSecret({ name: "x" }))).code).toBe(Code.DeadlineExceeded);
    const patient = createSecretsClient({ address: silent.url, timeoutMs: 60_000 });
    expect((await connectErrorOf(patient.getSecret({ name: "x" }, { timeoutMs: 200 }))).code).toBe(Code.DeadlineExceeded);
  });

  it("UNAVAILABLE is retried for reads until one succeeds", async () => {
    const client = createSecretsClient({ address: flaky.url, retry: { initialDelayMs: 1, maxDelayMs: 5 } });
    flaky.failNext.set("GetSecretValue", 2);
    expect((await client.getSecretValue({ name: "k" })).value).toBe("value-of-k");
    expect(flaky.calls.get("GetSecretValue")).toHaveLength(3);
  });

  it("retries stop after maxAttempts, with the last UNAVAILABLE", async () => {
    const client = createSecretsClient({ address: flaky.url, retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5 } });
    flaky.failNext.set("GetSecret", 10);
    expect((await connectErrorOf(client.getSecret({ name: "k" }))).code).toBe(Code.Unavailable);
    expect(flaky.calls.get("GetSecret")).toHaveLength(3);
  });

  it("CreateSecret and PutSecretValue are retried with one request_id the SDK picked; a given one is kept", async () => {
    const client = createSecretsClient({ address: flaky.url, retry: { initialDelayMs: 1, maxDelayMs: 5 } });
    flaky.failNext.set("CreateSecret", 2);
    await client.createSecret({ name: "k", value: "v" });
    const ids = (flaky.calls.get("CreateSecret") as Array<{ requestId: string }>).map((r) => r.requestId);
    expect(ids).toHaveLength(3);
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids).size).toBe(1);

    flaky.failNext.set("PutSecretValue", 1);
    await client.putSecretValue({ name: "k", value: "v2", requestId: "mine" });
    expect((flaky.calls.get("PutSecretValue") as Array<{ requestId: string }>).map((r) => r.requestId)).toEqual(["mine", "mine"]);
  });

  it("calls that are not safe to repeat, and codes other than UNAVAILABLE, are not retried", async () => {
    const client = createSecretsClient({ address: flaky.url, retry: { initialDelayMs: 1, maxDelayMs: 5 } });
    flaky.failNext.set("UpdateSecret", 1);
    expect((await connectErrorOf(client.updateSecret({ name: "k" }))).code).toBe(Code.Unavailable);
    expect(flaky.calls.get("UpdateSecret")).toHaveLength(1);
    flaky.failNext.set("ProxyHttpRequest", 1);
    expect((await connectErrorOf(client.proxyHttpRequest({ method: "GET", url: "https://x.example/" }))).code).toBe(Code.Unavailable);
    expect(flaky.calls.get("ProxyHttpRequest")).toHaveLength(1);
    expect((await connectErrorOf(client.listSecretVersions({ name: "absent" }))).code).toBe(Code.NotFound);
    expect(flaky.calls.get("ListSecretVersions")).toHaveLength(1);
  });
});

describe("baseUrlOf", () => {
  it("reads host:port as TLS unless plaintext, keeps URLs, refuses contradictions and junk", () => {
    expect(baseUrlOf({ address: "secrets.example.com:443" })).toBe("https://secrets.example.com:443");
    expect(baseUrlOf({ address: "127.0.0.1:50051", plaintext: true })).toBe("http://127.0.0.1:50051");
    expect(baseUrlOf({ address: "http://127.0.0.1:50051/" })).toBe("http://127.0.0.1:50051");
    expect(() => baseUrlOf({ address: "https://x:1", plaintext: true })).toThrow(/contradict/);
    expect(() => baseUrlOf({ address: "x:1", plaintext: true, tls: true })).toThrow(/contradict/);
    expect(() => baseUrlOf({ address: "no-port" })).toThrow(/host:port/);
  });
});

/** A SecretsService whose methods fail with UNAVAILABLE as many times as `failNext` says, recording each request. */
async function startFlakyServer() {
  const calls = new Map<string, unknown[]>();
  const failNext = new Map<string, number>();
  const record = (method: string, req: unknown) => {
    calls.set(method, [...(calls.get(method) ?? []), structuredClone(req)]);
    const left = failNext.get(method) ?? 0;
    if (left > 0) {
      failNext.set(method, left - 1);
      throw new ConnectError("scripted outage", Code.Unavailable);
    }
  };
  const impl: Partial<ServiceImpl<typeof SecretsService>> = {
    getSecretValue: (req) => (record("GetSecretValue", req), { name: req.name, version: 1n, value: `value-of-${req.name}` }),
    getSecret: (req) => (record("GetSecret", req), {}),
    createSecret: (req) => (record("CreateSecret", { requestId: req.requestId }), {}),
    putSecretValue: (req) => (record("PutSecretValue", { requestId: req.requestId }), {}),
    updateSecret: (req) => (record("UpdateSecret", { name: req.name }), {}),
    proxyHttpRequest: (req) => (record("ProxyHttpRequest", { url: req.url }), {}),
    listSecretVersions: (req) => {
      record("ListSecretVersions", { name: req.name });
      throw new ConnectError("no such secret", Code.NotFound);
    },
  };
  const http2 = createHttp2Server(connectNodeAdapter({ routes: (router) => router.service(SecretsService, impl) }));
  const sessions = new Set<{ destroy(): void }>();
  http2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  await listen(http2);
  return {
    url: `http://127.0.0.1:${(http2.address() as AddressInfo).port}`,
    calls,
    failNext,
    close: async () => {
      for (const session of sessions) session.destroy();
      await closeServer(http2);
    },
  };
}

/** Accepts connections and never answers a byte. */
async function startSilentServer() {
  const sockets = new Set<Socket>();
  const tcp = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await listen(tcp);
  return {
    url: `http://127.0.0.1:${(tcp.address() as AddressInfo).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await closeServer(tcp);
    },
  };
}

function listen(s: Http2Server | TcpServer): Promise<void> {
  return new Promise((resolve) => s.listen(0, "127.0.0.1", () => resolve()));
}

function closeServer(s: Http2Server | TcpServer): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}
