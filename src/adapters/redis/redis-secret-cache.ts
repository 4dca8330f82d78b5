import { Cluster, type Redis } from "ioredis";
import { UnavailableError } from "../../errors.js";
import type { CacheConnectionEvent, CacheKey, CacheLookup, CacheRead, SecretCache } from "../../ports/secret-cache.js";
import { checkCacheKey, checkEntry, checkGeneration, checkLookups, checkSlot, checkTtl } from "../cache-arguments.js";
import {
  createRedisClient,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  redisTarget,
  type RedisCacheOptions,
  type RedisClient,
} from "./connect.js";

// Key layout: every key of one secret carries the hash tag {tenant|name}, so its generation token and
// its entries live in one Cluster slot and one MGET reads both. Names hold no "|": the tag is unambiguous.
const secretTag = (key: CacheKey) => `sc:{${key.tenant}|${key.name}}`;
const generationKey = (key: CacheKey) => `${secretTag(key)}:g`;
const entryKey = (key: CacheKey, slot: string) => `${secretTag(key)}:e:${slot}`;

const LOST: CacheConnectionEvent = { state: "lost" };

interface Subscription {
  readonly listener: (event: CacheConnectionEvent) => void;
}

/** The SecretCache on Redis (standalone, Sentinel or Cluster). Every failure is UnavailableError; nothing waits for a connection. */
export class RedisSecretCache implements SecretCache {
  private readonly client: RedisClient;
  private readonly commandTimeoutMs: number;
  /** Identifying the instance may have to connect first (to each master, in Cluster). */
  private readonly identifyTimeoutMs: number;
  private readonly subscriptions = new Set<Subscription>();
  private state: CacheConnectionEvent = LOST;
  /** Counts connection changes, so that an instance lookup begun before one is dropped. */
  private changes = 0;
  private closed = false;

  constructor(options: RedisCacheOptions) {
    this.client = createRedisClient(redisTarget(options), options);
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.identifyTimeoutMs = this.commandTimeoutMs + (options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    // Failures reach callers as rejected commands and watchers as "lost"; this only keeps ioredis from printing them.
    this.client.on("error", () => {});
    this.client.on("ready", () => void this.identify());
    this.client.on("close", () => this.lose());
    this.client.on("end", () => this.lose());
    if (this.client instanceof Cluster) {
      // A master that failed over or restarted leaves the pool, its successor joins: the instance changed.
      const recheck = () => {
        if (this.client.status !== "ready") return;
        this.lose();
        void this.identify();
      };
      this.client.on("+node", recheck);
      this.client.on("-node", recheck);
    }
  }

  async read(lookups: readonly CacheLookup[]): Promise<CacheRead[]> {
    checkLookups(lookups);
    if (lookups.length === 0) return [];
    // One command a lookup, sent together: auto-pipelining puts them in one round trip (per node).
    return this.guard("read", () => Promise.all(lookups.map((lookup) => this.readOne(lookup))));
  }

  async write(key: CacheKey, slot: string, entry: Uint8Array, ttlMs: number): Promise<void> {
    checkCacheKey(key);
    checkSlot(slot);
    checkEntry(entry);
    checkTtl(ttlMs);
    await this.guard("write", () => this.client.set(entryKey(key, slot), Buffer.from(entry), "PX", ttlMs));
  }

  async setGeneration(key: CacheKey, generation: string, ttlMs: number): Promise<void> {
    checkCacheKey(key);
    checkGeneration(generation);
    checkTtl(ttlMs);
    await this.guard("setGeneration", () => this.client.set(generationKey(key), generation, "PX", ttlMs));
  }

  watch(listener: (event: CacheConnectionEvent) => void): () => void {
    const subscription = { listener };
    this.subscriptions.add(subscription);
    const current = this.state;
    if (current.state === "ready") this.deliver(subscription, current);
    return () => {
      this.subscriptions.delete(subscription);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscriptions.clear();
    this.changes++;
    await this.guard("close", () => this.client.quit()).catch(() => {});
    this.client.disconnect();
  }

  private async readOne({ key, slot }: CacheLookup): Promise<CacheRead> {
    if (slot === undefined) return { generation: (await this.client.get(generationKey(key))) ?? "" };
    const [generation, entry] = await this.client.mgetBuffer(generationKey(key), entryKey(key, slot));
    return { generation: generation?.toString("utf8") ?? "", ...(entry && { entry }) };
  }

  /** Runs a command, bounded by the command timeout (also while ioredis redirects or retries in Cluster). */
  private async guard<T>(operation: string, command: () => Promise<T>, timeoutMs = this.commandTimeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([command(), deadline]);
    } catch (err) {
      throw new UnavailableError(`Redis cache unavailable (${operation} failed)`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** On every new connection: learns which server instance it reached, then tells the watchers. */
  private async identify(): Promise<void> {
    const change = ++this.changes;
    try {
      const instance = await this.guard("identify", () => serverInstance(this.client), this.identifyTimeoutMs);
      if (change === this.changes && this.client.status === "ready") this.emit({ state: "ready", instance });
    } catch {
      // Without the instance id the core cannot trust the cache: connect again and ask again.
      if (change === this.changes && !this.closed) this.client.disconnect(true);
    }
  }

  private lose(): void {
    this.changes++;
    if (this.state.state === "ready") this.emit(LOST);
  }

  private emit(event: CacheConnectionEvent): void {
    this.state = event;
    for (const subscription of this.subscriptions) this.deliver(subscription, event);
  }

  /** Later, in order, and only while subscribed: a listener never runs inside an ioredis event or before watch() returns. */
  private deliver(subscription: Subscription, event: CacheConnectionEvent): void {
    queueMicrotask(() => this.subscriptions.has(subscription) && subscription.listener(event));
  }
}

/** The server's run id; in Cluster, the masters' run ids, sorted and joined with ",". */
async function serverInstance(client: RedisClient): Promise<string> {
  const servers = client instanceof Cluster ? client.nodes("master") : [client];
  if (servers.length === 0) throw new Error("no master known");
  const ids = await Promise.all(servers.map(async (server) => runId(await (await connected(server)).info("server"))));
  return ids.sort().join(",");
}

/** Cluster connects to a node on its first command: connect first, so that INFO's timeout is not spent connecting. */
async function connected(server: Redis): Promise<Redis> {
  if (server.status === "wait") await server.connect();
  return server;
}

function runId(info: string): string {
  const id = /^run_id:(\w+)\s*$/m.exec(info)?.[1];
  if (id === undefined) throw new Error("INFO server has no run_id");
  return id;
}
