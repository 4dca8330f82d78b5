import { MemorySecretCache } from "../../src/adapters/memory/memory-secret-cache.js";
import { RedisSecretCache } from "../../src/adapters/redis/redis-secret-cache.js";
import { readyInstance, secretCacheContract } from "./secret-cache.contract.js";

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

secretCacheContract("memory", async () => {
  const cache = new MemorySecretCache();
  return { cache, dispose: () => cache.close() };
});

secretCacheContract("redis", async () => {
  // A generous timeout: this suite checks behaviour, and runs on machines busy with other work.
  const cache = new RedisSecretCache({ url: redisUrl, commandTimeoutMs: 5_000 });
  await readyInstance(cache);
  return { cache, dispose: () => cache.close() };
});
