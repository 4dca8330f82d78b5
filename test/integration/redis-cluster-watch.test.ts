import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedisCluster, type RedisCluster } from "../helpers/redis-cluster.js";
import { scanKeys } from "../helpers/replicas.js";
import { services } from "../helpers/services.js";

// The WatchSecrets suite across two real service processes (watch-processes.test.ts, unchanged) with
// their cache and change feed on a 3-master Redis Cluster of this file's own (scripts/services.sh
// cluster-up) instead of the services' standalone Redis: a watcher on one process hears the writes
// committed on the other, purges once, restarts and shutdowns, tenants apart.
//
// The suite reads its Redis from `services.redisUrl` in its beforeAll. This file's beforeAll is
// registered first, so it runs first: it starts the cluster and points `services` (this file's own
// module instance: vitest isolates files) at it; then the suite is imported and registers its hooks
// and tests here. Its sentinel argument holds in Cluster too: every replica publishes through the same
// master, and the cluster bus relays that node's messages to the others in the order it took them.

let cluster: RedisCluster | undefined;

beforeAll(async () => {
  cluster = await startRedisCluster("watch");
  services.redisUrl = cluster.url;
}, 300_000);

// Registered before the suite's own afterAll, so it runs after it (afterAll hooks run in reverse),
// once the suite's processes are gone.
afterAll(async () => {
  await cluster?.stop();
}, 300_000);

await import("./watch-processes.test.js");

describe("the suite ran on the cluster", () => {
  it("every master holds generation tokens of the suite's secrets (its processes' cache was the cluster)", async () => {
    const perNode = await Promise.all(
      cluster!.ports.map(async (port) => {
        const node = cluster!.node(port);
        try {
          return (await scanKeys(node, "sc:{wp-*}:g")).length;
        } finally {
          node.disconnect();
        }
      }),
    );
    for (const [i, count] of perNode.entries()) expect(count, `master ${cluster!.ports[i]}`).toBeGreaterThan(0);
  });
});
