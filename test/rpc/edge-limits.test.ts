import { execFile } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateSecretRequestSchema, GetSecretValueRequestSchema } from "../../gen/secrets/v1/secrets_pb.js";
import { HealthCheckRequestSchema } from "../../gen/health/v1/health_pb.js";
import { grpcErrorOf, grpcJsSecretsClient } from "../helpers/grpc-js-client.js";
import { closeSession, connectSession, grpcFrame, rawRequest } from "../helpers/raw-http2.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Size, deadline and header limits at the edge, attacked with raw HTTP/2 streams, raw
// HTTP/1.1 sockets and grpc-js: every oversize request gets RESOURCE_EXHAUSTED on every
// protocol and the connection stays usable; absurd deadlines are clamped; a health check
// with a huge service name is refused without echoing it; two authorization headers
// are refused.

const SERVICE = "/secrets.v1.SecretsService";

/** A CreateSecret message of about `size` bytes (the value is `size` bytes of "A"). */
const bigCreate = (size: number) => toBinary(CreateSecretRequestSchema, create(CreateSecretRequestSchema, { name: "too_big", value: "A".repeat(size) }));

describe("edge limits", () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer({ store: "memory", keys: "local", label: "rpc_limits" });
    token = await server.token("dev_limits");
  });
  afterAll(async () => {
    await server?.close();
  });

  const getValue = (name: string) => grpcFrame(toBinary(GetSecretValueRequestSchema, create(GetSecretValueRequestSchema, { name })));

  it("30 oversize gRPC requests on one HTTP/2 session each answer RESOURCE_EXHAUSTED, and the session stays usable", async () => {
    const session = await connectSession(server.baseUrl);
    try {
      const body = grpcFrame(bigCreate(1_000_000));
      for (let i = 0; i < 30; i++) {
        const reply = await rawRequest(session, {
          path: `${SERVICE}/CreateSecret`,
          contentType: "application/grpc",
          body,
          // With a declared length the edge answers before reading; without, connect stops at the message prefix.
          headers: { authorization: `Bearer ${token}`, ...(i % 2 === 0 ? { "content-length": String(body.length) } : {}) },
        });
        expect(reply.rstCode, `request ${i}`).toBe(0);
        expect(reply.grpcStatus, `request ${i}: ${reply.grpcMessage}`).toBe(8);
      }
      const after = await rawRequest(session, { path: `${SERVICE}/GetSecretValue`, contentType: "application/grpc", body: getValue("absent"), headers: { authorization: `Bearer ${token}` } });
      expect(after.grpcStatus).toBe(5);
      expect(session.destroyed).toBe(false);
      // Each rejected call got its log line (written when its response was done).
      const logged = () => server.logLines.filter((l) => l.includes('"method":"secrets.v1.SecretsService/CreateSecret"') && l.includes('"code":"ResourceExhausted"')).length;
      while (logged() < 30) await sleep(10);
      expect(logged()).toBe(30);
    } finally {
      await closeSession(session);
    }
  });

  it("oversize gRPC-Web and Connect (proto and JSON) requests over HTTP/2 answer RESOURCE_EXHAUSTED / 429", async () => {
    const session = await connectSession(server.baseUrl);
    try {
      for (let i = 0; i < 12; i++) {
        const web = await rawRequest(session, { path: `${SERVICE}/CreateSecret`, contentType: "application/grpc-web+proto", body: grpcFrame(bigCreate(600_000)), headers: { authorization: `Bearer ${token}` } });
        expect(web.grpcStatus, web.grpcMessage).toBe(8);
        const proto = await rawRequest(session, { path: `${SERVICE}/CreateSecret`, contentType: "application/proto", body: bigCreate(600_000), headers: { authorization: `Bearer ${token}` } });
        expect(proto.status).toBe(429);
        const json = await rawRequest(session, {
          path: `${SERVICE}/CreateSecret`,
          contentType: "application/json",
          body: Buffer.from(JSON.stringify({ name: "too_big", value: "A".repeat(600_000) })),
          headers: { authorization: `Bearer ${token}` },
        });
        expect(json.status).toBe(429);
        expect(JSON.parse(json.body.toString("utf8"))).toMatchObject({ code: "resource_exhausted" });
      }
      const after = await rawRequest(session, { path: `${SERVICE}/GetSecretValue`, contentType: "application/grpc", body: getValue("absent"), headers: { authorization: `Bearer ${token}` } });
      expect(after.grpcStatus).toBe(5);
    } finally {
      await closeSession(session);
    }
  });

  it("oversize Connect JSON over one HTTP/1.1 keep-alive socket answers 429 each time, then serves the next call on that socket", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const post = (body: string) =>
        new Promise<{ status: number; body: string; reused: boolean }>((resolve, reject) => {
          const req = http.request(`${server.baseUrl}${SERVICE}/GetSecretValue`, {
            method: "POST",
            agent,
            headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          });
          req.on("response", (res) => {
            let text = "";
            res.on("data", (d: Buffer) => (text += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, reused: req.reusedSocket }));
          });
          req.on("error", reject);
          req.end(body);
        });
      for (let i = 0; i < 5; i++) {
        const res = await post(JSON.stringify({ name: "x".repeat(1_000_000) }));
        expect(res.status).toBe(429);
        expect(JSON.parse(res.body)).toMatchObject({ code: "resource_exhausted" });
        if (i > 0) expect(res.reused, `request ${i} reused the socket`).toBe(true);
      }
      const ok = await post(JSON.stringify({ name: "absent" }));
      expect(ok.status).toBe(404);
      expect(ok.reused).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it("grpc-js gets RESOURCE_EXHAUSTED for oversize calls, again and again, and its channel keeps working", async () => {
    const client = grpcJsSecretsClient(server.target);
    try {
      for (let i = 0; i < 15; i++) {
        const err = await grpcErrorOf(client.call("CreateSecret", { name: "too_big", value: "A".repeat(1_000_000) }, token));
        expect(err.code, err.details).toBe(grpc.status.RESOURCE_EXHAUSTED);
      }
      await client.call("CreateSecret", { name: "fits", value: "small" }, token);
      expect((await client.call("GetSecretValue", { name: "fits" }, token)).value).toBe("small");
    } finally {
      client.close();
    }
  });

  it("a deadline of 99999999 hours is clamped: the call is served normally", async () => {
    const session = await connectSession(server.baseUrl);
    try {
      const reply = await rawRequest(session, {
        path: `${SERVICE}/GetSecretValue`,
        contentType: "application/grpc",
        body: getValue("absent"),
        headers: { authorization: `Bearer ${token}`, "grpc-timeout": "99999999H" },
      });
      expect(reply.grpcStatus, reply.grpcMessage).toBe(5);
      const connect = await fetch(`${server.baseUrl}${SERVICE}/GetSecretValue`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "connect-timeout-ms": "9999999999" },
        body: JSON.stringify({ name: "absent" }),
      });
      expect(connect.status).toBe(404);
    } finally {
      await closeSession(session);
    }
  });

  it("a health check naming a 128 KB service answers INVALID_ARGUMENT without echoing it; the stream is not reset", async () => {
    const session = await connectSession(server.baseUrl);
    try {
      const huge = "s".repeat(128 * 1024);
      const reply = await rawRequest(session, {
        path: "/grpc.health.v1.Health/Check",
        contentType: "application/grpc",
        body: grpcFrame(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: huge }))),
      });
      expect(reply.rstCode).toBe(0);
      expect(reply.grpcStatus).toBe(3);
      expect(reply.grpcMessage).toBe("service: must be at most 256 bytes");
      const watch = await rawRequest(session, {
        path: "/grpc.health.v1.Health/Watch",
        contentType: "application/grpc",
        body: grpcFrame(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: huge }))),
      });
      expect(watch.grpcStatus).toBe(3);
      const unknown = await rawRequest(session, {
        path: "/grpc.health.v1.Health/Check",
        contentType: "application/grpc",
        body: grpcFrame(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "u".repeat(250) }))),
      });
      expect(unknown.grpcStatus).toBe(5);
      expect(unknown.grpcMessage!.length).toBeLessThan(160);
    } finally {
      await closeSession(session);
    }
  });

  it("two authorization headers answer UNAUTHENTICATED, whichever comes first, over HTTP/2 and HTTP/1.1", async () => {
    const valid = `Bearer ${token}`;
    const other = `Bearer ${await server.token("dev_other")}`;
    for (const pair of [[valid, other], [other, valid], [valid, valid]] as const) {
      // Node's HTTP/2 client refuses to send a repeated authorization header; curl sends it as given.
      const overH2 = await curl([
        "--http2-prior-knowledge", "-H", "content-type: application/json",
        "-H", `authorization: ${pair[0]}`, "-H", `authorization: ${pair[1]}`,
        "-d", '{"name":"absent"}', `${server.baseUrl}${SERVICE}/GetSecretValue`,
      ]);
      expect(overH2).toMatch(/^HTTP\/2 401/);
      expect(overH2).toContain("more than one authorization header");
      const grpcOverH2 = await curl([
        "--http2-prior-knowledge", "-H", "content-type: application/grpc", "-H", "te: trailers",
        "-H", `authorization: ${pair[0]}`, "-H", `authorization: ${pair[1]}`,
        "--data-binary", "@-", `${server.baseUrl}${SERVICE}/GetSecretValue`,
      ], getValue("absent"));
      expect(grpcOverH2).toMatch(/grpc-status: 16/);
      expect(grpcOverH2).toContain("more%20than%20one%20authorization%20header");
      const h1 = await rawHttp1(server.server.address.port, [
        `POST ${SERVICE}/GetSecretValue HTTP/1.1`,
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        `Authorization: ${pair[0]}`,
        `Authorization: ${pair[1]}`,
        "Content-Length: 17",
        "Connection: close",
        "",
        '{"name":"absent"}',
      ]);
      expect(h1).toMatch(/^HTTP\/1\.1 401/);
      expect(h1).toContain("more than one authorization header");
    }
    // The control: one header is accepted.
    const one = await curl(["--http2-prior-knowledge", "-H", "content-type: application/json", "-H", `authorization: ${valid}`, "-d", '{"name":"absent"}', `${server.baseUrl}${SERVICE}/GetSecretValue`]);
    expect(one).toMatch(/^HTTP\/2 404/);
  });
});

/** curl -sS -i with the arguments given (and `stdin` as its input); resolves with what it printed. */
function curl(args: string[], stdin?: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("curl", ["-sS", "-i", "--max-time", "30", ...args], { encoding: "latin1" }, (err, stdout, stderr) =>
      err ? reject(new Error(`curl failed: ${stderr || err.message}`)) : resolve(stdout),
    );
    child.stdin?.end(stdin ? Buffer.from(stdin) : undefined);
  });
}

/** Writes the request lines as given on a fresh socket; resolves with everything read until the server closes. */
function rawHttp1(port: number, lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("utf8")));
    socket.on("error", reject);
    socket.on("close", () => resolve(text));
    socket.end(lines.join("\r\n"));
  });
}

