import { randomBytes } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/health/v1/health_pb.js";
import { mintToken } from "../../src/auth/dev-token.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { spawnServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { dropDatabase, freshDbName, kmsProcessEnv, mongoUriFor, services } from "../helpers/services.js";
import { startTcpProxy } from "../helpers/tcp-proxy.js";

// Readiness follows the dependencies: the service process reaches FerretDB and LocalStack's KMS
// through TCP proxies the test cuts and heals. Cut either and grpc.health.v1 says NOT_SERVING for
// the API (the load balancer's readiness probe) while the process stays live (""); heal it and the
// API is SERVING again, with no restart. On SIGTERM both say NOT_SERVING and the process exits 0.

const db = freshDbName("readiness");
let proc: ServerProcess;
let mongo: Awaited<ReturnType<typeof startTcpProxy>>;
let kms: Awaited<ReturnType<typeof startTcpProxy>>;
let jwtSecret: string;

beforeAll(async () => {
  const mongoUrl = new URL(services.mongoUri);
  const kmsUrl = new URL(services.kmsEndpoint);
  mongo = await startTcpProxy(Number(mongoUrl.port || 27017), mongoUrl.hostname);
  kms = await startTcpProxy(Number(kmsUrl.port || 4566), kmsUrl.hostname);
  const proxiedMongo = new URL(mongoUriFor(db));
  proxiedMongo.host = `127.0.0.1:${mongo.port}`;
  jwtSecret = randomBytes(32).toString("hex");
  proc = await spawnServerProcess({
    STORE: "mongodb",
    MONGODB_URI: proxiedMongo.toString(),
    ...kmsProcessEnv(`http://127.0.0.1:${kms.port}`),
    AUTH_JWT_SECRET: jwtSecret,
    HOST: "127.0.0.1",
    PORT: "0",
    CACHE_TTL_SECONDS: "0",
    SWEEP_INTERVAL_MS: "3600000",
    READINESS_INTERVAL_MS: "250",
    READINESS_TIMEOUT_MS: "1000",
    LOG_LEVEL: "info",
  });
}, 180_000);

afterAll(async () => {
  await proc?.kill();
  await Promise.allSettled([mongo?.close(), kms?.close()]);
  await dropDatabase(db);
});

function health() {
  return createClient(Health, createGrpcTransport({ baseUrl: proc.baseUrl }));
}

async function statusOf(service: string): Promise<ServingStatus> {
  return (await health().check({ service }, { timeoutMs: 5_000 })).status;
}

const API = "secrets.v1.SecretsService";
const waitFor = (service: string, status: ServingStatus, what: string) =>
  waitUntil(async () => (await statusOf(service)) === status, what, 60_000);

describe("readiness follows the store and KMS", () => {
  it("starts SERVING, and a call works", async () => {
    expect(await statusOf(API)).toBe(ServingStatus.SERVING);
    const client = connectGrpcClient(proc.baseUrl, await mintToken(jwtSecret, { sub: "r", developer_id: "dev_ready" }));
    await client.createSecret({ name: "ready_key", value: "v" });
    expect((await client.getSecretValue({ name: "ready_key" })).value).toBe("v");
  });

  it("the store cut: the API goes NOT_SERVING while the process stays live; healed: SERVING again", async () => {
    mongo.cut();
    await waitFor(API, ServingStatus.NOT_SERVING, "the API NOT_SERVING with the store cut");
    expect(await statusOf("")).toBe(ServingStatus.SERVING);
    expect(proc.output()).toMatch(/"failing":\[\{"dependency":"store"/);
    mongo.heal();
    await waitFor(API, ServingStatus.SERVING, "the API SERVING once the store is back");
    expect(proc.output()).toMatch(/ready again/);
  });

  it("KMS cut: NOT_SERVING; healed: SERVING, and calls work again with no restart", async () => {
    kms.cut();
    await waitFor(API, ServingStatus.NOT_SERVING, "the API NOT_SERVING with KMS cut");
    expect(await statusOf("")).toBe(ServingStatus.SERVING);
    expect(proc.output()).toMatch(/"dependency":"kms"/);
    kms.heal();
    await waitFor(API, ServingStatus.SERVING, "the API SERVING once KMS is back");
    const client = connectGrpcClient(proc.baseUrl, await mintToken(jwtSecret, { sub: "r", developer_id: "dev_ready" }));
    await client.putSecretValue({ name: "ready_key", value: "v2" });
    expect((await client.getSecretValue({ name: "ready_key" })).value).toBe("v2");
  });

  it("SIGTERM: the process drains and exits 0", async () => {
    expect(await proc.terminate()).toBe(0);
    expect(proc.output()).toMatch(/"stopped"/);
  });
});
