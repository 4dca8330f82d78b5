import { Code, ConnectError } from "@connectrpc/connect";
import { SecretEventType, type SecretEvent, type WatchSecretsResponse } from "../../gen/secrets/v1/secrets_pb.js";
import { waitUntil } from "./lifecycle.js";

// A WatchSecrets stream read in the background, for tests: its events as they arrive, how it ended,
// and a wait that fails at once (saying what it had) if the stream ends first.

export interface Watch {
  /** Every event, heartbeats included, in order. */
  readonly events: SecretEvent[];
  /** The error that ended the stream (undefined while it runs or when it ended cleanly). */
  readonly error: unknown;
  readonly ended: boolean;
  /** Events other than heartbeats, as "TYPE name version". */
  named(): string[];
  heartbeats(): SecretEvent[];
  until(condition: (w: Watch) => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Aborts the stream and waits for the reading loop to finish. */
  stop(): Promise<void>;
}

export const brief = (e: SecretEvent) => `${SecretEventType[e.type]} ${e.name} ${e.version}`;
export const codeOf = (err: unknown) => (err === undefined ? "none" : Code[ConnectError.from(err).code]);

/** Opens the stream with `open` and reads it until stopped; `waitMs` is until()'s default bound. */
export function collectWatch(open: (signal: AbortSignal) => AsyncIterable<WatchSecretsResponse>, waitMs: number): Watch {
  const abort = new AbortController();
  const events: SecretEvent[] = [];
  let error: unknown;
  let ended = false;
  const loop = (async () => {
    try {
      for await (const res of open(abort.signal)) if (res.event) events.push(res.event);
    } catch (err) {
      error = err;
    } finally {
      ended = true;
    }
  })();
  const watch: Watch = {
    events,
    get error() {
      return error;
    },
    get ended() {
      return ended;
    },
    named: () => events.filter((e) => e.type !== SecretEventType.HEARTBEAT).map(brief),
    heartbeats: () => events.filter((e) => e.type === SecretEventType.HEARTBEAT),
    until: (condition, what, timeoutMs = waitMs) =>
      waitUntil(() => {
        if (condition(watch)) return true;
        // An ended stream gets no more events: fail now, saying what it had.
        if (ended) throw new Error(`the stream ended (${String(error)}) before ${what}; events: ${events.map(brief).join(", ")}`);
        return false;
      }, what, timeoutMs),
    async stop() {
      abort.abort();
      await loop;
    },
  };
  return watch;
}
