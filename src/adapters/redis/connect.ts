import { Cluster, Redis, type RedisOptions } from "ioredis";
import { parseAddress, parseRedisTarget, type RedisCredentials, type RedisTarget } from "./redis-target.js";

interface Credentials {
  readonly username?: string;
  readonly password?: string;
  readonly tls?: boolean;
}

/** One of: `url` (any form parseRedisTarget takes), `sentinels` + `sentinelName`, or `cluster` nodes; host:port strings. */
export type RedisCacheOptions = Credentials & {
  /** How long a command may take before it fails as unavailable; default 250 ms. */
  readonly commandTimeoutMs?: number;
  /** How long connecting may take; default 1 s. */
  readonly connectTimeoutMs?: number;
} & (
    | { readonly url: string }
    | { readonly sentinels: readonly string[]; readonly sentinelName: string }
    | { readonly cluster: readonly string[] }
  );

export type RedisClient = Redis | Cluster;

export const DEFAULT_COMMAND_TIMEOUT_MS = 250;
export const DEFAULT_CONNECT_TIMEOUT_MS = 1_000;

/** Reconnect soon after a loss, and keep trying at least every second. */
const reconnectDelay = (attempt: number) => Math.min(50 * 2 ** Math.min(attempt - 1, 5), 1_000);

export function redisTarget(options: RedisCacheOptions): RedisTarget {
  const base: RedisTarget =
    "url" in options
      ? parseRedisTarget(options.url)
      : "sentinels" in options
        ? { mode: "sentinel", sentinels: options.sentinels.map((s) => parseAddress(s, 26379)), sentinelName: options.sentinelName, tls: false }
        : { mode: "cluster", nodes: options.cluster.map((n) => parseAddress(n, 6379)), tls: false };
  return {
    ...base,
    ...(options.username !== undefined && { username: options.username }),
    ...(options.password !== undefined && { password: options.password }),
    ...(options.tls !== undefined && { tls: options.tls }),
  };
}

/**
 * A client that fails fast instead of waiting: no offline queue, no retried or resent commands, a
 * timeout on every command. Concurrent commands share round trips (auto-pipelining; per node in Cluster).
 */
export function createRedisClient(target: RedisTarget, options: RedisCacheOptions): RedisClient {
  const perConnection = {
    ...auth(target),
    commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
  } satisfies RedisOptions;
  const failFast = { enableOfflineQueue: false, enableAutoPipelining: true };

  if (target.mode === "cluster") {
    return new Cluster(
      target.nodes.map((n) => ({ ...n })),
      // The periodic slot refresh is what notices a master that came back (see RedisSecretCache's "+node").
      { ...failFast, clusterRetryStrategy: reconnectDelay, slotsRefreshInterval: 5_000, redisOptions: perConnection },
    );
  }
  const common = { ...perConnection, ...failFast, retryStrategy: reconnectDelay };
  if (target.mode === "sentinel") {
    return new Redis({
      ...common,
      sentinels: target.sentinels.map((s) => ({ ...s })),
      name: target.sentinelName,
      role: "master",
      enableTLSForSentinelMode: target.tls,
      sentinelRetryStrategy: reconnectDelay,
      // Drops the connection as soon as the Sentinels announce a new master.
      failoverDetector: true,
    });
  }
  return new Redis({ ...common, ...target.address, db: target.db });
}

function auth(credentials: RedisCredentials): Pick<RedisOptions, "username" | "password" | "tls"> {
  return {
    ...(credentials.username !== undefined && { username: credentials.username }),
    ...(credentials.password !== undefined && { password: credentials.password }),
    ...(credentials.tls && { tls: {} }),
  };
}
