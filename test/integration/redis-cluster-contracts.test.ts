import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisChangeFeed } from "../../src/adapters/redis/redis-change-feed.js";
import { RedisSecretCache } from "../../src/adapters/redis/redis-secret-cache.js";
import { changeEvent, changeFeedContract, freshTenant, recorder, revisions } from "../contract/change-feed.contract.js";
import { readyInstance, secretCacheContract } from "../contract/secret-cache.contract.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { startRedisCluster, type RedisCluster } from "../helpers/redis-cluster.js";

// The SecretCache and ChangeFeed contract suites (test/contract/) against the Redis adapters in Cluster
// mode, on a 3-master cluster of this file's own (scripts/services.sh cluster-up), plus what only a
// Cluster can get wrong: a secret's keys in one slot, and events crossing nodes over the cluster bus.

let cluster: RedisCluster | undefined;
const clusterUrl = () => {
  if (!cluster) throw new Error("the cluster did not start");
  return cluster.url;
};
const freshChannel = () => `sc:changes:test-${randomBytes(6).toString("hex")}`;

beforeAll(async () => {
  cluster = await startRedisCluster("contracts");
}, 300_000);

afterAll(async () => {
  await cluster?.stop();
}, 300_000);

// A generous command timeout: these suites check behaviour, on a machine busy with other work.
secretCacheContract("redis cluster", async () => {
  const cache = new RedisSecretCache({ url: clusterUrl(), commandTimeoutMs: 5_000 });
  await readyInstance(cache);
  return { cache, dispose: () => cache.close() };
});

changeFeedContract("redis cluster", async () => {
  const channel = freshChannel();
  return { openFeed: () => new RedisChangeFeed({ url: clusterUrl(), channel, commandTimeoutMs: 5_000 }), dispose: async () => {} };
});

describe("Redis Cluster specifics", () => {
  it("names every master in the instance id, and keeps each secret's generation and entries in one slot", async () => {
    const cache = new RedisSecretCache({ url: clusterUrl(), commandTimeoutMs: 5_000 });
    try {
      const instance = await readyInstance(cache);
      const runIds = await Promise.all(
        cluster!.ports.map(async (port) => {
          const node = cluster!.node(port);
          try {
            return /^run_id:(\w+)/m.exec(await node.info("server"))![1]!;
          } finally {
            node.disconnect();
          }
        }),
      );
      expect(instance).toBe(runIds.sort().join(","));

      const tenant = freshTenant();
      const names = Array.from({ length: 30 }, (_, i) => `secret_${i}`);
      for (const name of names) {
        await cache.setGeneration({ tenant, name }, "g", 60_000);
        await cache.write({ tenant, name }, "0", Uint8Array.of(1), 60_000);
        await cache.write({ tenant, name }, "7", Uint8Array.of(2), 60_000);
      }
      const masters = new Set<number>();
      for (const name of names) {
        const tag = `sc:{${tenant}|${name}}`;
        const owners = await Promise.all([`${tag}:g`, `${tag}:e:0`, `${tag}:e:7`].map((key) => cluster!.masterOf(key)));
        expect(new Set(owners).size, name).toBe(1);
        masters.add(owners[0]!);
        const node = cluster!.node(owners[0]!);
        try {
          expect(await node.exists(`${tag}:g`, `${tag}:e:0`, `${tag}:e:7`), name).toBe(3);
        } finally {
          node.disconnect();
        }
      }
      // 30 secrets over 16384 slots in 3 ranges: each master holds some (fixed names, so fixed slots).
      expect(masters.size).toBe(3);
      // One read of many secrets spans the masters (per-node pipelines, no CROSSSLOT).
      const reads = await cache.read(names.map((name) => ({ key: { tenant, name }, slot: "7" })));
      expect(reads.map((r) => [r.generation, r.entry?.[0]])).toEqual(names.map(() => ["g", 2]));
    } finally {
      await cache.close();
    }
  });

  it("delivers events across nodes: published through the feed, heard on every node; published on any node, heard by the feed", async () => {
    const channel = freshChannel();
    const tenant = freshTenant();
    const feed = new RedisChangeFeed({ url: clusterUrl(), channel, commandTimeoutMs: 5_000 });
    const nodes = cluster!.ports.map((port) => cluster!.node(port));
    try {
      const heard = nodes.map(() => [] as string[]);
      for (const [i, node] of nodes.entries()) {
        node.on("message", (_channel: string, message: string) => heard[i]!.push(message));
        await node.subscribe(channel);
      }
      await feed.publish(changeEvent(tenant, 1));
      await waitUntil(() => heard.every((h) => h.length === 1), "every node's subscriber hears the event", 60_000);

      const listener = recorder();
      await feed.subscribe(tenant, listener);
      const publishers = cluster!.ports.map((port) => cluster!.node(port));
      try {
        // One event published on each node in turn: whichever node the feed listens on, it hears all three.
        for (const [i, publisher] of publishers.entries()) {
          await publisher.publish(channel, JSON.stringify({ ...changeEvent(tenant, 10 + i), time: changeEvent(tenant, 10 + i).time.toISOString() }));
          await waitUntil(() => listener.events.length === i + 1, `the event published on node ${i} arrives`, 60_000);
        }
      } finally {
        for (const publisher of publishers) publisher.disconnect();
      }
      expect(revisions(listener)).toEqual([10, 11, 12]);
      expect(listener.losses).toBe(0);
    } finally {
      for (const node of nodes) node.disconnect();
      await feed.close();
    }
  });
});
