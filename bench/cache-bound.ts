// Memory bound of the value cache: reads N distinct names (default 1,000,000) through the value cache
// (in-process layer bounded by CACHE_LOCAL_MAX_BYTES, Redis as the shared layer) and samples RSS and
// heap. The store fabricates one sealed secret per name on demand, so the process holds no database:
// what grows is the cache alone. Run: bash scripts/with-node.sh tsx bench/cache-bound.ts [--reads N]
// [--local-bytes B] (needs the services' Redis: REDIS_URL, default redis://127.0.0.1:6379).
import { randomBytes } from "node:crypto";
import { LocalKeyProvider } from "../src/adapters/local-kms/local-key-provider.js";
import { lruLocalCache } from "../src/adapters/memory/lru-local-cache.js";
import { MemoryCacheStateStore } from "../src/adapters/memory/memory-cache-state-store.js";
import { RedisSecretCache } from "../src/adapters/redis/redis-secret-cache.js";
import { sealValue, versionBinding } from "../src/core/envelope.js";
import { createValueCache } from "../src/core/value-cache.js";
import type { SecretRecord, SecretStore } from "../src/ports/secret-store.js";
import { systemClock } from "../src/ports/clock.js";

const arg = (flag: string, fallback: number) => {
  const i = process.argv.indexOf(flag);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const reads = arg("--reads", 1_000_000);
const localBytes = arg("--local-bytes", 64 * 1024 * 1024);
const MiB = 1024 * 1024;

const keys = new LocalKeyProvider(new Map([["k1", randomBytes(32)]]), "k1");
const tenant = `bound-${randomBytes(3).toString("hex")}`;

/** Only what a value read needs: findSecret and findSecrets fabricate a live secret with one sealed version. */
async function fabricate(name: string): Promise<SecretRecord> {
  const id = `id-${name}`;
  const now = new Date();
  const sealed = await sealValue(keys, versionBinding(tenant, { id, name }, 1), `value-of-${name}-${"x".repeat(24)}`);
  return {
    id, tenant, name, description: "", metadata: {}, maxVersions: 10, latestVersion: 1, liveVersions: 1,
    current: { version: 1, createTime: now, sealed }, createTime: now, updateTime: now, createdBy: "b", updatedBy: "b", etag: "e", revision: 1,
  };
}
const store = {
  findSecret: (_t: string, name: string) => fabricate(name),
  findSecrets: (_t: string, names: readonly string[]) => Promise.all(names.map(fabricate)),
} as unknown as SecretStore;

const shared = new RedisSecretCache({ url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" });
const cache = createValueCache(
  { store, keys, clock: systemClock, shared, state: new MemoryCacheStateStore(), ...(localBytes > 0 ? { local: lruLocalCache(localBytes) } : {}) },
  { ttlMs: 30_000, maxStalenessMs: 1000, keyRotationMs: 86_400_000 },
);
cache.start();
while (!cache.usable()) await new Promise((r) => setTimeout(r, 20));

const sample = (label: string) => {
  global.gc?.();
  const m = process.memoryUsage();
  const line = { label, reads: done, rssMiB: +(m.rss / MiB).toFixed(1), heapTotalMiB: +(m.heapTotal / MiB).toFixed(1), heapUsedMiB: +(m.heapUsed / MiB).toFixed(1), externalMiB: +(m.external / MiB).toFixed(1) };
  console.log(JSON.stringify(line));
  return line;
};
let done = 0;
const start = sample("start");
const principal = { tenant, subject: "bench" };
const started = performance.now();
const CONCURRENCY = Number(process.env.BOUND_CONCURRENCY ?? 32);
let peak = start.rssMiB;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async (_, lane) => {
    for (let i = lane; i < reads; i += CONCURRENCY) {
      await cache.getSecretValue(principal, `n${i}`, 0);
      done++;
      if (done % 100_000 === 0) peak = Math.max(peak, sample("progress").rssMiB);
    }
  }),
);
const end = sample("end");
peak = Math.max(peak, end.rssMiB);
console.log(
  JSON.stringify({
    reads,
    seconds: +((performance.now() - started) / 1000).toFixed(1),
    localBoundMiB: +(localBytes / MiB).toFixed(1),
    rssStartMiB: start.rssMiB,
    rssPeakMiB: peak,
    rssEndMiB: end.rssMiB,
    growthMiB: +(peak - start.rssMiB).toFixed(1),
    withinBoundPlus100MiB: peak - start.rssMiB <= localBytes / MiB + 100,
  }),
);
await cache.stop();
await shared.close();
await keys.close();
