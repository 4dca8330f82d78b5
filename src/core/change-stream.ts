import { InvalidArgumentError, ResourceExhaustedError, UnavailableError } from "../errors.js";
import type { ChangeEvent, ChangeListener } from "../ports/change-events.js";
import type { ChangeFeed } from "../ports/change-feed.js";
import type { Clock } from "../ports/clock.js";
import { nameMatcher } from "../ports/name-globs.js";
import type { Principal } from "./principal.js";
import { validateName } from "./validation.js";

// WatchSecrets: the commit point's events, published on the change feed by the replica that
// committed them and delivered to the watchers of that tenant on every replica. What a watcher gets
// names secrets and versions, never values; a secret outside the principal's name globs is never
// mentioned. A watch starts with a heartbeat once its subscription is active, so a client that has it
// knows every later commit reaches it; heartbeats follow every `heartbeatMs`. Losing the feed ends
// the watch with UNAVAILABLE: events may have been missed, and the client must re-read.

export type WatchEventType = "created" | "version_added" | "updated" | "version_state_changed" | "deleted" | "restored" | "purged" | "heartbeat";

export interface WatchEvent {
  readonly type: WatchEventType;
  /** "" for a heartbeat. */
  readonly name: string;
  /** The version concerned, else the secret's latest version; 0 for a heartbeat. */
  readonly version: number;
  readonly time: Date;
}

export const WATCH_MAX_NAMES = 100;

export interface ChangeStreamDeps {
  readonly feed: ChangeFeed;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  /** Watches open at once in this process (default 10,000); beyond, RESOURCE_EXHAUSTED. */
  readonly maxWatches?: number;
  /** Told of a commit that could not be published (the write has succeeded). */
  readonly report?: (err: unknown) => void;
}

export interface ChangeStream extends ChangeListener {
  /** The watch's events until `signal` aborts (then it returns) or the feed is lost (UnavailableError). */
  watch(p: Principal, names: readonly string[], signal: AbortSignal): AsyncIterable<WatchEvent>;
  /** Ends every watch with UnavailableError (shutdown: clients watch again elsewhere) and refuses new ones. */
  close(): void;
}

/** Checks a watch request before its stream opens, so a bad one is refused (and audited) as such. */
export function checkWatchNames(names: readonly string[]): void {
  if (names.length > WATCH_MAX_NAMES) throw new InvalidArgumentError("names", `must name at most ${WATCH_MAX_NAMES} secrets`);
  for (const name of names) validateName(name, "names");
}

export function createChangeStream(deps: ChangeStreamDeps): ChangeStream {
  const maxWatches = deps.maxWatches ?? 10_000;
  let open = 0;
  const closing = new AbortController();
  return {
    async committed(event) {
      try {
        await deps.feed.publish(event);
      } catch (err) {
        // The write stands; watchers elsewhere miss this event (their feed is most likely lost too,
        // which ends their watches). Failing the write would not undo it.
        deps.report?.(err);
      }
    },

    watch(p, names, signal) {
      checkWatchNames(names);
      const wanted = names.length ? new Set(names) : undefined;
      const allowed = p.globs ? nameMatcher(p.globs) : () => true;
      const visible = (name: string) => allowed(name) && (!wanted || wanted.has(name));
      if (closing.signal.aborted) throw new UnavailableError("the server is shutting down; watch again");
      if (open >= maxWatches) throw new ResourceExhaustedError(`too many watches open on this server (${maxWatches}); retry later`);
      // Counted while it runs: a watch that is never started (its client left first) holds no slot.
      return counted(stream(deps, p.tenant, visible, signal, closing.signal), (delta) => (open += delta));
    },

    close() {
      closing.abort();
    },
  };
}

/** The events of `events`, counted +1 when it starts and -1 when it ends, however it ends. */
async function* counted<T>(events: AsyncGenerator<T>, count: (delta: number) => void): AsyncGenerator<T> {
  count(1);
  try {
    yield* events;
  } finally {
    count(-1);
  }
}

async function* stream(deps: ChangeStreamDeps, tenant: string, visible: (name: string) => boolean, signal: AbortSignal, closing: AbortSignal): AsyncGenerator<WatchEvent> {
  const queue: WatchEvent[] = [];
  let lost = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const subscription = await deps.feed.subscribe(tenant, {
    event(e) {
      if (e.tenant !== tenant || !visible(e.name)) return;
      queue.push(...toWatchEvents(e));
      notify();
    },
    lost() {
      lost = true;
      notify();
    },
  });
  const heartbeat = () => ({ type: "heartbeat" as const, name: "", version: 0, time: deps.clock.now() });
  let beat = false;
  const timer = setInterval(() => {
    beat = true;
    notify();
  }, deps.heartbeatMs);
  const onAbort = () => notify();
  signal.addEventListener("abort", onAbort);
  closing.addEventListener("abort", onAbort);
  try {
    yield heartbeat();
    for (;;) {
      while (queue.length) yield queue.shift()!;
      if (signal.aborted) return;
      if (closing.aborted) throw new UnavailableError("the server is shutting down; watch again");
      if (lost) throw new UnavailableError("the change feed was lost; watch again and re-read");
      if (beat) {
        beat = false;
        yield heartbeat();
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    clearInterval(timer);
    signal.removeEventListener("abort", onAbort);
    closing.removeEventListener("abort", onAbort);
    subscription.unsubscribe();
  }
}

/** One commit as the events a watcher sees (one per version whose state changed). */
export function toWatchEvents(e: ChangeEvent): WatchEvent[] {
  const at = (type: WatchEventType, version: number): WatchEvent => ({ type, name: e.name, version, time: e.time });
  switch (e.kind) {
    case "created":
      return [at("created", 1)];
    case "version_added": {
      // The new version is the highest; lower ones in the event were destroyed by retention.
      const added = e.versions.length ? Math.max(...e.versions) : e.latestVersion;
      return [at("version_added", added), ...e.versions.filter((v) => v !== added).map((v) => at("version_state_changed", v))];
    }
    case "version_enabled":
    case "version_disabled":
    case "version_destroyed":
      return (e.versions.length ? e.versions : [e.latestVersion]).map((v) => at("version_state_changed", v));
    case "updated":
      return [at("updated", e.latestVersion)];
    case "deleted":
      return [at("deleted", e.latestVersion)];
    case "restored":
      return [at("restored", e.latestVersion)];
    case "purged":
      return [at("purged", e.latestVersion)];
    case "purging":
      // Its PURGED follows (this call's purge, or the sweeper's after a crash).
      return [];
  }
}
