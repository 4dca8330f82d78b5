// The only composition root: config -> adapters -> core -> transport.
import { randomBytes } from "node:crypto";
import { accessSync, constants as fsConstants } from "node:fs";
import { delimiter, join } from "node:path";
import { pino } from "pino";
import { AwsKeyProvider } from "./adapters/aws-kms/aws-key-provider.js";
import { LocalKeyProvider } from "./adapters/local-kms/local-key-provider.js";
import { MemoryIdempotencyStore } from "./adapters/memory/memory-idempotency-store.js";
import { MemorySecretStore } from "./adapters/memory/memory-secret-store.js";
import { connectMongo } from "./adapters/mongodb/connect.js";
import { createApp } from "./app.js";
import { devCacheDir, devJwtSecretFile, ensureDevJwtSecret, mintToken } from "./auth/dev-token.js";
import { createTokenVerifier } from "./auth/token-verifier.js";
import { ConfigError, loadConfig, type Config } from "./config/config.js";
import type { KeyProvider } from "./ports/key-provider.js";
import type { IdempotencyStore } from "./ports/idempotency-store.js";
import type { SecretStore } from "./ports/secret-store.js";
import { startSweeper } from "./core/sweeper.js";
import { systemClock } from "./ports/clock.js";

async function main(): Promise<void> {
  const dev = process.argv.includes("--dev");
  const env = dev ? devEnvironment(process.env) : process.env;
  const config = loadConfig(env, { dev });
  const logger = pino({ level: config.logLevel, base: { service: "secrets" } });
  // Every line the process writes is JSON: Node's warnings go through the logger too.
  process.removeAllListeners("warning");
  process.on("warning", (w) => logger.warn({ warning: { type: w.name, message: w.message } }, "process warning"));

  const stores = await openStores(config);
  const keys = openKeys(config);
  const verifier = await createTokenVerifier(config.auth);
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
    ...(config.tls ? { tls: config.tls } : {}),
  });
  const server = await app.listen(config.listen.host, config.listen.port);
  logger.info({ address: server.address, store: config.store.kind, keys: config.keys.kind, tls: Boolean(config.tls) }, "listening");
  if (dev) await printDevBanner(env, server.address);
  const sweepDeps = { store: stores.secrets, idempotency: stores.idempotency, clock: systemClock, pendingLeaseMs: config.pendingVersionLeaseMs };
  const sweeper = startSweeper(sweepDeps, config.sweepIntervalMs, (r) => {
    if (r instanceof Error) logger.warn({ err: { type: r.name } }, "sweep failed");
    else if (r.purgedSecrets || r.removedRequestIds || r.completedWrites) logger.info(r, "swept");
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    await server.close(config.shutdownGraceMs);
    await sweeper.stop();
    await Promise.allSettled([stores.close(), keys.close()]);
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

async function openStores(config: Config): Promise<{ secrets: SecretStore; idempotency: IdempotencyStore; close(): Promise<void> }> {
  if (config.store.kind === "memory") return { secrets: new MemorySecretStore(), idempotency: new MemoryIdempotencyStore(), close: async () => {} };
  return connectMongo({ uri: config.store.uri, defaultDb: config.store.defaultDb });
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
function devEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
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
