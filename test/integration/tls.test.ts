import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { LocalKeyProvider } from "../../src/adapters/local-kms/local-key-provider.js";
import { MemoryIdempotencyStore } from "../../src/adapters/memory/memory-idempotency-store.js";
import { MemorySecretStore } from "../../src/adapters/memory/memory-secret-store.js";
import { createApp } from "../../src/app.js";
import { mintToken } from "../../src/auth/dev-token.js";
import { createTokenVerifier } from "../../src/auth/token-verifier.js";
import { systemClock } from "../../src/ports/clock.js";
import type { RunningServer } from "../../src/transport/server.js";

// With a certificate and key, the one port serves TLS: gRPC over HTTP/2 and Connect JSON over HTTP/1.1.

describe("TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "tls-"));
  let server: RunningServer;
  let cert: Buffer;
  let token: string;
  beforeAll(async () => {
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
    cert = readFileSync(join(dir, "cert.pem"));
    const secret = randomBytes(32).toString("base64url");
    token = await mintToken(secret, { sub: "u", developer_id: "dev" });
    const app = createApp({
      store: new MemorySecretStore(),
      idempotency: new MemoryIdempotencyStore(),
      keys: new LocalKeyProvider(new Map([["k", randomBytes(32)]]), "k"),
      verifier: await createTokenVerifier({ hmacSecret: secret, algorithms: ["HS256"] }),
      clock: systemClock,
      logger: pino({ level: "silent" }),
      maxRequestBytes: 262_144,
      pendingVersionLeaseMs: 30_000,
      tls: { cert, key: readFileSync(join(dir, "key.pem")) },
    });
    server = await app.listen("127.0.0.1", 0);
  });
  afterAll(async () => {
    await server.close(500);
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves gRPC over HTTP/2 with TLS", async () => {
    const client = createClient(
      SecretsService,
      createGrpcTransport({
        baseUrl: `https://127.0.0.1:${server.address.port}`,
        nodeOptions: { ca: cert },
        interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))],
      }),
    );
    await client.createSecret({ name: "tls_secret", value: "over-tls" });
    expect((await client.getSecretValue({ name: "tls_secret" })).value).toBe("over-tls");
  });

  it("serves Connect JSON over HTTP/1.1 with TLS", async () => {
    const body = await new Promise<{ status: number; text: string; protocol: string }>((resolve, reject) => {
      const req = https.request(
        { host: "127.0.0.1", port: server.address.port, method: "POST", path: "/secrets.v1.SecretsService/GetSecretValue", ca: cert,
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` } },
        (res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text, protocol: `HTTP/${res.httpVersion}` }));
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify({ name: "tls_secret" }));
    });
    expect(body.protocol).toBe("HTTP/1.1");
    expect(body.status).toBe(200);
    expect(JSON.parse(body.text)).toMatchObject({ name: "tls_secret", value: "over-tls" });
  });
});
