import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckResponse,
} from "../../gen/health/v1/health_pb.js";
import { clip } from "../errors.js";

/** The statuses a component may report; "" names the server as a whole. */
export type HealthStatus = "SERVING" | "NOT_SERVING";

type StatusListener = (status: HealthStatus) => void;

/**
 * Serving status per service name, with subscribers for grpc.health.v1 Watch.
 * The overall server ("") starts SERVING.
 */
export class HealthState {
  readonly #statuses = new Map<string, HealthStatus>([["", "SERVING"]]);
  readonly #listeners = new Map<string, Set<StatusListener>>();
  readonly #draining = new AbortController();

  /** Ignored once setAllNotServing() has run, so a late component cannot report SERVING while draining. */
  setStatus(service: string, status: HealthStatus): void {
    if (this.#draining.signal.aborted) return;
    this.#publish(service, status);
  }

  /**
   * For shutdown, and final: every known service reports NOT_SERVING from now on, and Watch
   * streams send that and end, so HTTP/2 sessions closing gracefully are not held open by them.
   */
  setAllNotServing(): void {
    for (const service of [...this.#statuses.keys()]) {
      this.#publish(service, "NOT_SERVING");
    }
    this.#draining.abort();
  }

  /** Aborted by setAllNotServing(). */
  get draining(): AbortSignal {
    return this.#draining.signal;
  }

  get(service: string): HealthStatus | undefined {
    return this.#statuses.get(service);
  }

  entries(): [service: string, status: HealthStatus][] {
    return [...this.#statuses.entries()];
  }

  /** Calls listener on each change of service's status; returns the unsubscribe function. */
  subscribe(service: string, listener: StatusListener): () => void {
    let set = this.#listeners.get(service);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(service, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(service) === set) this.#listeners.delete(service);
    };
  }

  /** Number of active subscriptions, across services (lets tests see that Watch calls clean up). */
  get subscriberCount(): number {
    let n = 0;
    for (const set of this.#listeners.values()) n += set.size;
    return n;
  }

  #publish(service: string, status: HealthStatus): void {
    if (this.#statuses.get(service) === status) return;
    this.#statuses.set(service, status);
    for (const listener of this.#listeners.get(service) ?? []) listener(status);
  }
}

function toResponse(status: HealthStatus | undefined): HealthCheckResponse {
  const wire =
    status === undefined ? ServingStatus.SERVICE_UNKNOWN : ServingStatus[status];
  return create(HealthCheckResponseSchema, { status: wire });
}

/**
 * Streams the current status, then each change, until signal aborts (a pending change is
 * still sent first). Changes that arrive while a send is pending collapse into the latest one.
 */
async function* watchStatus(
  state: HealthState,
  service: string,
  signal: AbortSignal,
): AsyncGenerator<HealthCheckResponse> {
  let pending: HealthStatus | undefined | null = state.get(service);
  let wake: (() => void) | undefined;
  const unsubscribe = state.subscribe(service, (status) => {
    pending = status;
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  try {
    let sent: HealthStatus | undefined | null = null;
    for (;;) {
      if (pending !== null && pending !== sent) {
        sent = pending;
        pending = null;
        yield toResponse(sent);
        continue;
      }
      pending = null;
      if (signal.aborted) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    unsubscribe();
  }
}

/** Service names are short ("secrets.v1.SecretsService"); a long one is refused, never echoed. */
export const SERVICE_NAME_MAX_BYTES = 256;

function validateServiceName(service: string): void {
  if (Buffer.byteLength(service, "utf8") > SERVICE_NAME_MAX_BYTES) {
    throw new ConnectError(`service: must be at most ${SERVICE_NAME_MAX_BYTES} bytes`, Code.InvalidArgument);
  }
}

/** Routes for grpc.health.v1.Health (Check, Watch, List) over the given state. */
export function healthRoutes(state: HealthState): (router: ConnectRouter) => void {
  return (router) => {
    router.service(Health, {
      check(req) {
        validateServiceName(req.service);
        const status = state.get(req.service);
        if (status === undefined) {
          throw new ConnectError(`unknown service: ${clip(req.service)}`, Code.NotFound);
        }
        return toResponse(status);
      },
      watch(req, ctx) {
        validateServiceName(req.service);
        return watchStatus(state, req.service, AbortSignal.any([ctx.signal, state.draining]));
      },
      list() {
        return {
          statuses: Object.fromEntries(
            state.entries().map(([service, status]) => [service, toResponse(status)]),
          ),
        };
      },
    });
  };
}
