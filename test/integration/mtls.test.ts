import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type * as http2 from "node:http2";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import * as tls from "node:tls";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckRequestSchema } from "../../gen/health/v1/health_pb.js";
import { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { LocalKeyProvider } from "../../src/adapters/local-kms/local-key-provider.js";
import { MemoryIdempotencyStore } from "../../src/adapters/memory/memory-idempotency-store.js";
import { MemorySecretStore } from "../../src/adapters/memory/memory-secret-store.js";
import { createApp } from "../../src/app.js";
import { mintToken } from "../../src/auth/dev-token.js";
import { createTokenVerifier } from "../../src/auth/token-verifier.js";
import { DEFAULT_CONNECTION_LIMITS, type TlsConfig } from "../../src/config/config.js";
import { systemClock } from "../../src/ports/clock.js";
import { callKey } from "../../src/transport/call.js";
import { HealthState, healthRoutes } from "../../src/transport/health.js";
import { buildServer, type RunningServer } from "../../src/transport/server.js";
import type { ServerTls, TlsReloadResult } from "../../src/transport/tls.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { closeSession, connectSession, grpcFrame, rawRequest } from "../helpers/raw-http2.js";

// Transport security: mutual TLS (a client certificate signed by the configured CA bundle, over
// HTTP/2 and HTTP/1.1 alike), the minimum TLS version, certificate files reloaded without a
// restart, and the per-call facts the edge records (peer address, user agent, client subject).

const dir = mkdtempSync(join(tmpdir(), "mtls-"));
const pem = (name: string) => readFileSync(join(dir, name));

function openssl(args: string[]): void {
  execFileSync("openssl", ["req", "-config", join(dir, "req.cnf"), "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", ...args], { stdio: "ignore" });
}

/** A key pair and certificate `name`.pem / `name`.key, signed by the test CA (or by itself). */
function issue(name: string, subject: string, extensions: string[], signedBy: "ca" | "self" = "ca"): void {
  const signing = signedBy === "ca" ? ["-CA", join(dir, "ca.pem"), "-CAkey", join(dir, "ca.key")] : [];
  openssl(["-subj", subject, ...signing, ...extensions.flatMap((e) => ["-addext", e]), "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.pem`)]);
}

const serverExtensions = ["basicConstraints=CA:FALSE", "extendedKeyUsage=serverAuth", "subjectAltName=IP:127.0.0.1"];
const clientExtensions = ["basicConstraints=CA:FALSE", "extendedKeyUsage=clientAuth"];

beforeAll(() => {
  // A config of our own: the system one may add CA extensions to every certificate.
  writeFileSync(join(dir, "req.cnf"), "[req]\ndistinguished_name = dn\n[dn]\n");
  openssl(["-subj", "/CN=test-ca", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", join(dir, "ca.key"), "-out", join(dir, "ca.pem")]);
  issue("server", "/CN=server-1", serverExtensions);
  issue("client", "/O=Acme/CN=agent-worker", clientExtensions);
  issue("intruder", "/CN=agent-worker", clientExtensions, "self");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  /** The client's port: the peer address the server should record is 127.0.0.1 and this. */
  readonly localPort: number;
}

/** One Connect JSON call over HTTP/1.1 (TLS when `tlsOptions` are given). */
function postJson(port: number, path: string, body: unknown, headers: http.OutgoingHttpHeaders, tlsOptions?: https.RequestOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const options: http.RequestOptions = { host: "127.0.0.1", port, method: "POST", path, agent: false, headers: { "content-type": "application/json", ...headers } };
    let localPort = 0;
    const req = (tlsOptions ? https.request({ ...options, ...tlsOptions }) : http.request(options)).on("response", (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, localPort }));
    });
    req.on("socket", (socket) => socket.on("connect", () => (localPort = socket.localPort ?? 0)));
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/**
 * Opens a TLS connection and reports what the server presented once it answered a request, or the
 * error the connection ended with. With TLS 1.3 the client finishes its side of the handshake before
 * the server has checked the client's certificate, so only an answer shows the server accepted it.
 */
function handshake(port: number, options: tls.ConnectionOptions): Promise<{ cn?: string; protocol?: string; error?: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ...options });
    let presented: { cn?: string; protocol?: string } = {};
    socket.once("secureConnect", () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      const protocol = socket.getProtocol() ?? undefined;
      presented = { ...(cn !== undefined ? { cn: String(cn) } : {}), ...(protocol ? { protocol } : {}) };
      socket.write("GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    });
    socket.once("data", () => {
      socket.destroy();
      resolve(presented);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve({ error }));
    socket.once("close", () => resolve({ error: Object.assign(new Error("closed without an answer"), { code: "CLOSED" }) }));
  });
}

interface HealthServer {
  readonly server: RunningServer;
  readonly reloads: TlsReloadResult[];
  readonly logLines: string[];
}

/** Only grpc.health.v1 behind the real server; `interceptors` see each call's record. */
async function startHealthServer(serverTls: ServerTls | undefined, interceptors: Interceptor[] = []): Promise<HealthServer> {
  const reloads: TlsReloadResult[] = [];
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const health = new HealthState();
  const server = await buildServer({
    routes: healthRoutes(health),
    interceptors,
    maxRequestBytes: 65_536,
    maxDeadlineMs: 60_000,
    limits: DEFAULT_CONNECTION_LIMITS,
    logger: pino({ level: "info" }, sink),
    health,
    ...(serverTls ? { tls: serverTls } : {}),
    onTlsReload: (result) => reloads.push(result),
  }).listen("127.0.0.1", 0);
  return { server, reloads, logLines };
}

describe("mutual TLS", () => {
  let server: RunningServer;
  let token: string;
  const serverCa = () => pem("ca.pem");
  const withClientCert = () => ({ ca: serverCa(), cert: pem("client.pem"), key: pem("client.key") });
  const withIntruderCert = () => ({ ca: serverCa(), cert: pem("intruder.pem"), key: pem("intruder.key") });

  beforeAll(async () => {
    const secret = randomBytes(32).toString("base64url");
    token = await mintToken(secret, { sub: "u", developer_id: "dev" });
    const config: TlsConfig = {
      cert: pem("server.pem"),
      key: pem("server.key"),
      clientCa: pem("ca.pem"),
      minVersion: "TLSv1.2",
      files: { cert: join(dir, "server.pem"), key: join(dir, "server.key"), clientCa: join(dir, "ca.pem") },
    };
    const app = createApp({
      store: new MemorySecretStore(),
      idempotency: new MemoryIdempotencyStore(),
      keys: new LocalKeyProvider(new Map([["k", randomBytes(32)]]), "k"),
      verifier: await createTokenVerifier({ hmacSecret: secret, algorithms: ["HS256"] }),
      clock: systemClock,
      logger: pino({ level: "silent" }),
      maxRequestBytes: 262_144,
      pendingVersionLeaseMs: 30_000,
      tls: config,
    });
    server = await app.listen("127.0.0.1", 0);
  });
  afterAll(() => server?.close(500));

  const client = (nodeOptions: http2.SecureClientSessionOptions) =>
    createClient(
      SecretsService,
      createGrpcTransport({
        baseUrl: `https://127.0.0.1:${server.address.port}`,
        nodeOptions,
        interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))],
      }),
    );
  const getOverHttp1 = (tlsOptions: https.RequestOptions) =>
    postJson(server.address.port, "/secrets.v1.SecretsService/GetSecretValue", { name: "mtls_secret" }, { authorization: `Bearer ${token}` }, tlsOptions);

  it("serves gRPC over HTTP/2 to a client with a certificate signed by the CA", async () => {
    await client(withClientCert()).createSecret({ name: "mtls_secret", value: "over-mtls" });
    expect((await client(withClientCert()).getSecretValue({ name: "mtls_secret" })).value).toBe("over-mtls");
  });

  it("serves Connect JSON over HTTP/1.1 to a client with a certificate signed by the CA", async () => {
    const reply = await getOverHttp1(withClientCert());
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toMatchObject({ name: "mtls_secret", value: "over-mtls" });
  });

  it("refuses a client without a certificate, over gRPC and HTTP/1.1, at the handshake", async () => {
    await expect(client({ ca: serverCa() }).getSecretValue({ name: "mtls_secret" })).rejects.toThrow();
    await expect(getOverHttp1({ ca: serverCa() })).rejects.toThrow();
    const { error } = await handshake(server.address.port, { ca: serverCa() });
    // TLS 1.3 tells the client after its side of the handshake: the alert is the server's verdict.
    expect(error?.code).toMatch(/ALERT_CERTIFICATE_REQUIRED|ALERT_HANDSHAKE_FAILURE/);
  });

  it("refuses a client whose certificate the CA did not sign (self-signed, same subject)", async () => {
    await expect(client(withIntruderCert()).getSecretValue({ name: "mtls_secret" })).rejects.toThrow();
    await expect(getOverHttp1(withIntruderCert())).rejects.toThrow();
    // Node checks the chain after OpenSSL's handshake and closes the connection (no alert): no answer comes.
    const result = await handshake(server.address.port, withIntruderCert());
    expect(result.error).toBeDefined();
    expect(result.cn).toBeUndefined();
  });

  it("refuses TLS 1.1", async () => {
    // The client must be allowed to offer TLS 1.1 at all (OpenSSL 3 refuses it at its default security level).
    const old = await handshake(server.address.port, { ...withClientCert(), minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" });
    expect(old.error?.code).toBe("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
    const tls12 = await handshake(server.address.port, { ...withClientCert(), maxVersion: "TLSv1.2" });
    expect(tls12).toMatchObject({ protocol: "TLSv1.2", cn: "server-1" });
  });
});

describe("TLS_MIN_VERSION TLSv1.3", () => {
  let running: HealthServer;
  beforeAll(async () => {
    running = await startHealthServer({ cert: pem("server.pem"), key: pem("server.key"), minVersion: "TLSv1.3" });
  });
  afterAll(() => running?.server.close(500));

  it("refuses a client that speaks at most TLS 1.2, and serves TLS 1.3", async () => {
    const port = running.server.address.port;
    expect((await handshake(port, { ca: pem("ca.pem"), maxVersion: "TLSv1.2" })).error?.code).toBe("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
    expect(await handshake(port, { ca: pem("ca.pem") })).toMatchObject({ protocol: "TLSv1.3", cn: "server-1" });
  });
});

describe("certificate reload", () => {
  const reloadDir = mkdtempSync(join(tmpdir(), "tls-reload-"));
  const certFile = join(reloadDir, "tls.crt");
  const keyFile = join(reloadDir, "tls.key");
  let running: HealthServer;

  /** Writes beside the target, then renames over it: the way secret mounts and careful tools replace files. */
  function replace(file: string, content: Buffer | string): void {
    const temp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
    writeFileSync(temp, content);
    renameSync(temp, file);
  }
  const presentedCn = async () => (await handshake(running.server.address.port, { ca: pem("ca.pem") })).cn;
  const reloadsAfter = (from: number) => running.reloads.slice(from);

  beforeAll(async () => {
    writeFileSync(certFile, pem("server.pem"));
    writeFileSync(keyFile, pem("server.key"));
    running = await startHealthServer({ cert: pem("server.pem"), key: pem("server.key"), minVersion: "TLSv1.2", files: { cert: certFile, key: keyFile } });
    issue("server-2", "/CN=server-2", serverExtensions);
    issue("server-3", "/CN=server-3", serverExtensions);
  });
  afterAll(async () => {
    await running?.server.close(500);
    rmSync(reloadDir, { recursive: true, force: true });
  });

  it("serves a new certificate and key once the files are replaced, without a restart", async () => {
    expect(await presentedCn()).toBe("server-1");
    const before = running.reloads.length;
    replace(keyFile, pem("server-2.key"));
    replace(certFile, pem("server-2.pem"));
    await waitUntil(async () => (await presentedCn()) === "server-2", "new connections see the new certificate");
    await waitUntil(() => reloadsAfter(before).some((r) => r.ok), "the reload is reported");
    // ALPN survives the new context: gRPC over HTTP/2 is still served.
    const health = createClient(Health, createGrpcTransport({ baseUrl: `https://127.0.0.1:${running.server.address.port}`, nodeOptions: { ca: pem("ca.pem") } }));
    expect((await health.check({})).status).toBe(1);
  });

  it("keeps the previous certificate when the new file does not parse, and reports it", async () => {
    const before = running.reloads.length;
    replace(certFile, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
    await waitUntil(() => reloadsAfter(before).some((r) => !r.ok), "the failed reload is reported");
    expect(await presentedCn()).toBe("server-2");
  });

  it("keeps the previous certificate when the new one does not match the key, and never logs the key", async () => {
    const before = running.reloads.length;
    replace(certFile, pem("server-3.pem"));
    await waitUntil(() => reloadsAfter(before).some((r) => !r.ok), "the failed reload is reported");
    expect(await presentedCn()).toBe("server-2");
    const failure = reloadsAfter(before).find((r) => !r.ok);
    expect(failure).toMatchObject({ ok: false, reason: expect.stringMatching(/not load/) });
    const key = pem("server-2.key").toString();
    const keyBody = key.split("\n")[1] ?? key;
    for (const line of [...running.logLines, JSON.stringify(running.reloads)]) {
      expect(line).not.toContain("PRIVATE KEY");
      expect(line).not.toContain(keyBody.slice(0, 24));
    }
    expect(running.logLines.some((l) => l.includes("did not load"))).toBe(true);
  });
});

/** Echoes the record the edge made for the call, so the test can read what it holds. */
const echoCallFacts: Interceptor = (next) => async (req) => {
  const res = await next(req);
  const call = req.contextValues.get(callKey);
  const facts = call ? { requestId: call.requestId, peerAddress: call.peerAddress, userAgent: call.userAgent, mtlsSubject: call.mtlsSubject } : {};
  res.header.set("x-test-call-facts", encodeURIComponent(JSON.stringify(facts)));
  return res;
};

const factsOf = (value: string | string[] | null | undefined) => JSON.parse(decodeURIComponent(String(value))) as Record<string, string>;
const HEALTH_CHECK = "/grpc.health.v1.Health/Check";

describe("call facts", () => {
  let mtls: HealthServer;
  let cleartext: HealthServer;
  beforeAll(async () => {
    mtls = await startHealthServer({ cert: pem("server.pem"), key: pem("server.key"), clientCa: pem("ca.pem") }, [echoCallFacts]);
    cleartext = await startHealthServer(undefined, [echoCallFacts]);
  });
  afterAll(async () => {
    await mtls?.server.close(500);
    await cleartext?.server.close(500);
  });

  it("over mutual TLS and HTTP/2: the client certificate's subject, the peer, the user agent", async () => {
    let header: Headers | undefined;
    const health = createClient(
      Health,
      createGrpcTransport({ baseUrl: `https://127.0.0.1:${mtls.server.address.port}`, nodeOptions: { ca: pem("ca.pem"), cert: pem("client.pem"), key: pem("client.key") } }),
    );
    await health.check({}, { headers: { "user-agent": "agent-sdk/1.2 (h2)" }, onHeader: (h) => (header = h) });
    const facts = factsOf(header?.get("x-test-call-facts"));
    expect(facts).toMatchObject({ mtlsSubject: "CN=agent-worker,O=Acme", userAgent: "agent-sdk/1.2 (h2)" });
    expect(facts.peerAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(facts.peerAddress).not.toBe(`127.0.0.1:${mtls.server.address.port}`);
  });

  it("over mutual TLS and HTTP/1.1: the same facts, the peer being the client's own port", async () => {
    const longAgent = "a".repeat(300);
    const reply = await postJson(mtls.server.address.port, HEALTH_CHECK, {}, { "user-agent": longAgent, "x-request-id": "facts-h1" }, { ca: pem("ca.pem"), cert: pem("client.pem"), key: pem("client.key") });
    expect(reply.status).toBe(200);
    const facts = factsOf(reply.headers["x-test-call-facts"]);
    expect(facts).toMatchObject({ mtlsSubject: "CN=agent-worker,O=Acme", peerAddress: `127.0.0.1:${reply.localPort}`, requestId: "facts-h1" });
    expect(facts.userAgent?.startsWith("a".repeat(256))).toBe(true);
    expect(facts.userAgent?.length).toBeLessThanOrEqual(257);
    expect(reply.headers["x-request-id"]).toBe("facts-h1");
  });

  it("over cleartext HTTP/1.1 (routed by the connection preface): the peer, no subject", async () => {
    const reply = await postJson(cleartext.server.address.port, HEALTH_CHECK, {}, { "user-agent": "curl/8.5.0" });
    expect(reply.status).toBe(200);
    expect(factsOf(reply.headers["x-test-call-facts"])).toMatchObject({ peerAddress: `127.0.0.1:${reply.localPort}`, userAgent: "curl/8.5.0", mtlsSubject: "" });
  });

  it("over cleartext HTTP/2 (routed by the connection preface): the peer, no subject", async () => {
    const session = await connectSession(`http://127.0.0.1:${cleartext.server.address.port}`);
    try {
      const reply = await rawRequest(session, {
        path: HEALTH_CHECK,
        contentType: "application/grpc",
        body: grpcFrame(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, {}))),
        headers: { "user-agent": "grpc-go/1.70.0" },
      });
      expect(reply.grpcStatus).toBe(0);
      expect(factsOf(reply.headers["x-test-call-facts"])).toMatchObject({ peerAddress: `127.0.0.1:${session.socket.localPort}`, userAgent: "grpc-go/1.70.0", mtlsSubject: "" });
    } finally {
      await closeSession(session);
    }
  });
});
