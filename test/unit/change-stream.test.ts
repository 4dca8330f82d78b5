import { describe, expect, it } from "vitest";
import { MemoryChangeFeed } from "../../src/adapters/memory/memory-change-feed.js";
import { createChangeStream, toWatchEvents, type WatchEvent } from "../../src/core/change-stream.js";
import type { Principal } from "../../src/core/principal.js";
import { InvalidArgumentError, ResourceExhaustedError, UnavailableError } from "../../src/errors.js";
import type { ChangeEvent } from "../../src/ports/change-events.js";
import { systemClock } from "../../src/ports/clock.js";

// The watch core over the in-process feed: the event mapping of every kind, what a watcher is shown
// (tenant, names, globs), the heartbeat first, the end on a lost feed, and the bound on open watches.

const t = new Date("2026-06-01T00:00:00.000Z");
const change = (over: Partial<ChangeEvent>): ChangeEvent => ({
  tenant: "dev_a",
  name: "api_key",
  incarnation: "inc1",
  revision: 2,
  latestVersion: 3,
  kind: "updated",
  versions: [],
  time: t,
  ...over,
});
const brief = (events: WatchEvent[]) => events.map((e) => `${e.type}:${e.name}:${e.version}`);
const alice: Principal = { tenant: "dev_a", subject: "alice" };

/** Reads a watch in the background; `until` waits for n events. */
function reader(events: AsyncIterable<WatchEvent>) {
  const got: WatchEvent[] = [];
  let error: unknown;
  let wake: (() => void) | undefined;
  const done = (async () => {
    try {
      for await (const e of events) {
        got.push(e);
        wake?.();
      }
    } catch (err) {
      error = err;
    } finally {
      wake?.();
    }
  })();
  const until = async (n: number) => {
    while (got.length < n) {
      await new Promise<void>((resolve) => (wake = resolve));
      if (error) break;
    }
  };
  return { got, until, done, error: () => error };
}

describe("toWatchEvents", () => {
  it("maps every kind: version concerned, else the latest", () => {
    expect(brief(toWatchEvents(change({ kind: "created", versions: [1], latestVersion: 1 })))).toEqual(["created:api_key:1"]);
    expect(brief(toWatchEvents(change({ kind: "version_added", versions: [4] })))).toEqual(["version_added:api_key:4"]);
    // Retention destroyed versions 1 and 2 while version 4 was added: one state change each.
    expect(brief(toWatchEvents(change({ kind: "version_added", versions: [1, 2, 4] })))).toEqual(["version_added:api_key:4", "version_state_changed:api_key:1", "version_state_changed:api_key:2"]);
    expect(brief(toWatchEvents(change({ kind: "version_disabled", versions: [2] })))).toEqual(["version_state_changed:api_key:2"]);
    expect(brief(toWatchEvents(change({ kind: "version_enabled", versions: [2] })))).toEqual(["version_state_changed:api_key:2"]);
    expect(brief(toWatchEvents(change({ kind: "version_destroyed", versions: [1, 3] })))).toEqual(["version_state_changed:api_key:1", "version_state_changed:api_key:3"]);
    expect(brief(toWatchEvents(change({ kind: "updated" })))).toEqual(["updated:api_key:3"]);
    expect(brief(toWatchEvents(change({ kind: "deleted" })))).toEqual(["deleted:api_key:3"]);
    expect(brief(toWatchEvents(change({ kind: "restored" })))).toEqual(["restored:api_key:3"]);
    expect(brief(toWatchEvents(change({ kind: "purged" })))).toEqual(["purged:api_key:3"]);
  });
});

describe("watch", () => {
  it("starts with a heartbeat, then shows the tenant's events for the watched names within the globs", async () => {
    const feed = new MemoryChangeFeed();
    const stream = createChangeStream({ feed, clock: systemClock, heartbeatMs: 60_000 });
    const stop = new AbortController();
    const r = reader(stream.watch({ ...alice, globs: ["api_*", "db"] }, ["api_key", "api_other", "other"], stop.signal));
    await r.until(1);
    expect(brief(r.got)).toEqual(["heartbeat::0"]);
    for (const e of [
      change({ tenant: "dev_b" }), // another tenant
      change({ name: "api_unwatched" }), // not watched
      change({ name: "other" }), // watched, outside the globs
      change({ name: "api_other", kind: "deleted" }),
      change({ kind: "version_added", versions: [4] }),
    ])
      await stream.committed(e);
    await r.until(3);
    stop.abort();
    await r.done;
    expect(brief(r.got)).toEqual(["heartbeat::0", "deleted:api_other:3", "version_added:api_key:4"]);
    expect(r.error()).toBeUndefined();
  });

  it("sends heartbeats on its interval", async () => {
    const stream = createChangeStream({ feed: new MemoryChangeFeed(), clock: systemClock, heartbeatMs: 20 });
    const stop = new AbortController();
    const r = reader(stream.watch(alice, [], stop.signal));
    await r.until(3);
    stop.abort();
    await r.done;
    expect(r.got.slice(0, 3).every((e) => e.type === "heartbeat" && e.name === "" && e.version === 0)).toBe(true);
  });

  it("ends with UNAVAILABLE when the feed is lost, after the events it had", async () => {
    const feed = new MemoryChangeFeed();
    const stream = createChangeStream({ feed, clock: systemClock, heartbeatMs: 60_000 });
    const r = reader(stream.watch(alice, [], new AbortController().signal));
    await r.until(1);
    await stream.committed(change({ kind: "deleted" }));
    feed.loseConnection();
    await r.done;
    expect(brief(r.got)).toEqual(["heartbeat::0", "deleted:api_key:3"]);
    expect(r.error()).toBeInstanceOf(UnavailableError);
  });

  it("refuses bad names and more than the open-watch bound, and frees a slot when a watch ends", async () => {
    const stream = createChangeStream({ feed: new MemoryChangeFeed(), clock: systemClock, heartbeatMs: 60_000, maxWatches: 1 });
    const signal = new AbortController().signal;
    expect(() => stream.watch(alice, ["bad-name"], signal)).toThrow(InvalidArgumentError);
    expect(() => stream.watch(alice, Array.from({ length: 101 }, (_, i) => `n${i}`), signal)).toThrow(InvalidArgumentError);
    const first = new AbortController();
    const r = reader(stream.watch(alice, [], first.signal));
    await r.until(1);
    expect(() => stream.watch(alice, [], signal)).toThrow(ResourceExhaustedError);
    first.abort();
    await r.done;
    const again = new AbortController();
    const r2 = reader(stream.watch(alice, [], again.signal));
    await r2.until(1);
    again.abort();
    await r2.done;
    expect(brief(r2.got)).toEqual(["heartbeat::0"]);
  });

  it("close() ends every watch with UNAVAILABLE and refuses new ones (shutdown)", async () => {
    const stream = createChangeStream({ feed: new MemoryChangeFeed(), clock: systemClock, heartbeatMs: 60_000 });
    const r = reader(stream.watch(alice, [], new AbortController().signal));
    await r.until(1);
    stream.close();
    await r.done;
    expect(r.error()).toBeInstanceOf(UnavailableError);
    expect(() => stream.watch(alice, [], new AbortController().signal)).toThrow(UnavailableError);
  });

  it("does not fail a commit when the feed cannot publish; it reports it", async () => {
    const feed = new MemoryChangeFeed();
    await feed.close();
    const reported: unknown[] = [];
    const stream = createChangeStream({ feed, clock: systemClock, heartbeatMs: 60_000, report: (err) => reported.push(err) });
    await expect(stream.committed(change({}))).resolves.toBeUndefined();
    expect(reported).toHaveLength(1);
    expect(reported[0]).toBeInstanceOf(UnavailableError);
  });
});
