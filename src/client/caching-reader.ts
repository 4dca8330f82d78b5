import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { LRUCache } from "lru-cache";
import { SecretEventType, type SecretsService } from "../../gen/secrets/v1/secrets_pb.js";

// A reading helper for agent workers: secret values from a local cache, kept right by WatchSecrets.
//
// Validity. The cache is used only while a watch stream is live, i.e. after its first heartbeat: the
// server delivers every write committed after that point, so an entry filled by a read sent while the
// stream is live is dropped by the event of any later change. Any event for a name drops every cached
// version of it (a pinned version can be disabled or destroyed). When the stream ends for any reason
// the whole cache is cleared and bypassed until a new stream's first heartbeat: writes in the gap were
// never delivered.
//
// Races. A read that was in flight when its name was invalidated may hold the old value, so it must not
// fill: each read takes its name's generation before the RPC and fills only if it is unchanged (and the
// stream that was live when it started is still live: the epoch). Reads started while not live never
// fill.
//
// The watch ends for good on UNAUTHENTICATED, PERMISSION_DENIED or INVALID_ARGUMENT (retrying cannot
// help); reads then always go to the server. Nothing here logs, and no value reaches an error.

/** The two client methods the reader uses (a connect-es client of SecretsService has them). */
export type CachingReaderClient = Pick<Client<typeof SecretsService>, "getSecretValue" | "watchSecrets">;

export interface CachingReaderOptions {
  /** Names to watch; empty or absent: every secret of the tenant. Other names are never cached. */
  readonly names?: readonly string[];
  /** Cached (name, version) entries at most; least recently used go first. Default 1,000. */
  readonly maxEntries?: number;
  /** How long an entry is served at most, a bound on anything an event could not tell. Default 60 s. */
  readonly ttlMs?: number;
  /** Reconnect delay: jittered, doubling from min to max after each failed stream. Default 100 ms - 5 s. */
  readonly reconnectDelayMs?: { readonly min: number; readonly max: number };
  /** A stream with no message (the server sends a heartbeat every 15 s) for this long is dead. Default 45 s. */
  readonly heartbeatTimeoutMs?: number;
  /** Aborting it closes the reader. */
  readonly signal?: AbortSignal;
  /** Every error that ended a watch stream (the last one, when it ends the watch for good). */
  onError?(err: unknown): void;
}

export interface CachingReaderStats {
  /** Reads answered from the cache. */
  readonly hits: number;
  /** Reads sent to the server (a cache miss, or the cache not in use). */
  readonly misses: number;
  /** Events that named a secret (each drops that name's entries). */
  readonly invalidations: number;
  /** Watch streams opened after the first one. */
  readonly reconnects: number;
}

export interface CachingReader {
  /** The value of `name` at `version` (0: the latest); rejects with the server's error. */
  getValue(name: string, version?: number): Promise<string>;
  /** Resolves once a watch stream is live (its first heartbeat arrived); rejects once the watch ended for good or the reader closed. */
  ready(): Promise<void>;
  stats(): CachingReaderStats;
  /** Ends the watch, aborts reads in flight, clears the cache; resolves when no timer or stream is left. */
  close(): Promise<void>;
}

const DEFAULTS = { maxEntries: 1_000, ttlMs: 60_000, reconnectDelayMs: { min: 100, max: 5_000 }, heartbeatTimeoutMs: 45_000 };
/** Codes on which a new stream would fail the same way. */
const FINAL_CODES = new Set([Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument]);

interface Entry {
  readonly name: string;
  readonly value: string;
  readonly expiresAt: number;
}

interface Flight {
  generation: number;
  reads: number;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

export function createCachingReader(client: CachingReaderClient, options: CachingReaderOptions = {}): CachingReader {
  const settings = checkOptions(options);
  const watched = new Set(options.names ?? []);
  const isWatched = (name: string) => watched.size === 0 || watched.has(name);

  // Keys of each name's entries, so an event drops all its versions; kept in step by dispose.
  const keysByName = new Map<string, Set<string>>();
  const entries = new LRUCache<string, Entry>({
    max: settings.maxEntries,
    dispose: (entry, key) => {
      const keys = keysByName.get(entry.name);
      keys?.delete(key);
      if (keys?.size === 0) keysByName.delete(entry.name);
    },
  });
  // Only names with a read in flight have a generation: the map stays as small as the reads.
  const flights = new Map<string, Flight>();
  const counts = { hits: 0, misses: 0, invalidations: 0, reconnects: 0 };
  let live = false;
  let epoch = 0;
  let finalError: unknown;
  let waiters: Waiter[] = [];
  const stop = new AbortController();
  const closedError = () => new Error("caching reader is closed");

  function invalidate(name: string): void {
    counts.invalidations++;
    for (const key of [...(keysByName.get(name) ?? [])]) entries.delete(key);
    const flight = flights.get(name);
    if (flight) flight.generation++;
  }

  function clearAll(): void {
    entries.clear();
    keysByName.clear();
    epoch++;
  }

  function goLive(): void {
    live = true;
    for (const w of waiters) w.resolve();
    waiters = [];
  }

  function goDown(): void {
    live = false;
    clearAll();
  }

  function rejectWaiters(err: unknown): void {
    for (const w of waiters) w.reject(err);
    waiters = [];
  }

  function report(err: unknown): void {
    try {
      options.onError?.(err);
    } catch {
      // A throwing callback must not end the watch loop.
    }
  }

  /** One stream, until it ends; the error that ended it, if any. */
  async function runStream(): Promise<{ error?: unknown; wentLive: boolean }> {
    const streamStop = new AbortController();
    const onStop = () => streamStop.abort();
    stop.signal.addEventListener("abort", onStop, { once: true });
    let silent = false;
    const watchdog = setTimeout(() => {
      silent = true;
      streamStop.abort();
    }, settings.heartbeatTimeoutMs);
    let wentLive = false;
    const silentError = () => new ConnectError(`no message on the watch stream for ${settings.heartbeatTimeoutMs} ms`, Code.Unavailable);
    try {
      for await (const res of client.watchSecrets({ names: [...watched] }, { signal: streamStop.signal })) {
        watchdog.refresh();
        const event = res.event;
        if (!event) continue;
        if (event.type === SecretEventType.HEARTBEAT) {
          if (!live) {
            wentLive = true;
            goLive();
          }
        } else if (event.name !== "") {
          invalidate(event.name);
        } else {
          // A change we cannot attribute to a name: drop everything rather than guess.
          clearAll();
        }
      }
      return silent ? { error: silentError(), wentLive } : { wentLive };
    } catch (err) {
      return { error: silent ? silentError() : err, wentLive };
    } finally {
      clearTimeout(watchdog);
      stop.signal.removeEventListener("abort", onStop);
    }
  }

  async function watchLoop(): Promise<void> {
    let failures = 0;
    for (;;) {
      const { error, wentLive } = await runStream();
      goDown();
      if (stop.signal.aborted) return;
      if (error !== undefined) {
        report(error);
        if (FINAL_CODES.has(ConnectError.from(error).code)) {
          finalError = error;
          rejectWaiters(error);
          return;
        }
      }
      if (wentLive) failures = 0;
      await pause(backoff(settings.reconnectDelayMs, failures++), stop.signal);
      if (stop.signal.aborted) return;
      counts.reconnects++;
    }
  }

  const loop = watchLoop();
  let closing: Promise<void> | undefined;
  const onExternalAbort = () => void close();

  async function getValue(name: string, version = 0): Promise<string> {
    if (stop.signal.aborted) throw closedError();
    if (!Number.isSafeInteger(version) || version < 0) throw new RangeError("version must be a non-negative integer");
    const key = `${name}\n${version}`;
    const cacheable = live && isWatched(name);
    if (cacheable) {
      const entry = entries.get(key);
      if (entry && entry.expiresAt > performance.now()) {
        counts.hits++;
        return entry.value;
      }
      if (entry) entries.delete(key);
    }
    counts.misses++;
    if (!cacheable) return (await client.getSecretValue({ name, version: BigInt(version) }, { signal: stop.signal })).value;

    const flight = flights.get(name) ?? { generation: 0, reads: 0 };
    flights.set(name, flight);
    flight.reads++;
    const generation = flight.generation;
    const startEpoch = epoch;
    try {
      const { value } = await client.getSecretValue({ name, version: BigInt(version) }, { signal: stop.signal });
      if (live && epoch === startEpoch && flight.generation === generation) {
        entries.set(key, { name, value, expiresAt: performance.now() + settings.ttlMs });
        // After set: replacing an entry disposes the old one, which takes the key out of the index.
        const keys = keysByName.get(name) ?? new Set<string>();
        keys.add(key);
        keysByName.set(name, keys);
      }
      return value;
    } finally {
      if (--flight.reads === 0) flights.delete(name);
    }
  }

  function ready(): Promise<void> {
    if (stop.signal.aborted) return Promise.reject(closedError());
    if (finalError !== undefined) return Promise.reject(finalError);
    if (live) return Promise.resolve();
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      options.signal?.removeEventListener("abort", onExternalAbort);
      stop.abort();
      rejectWaiters(closedError());
      await loop;
      goDown();
    })();
    return closing;
  }

  if (options.signal?.aborted) void close();
  else options.signal?.addEventListener("abort", onExternalAbort, { once: true });

  return { getValue, ready, stats: () => ({ ...counts }), close };
}

function checkOptions(options: CachingReaderOptions) {
  const settings = {
    maxEntries: options.maxEntries ?? DEFAULTS.maxEntries,
    ttlMs: options.ttlMs ?? DEFAULTS.ttlMs,
    reconnectDelayMs: options.reconnectDelayMs ?? DEFAULTS.reconnectDelayMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? DEFAULTS.heartbeatTimeoutMs,
  };
  if (!Number.isSafeInteger(settings.maxEntries) || settings.maxEntries < 1) throw new RangeError("maxEntries must be a positive integer");
  if (!(settings.ttlMs > 0)) throw new RangeError("ttlMs must be positive");
  if (!(settings.heartbeatTimeoutMs > 0)) throw new RangeError("heartbeatTimeoutMs must be positive");
  const { min, max } = settings.reconnectDelayMs;
  if (!(min > 0) || !(max >= min)) throw new RangeError("reconnectDelayMs needs 0 < min <= max");
  return settings;
}

/** The delay before stream number `failures` + 1: up to min * 2^failures (capped at max), at least half of it and min. */
function backoff({ min, max }: { readonly min: number; readonly max: number }, failures: number): number {
  const cap = Math.min(max, min * 2 ** Math.min(failures, 30));
  return Math.max(min, cap / 2 + Math.random() * (cap / 2));
}

/** Resolves after `ms`, or at once when `signal` aborts (the timer is then cleared, so nothing keeps the process up). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
