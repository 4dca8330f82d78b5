import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetSecretValueRequestSchema } from "../../gen/secrets/v1/secrets_pb.js";
import { mintToken } from "../../src/auth/dev-token.js";
import { closeSession, connectSession, grpcFrame, rawRequest } from "../helpers/raw-http2.js";
import { spawnServerProcess, type ServerProcess } from "../helpers/server-process.js";

// The service as a real process, hit with absurd deadlines and malformed calls: it keeps
// serving, and every line it writes (stdout and stderr) is JSON — no Node warning text.

describe("the process at the edge", () => {
  let proc: ServerProcess;
  const jwtSecret = randomBytes(32).toString("base64url");

  beforeAll(async () => {
    proc = await spawnServerProcess({
      PORT: "0",
      STORE: "memory",
      LOCAL_MASTER_KEY: randomBytes(32).toString("base64"),
      AUTH_JWT_SECRET: jwtSecret,
    });
  });
  afterAll(async () => {
    await proc?.kill();
  });

  it("absurd deadlines arm no overflowing timer and print no warning; every output line is JSON", async () => {
    const token = await mintToken(jwtSecret, { sub: "dev-user", developer_id: "dev" });
    const session = await connectSession(proc.baseUrl);
    const body = grpcFrame(toBinary(GetSecretValueRequestSchema, create(GetSecretValueRequestSchema, { name: "absent" })));
    try {
      for (const timeout of ["99999999H", "99999999M", "99999999S", "2147484m"]) {
        const reply = await rawRequest(session, {
          path: "/secrets.v1.SecretsService/GetSecretValue",
          contentType: "application/grpc",
          body,
          headers: { authorization: `Bearer ${token}`, "grpc-timeout": timeout },
        });
        expect(reply.grpcStatus, `${timeout}: ${reply.grpcMessage}`).toBe(5);
      }
      const garbage = await rawRequest(session, { path: "/secrets.v1.SecretsService/GetSecretValue", contentType: "application/grpc", body: grpcFrame(Uint8Array.from([0xff])) });
      expect(garbage.grpcStatus).toBe(3);
    } finally {
      await closeSession(session);
    }
    // Five calls, five lines (written when each response is done).
    const calls = () => proc.output().split("\n").filter((l) => l.includes('"msg":"call"')).length;
    while (calls() < 5) await sleep(10);
    const lines = proc.output().split("\n").filter((l) => l.trim() !== "");
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(proc.output()).not.toMatch(/TimeoutOverflowWarning/);
  });
});
