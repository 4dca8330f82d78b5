import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RedisSecretCache } from "../../src/adapters/redis/redis-secret-cache.js";
import { UnavailableError } from "../../src/errors.js";
import type { CacheKey, SecretCache } from "../../src/ports/secret-cache.js";
import { readyInstance, recordEvents } from "../contract/secret-cache.contract.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { startRedisProcess, type RedisProcess } from "../helpers/redis-process.js";

// The Redis cache when its server dies, hangs or restarts: calls fail fast with UnavailableError,
// watchers learn of the loss and of the new instance, and the helper really restores snapshots.

/** A safety net against a call that never settles, not a verdict on speed. */
const SETTLE_WITHIN_MS = 5_000;

async function rejectionOf(call: Promise<unknown>): Promise<unknown> {
  const gaveUp = Symbol("still pending");
  const outcome = await Promise.race([
    call.then(
      (value) => new Error(`resolved with ${JSON.stringify(value)}`),
      (err: unknown) => err,
    ),
    sleep(SETTLE_WITHIN_MS, gaveUp, { ref: false }),
  ]);
  if (outcome === gaveUp) throw new Error(`the call had not settled after ${SETTLE_WITHIN_MS} ms`);
  return outcome;
}

async function expectUnavailable(cache: SecretCache, key: CacheKey): Promise<void> {
  const calls = {
    read: cache.read([{ key, slot: "v1" }, { key }]),
    write: cache.write(key, "v1", Uint8Array.of(1), 60_000),
    setGeneration: cache.setGeneration(key, "g", 60_000),
  };
  for (const [name, call] of Object.entries(calls)) {
    const err = await rejectionOf(call);
    expect(err, name).toBeInstanceOf(UnavailableError);
    expect((err as Error).message, name).toMatch(/Redis/);
  }
}

describe("Redis cache faults", () => {
  let server: RedisProcess;
  let cache: RedisSecretCache;
  const key = { tenant: "faults", name: "api_key" };
  beforeEach(async () => {
    server = await startRedisProcess({ persist: true });
    cache = new RedisSecretCache({ url: server.url });
  });
  afterEach(async () => {
    await cache.close();
    await server.stop();
  });

  it("fails every call with UnavailableError while the server is down, and serves again once it is back", async () => {
    const before = await readyInstance(cache);
    await server.kill();
    await expectUnavailable(cache, key);
    await server.restart({ keepData: false });
    await readyInstance(cache, before);
    await cache.setGeneration(key, "g1", 60_000);
    expect(await cache.read([{ key }])).toEqual([{ generation: "g1" }]);
  });

  it("fails every call with UnavailableError while the server hangs, and serves again once it answers", async () => {
    await readyInstance(cache);
    server.pause();
    try {
      await expectUnavailable(cache, key);
    } finally {
      server.resume();
    }
    await waitUntil(async () => (await cache.read([{ key }]).catch(() => undefined)) !== undefined, "reads work again");
  });

  it("fails at once when no server was ever reached, and closes cleanly", async () => {
    await server.kill();
    const unreached = new RedisSecretCache({ url: server.url });
    const { events, stop } = recordEvents(unreached);
    await expectUnavailable(unreached, key);
    await unreached.close();
    stop();
    expect(events).toEqual([]);
  });

  it("tells watchers the connection was lost, then ready with a new instance after a restart", async () => {
    const { events, stop } = recordEvents(cache);
    await waitUntil(() => events.length === 1, "the first ready");
    const [first] = events;
    await server.kill();
    await waitUntil(() => events.length === 2, "the loss is reported");
    await server.restart({ keepData: false });
    await waitUntil(() => events.length === 3, "ready again");
    stop();
    const second = events[2];
    expect(events).toEqual([first, { state: "lost" }, second]);
    expect(first).toMatchObject({ state: "ready", instance: expect.stringMatching(/^\w+$/) });
    expect(second).toMatchObject({ state: "ready", instance: expect.stringMatching(/^\w+$/) });
    expect(second).not.toEqual(first);
  });

  it("restart({ keepData: true }) brings back what the last snapshot held, and only that", async () => {
    const first = await readyInstance(cache);
    await cache.setGeneration(key, "g1", 60_000);
    await cache.write(key, "v1", Uint8Array.of(0, 1, 0xff), 60_000);
    await server.snapshot();
    await cache.write(key, "v2", Uint8Array.of(2), 60_000);

    await server.restart({ keepData: true });
    const second = await readyInstance(cache, first);
    const [v1, v2] = await cache.read([{ key, slot: "v1" }, { key, slot: "v2" }]);
    expect(v1?.generation).toBe("g1");
    expect(v1?.entry && new Uint8Array(v1.entry)).toEqual(Uint8Array.of(0, 1, 0xff));
    expect(v2).toEqual({ generation: "g1" });

    await server.restart({ keepData: false });
    await readyInstance(cache, second);
    expect(await cache.read([{ key, slot: "v1" }])).toEqual([{ generation: "" }]);
  });

  it("closes without throwing while the server is down", async () => {
    await readyInstance(cache);
    await server.kill();
    await expect(cache.close()).resolves.toBeUndefined();
    await expect(cache.close()).resolves.toBeUndefined();
  });
});
