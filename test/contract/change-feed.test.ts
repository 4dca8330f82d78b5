import { randomBytes } from "node:crypto";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MemoryChangeBus, MemoryChangeFeed } from "../../src/adapters/memory/memory-change-feed.js";
import { decodeChangeEvent, encodeChangeEvent, RedisChangeFeed, type RedisChangeFeedOptions } from "../../src/adapters/redis/redis-change-feed.js";
import { InvalidArgumentError, UnavailableError } from "../../src/errors.js";
import type { ChangeFeed } from "../../src/ports/change-feed.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { startRedisProcess, type RedisProcess } from "../helpers/redis-process.js";
import { services } from "../helpers/services.js";
import { changeEvent, changeFeedContract, freshTenant, recorder, revisions } from "./change-feed.contract.js";

/** A channel of its own per fixture, so that files sharing the Redis server never hear each other. */
const freshChannel = () => `sc:changes:test-${randomBytes(6).toString("hex")}`;

changeFeedContract("memory", async () => {
  const bus = new MemoryChangeBus();
  return { openFeed: () => new MemoryChangeFeed(bus), dispose: async () => {} };
});

changeFeedContract("redis", async () => {
  const channel = freshChannel();
  // A generous timeout: this suite checks behaviour, and runs on machines busy with other work.
  return { openFeed: () => new RedisChangeFeed({ url: services.redisUrl, channel, commandTimeoutMs: 5_000 }), dispose: async () => {} };
});

/** A safety net against a call that never settles, not a verdict on speed. */
const SETTLE_WITHIN_MS = 15_000;

async function rejectionOf(call: Promise<unknown>): Promise<unknown> {
  const gaveUp = Symbol("still pending");
  const outcome = await Promise.race([
    call.then(
      () => new Error("resolved"),
      (err: unknown) => err,
    ),
    sleep(SETTLE_WITHIN_MS, gaveUp, { ref: false }),
  ]);
  if (outcome === gaveUp) throw new Error(`the call had not settled after ${SETTLE_WITHIN_MS} ms`);
  return outcome;
}

/**
 * A TCP proxy to a Redis port that can hold back a connection's bytes from its first SUBSCRIBE on,
 * until released; and drop every connection, as a network failure would.
 */
async function startSubscribeGate(targetPort: number) {
  const sockets = new Set<net.Socket>();
  const held: (() => void)[] = [];
  let holding = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    upstream.pipe(client);
    let blocked: Buffer[] | undefined;
    client.on("data", (chunk: Buffer) => {
      if (blocked) return void blocked.push(chunk);
      if (holding && /subscribe/i.test(chunk.toString("latin1"))) {
        blocked = [chunk];
        held.push(() => {
          for (const part of blocked ?? []) upstream.write(part);
          blocked = undefined;
        });
        return;
      }
      upstream.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) socket.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    hold: () => void (holding = true),
    heldCount: () => held.length,
    release() {
      holding = false;
      for (const forward of held.splice(0)) forward();
    },
    dropConnections: () => sockets.forEach((socket) => socket.destroy()),
    close: () => new Promise<void>((resolve) => {
      sockets.forEach((socket) => socket.destroy());
      server.close(() => resolve());
    }),
  };
}

describe("memory change feed: a simulated loss", () => {
  it("tells every listener lost() once, and serves new subscriptions afterwards", async () => {
    const bus = new MemoryChangeBus();
    const [feed, other] = [new MemoryChangeFeed(bus), new MemoryChangeFeed(bus)];
    const tenant = freshTenant();
    const listeners = [recorder(), recorder()];
    for (const listener of listeners) await feed.subscribe(tenant, listener);
    const elsewhere = recorder();
    await other.subscribe(tenant, elsewhere);
    feed.loseConnection();
    feed.loseConnection();
    const fresh = recorder();
    await feed.subscribe(tenant, fresh);
    await other.publish(changeEvent(tenant, 1));
    expect(revisions(fresh)).toEqual([1]);
    expect(revisions(elsewhere)).toEqual([1]);
    for (const listener of listeners) expect([listener.losses, listener.events]).toEqual([1, []]);
    await Promise.all([feed.close(), other.close()]);
  });
});

describe("Redis change feed: the wire format", () => {
  it("round-trips an event, and refuses to send one that no receiver would accept", async () => {
    const event = changeEvent(freshTenant(), 3, { kind: "purged", versions: [] });
    expect(decodeChangeEvent(encodeChangeEvent(event))).toEqual(event);
    const bad = [
      { time: new Date(Number.NaN) },
      { revision: Number.NaN },
      { revision: 1.5 },
      { versions: [-1] },
      { latestVersion: -1 },
      { kind: "exploded" as never },
    ];
    for (const overrides of bad) {
      expect(() => encodeChangeEvent({ ...event, ...overrides }), JSON.stringify(overrides)).toThrow(InvalidArgumentError);
    }
    const feed = new RedisChangeFeed({ url: services.redisUrl, channel: freshChannel(), commandTimeoutMs: 5_000 });
    await expect(feed.publish({ ...event, revision: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await feed.close();
  });

  it("sends only the event's own fields", () => {
    const event = { ...changeEvent(freshTenant(), 1), value: "hunter2" };
    expect(encodeChangeEvent(event)).not.toContain("hunter2");
  });
});

describe("Redis change feed: messages from strangers", () => {
  const channel = freshChannel();
  let stranger: Redis;
  let feed: RedisChangeFeed;
  beforeAll(() => {
    stranger = new Redis(services.redisUrl);
  });
  afterAll(async () => {
    await stranger.quit();
  });
  beforeEach(() => {
    feed = new RedisChangeFeed({ url: services.redisUrl, channel, commandTimeoutMs: 5_000 });
  });
  afterEach(async () => feed.close());

  it("drops malformed messages, keeps listening, and strips fields it does not know", async () => {
    const tenant = freshTenant();
    const listener = recorder();
    await feed.subscribe(tenant, listener);
    const valid = JSON.parse(encodeChangeEvent(changeEvent(tenant, 1))) as Record<string, unknown>;
    const garbage: (string | Buffer)[] = [
      "not json",
      "",
      "null",
      "[]",
      '"a string"',
      "{}",
      "[".repeat(100_000),
      Buffer.from([0xff, 0xfe, 0x00, 0x7b]),
      JSON.stringify([valid]),
      ...Object.keys(valid).map((field) => JSON.stringify({ ...valid, [field]: undefined })),
      JSON.stringify({ ...valid, tenant: 7 }),
      JSON.stringify({ ...valid, kind: "exploded" }),
      JSON.stringify({ ...valid, revision: -1 }),
      JSON.stringify({ ...valid, revision: "1" }),
      JSON.stringify({ ...valid, versions: ["1"] }),
      JSON.stringify({ ...valid, versions: 1 }),
      JSON.stringify({ ...valid, time: "yesterday" }),
      JSON.stringify({ ...valid, time: 1_700_000_000_000 }),
    ];
    for (const message of garbage) await stranger.publish(channel, message);
    await stranger.publish(channel, JSON.stringify({ ...valid, revision: 2, value: "hunter2" }));
    await feed.publish(changeEvent(tenant, 3));
    await waitUntil(() => listener.events.length >= 2, "the good events arrive");
    const stripped = changeEvent(tenant, 2, { latestVersion: 1, versions: [1], time: changeEvent(tenant, 1).time });
    expect(listener.events).toEqual([stripped, changeEvent(tenant, 3)]);
    expect(JSON.stringify(listener.events)).not.toContain("hunter2");
    expect(listener.losses).toBe(0);
  });
});

describe("Redis change feed faults", () => {
  let server: RedisProcess;
  const opened: ChangeFeed[] = [];
  const open = (options: Partial<RedisChangeFeedOptions> = {}) => {
    const feed = new RedisChangeFeed({ url: server.url, commandTimeoutMs: 2_000, ...options });
    opened.push(feed);
    return feed;
  };
  /** subscribe(), retried until the feed is back. */
  const subscribeOnceBack = async (feed: ChangeFeed, tenant: string, listener = recorder()) => {
    await waitUntil(
      () => feed.subscribe(tenant, listener).then(() => true, (err: unknown) => (err instanceof UnavailableError ? false : Promise.reject(err))),
      "subscribe() works again",
    );
    return listener;
  };
  /** publish(), retried until the publishing connection is back. */
  const publishOnceBack = (feed: ChangeFeed, revision: number, tenant: string) =>
    waitUntil(() => feed.publish(changeEvent(tenant, revision)).then(() => true, () => false), "publish() works again");

  beforeEach(async () => {
    server = await startRedisProcess();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((feed) => feed.close()));
    await server.stop();
  });

  it("tells every listener lost() once when the server dies, and works again after it restarts", async () => {
    const [feed, other] = [open(), open()];
    const [a, b] = [freshTenant(), freshTenant()];
    const listeners = [recorder(), recorder(), recorder(), recorder()];
    await feed.subscribe(a, listeners[0]!);
    await feed.subscribe(a, listeners[1]!);
    await feed.subscribe(b, listeners[2]!);
    await other.subscribe(a, listeners[3]!);
    await feed.publish(changeEvent(a, 1));
    await waitUntil(() => listeners[3]!.events.length === 1, "the first event arrives");

    await server.kill();
    await waitUntil(() => listeners.every((l) => l.losses > 0), "every listener is told of the loss");
    await expect(rejectionOf(feed.publish(changeEvent(a, 2)))).resolves.toBeInstanceOf(UnavailableError);

    await server.restart({ keepData: false });
    const [again, elsewhere] = [await subscribeOnceBack(feed, a), await subscribeOnceBack(other, a)];
    await publishOnceBack(other, 3, a);
    await waitUntil(() => again.events.length === 1 && elsewhere.events.length === 1, "the event after the restart arrives");
    expect(revisions(again)).toEqual([3]);
    expect(revisions(elsewhere)).toEqual([3]);
    for (const [i, listener] of listeners.entries()) expect(listener.losses, `listener ${i}`).toBe(1);
    expect(listeners.map((l) => revisions(l))).toEqual([[1], [1], [], [1]]);
  });

  it("rejects subscribe() with UnavailableError while the server is down, within its timeout", async () => {
    const feed = open({ subscribeTimeoutMs: 300 });
    const tenant = freshTenant();
    const before = recorder();
    await feed.subscribe(tenant, before);
    await server.kill();
    await waitUntil(() => before.losses === 1, "the loss is noticed");
    const err = await rejectionOf(feed.subscribe(tenant, recorder()));
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/Redis/);

    const neverConnected = open({ subscribeTimeoutMs: 300 });
    expect(await rejectionOf(neverConnected.subscribe(tenant, recorder()))).toBeInstanceOf(UnavailableError);
  });

  it("lets a subscribe() made during the outage wait for the server, then deliver", async () => {
    const feed = open({ subscribeTimeoutMs: 60_000 });
    const tenant = freshTenant();
    const before = recorder();
    await feed.subscribe(tenant, before);
    await server.kill();
    await waitUntil(() => before.losses === 1, "the loss is noticed");
    const listener = recorder();
    const pending = feed.subscribe(tenant, listener);
    await server.restart({ keepData: false });
    await pending;
    await publishOnceBack(feed, 1, tenant);
    await waitUntil(() => listener.events.length === 1, "the event arrives");
    expect(listener.losses).toBe(0);
  });

  it("resolves subscribe() only once the server confirmed the SUBSCRIBE, also on the connection after a loss", async () => {
    const gate = await startSubscribeGate(server.port);
    try {
      // Timeouts far beyond the test's steps: while the gate holds, nothing can answer the SUBSCRIBE.
      const feed = open({ url: gate.url, commandTimeoutMs: 30_000, subscribeTimeoutMs: 60_000 });
      const publisher = open();
      const tenant = freshTenant();
      gate.hold();
      for (const round of [1, 2]) {
        const listener = recorder();
        let settled = false;
        const pending = feed.subscribe(tenant, listener).finally(() => (settled = true));
        await waitUntil(() => gate.heldCount() > 0, `round ${round}: the SUBSCRIBE reaches the gate`);
        expect(settled, `round ${round}: subscribe() resolved before the server subscribed`).toBe(false);
        gate.release();
        await pending;
        await publishOnceBack(publisher, round, tenant);
        await waitUntil(() => listener.events.length === 1, `round ${round}: the event arrives`);
        expect(revisions(listener)).toEqual([round]);
        if (round === 1) {
          gate.hold(); // before the loss, so that the next connection's SUBSCRIBE is held too
          gate.dropConnections();
          await waitUntil(() => listener.losses === 1, "the dropped connection counts as a loss");
        }
      }
    } finally {
      await gate.close();
    }
  });

  it("counts a server that stops answering as lost, and works again once it answers", async () => {
    const feed = open({ commandTimeoutMs: 500, heartbeatMs: 100 });
    const tenant = freshTenant();
    const listener = recorder();
    await feed.subscribe(tenant, listener);
    server.pause();
    try {
      await waitUntil(() => listener.losses === 1, "the hang counts as a loss");
    } finally {
      server.resume();
    }
    const again = await subscribeOnceBack(feed, tenant);
    await publishOnceBack(feed, 1, tenant);
    await waitUntil(() => again.events.length >= 1, "the event arrives");
    expect(listener.losses).toBe(1);
    expect(listener.events).toEqual([]);
  });
});
