import { createHttpEgress } from "../../src/adapters/egress/http-egress.js";
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { pino } from "pino";
import { createApp, type App } from "../../src/app.js";
import { mintToken, type DevTokenClaims } from "../../src/auth/dev-token.js";
import { generateTaskTokenKey, loadTaskTokenKeys, type TaskTokenKeys } from "../../src/auth/task-tokens.js";
import { createAccessRecorder, type AccessRecorder } from "../../src/core/access-times.js";
import { createAuditTrail, type AuditTrail } from "../../src/core/audit-trail.js";
import type { AuditStore } from "../../src/ports/audit-store.js";
import { createTokenVerifier } from "../../src/auth/token-verifier.js";
import { RedisChangeFeed } from "../../src/adapters/redis/redis-change-feed.js";
import { RedisSecretCache } from "../../src/adapters/redis/redis-secret-cache.js";
import type { ChangeFeed } from "../../src/ports/change-feed.js";
import type { Egress } from "../../src/ports/egress.js";
import { lruLocalCache } from "../../src/adapters/memory/lru-local-cache.js";
import { createValueCache, type ValueCache } from "../../src/core/value-cache.js";
import { createMetrics, type Metrics } from "../../src/metrics/metrics.js";
import { serveMetrics, type MetricsServer } from "../../src/metrics/metrics-server.js";
import { CACHE_STATE_STORE_OPERATIONS, SECRET_STORE_OPERATIONS } from "../../src/metrics/port-operations.js";
import { systemClock } from "../../src/ports/clock.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from "../../src/config/config.js";
import type { RunningServer } from "../../src/transport/server.js";
import { openKeys, openStore, type KeysKind, type StoreFixture, type StoreKind } from "./adapters.js";
import { services } from "./services.js";
import { waitUntil } from "./lifecycle.js";

export interface TestServer {
  readonly app: App;
  readonly server: RunningServer;
  readonly fixture: StoreFixture;
  readonly keys: KeyProvider;
  /** http://127.0.0.1:PORT */
  readonly baseUrl: string;
  /** 127.0.0.1:PORT */
  readonly target: string;
  readonly jwtSecret: string;
  /** Every log line the server wrote. */
  readonly logLines: string[];
  /** The value cache, unless the server runs without one. */
  readonly cache?: ValueCache;
  /** The metrics server, when asked for. */
  readonly metrics?: { readonly metrics: Metrics; readonly server: MetricsServer; readonly url: string };
  /** The audit trail (over fixture.audit unless another store was given), unless off. */
  readonly audit?: AuditTrail;
  readonly accessed: AccessRecorder;
  /** The change feed, unless off; `channel` names it for a second server that must share it. */
  readonly changeFeed?: ChangeFeed;
  readonly changeChannel?: string;
  /** The service's task token keys (a private JWKS text, for server processes that must share them). */
  readonly taskTokenKeys: TaskTokenKeys;
  readonly taskTokenJwks: string;
  /** An HS256 token for `developer`; `extra` adds claims (scope, secrets, expiresIn, ...). */
  token(developer: string, subject?: string, extra?: Partial<DevTokenClaims>): Promise<string>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  store?: StoreKind;
  /** The key provider: one opened by kind (default "local"), or this one (closed with the server). */
  keys?: KeysKind | KeyProvider;
  label?: string;
  maxRequestBytes?: number;
  pendingVersionLeaseMs?: number;
  /** Connection limits to override (the rest keep their defaults). */
  limits?: Partial<ConnectionLimits>;
  tls?: { cert: Buffer; key: Buffer };
  /** The value cache over the services' Redis (default), or none (false). */
  cache?: false | { ttlMs?: number; localMaxBytes?: number; maxStalenessMs?: number };
  /** Serve /metrics on a free port, with the store and KMS instrumented. */
  metrics?: boolean;
  /** The audit trail over the fixture's audit store (default), over another store, or off (false). */
  audit?: false | { store?: AuditStore; groupCommitMs?: number };
  /** A private JWKS for task tokens (default: a new key). */
  taskTokenJwks?: string;
  /** Clock skew accepted for tokens, in seconds (default 60). */
  clockSkewSeconds?: number;
  /** AUTH_ISSUER / AUTH_AUDIENCE: external tokens must carry them (token() adds them). */
  issuer?: string;
  audience?: string;
  /** Change events over the services' Redis on this channel (default: a new one, this server's own), or none (false). */
  changeFeed?: false | { channel?: string };
  /** WatchSecrets heartbeat interval (default 15 s). */
  watchHeartbeatMs?: number;
  /** ProxyHttpRequest's egress (default: public addresses only, https only, the system's CAs). */
  proxy?: { allowPrivateHosts?: string[]; insecureHosts?: string[]; extraCa?: string; maxResponseBytes?: number; maxConcurrency?: number; egress?: Egress };
}

/** The real app on 127.0.0.1, port 0, over real adapters. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const fixture = await openStore(options.store ?? "mongodb", options.label ?? "rpc");
  const keys = typeof options.keys === "object" ? options.keys : openKeys(options.keys ?? "local");
  const jwtSecret = randomBytes(32).toString("base64url");
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  const metrics = options.metrics ? createMetrics() : undefined;
  const store = metrics && fixture.db ? metrics.instrumentStore(fixture.store, SECRET_STORE_OPERATIONS) : fixture.store;
  const cacheState = metrics && fixture.db ? metrics.instrumentStore(fixture.cacheState, CACHE_STATE_STORE_OPERATIONS) : fixture.cacheState;
  const countedKeys = metrics ? metrics.instrumentKeys(keys) : keys;
  // A generous command timeout: a busy test machine must not turn hot reads into store reads by timing out.
  const shared = options.cache === false ? undefined : new RedisSecretCache({ url: services.redisUrl, commandTimeoutMs: 5_000 });
  const cacheOptions = options.cache || {};
  const cache = shared
    ? createValueCache(
        {
          store,
          keys: countedKeys,
          clock: systemClock,
          shared,
          state: cacheState,
          ...(cacheOptions.localMaxBytes === 0 ? {} : { local: lruLocalCache(cacheOptions.localMaxBytes ?? 16 << 20) }),
          ...(metrics ? { observe: metrics.cache } : {}),
        },
        { ttlMs: cacheOptions.ttlMs ?? 30_000, maxStalenessMs: cacheOptions.maxStalenessMs ?? 1000, keyRotationMs: 24 * 3_600_000 },
      )
    : undefined;
  cache?.start();
  const taskTokenJwks = options.taskTokenJwks ?? JSON.stringify({ keys: [await generateTaskTokenKey()] });
  const taskTokenKeys = await loadTaskTokenKeys(taskTokenJwks);
  const auditStore = options.audit === false ? undefined : (options.audit?.store ?? fixture.audit);
  const audit = auditStore
    ? createAuditTrail({ store: auditStore, clock: systemClock, ...(metrics ? { observe: metrics.audit } : {}) }, { groupCommitMs: options.audit ? (options.audit.groupCommitMs ?? 0) : 0, maxQueue: 10_000, maxInFlight: 1 })
    : undefined;
  const accessed = createAccessRecorder({ store, clock: systemClock });
  const changeChannel = options.changeFeed === false ? undefined : (options.changeFeed?.channel ?? `sc:changes:test:${randomBytes(6).toString("hex")}`);
  const changeFeed = changeChannel ? new RedisChangeFeed({ url: services.redisUrl, commandTimeoutMs: 5_000, channel: changeChannel }) : undefined;
  const httpEgress = options.proxy?.egress ? undefined : createHttpEgress({
    allowPrivateHosts: options.proxy?.allowPrivateHosts ?? [],
    insecureHosts: options.proxy?.insecureHosts ?? [],
    ...(options.proxy?.extraCa ? { extraCa: options.proxy.extraCa } : {}),
  });
  const app = createApp({
    store,
    idempotency: fixture.idempotency,
    keys: countedKeys,
    verifier: await createTokenVerifier({ hmacSecret: jwtSecret, algorithms: ["HS256"], ...(options.issuer ? { issuer: options.issuer } : {}), ...(options.audience ? { audience: options.audience } : {}), ...(options.clockSkewSeconds !== undefined ? { clockSkewSeconds: options.clockSkewSeconds } : {}) }, { taskKeys: taskTokenKeys }),
    clock: systemClock,
    logger: pino({ level: "info" }, sink),
    maxRequestBytes: options.maxRequestBytes ?? 262_144,
    pendingVersionLeaseMs: options.pendingVersionLeaseMs ?? 30_000,
    limits: { ...DEFAULT_CONNECTION_LIMITS, ...options.limits },
    ...(options.tls ? { tls: options.tls } : {}),
    ...(cache ? { valueCache: cache } : {}),
    ...(metrics ? { onCall: metrics.rpc } : {}),
    taskTokenStore: fixture.taskTokens,
    taskTokenKeys,
    accessed,
    ...(audit && auditStore ? { audit: { trail: audit, store: auditStore, retentionMs: 90 * 24 * 3_600_000 } } : {}),
    ...(changeFeed ? { changeFeed } : {}),
    ...(options.watchHeartbeatMs ? { watchHeartbeatMs: options.watchHeartbeatMs } : {}),
    proxy: { egress: options.proxy?.egress ?? httpEgress!, maxResponseBytes: options.proxy?.maxResponseBytes ?? 8 << 20, maxConcurrency: options.proxy?.maxConcurrency ?? 16 },
  });
  if (cache) await waitUntil(() => cache.usable(), "the value cache is usable");
  const server = await app.listen("127.0.0.1", 0);
  const metricsServer = metrics ? await serveMetrics(metrics, { host: "127.0.0.1", port: 0 }, { jwks: () => taskTokenKeys.publicJwks() }) : undefined;
  const target = `127.0.0.1:${server.address.port}`;
  return {
    app,
    server,
    fixture,
    keys,
    baseUrl: `http://${target}`,
    target,
    jwtSecret,
    logLines,
    ...(cache ? { cache } : {}),
    ...(metrics && metricsServer ? { metrics: { metrics, server: metricsServer, url: `http://127.0.0.1:${metricsServer.address.port}/metrics` } } : {}),
    ...(audit ? { audit } : {}),
    accessed,
    ...(changeFeed && changeChannel ? { changeFeed, changeChannel } : {}),
    taskTokenKeys,
    taskTokenJwks,
    token: (developer, subject, extra) =>
      mintToken(jwtSecret, {
        sub: subject ?? `${developer}-user`,
        developer_id: developer,
        ...(options.issuer ? { issuer: options.issuer } : {}),
        ...(options.audience ? { audience: options.audience } : {}),
        ...extra,
      }),
    async close() {
      app.endWatches();
      await server.close(1_000);
      await audit?.stop();
      await accessed.stop();
      await metricsServer?.close();
      await cache?.stop();
      await shared?.close();
      await changeFeed?.close();
      httpEgress?.close();
      await keys.close();
      await fixture.dispose();
    },
  };
}
