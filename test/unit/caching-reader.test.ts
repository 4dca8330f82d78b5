import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  GetSecretValueResponseSchema,
  SecretEventType,
  WatchSecretsResponseSchema,
  type WatchSecretsResponse,
} from "../../gen/secrets/v1/secrets_pb.js";
import { createCachingReader, type CachingReader, type CachingReaderClient, type CachingReaderOptions } from "../../src/client/index.js";
import { waitUntil } from "../helpers/lifecycle.js";

// The caching reader over an in-process fake of the two client methods: a stream the test feeds
// (heartbeats, events, an end or an error) and reads the test can hold while it sends events.

type Item = { response: WatchSecretsResponse } | { error: unknown } | { end: true };

/** One WatchSecrets call: the test pushes what the server would send; aborting its signal ends it as connect does. */
class FakeStream {
  private readonly queue: Item[] = [];
  private wake: (() => void) | undefined;
  constructor(
    readonly names: readonly string[],
    readonly signal: AbortSignal,
  ) {
    signal.addEventListener("abort", () => this.wake?.());
  }
  heartbeat(): void {
    this.push({ response: create(WatchSecretsResponseSchema, { event: { name: "", version: 0n, type: SecretEventType.HEARTBEAT } }) });
  }
  event(name: string, type: SecretEventType, version = 1n): void {
    this.push({ response: create(WatchSecretsResponseSchema, { event: { name, version, type } }) });
  }
  fail(error: unknown): void {
    this.push({ error });
  }
  end(): void {
    this.push({ end: true });
  }
  private push(item: Item): void {
    this.queue.push(item);
    this.wake?.();
  }
  async *iterate(): AsyncGenerator<WatchSecretsResponse> {
    for (;;) {
      while (this.queue.length === 0) {
        if (this.signal.aborted) throw new ConnectError("operation was aborted", Code.Canceled);
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
      if (this.signal.aborted) throw new ConnectError("operation was aborted", Code.Canceled);
      const item = this.queue.shift()!;
      if ("error" in item) throw item.error;
      if ("end" in item) return;
      yield item.response;
    }
  }
}

interface HeldRead {
  readonly name: string;
  readonly version: bigint;
  release(): void;
}

class FakeServer {
  readonly values = new Map<string, string>();
  readonly streams: FakeStream[] = [];
  readonly held: HeldRead[] = [];
  reads = 0;
  holding = false;
  readonly client: CachingReaderClient = {
    getSecretValue: async (request, options) => {
      this.reads++;
      const name = request.name ?? "";
      const version = BigInt(request.version ?? 0n);
      if (this.holding) {
        await new Promise<void>((resolve, reject) => {
          this.held.push({ name, version, release: resolve });
          options?.signal?.addEventListener("abort", () => reject(new ConnectError("operation was aborted", Code.Canceled)));
        });
      }
      // Looked up after the hold: a held read answers what the server had when it was released.
      const value = this.values.get(`${name}@${version}`) ?? this.values.get(name);
      if (value === undefined) throw new ConnectError("secret not found", Code.NotFound);
      return create(GetSecretValueResponseSchema, { name, version, value });
    },
    watchSecrets: (request, options) => {
      const stream = new FakeStream(request.names ?? [], options?.signal ?? new AbortController().signal);
      this.streams.push(stream);
      return stream.iterate();
    },
  };
  stream(index = this.streams.length - 1): FakeStream {
    const s = this.streams[index];
    if (!s) throw new Error(`no stream ${index}`);
    return s;
  }
}

const readers: CachingReader[] = [];
afterEach(async () => {
  await Promise.all(readers.splice(0).map((r) => r.close()));
  vi.useRealTimers();
});

function setup(options: CachingReaderOptions = {}) {
  const server = new FakeServer();
  server.values.set("alpha", "a1");
  server.values.set("beta", "b1");
  const errors: unknown[] = [];
  const reader = createCachingReader(server.client, {
    reconnectDelayMs: { min: 1, max: 2 },
    onError: (err) => errors.push(err),
    ...options,
  });
  readers.push(reader);
  return { server, reader, errors };
}

async function liveSetup(options: CachingReaderOptions = {}) {
  const s = setup(options);
  s.server.stream(0).heartbeat();
  await s.reader.ready();
  return s;
}

describe("reads before and after ready", () => {
  it("goes to the server for every read until the first heartbeat", async () => {
    const { server, reader } = setup();
    expect(await reader.getValue("alpha")).toBe("a1");
    expect(await reader.getValue("alpha")).toBe("a1");
    expect(server.reads).toBe(2);
    expect(reader.stats()).toMatchObject({ hits: 0, misses: 2 });
  });

  it("does not fill from a read that started before the first heartbeat", async () => {
    const { server, reader } = setup();
    server.holding = true;
    const read = reader.getValue("alpha");
    await waitUntil(() => server.held.length === 1, "the read is held");
    server.stream(0).heartbeat();
    await reader.ready();
    server.held[0]!.release();
    expect(await read).toBe("a1");
    server.holding = false;
    server.values.set("alpha", "a2");
    expect(await reader.getValue("alpha")).toBe("a2");
  });

  it("serves repeated reads from the cache after ready, each version apart", async () => {
    const { server, reader } = await liveSetup();
    server.values.set("alpha@3", "a-three");
    expect(await reader.getValue("alpha")).toBe("a1");
    expect(await reader.getValue("alpha")).toBe("a1");
    expect(await reader.getValue("alpha", 3)).toBe("a-three");
    expect(await reader.getValue("alpha", 3)).toBe("a-three");
    expect(server.reads).toBe(2);
    expect(reader.stats()).toMatchObject({ hits: 2, misses: 2 });
  });

  it("passes the watched names and caches only those", async () => {
    const { server, reader } = await liveSetup({ names: ["alpha"] });
    expect(server.stream(0).names).toEqual(["alpha"]);
    await reader.getValue("alpha");
    await reader.getValue("alpha");
    await reader.getValue("beta");
    await reader.getValue("beta");
    expect(server.reads).toBe(3);
  });

  it("does not cache a failed read", async () => {
    const { server, reader } = await liveSetup();
    await expect(reader.getValue("gamma")).rejects.toMatchObject({ code: Code.NotFound });
    server.values.set("gamma", "g1");
    expect(await reader.getValue("gamma")).toBe("g1");
  });

  it("keeps at most maxEntries, dropping the least recently used", async () => {
    const { server, reader } = await liveSetup({ maxEntries: 2 });
    server.values.set("gamma", "g1");
    await reader.getValue("alpha");
    await reader.getValue("beta");
    await reader.getValue("alpha");
    await reader.getValue("gamma");
    expect(server.reads).toBe(3);
    await reader.getValue("alpha");
    expect(server.reads).toBe(3);
    await reader.getValue("beta");
    expect(server.reads).toBe(4);
  });

  it("serves an entry no longer than ttlMs", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const { server, reader } = await liveSetup({ ttlMs: 1_000 });
    await reader.getValue("alpha");
    vi.advanceTimersByTime(999);
    await reader.getValue("alpha");
    expect(server.reads).toBe(1);
    vi.advanceTimersByTime(2);
    server.values.set("alpha", "a2");
    expect(await reader.getValue("alpha")).toBe("a2");
    expect(server.reads).toBe(2);
  });

  it("refuses a version that is not a non-negative integer, without a call", async () => {
    const { server, reader } = await liveSetup();
    await expect(reader.getValue("alpha", -1)).rejects.toThrow(RangeError);
    await expect(reader.getValue("alpha", 1.5)).rejects.toThrow(RangeError);
    expect(server.reads).toBe(0);
  });
});

describe("invalidation", () => {
  it.each([
    ["VERSION_ADDED", SecretEventType.VERSION_ADDED],
    ["VERSION_STATE_CHANGED", SecretEventType.VERSION_STATE_CHANGED],
    ["UPDATED", SecretEventType.UPDATED],
    ["DELETED", SecretEventType.DELETED],
    ["PURGED", SecretEventType.PURGED],
  ])("drops every version of the name on %s, and only that name", async (_label, type) => {
    const { server, reader } = await liveSetup();
    server.values.set("alpha@2", "a-two");
    await reader.getValue("alpha");
    await reader.getValue("alpha", 2);
    await reader.getValue("beta");
    server.values.set("alpha", "a-new");
    server.values.set("alpha@2", "a-two-new");
    server.stream().event("alpha", type);
    await waitUntil(() => reader.stats().invalidations === 1, "the event is seen");
    expect(await reader.getValue("alpha")).toBe("a-new");
    expect(await reader.getValue("alpha", 2)).toBe("a-two-new");
    expect(await reader.getValue("beta")).toBe("b1");
    expect(server.reads).toBe(5);
  });

  it("drops everything on an event without a name", async () => {
    const { server, reader } = await liveSetup();
    await reader.getValue("alpha");
    server.values.set("alpha", "a2");
    server.stream().event("", SecretEventType.UPDATED);
    server.stream().heartbeat();
    // The heartbeat after it shows the event was consumed.
    await waitUntil(async () => (await reader.getValue("alpha")) === "a2", "the cache is dropped");
  });

  it("does not let a read in flight during an invalidation fill the cache", async () => {
    const { server, reader } = await liveSetup();
    server.holding = true;
    const read = reader.getValue("alpha");
    await waitUntil(() => server.held.length === 1, "the read is held");
    server.stream().event("alpha", SecretEventType.VERSION_ADDED, 2n);
    await waitUntil(() => reader.stats().invalidations === 1, "the event is seen");
    // The held read answers the old value, as a server that read before the write would.
    server.held[0]!.release();
    expect(await read).toBe("a1");
    server.holding = false;
    server.values.set("alpha", "a2");
    expect(await reader.getValue("alpha")).toBe("a2");
    expect(server.reads).toBe(2);
  });

  it("lets a read in flight fill when no event came for its name", async () => {
    const { server, reader } = await liveSetup();
    server.holding = true;
    const read = reader.getValue("alpha");
    await waitUntil(() => server.held.length === 1, "the read is held");
    server.stream().event("beta", SecretEventType.VERSION_ADDED, 2n);
    await waitUntil(() => reader.stats().invalidations === 1, "the event is seen");
    server.held[0]!.release();
    expect(await read).toBe("a1");
    server.holding = false;
    expect(await reader.getValue("alpha")).toBe("a1");
    expect(server.reads).toBe(1);
  });
});

describe("stream loss", () => {
  it.each([
    ["ends with UNAVAILABLE", (s: FakeStream) => s.fail(new ConnectError("server restart", Code.Unavailable)), 1],
    ["ends without an error", (s: FakeStream) => s.end(), 0],
  ])("clears and bypasses the cache when the stream %s, and uses it again after a new stream's heartbeat", async (_label, endStream, reported) => {
    const { server, reader, errors } = await liveSetup();
    await reader.getValue("alpha");
    endStream(server.stream(0));
    await waitUntil(() => server.streams.length === 2, "a new stream is opened");
    server.values.set("alpha", "a2");
    // The new stream has no heartbeat yet: every read goes to the server.
    expect(await reader.getValue("alpha")).toBe("a2");
    expect(await reader.getValue("alpha")).toBe("a2");
    expect(server.reads).toBe(3);
    server.stream(1).heartbeat();
    await reader.ready();
    expect(await reader.getValue("alpha")).toBe("a2");
    expect(await reader.getValue("alpha")).toBe("a2");
    expect(server.reads).toBe(4);
    expect(reader.stats()).toMatchObject({ reconnects: 1, hits: 1 });
    expect(errors).toHaveLength(reported);
  });

  it("does not let a read that started before the loss fill after the reconnect", async () => {
    const { server, reader } = await liveSetup();
    server.holding = true;
    const read = reader.getValue("alpha");
    await waitUntil(() => server.held.length === 1, "the read is held");
    server.stream(0).fail(new ConnectError("redis lost", Code.Unavailable));
    await waitUntil(() => server.streams.length === 2, "a new stream is opened");
    server.stream(1).heartbeat();
    await reader.ready();
    server.held[0]!.release();
    expect(await read).toBe("a1");
    server.holding = false;
    server.values.set("alpha", "a2");
    expect(await reader.getValue("alpha")).toBe("a2");
  });

  it("keeps reconnecting while streams fail before a heartbeat, reporting each error", async () => {
    const { server, reader, errors } = setup();
    for (let i = 0; i < 3; i++) {
      await waitUntil(() => server.streams.length === i + 1, `stream ${i + 1} is opened`);
      server.stream(i).fail(new ConnectError("connection refused", Code.Unavailable));
    }
    await waitUntil(() => server.streams.length === 4, "stream 4 is opened");
    expect(errors.map((e) => ConnectError.from(e).code)).toEqual([Code.Unavailable, Code.Unavailable, Code.Unavailable]);
    server.stream(3).heartbeat();
    await reader.ready();
    expect(reader.stats().reconnects).toBe(3);
  });

  it("treats a stream silent for heartbeatTimeoutMs as lost", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { server, reader, errors } = await liveSetup({ heartbeatTimeoutMs: 1_000 });
    await reader.getValue("alpha");
    await vi.advanceTimersByTimeAsync(999);
    server.stream(0).heartbeat();
    await vi.advanceTimersByTimeAsync(999);
    expect(server.stream(0).signal.aborted).toBe(false);
    await reader.getValue("alpha");
    expect(server.reads).toBe(1);
    await vi.advanceTimersByTimeAsync(2);
    expect(server.stream(0).signal.aborted).toBe(true);
    expect(errors.map((e) => ConnectError.from(e).code)).toEqual([Code.Unavailable]);
    await reader.getValue("alpha");
    expect(server.reads).toBe(2);
    await vi.advanceTimersByTimeAsync(5);
    expect(server.streams).toHaveLength(2);
  });

  it.each([
    ["UNAUTHENTICATED", Code.Unauthenticated],
    ["PERMISSION_DENIED", Code.PermissionDenied],
  ])("ends the watch for good on %s: reported, no new stream, reads go to the server", async (_label, code) => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { server, reader, errors } = await liveSetup();
    await reader.getValue("alpha");
    const ended = new ConnectError("token expired", code);
    server.stream(0).fail(ended);
    await vi.advanceTimersByTimeAsync(0);
    expect(errors).toEqual([ended]);
    // Neither a reconnect nor a watchdog is scheduled.
    expect(vi.getTimerCount()).toBe(0);
    await expect(reader.ready()).rejects.toBe(ended);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.streams).toHaveLength(1);
    await reader.getValue("alpha");
    await reader.getValue("alpha");
    expect(server.reads).toBe(3);
  });
});

describe("close", () => {
  it("ends the stream, refuses reads, rejects ready and leaves no timer", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { server, reader, errors } = await liveSetup();
    expect(vi.getTimerCount()).toBe(1); // the heartbeat watchdog
    await reader.close();
    expect(server.stream(0).signal.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    await expect(reader.getValue("alpha")).rejects.toThrow(/closed/);
    await expect(reader.ready()).rejects.toThrow(/closed/);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.streams).toHaveLength(1);
    expect(server.reads).toBe(0);
    expect(errors).toEqual([]);
  });

  it("clears the backoff timer when closed between streams", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { server, reader } = await liveSetup({ reconnectDelayMs: { min: 1_000, max: 1_000 } });
    server.stream(0).fail(new ConnectError("server restart", Code.Unavailable));
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1); // the backoff
    await reader.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.streams).toHaveLength(1);
  });

  it("rejects a pending ready and aborts reads in flight", async () => {
    const { server, reader } = setup();
    const ready = reader.ready();
    server.holding = true;
    const read = reader.getValue("alpha");
    await waitUntil(() => server.held.length === 1, "the read is held");
    await reader.close();
    await expect(ready).rejects.toThrow(/closed/);
    await expect(read).rejects.toMatchObject({ code: Code.Canceled });
  });

  it("closes when the given signal aborts", async () => {
    const abort = new AbortController();
    const { server, reader } = await liveSetup({ signal: abort.signal });
    abort.abort();
    await waitUntil(() => server.stream(0).signal.aborted, "the stream is ended");
    await expect(reader.getValue("alpha")).rejects.toThrow(/closed/);
  });
});
