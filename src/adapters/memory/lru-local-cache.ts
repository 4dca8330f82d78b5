import { LRUCache } from "lru-cache";
import type { LocalCache } from "../../ports/local-cache.js";

/** The in-process layer: least recently used entries go first once `maxBytes` is reached. */
export function lruLocalCache<V extends object>(maxBytes: number): LocalCache<V> {
  const lru = new LRUCache<string, V>({ maxSize: maxBytes, ttlAutopurge: false, allowStale: false });
  return {
    get: (key) => lru.get(key),
    set(key, value, bytes, ttlMs) {
      // An entry bigger than the whole bound is not kept (lru-cache would refuse it anyway).
      if (bytes > maxBytes) return;
      lru.set(key, value, { size: Math.max(1, bytes), ttl: ttlMs });
    },
    clear: () => lru.clear(),
  };
}
