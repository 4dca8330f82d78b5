// The only composition root: config -> adapters -> core -> transport.
import { randomBytes } from "node:crypto";
import { accessSync, constants as fsConstants } from "node:fs";
import { delimiter, join } from "node:path";
import { pino, type Logger } from "pino";
import { AwsKeyProvider } from "./adapters/aws-kms/aws-key-provider.js";
import { LocalKeyProvider } from "./adapters/local-kms/local-key-provider.js";
import { lruLocalCache } from "./adapters/memory/lru-local-cache.js";
import { openAuditLines } from "./adapters/audit-lines.js";
import { createHttpEgress } from "./adapters/egress/http-egress.js";
import { MemoryChangeFeed } from "./adapters/memory/memory-change-feed.js";
import { MemoryAuditStore } from "./adapters/memory/memory-audit-store.js";
import { MemoryCacheStateStore } from "./adapters/memory/memory-cache-state-store.js";
import { MemoryIdempotencyStore } from "./adapters/memory/memory-idempotency-store.js";
import { MemorySecretCache } from "./adapters/memory/memory-secret-cache.js";
import { MemorySecretStore } from "./adapters/memory/memory-secret-store.js";
import { MemoryTaskTokenStore } from "./adapters/memory/memory-task-token-store.js";
import { connectMongo } from "./adapters/mongodb/connect.js";
import { RedisChangeFeed } from "./adapters/redis/redis-change-feed.js";
import { RedisSecretCache } from "./adapters/redis/redis-secret-cache.js";
import { createApp } from "./app.js";
import { devCacheDir, devJwtSecretFile, ensureDevJwtSecret, mintToken } from "./auth/dev-token.js";
import { generateTaskTokenKey, loadTaskTokenKeys, type TaskTokenKeys } from "./auth/task-tokens.js";
import { createTokenVerifier } from "./auth/token-verifier.js";
import { ConfigError, loadConfig, type Config } from "./config/config.js";
import { createAccessRecorder } from "./core/access-times.js";
import { createAuditTrail } from "./core/audit-trail.js";
import { startReadiness } from "./core/readiness.js";
import { startSweeper } from "./core/sweeper.js";
import { SecretsService as SecretsServiceDesc } from "../gen/secrets/v1/secrets_pb.js";
import { createValueCache, type ValueCache } from "./core/value-cache.js";
import { createMetrics, type Metrics } from "./metrics/metrics.js";
import { serveMetrics } from "./metrics/metrics-server.js";
import { CACHE_STATE_STORE_OPERATIONS, IDEMPOTENCY_STORE_OPERATIONS, SECRET_STORE_OPERATIONS } from "./metrics/port-operations.js";
import type { AuditStore } from "./ports/audit-store.js";
import type { CacheStateStore } from "./ports/cache-state-store.js";
import type { ChangeFeed } from "./ports/change-feed.js";
import { systemClock } from "./ports/clock.js";
import type { IdempotencyStore } from "./ports/idempotency-store.js";
import type { KeyProvider } from "./ports/key-provider.js";
import type { SecretCache } from "./ports/secret-cache.js";
import type { SecretStore } from "./ports/secret-store.js";
import type { TaskTokenStore } from "./ports/task-token-store.js";

async function main(): Promise<void> {
  const dev = process.argv.includes("--dev");
  const env = dev ? await devEnvironment(process.env) : process.env;
  const config = loadConfig(env, { dev });
  // Asynchronous writes: a call's log line does not block the event loop on stdout (flushed on exit).
  const logger = pino({ level: config.logLevel, base: { service: "secrets" } }, pino.destination({ sync: false }));
  // Every line the process writes is JSON: Node's warnings go through the logger too.
  process.removeAllListeners("warning");
  process.on("warning", (w) => logger.warn({ warning: { type: w.name, message: w.message } }, "process warning"));

  const metrics = createMetrics();
  const stores = instrumentStores(metrics, await openStores(config));
  const keys = metrics.instrumentKeys(openKeys(config));
  const taskTokenKeys = await openTaskTokenKeys(config, logger);
  const verifier = await createTokenVerifier(config.auth, taskTokenKeys ? { taskKeys: taskTokenKeys } : {});
  const cache = openCache(config, logger, metrics, { store: stores.secrets, keys, state: stores.cacheState });
  const changeFeed = openChangeFeed(config, logger);
  const warnOnce = rateLimited((event, fields) => logger.warn(fields, event));
  const auditLines = config.audit.enabled && config.audit.log ? openAuditLines(config.audit.log, (err) => logger.warn({ err: { type: err.name } }, "audit lines copy failed")) : undefined;
  const auditTrail = config.audit.enabled
    ? createAuditTrail(
        {
          store: stores.audit,
          clock: systemClock,
          observe: metrics.audit,
          ...(auditLines ? { lines: (e) => auditLines.write(e) } : {}),
        },
        { groupCommitMs: config.audit.groupCommitMs, maxQueue: config.audit.maxQueue, maxInFlight: config.audit.maxInFlight },
      )
    : undefined;
  if (!auditTrail) logger.warn("audit trail off (AUDIT=off): calls are not recorded");
  const auditRetentionMs = config.audit.retentionDays * 24 * 60 * 60 * 1000;
  const accessed = createAccessRecorder({
    store: stores.secrets,
    clock: systemClock,
    report: (err) => warnOnce("last access time not recorded", { err: { type: err instanceof Error ? err.name : typeof err } }),
  });
  const egress = createHttpEgress({
    allowPrivateHosts: config.proxy.allowPrivateHosts,
    insecureHosts: config.proxy.insecureHosts,
    ...(config.proxy.extraCa ? { extraCa: config.proxy.extraCa } : {}),
  });
  const app = createApp({
    store: stores.secrets,
    idempotency: stores.idempotency,
    keys,
    verifier,
    clock: systemClock,
    logger,
    maxRequestBytes: config.maxRequestBytes,
    maxDeadlineMs: config.maxDeadlineMs,
    limits: config.connections,
    pendingVersionLeaseMs: config.pendingVersionLeaseMs,
    onCall: metrics.rpc,
    taskTokenStore: stores.taskTokens,
    accessed,
    ...(taskTokenKeys ? { taskTokenKeys } : {}),
    ...(auditTrail ? { audit: { trail: auditTrail, store: stores.audit, retentionMs: auditRetentionMs } } : {}),
    ...(cache ? { valueCache: cache.values } : {}),
    ...(config.tls ? { tls: config.tls } : {}),
    changeFeed,
    watchHeartbeatMs: config.watchHeartbeatMs,
    proxy: { egress, maxResponseBytes: config.proxy.maxResponseBytes, maxConcurrency: config.proxy.maxConcurrency },
    onFeedError: (err) => warnOnce("change event not published; watchers elsewhere miss it", { err: { type: err instanceof Error ? err.name : typeof err } }),
  });
  cache?.values.start();
  const server = await app.listen(config.listen.host, config.listen.port);
  const metricsServer = config.metrics ? await serveMetrics(metrics, config.metrics, taskTokenKeys ? { jwks: () => taskTokenKeys.publicJwks() } : {}) : undefined;
  logger.info(
    {
      address: server.address,
      store: config.store.kind,
      keys: config.keys.kind,
      tls: Boolean(config.tls),
      cache: cache ? cache.kind : "off",
      audit: auditTrail ? (config.audit.log ? `${config.store.kind}+lines` : config.store.kind) : "off",
      taskTokens: taskTokenKeys ? "on" : "off",
      ...(metricsServer ? { metrics: metricsServer.address } : {}),
    },
    "listening",
  );
  if (dev) await printDevBanner(env, server.address);
  // Readiness follows the store and KMS; liveness ("") stays SERVING while the process runs.
  let wasReady = true;
  const readiness = startReadiness(
    {
      store: stores.secrets,
      keys,
      report: (ready, failing) => {
        app.health.setStatus(SecretsServiceDesc.typeName, ready ? "SERVING" : "NOT_SERVING");
        if (ready && !wasReady) logger.info("ready again: the store and KMS answer");
        if (!ready && wasReady) {
          logger.warn({ failing: failing.map((f) => ({ dependency: f.dependency, err: { type: f.error instanceof Error ? f.error.name : typeof f.error } })) }, "not ready: health reports NOT_SERVING for the API");
        }
        wasReady = ready;
      },
    },
    config.readiness,
  );
  const sweepDeps = {
    store: stores.secrets,
    idempotency: stores.idempotency,
    clock: systemClock,
    pendingLeaseMs: config.pendingVersionLeaseMs,
    taskTokens: stores.taskTokens,
    ...(auditTrail ? { audit: { store: stores.audit, retentionMs: auditRetentionMs } } : {}),
    changes: app.changes,
  };
  const sweeper = startSweeper(sweepDeps, config.sweepIntervalMs, (r) => {
    if (r instanceof Error) logger.warn({ err: { type: r.name } }, "sweep failed");
    else if (r.purgedSecrets || r.removedRequestIds || r.completedWrites || r.removedTaskTokens || r.removedAuditEvents) logger.info(r, "swept");
  });

  let stopping = false;
  const stop = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    // Watches never finish by themselves: they end now, and their clients watch again elsewhere.
    app.endWatches();
    await readiness.stop();
    await server.close(config.shutdownGraceMs);
    await sweeper.stop();
    await metricsServer?.close();
    await cache?.values.stop();
    await auditTrail?.stop();
    await auditLines?.close();
    await accessed.stop();
    egress.close();
    await Promise.allSettled([stores.close(), keys.close(), cache?.shared.close(), changeFeed.close()]);
    logger.info("stopped");
    logger.flush();
    process.exit(exitCode);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  // A promise rejected with no handler is a bug: said once, loudly, then the process drains and exits 1
  // (an orchestrator restarts it) rather than serve on in a state nobody planned for.
  process.on("unhandledRejection", (reason) => {
    logger.fatal({ err: { type: reason instanceof Error ? reason.name : typeof reason } }, "bug: unhandled promise rejection");
    void stop("unhandledRejection", 1);
  });
  process.on("SIGINT", () => void stop("SIGINT"));
}

interface Stores {
  readonly secrets: SecretStore;
  readonly idempotency: IdempotencyStore;
  readonly cacheState: CacheStateStore;
  readonly audit: AuditStore;
  readonly taskTokens: TaskTokenStore;
  close(): Promise<void>;
}

async function openStores(config: Config): Promise<Stores> {
  if (config.store.kind === "memory") {
    return {
      secrets: new MemorySecretStore(),
      idempotency: new MemoryIdempotencyStore(),
      cacheState: new MemoryCacheStateStore(),
      audit: new MemoryAuditStore(),
      taskTokens: new MemoryTaskTokenStore(),
      close: async () => {},
    };
  }
  return connectMongo({ uri: config.store.uri, defaultDb: config.store.defaultDb });
}

/** Database operations are counted per port method; the memory store is not a database. */
function instrumentStores(metrics: Metrics, stores: Stores): Stores {
  if (stores.secrets instanceof MemorySecretStore) return stores;
  return {
    secrets: metrics.instrumentStore(stores.secrets, SECRET_STORE_OPERATIONS),
    idempotency: metrics.instrumentStore(stores.idempotency, IDEMPOTENCY_STORE_OPERATIONS),
    cacheState: metrics.instrumentStore(stores.cacheState, CACHE_STATE_STORE_OPERATIONS),
    audit: stores.audit,
    taskTokens: stores.taskTokens,
    close: () => stores.close(),
  };
}

/**
 * The value cache: Redis (REDIS_URL) as the shared layer, or process memory with the memory store
 * (dev mode: one process). A database store without Redis gets no cache: an in-process layer alone
 * could not see other replicas' writes.
 */
function openCache(
  config: Config,
  logger: Logger,
  metrics: Metrics,
  deps: { store: SecretStore; keys: KeyProvider; state: CacheStateStore },
): { kind: string; values: ValueCache; shared: SecretCache } | undefined {
  const c = config.cache;
  if (c.ttlMs === 0) return undefined;
  if (!c.redisUrl && config.store.kind !== "memory") {
    logger.warn("cache off: REDIS_URL is not set (CACHE_TTL_SECONDS=0 turns it off without this warning)");
    return undefined;
  }
  const shared = c.redisUrl ? new RedisSecretCache({ url: c.redisUrl, commandTimeoutMs: c.commandTimeoutMs }) : new MemorySecretCache();
  const values = createValueCache(
    {
      ...deps,
      clock: systemClock,
      shared,
      ...(c.localMaxBytes > 0 ? { local: lruLocalCache(c.localMaxBytes) } : {}),
      observe: metrics.cache,
      report: rateLimited((event, fields) => logger.warn(fields, event)),
    },
    { ttlMs: c.ttlMs, maxStalenessMs: c.maxStalenessMs, keyRotationMs: c.keyRotationMs },
  );
  return { kind: c.redisUrl ? "redis" : "memory", values, shared };
}

/** Change events over Redis pub/sub when REDIS_URL is set; else in this process only (one replica). */
function openChangeFeed(config: Config, logger: Logger): ChangeFeed {
  const url = config.cache.redisUrl;
  if (url) return new RedisChangeFeed({ url, commandTimeoutMs: config.cache.commandTimeoutMs, channel: config.changeChannel });
  if (config.store.kind !== "memory") logger.warn("change events reach watchers on this replica only: REDIS_URL is not set");
  return new MemoryChangeFeed();
}

/** One line per event kind per 10 s (during a Redis outage every write changes the epoch), with how many were left out. */
function rateLimited(log: (event: string, fields: Record<string, unknown>) => void): (event: string, fields?: Record<string, unknown>) => void {
  const last = new Map<string, { at: number; skipped: number }>();
  return (event, fields = {}) => {
    const now = performance.now();
    const seen = last.get(event);
    if (seen && now - seen.at < 10_000) {
      seen.skipped++;
      return;
    }
    log(event, seen?.skipped ? { ...fields, sinceLastLine: seen.skipped } : fields);
    last.set(event, { at: now, skipped: 0 });
  };
}

/** The service's own task token keys (TASK_TOKEN_KEYS); without them task tokens are off. */
async function openTaskTokenKeys(config: Config, logger: Logger): Promise<TaskTokenKeys | undefined> {
  if (!config.taskTokenKeys) {
    logger.info("task tokens off: TASK_TOKEN_KEYS is not set (npm run task-token-key makes one)");
    return undefined;
  }
  try {
    return await loadTaskTokenKeys(config.taskTokenKeys.jwks, config.taskTokenKeys.activeKid);
  } catch (err) {
    throw new ConfigError(`TASK_TOKEN_KEYS: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function openKeys(config: Config): KeyProvider {
  if (config.keys.kind === "local") return new LocalKeyProvider(config.keys.masterKeys, config.keys.activeKeyId);
  return new AwsKeyProvider({
    keyId: config.keys.keyId,
    region: config.keys.region,
    ...(config.keys.endpoint ? { endpoint: config.keys.endpoint } : {}),
  });
}

/**
 * Embedded dev mode: memory store, a random local master key, loopback. The token secret is
 * AUTH_JWT_SECRET when set, else one kept in the cache folder, so tokens outlive a restart.
 */
async function devEnvironment(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  // Task tokens live in the process's memory like everything else, so a key of this process's own does.
  const taskTokenKeys = env.TASK_TOKEN_KEYS || env.TASK_TOKEN_KEYS_FILE ? {} : { TASK_TOKEN_KEYS: JSON.stringify({ keys: [await generateTaskTokenKey()] }) };
  return {
    ...taskTokenKeys,
    ...env,
    STORE: "memory",
    KEY_PROVIDER: "local",
    LOCAL_MASTER_KEY: `dev:${randomBytes(32).toString("base64")}`,
    LOCAL_MASTER_KEY_FILE: undefined,
    LOCAL_MASTER_KEY_ID: undefined,
    AUTH_JWT_SECRET: ensureDevJwtSecret(env),
    AUTH_JWKS_URL: undefined,
    AUTH_PUBLIC_KEY: undefined,
    AUTH_PUBLIC_KEY_FILE: undefined,
    AUTH_ALGORITHMS: undefined,
    HOST: env.HOST ?? "127.0.0.1",
  };
}

async function printDevBanner(env: NodeJS.ProcessEnv, address: { host: string; port: number }): Promise<void> {
  const token = await mintToken(env.AUTH_JWT_SECRET!, {
    sub: "dev-user",
    developer_id: "dev",
    ...(env.AUTH_ISSUER ? { issuer: env.AUTH_ISSUER } : {}),
    ...(env.AUTH_AUDIENCE ? { audience: env.AUTH_AUDIENCE } : {}),
  });
  const target = `${address.host}:${address.port}`;
  const signedWith = process.env.AUTH_JWT_SECRET
    ? "AUTH_JWT_SECRET (set it the same way for dev-token)"
    : `the secret in ${devJwtSecretFile(env)}, kept across restarts`;
  // Where grpcurl is, or how to get it (`npm run tools` installs it into the cache folder, as services:up does).
  const executable = (file: string) => {
    try {
      accessSync(file, fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const grpcurlDir = (env.PATH ?? "").split(delimiter).find((dir) => dir && executable(join(dir, "grpcurl")));
  const cacheBin = join(devCacheDir(env), "bin");
  const grpcurl = grpcurlDir
    ? `grpcurl: ${join(grpcurlDir, "grpcurl")}`
    : executable(join(cacheBin, "grpcurl"))
      ? `grpcurl is in ${cacheBin}; put it on your PATH:\n    export PATH="${cacheBin}:$PATH"`
      : `grpcurl is not installed: \`npm run tools\` installs it into ${cacheBin} (it needs Go), or use curl.`;
  process.stderr.write(`
secrets-service dev mode on ${target}
  Data lives only in this process (in-memory store, random local master key): it is gone when the process stops.

  Dev token (developer "dev", valid 12h):
    export TOKEN=${token}
  Tokens are signed with ${signedWith}.
  A token for another developer (each developer sees only their own secrets):
    export TOKEN_ALICE="$(npm run --silent dev-token -- --developer alice)"

  ${grpcurl}

  Try it:
    grpcurl -plaintext -H "authorization: Bearer $TOKEN" \\
      -d '{"name":"stripe_api_key","value":"sk_test_123"}' ${target} secrets.v1.SecretsService/CreateSecret
    grpcurl -plaintext -H "authorization: Bearer $TOKEN" \\
      -d '{"name":"stripe_api_key"}' ${target} secrets.v1.SecretsService/GetSecretValue
    curl -s -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
      -d '{"name":"stripe_api_key"}' http://${target}/secrets.v1.SecretsService/GetSecretValue --http2-prior-knowledge

`);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`secrets-service: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`secrets-service: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
