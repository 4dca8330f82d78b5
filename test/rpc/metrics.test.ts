import { createRedactText } from "../../src/core/redact-text.js";
import { randomBytes } from "node:crypto";
import { sweepOnce } from "../../src/core/sweeper.js";
import { accessInterceptor } from "../../src/transport/access.js";
import { Code, type Client } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { mintToken } from "../../src/auth/dev-token.js";
import { createTokenVerifier } from "../../src/auth/token-verifier.js";
import { DEFAULT_CONNECTION_LIMITS, DEFAULT_MAX_DEADLINE_MS } from "../../src/config/config.js";
import { createSecretsService } from "../../src/core/secrets-service.js";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.js";
import { serveMetrics, type MetricsServer } from "../../src/metrics/metrics-server.js";
import { IDEMPOTENCY_STORE_OPERATIONS, SECRET_STORE_OPERATIONS } from "../../src/metrics/port-operations.js";
import { systemClock } from "../../src/ports/clock.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import { HealthState } from "../../src/transport/health.js";
import { errorInterceptor } from "../../src/transport/interceptors.js";
import { secretsRoutes } from "../../src/transport/secrets-handlers.js";
import { buildServer, type RunningServer } from "../../src/transport/server.js";
import { openKeys, openStore, type StoreFixture } from "../helpers/adapters.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { grpcErrorOf, grpcJsSecretsClient, type GrpcJsSecretsClient } from "../helpers/grpc-js-client.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { sampleValue } from "../helpers/prometheus.js";
import { expectCode } from "../helpers/rpc-failures.js";

// The metrics of a server over FerretDB, read from its metrics port as Prometheus would: each call
// counted once under the code its log line has, and the store and KMS calls it made.

const SERVICE = "secrets.v1.SecretsService";

describe("metrics over the network", () => {
  let fixture: StoreFixture;
  let keys: KeyProvider;
  let metrics: Metrics;
  let server: RunningServer;
  let metricsServer: MetricsServer;
  let baseUrl: string;
  let client: Client<typeof SecretsService>;
  let grpcJs: GrpcJsSecretsClient;

  beforeAll(async () => {
    fixture = await openStore("mongodb", "rpc_metrics");
    keys = openKeys("local");
    metrics = createMetrics();
    const jwtSecret = randomBytes(32).toString("base64url");
    const service = createSecretsService({
      store: metrics.instrumentStore(fixture.store, SECRET_STORE_OPERATIONS),
      idempotency: metrics.instrumentStore(fixture.idempotency, IDEMPOTENCY_STORE_OPERATIONS),
      keys: metrics.instrumentKeys(keys),
      clock: systemClock,
      pendingLeaseMs: 30_000,
    });
    server = await buildServer({
      routes: secretsRoutes(
        service,
        {
          maintenance: () => sweepOnce({ store: fixture.store, idempotency: fixture.idempotency, clock: systemClock, pendingLeaseMs: 30_000 }),
          rewrap: () => Promise.reject(new Error("not used here")),
        },
        { reads: service, redact: createRedactText({ store: fixture.store, keys, clock: systemClock }) },
      ),
      interceptors: [errorInterceptor(), accessInterceptor({ verifier: await createTokenVerifier({ hmacSecret: jwtSecret, algorithms: ["HS256"] }), guarded: new Set([SERVICE]) })],
      maxRequestBytes: 262_144,
      maxDeadlineMs: DEFAULT_MAX_DEADLINE_MS,
      limits: DEFAULT_CONNECTION_LIMITS,
      logger: pino({ level: "silent" }),
      health: new HealthState(),
      onCall: metrics.rpc,
    }).listen("127.0.0.1", 0);
    metricsServer = await serveMetrics(metrics, { host: "127.0.0.1", port: 0 });
    baseUrl = `http://127.0.0.1:${server.address.port}`;
    client = connectGrpcClient(baseUrl, await mintToken(jwtSecret, { sub: "m-user", developer_id: "dev-metrics" }));
    grpcJs = grpcJsSecretsClient(`127.0.0.1:${server.address.port}`);
  });

  afterAll(async () => {
    grpcJs?.close();
    await metricsServer?.close();
    await server?.close(1_000);
    await keys?.close();
    await fixture?.dispose();
  });

  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${metricsServer.address.port}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };
  const rpcCount = async (method: string, code: string) => sampleValue(await scrape(), "secrets_rpc_requests_total", { method, code });
  /** The call's count is recorded when its response is done, which can be just after the client has it. */
  const expectCount = async (method: string, code: string, expected: number) => {
    await waitUntil(async () => (await rpcCount(method, code)) >= expected, `${method} ${code} is counted ${expected} times`);
    expect(await rpcCount(method, code)).toBe(expected);
  };

  it("counts each call once by method and code, with the store and KMS calls it made", async () => {
    const name = `m_${randomBytes(4).toString("hex")}`;
    await client.createSecret({ name, value: "v1" });
    await expectCode(client.getSecret({ name: `${name}_absent` }), Code.NotFound);
    await expectCode(client.getSecret({ name: `${name}_absent` }), Code.NotFound);
    await expectCount(`${SERVICE}/CreateSecret`, "ok", 1);
    await expectCount(`${SERVICE}/GetSecret`, "NotFound", 2);
    const text = await scrape();
    expect(sampleValue(text, "secrets_rpc_duration_seconds_count", { method: `${SERVICE}/GetSecret` })).toBe(2);
    expect(sampleValue(text, "secrets_kms_requests_total", { operation: "generateDataKey" })).toBe(1);
    expect(sampleValue(text, "secrets_mongodb_operations_total", { operation: "insertSecret" })).toBe(1);
    // The create looked its name up once; each GetSecret once more.
    expect(sampleValue(text, "secrets_mongodb_operations_total", { operation: "findSecret" })).toBe(3);
  });

  it("counts refused calls under their code (grpc-js without a token)", async () => {
    for (let i = 0; i < 3; i++) expect((await grpcErrorOf(grpcJs.call("ListSecrets", {}))).code).toBe(16);
    await expectCount(`${SERVICE}/ListSecrets`, "Unauthenticated", 3);
    expect(await rpcCount(`${SERVICE}/ListSecrets`, "ok")).toBe(0);
  });

  it("counts calls to an unknown path as method unknown, code Unimplemented", async () => {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${baseUrl}/${SERVICE}/NoSuchMethod`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(res.status).toBe(404);
    }
    await expectCount("unknown", "Unimplemented", 2);
  });

  it("answers only GET (and HEAD) /metrics, in the registry's content type", async () => {
    const url = `http://127.0.0.1:${metricsServer.address.port}`;
    const ok = await fetch(`${url}/metrics`);
    expect(ok.headers.get("content-type")).toBe(metrics.registry.contentType);
    expect(await ok.text()).toContain("# TYPE secrets_rpc_requests_total counter");
    expect((await fetch(`${url}/metrics`, { method: "HEAD" })).status).toBe(200);
    expect((await fetch(`${url}/`)).status).toBe(404);
    expect((await fetch(`${url}/metricsx`)).status).toBe(404);
    const post = await fetch(`${url}/metrics`, { method: "POST", body: "" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });
});
