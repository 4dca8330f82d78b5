import { Redis } from "ioredis";
import { sampleValue } from "./prometheus.js";
import { spawnServerProcess, type ServerProcess } from "./server-process.js";

// Several replicas of the service as real processes (src/main.ts), sharing one database and one
// Redis: their "listening" lines, their /metrics, and the warnings they logged.

export interface ReplicaProcess {
  readonly index: number;
  readonly proc: ServerProcess;
  /** The parsed JSON "listening" log line. */
  readonly listening: Record<string, unknown>;
  /** http://host:port/metrics */
  readonly metricsUrl: string;
}

/**
 * Starts `count` processes with the same env, in parallel. Every process that started is handed to
 * `started` at once (so the caller's cleanup kills it even when another one fails to start).
 */
export async function startReplicas(count: number, env: Record<string, string>, started: (r: ReplicaProcess) => void): Promise<ReplicaProcess[]> {
  const results = await Promise.allSettled(
    Array.from({ length: count }, async (_, index) => {
      const proc = await spawnServerProcess(env);
      const replica = describeReplica(index, proc);
      started(replica);
      return replica;
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<ReplicaProcess>).value);
}

function describeReplica(index: number, proc: ServerProcess): ReplicaProcess {
  const line = proc
    .output()
    .split("\n")
    .find((l) => l.includes('"listening"'));
  if (!line) throw new Error(`replica ${index}: no "listening" line`);
  const listening = JSON.parse(line) as Record<string, unknown>;
  const metrics = listening.metrics as { host?: string; port?: number } | undefined;
  if (!metrics?.port) throw new Error(`replica ${index}: the "listening" line has no metrics address: ${line}`);
  return { index, proc, listening, metricsUrl: `http://${metrics.host ?? "127.0.0.1"}:${metrics.port}/metrics` };
}

export interface CacheCounts {
  readonly hits: number;
  readonly misses: number;
  readonly errors: number;
}

/** secrets_cache_requests_total of one replica, summed over both layers (hits) and the Redis layer (errors). */
export async function cacheCounts(replica: ReplicaProcess): Promise<CacheCounts> {
  const text = await (await fetch(replica.metricsUrl)).text();
  const n = (layer: string, result: string) => sampleValue(text, "secrets_cache_requests_total", { layer, result });
  return { hits: n("local", "hit") + n("redis", "hit"), misses: n("redis", "miss"), errors: n("redis", "error") };
}

export function countsSince(now: CacheCounts, before: CacheCounts): CacheCounts {
  return { hits: now.hits - before.hits, misses: now.misses - before.misses, errors: now.errors - before.errors };
}

/** The process's log lines at warn level or above (pino: 40+), as parsed JSON (unparsable lines kept as text). */
export function warnings(proc: ServerProcess): (Record<string, unknown> | string)[] {
  const out: (Record<string, unknown> | string)[] = [];
  for (const line of proc.output().split("\n")) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (typeof entry.level === "number" && entry.level >= 40) out.push(entry);
    } catch {
      out.push(line);
    }
  }
  return out;
}

/** "msg ×count" per distinct warning message, for a one-line summary. */
export function warningSummary(proc: ServerProcess): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const w of warnings(proc)) {
    const key = typeof w === "string" ? `(text) ${w.slice(0, 120)}` : String(w.msg);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** A short-lived client that fails instead of retrying, for a test's look at a Redis that may be down. */
export async function withRedis<T>(url: string, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 5_000, commandTimeout: 10_000 });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

/** Every key matching `pattern`, by SCAN. */
export async function scanKeys(redis: Redis, pattern = "*"): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1_000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys;
}
