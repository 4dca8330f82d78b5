import { once } from "node:events";
import { performance } from "node:perf_hooks";
import { Cluster, Redis } from "ioredis";
import { z } from "zod";
import { InvalidArgumentError, UnavailableError } from "../../errors.js";
import type { ChangeEvent, ChangeKind } from "../../ports/change-events.js";
import type { ChangeFeed, FeedListener, FeedSubscription } from "../../ports/change-feed.js";
import {
  createRedisClient,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  redisTarget,
  type RedisCacheOptions,
  type RedisClient,
} from "./connect.js";
import type { RedisTarget } from "./redis-target.js";

// The change feed on Redis pub/sub. One channel carries every tenant's events: each replica hears all
// of them and keeps its listeners' tenants. Commits are bounded by the store's write rate and an
// event is a few hundred bytes, so the fan-out costs little, while one standing SUBSCRIBE per process
// keeps subscribe() free of round trips and of SUBSCRIBE/UNSUBSCRIBE races.
//
// The subscriber connection lives once: when it closes (or stops answering the heartbeat) every
// listener is told lost() and a new connection replaces it, so no listener outlives a gap in which
// events could have been missed. Nothing relies on ioredis re-subscribing behind our back.
//
// Cluster: ordinary PUBLISH reaches every node over the cluster bus, so the subscriber is a plain
// connection to one node (the nodes the publisher knows, else the configured ones, in turn), and every
// replica publishes through one master, the first by address: through any node (ioredis' choice for a
// keyless command) events published in a row overtake each other. Shard channels (SSUBSCRIBE) would
// need ioredis' shardedSubscribers option, and one channel would sit on one shard anyway.

export type RedisChangeFeedOptions = RedisCacheOptions & {
  /** The pub/sub channel; default "sc:changes". Pub/sub ignores database numbers: deployments sharing a server need their own. */
  readonly channel?: string;
  /** How long subscribe() waits for the feed to (re)connect; default connect + command timeout + 1 s. */
  readonly subscribeTimeoutMs?: number;
  /** How often the subscriber connection is pinged, so that a server that hangs counts as lost; default 5 s. */
  readonly heartbeatMs?: number;
};

export const DEFAULT_CHANGE_CHANNEL = "sc:changes";
const DEFAULT_HEARTBEAT_MS = 5_000;

/** Wait before the next subscriber connection: soon after a loss, at least every second. */
const retryDelay = (failures: number) => Math.min(50 * 2 ** Math.min(failures, 5), 1_000);

const KINDS: Record<ChangeKind, true> = {
  created: true,
  updated: true,
  version_added: true,
  version_enabled: true,
  version_disabled: true,
  version_destroyed: true,
  deleted: true,
  purging: true,
  restored: true,
  purged: true,
};

// Unknown fields are dropped, not refused: a newer replica may add some.
const wireEvent = z.object({
  tenant: z.string(),
  name: z.string(),
  incarnation: z.string(),
  revision: z.int().nonnegative(),
  latestVersion: z.int().nonnegative(),
  kind: z.enum(Object.keys(KINDS) as [ChangeKind, ...ChangeKind[]]),
  versions: z.array(z.int().nonnegative()),
  time: z.iso.datetime(),
});

/** The event as JSON, with its fields named one by one so that nothing else ever travels. */
export function encodeChangeEvent(event: ChangeEvent): string {
  if (!(event.time instanceof Date) || Number.isNaN(event.time.getTime())) throw new InvalidArgumentError("event.time", "not a valid date");
  const { tenant, name, incarnation, revision, latestVersion, kind, versions } = event;
  const message = JSON.stringify({ tenant, name, incarnation, revision, latestVersion, kind, versions, time: event.time.toISOString() });
  // What every receiver would drop is refused here, where the bug is.
  if (decodeChangeEvent(message) === undefined) throw new InvalidArgumentError("event", "not a valid change event");
  return message;
}

/** The event a message carries, or undefined for anything malformed. */
export function decodeChangeEvent(message: string): ChangeEvent | undefined {
  let json: unknown;
  try {
    json = JSON.parse(message);
  } catch {
    return undefined;
  }
  const parsed = wireEvent.safeParse(json);
  if (!parsed.success) return undefined;
  const time = new Date(parsed.data.time);
  return Number.isNaN(time.getTime()) ? undefined : { ...parsed.data, time };
}

interface Registration {
  readonly tenant: string;
  readonly listener: FeedListener;
}

/** The ChangeFeed on Redis (standalone, Sentinel or Cluster): publishes on the normal connection, listens on its own. */
export class RedisChangeFeed implements ChangeFeed {
  private readonly target: RedisTarget;
  private readonly options: RedisChangeFeedOptions;
  private readonly channel: string;
  private readonly commandTimeoutMs: number;
  private readonly subscribeTimeoutMs: number;
  private readonly heartbeatMs: number;
  private readonly publisher: RedisClient;
  private readonly registrations = new Map<string, Set<Registration>>();
  /** The subscriber connection of the moment; created by the first subscribe(). */
  private subscriber: Redis | undefined;
  /** The SUBSCRIBE is in place on `subscriber`: listeners may be added. */
  private active = false;
  /** Subscriber connections that failed since the last active one: the backoff before the next. */
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** subscribe() calls waiting for the feed to become active (or closed). */
  private readonly waiters = new Set<() => void>();
  private closed = false;

  constructor(options: RedisChangeFeedOptions) {
    this.target = redisTarget(options);
    this.options = options;
    this.channel = options.channel ?? DEFAULT_CHANGE_CHANNEL;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.subscribeTimeoutMs =
      options.subscribeTimeoutMs ?? (options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) + this.commandTimeoutMs + 1_000;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.publisher = createRedisClient(this.target, options);
    // Failures reach callers as rejected commands; this only keeps ioredis from printing them.
    this.publisher.on("error", () => {});
  }

  async publish(event: ChangeEvent): Promise<void> {
    if (this.closed) throw new UnavailableError("change feed closed");
    const message = encodeChangeEvent(event);
    await this.guard("publish", async () => (await this.publishingNode()).publish(this.channel, message));
  }

  async subscribe(tenant: string, listener: FeedListener): Promise<FeedSubscription> {
    if (typeof tenant !== "string") throw new InvalidArgumentError("tenant", "must be a string");
    const giveUpAt = performance.now() + this.subscribeTimeoutMs;
    if (!this.subscriber && !this.retryTimer && !this.closed) this.connect();
    for (;;) {
      if (this.closed) throw new UnavailableError("change feed closed");
      // Registered in the same turn as the check: a loss cannot slip in between.
      if (this.active) return this.register(tenant, listener);
      const left = giveUpAt - performance.now();
      if (left <= 0) throw new UnavailableError("Redis change feed unavailable (not subscribed in time)");
      await this.nextChange(left);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    const subscriber = this.subscriber;
    if (subscriber) this.drop(subscriber);
    this.notify();
    await this.guard("close", () => this.publisher.quit()).catch(() => {});
    this.publisher.disconnect();
  }

  /** Opens a new subscriber connection; it subscribes once ready, and is dropped at its first close. */
  private connect(): void {
    const client = createRedisClient(this.subscriberTarget(), this.options);
    if (!(client instanceof Redis)) throw new Error("the subscriber must be a single connection");
    this.subscriber = client;
    client.on("error", () => {});
    client.once("ready", () => void this.activate(client));
    client.on("message", (channel: string, message: string) => {
      if (client === this.subscriber && channel === this.channel) this.receive(message);
    });
    client.once("close", () => this.drop(client));
    client.once("end", () => this.drop(client));
  }

  /**
   * In Cluster, the same master for every replica while the set of masters holds (see the top of the
   * file), once the client is ready: before its first slot refresh the nodes are the configured ones,
   * and one the refresh replaces is closed under a command sent to it ("Connection is closed").
   */
  private async publishingNode(): Promise<RedisClient> {
    if (!(this.publisher instanceof Cluster)) return this.publisher;
    if (this.publisher.status !== "ready") await once(this.publisher, "ready");
    const address = (node: Redis) => `${node.options.host}:${node.options.port}`;
    const masters = [...this.publisher.nodes("master")].sort((a, b) => address(a).localeCompare(address(b)));
    return masters[0] ?? this.publisher;
  }

  private subscriberTarget(): RedisTarget {
    if (this.target.mode !== "cluster") return this.target;
    const { mode: _mode, nodes: configured, ...credentials } = this.target;
    const known = this.publisher instanceof Cluster ? this.publisher.nodes("all").map((node) => node.options) : [];
    const nodes = known.length > 0 ? known.map(({ host, port }) => ({ host: host ?? "127.0.0.1", port: port ?? 6379 })) : configured;
    const address = nodes[this.failures % nodes.length]!;
    return { ...credentials, mode: "standalone", address, db: 0 };
  }

  private async activate(client: Redis): Promise<void> {
    try {
      await this.guard("subscribe", () => client.subscribe(this.channel));
    } catch {
      // A connection that cannot subscribe is given up; the next one tries again.
      this.drop(client);
      return;
    }
    if (client !== this.subscriber) return;
    this.active = true;
    this.failures = 0;
    this.heartbeatTimer = setInterval(() => {
      this.guard("ping", () => client.ping()).catch(() => this.drop(client));
    }, this.heartbeatMs);
    this.heartbeatTimer.unref();
    this.notify();
  }

  /** Ends the subscriber connection: every listener is told lost(); a new connection follows unless closed. */
  private drop(client: Redis): void {
    if (client !== this.subscriber) return;
    this.subscriber = undefined;
    this.active = false;
    clearInterval(this.heartbeatTimer);
    client.disconnect();
    const all = [...this.registrations.values()].flatMap((group) => [...group]);
    this.registrations.clear();
    for (const { listener } of all) callSafely(() => listener.lost());
    if (this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.connect();
    }, retryDelay(this.failures++));
    this.retryTimer.unref();
  }

  private register(tenant: string, listener: FeedListener): FeedSubscription {
    const registration = { tenant, listener };
    const group = this.registrations.get(tenant) ?? new Set();
    this.registrations.set(tenant, group.add(registration));
    return { unsubscribe: () => this.remove(registration) };
  }

  private remove(registration: Registration): void {
    const group = this.registrations.get(registration.tenant);
    if (!group?.delete(registration)) return;
    if (group.size === 0) this.registrations.delete(registration.tenant);
  }

  /** Runs inside ioredis' event: must never throw (ioredis rethrows it as an uncaught exception). */
  private receive(message: string): void {
    const event = decodeChangeEvent(message);
    if (event === undefined) return; // malformed: not from a feed, dropped
    const group = this.registrations.get(event.tenant);
    if (!group) return;
    for (const registration of [...group]) {
      // A listener may have unsubscribed another one of the group meanwhile.
      if (!group.has(registration)) continue;
      try {
        registration.listener.event({ ...event, versions: [...event.versions], time: new Date(event.time) });
      } catch {
        // A listener that throws is treated as gone; the others still get the event.
        this.remove(registration);
        callSafely(() => registration.listener.lost());
      }
    }
  }

  /** Resolves at the next activation or close, or after `ms`. */
  private nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Runs a command, bounded by the command timeout (also while ioredis redirects or retries in Cluster). */
  private async guard<T>(operation: string, command: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no reply within ${this.commandTimeoutMs} ms`)), this.commandTimeoutMs);
    });
    try {
      return await Promise.race([command(), deadline]);
    } catch (err) {
      throw new UnavailableError(`Redis change feed unavailable (${operation} failed)`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }
}

function callSafely(call: () => void): void {
  try {
    call();
  } catch {
    // The listener's failure is its own: the feed carries on.
  }
}
