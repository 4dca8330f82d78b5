import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import { file_health_v1_health } from "../gen/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_secrets_v1_secrets, SecretsService as SecretsServiceDesc } from "../gen/secrets/v1/secrets_pb.js";
import { createTaskTokens } from "./auth/task-token-service.js";
import type { TokenVerifier } from "./auth/token-verifier.js";
import type { TaskTokenKeys } from "./auth/task-tokens.js";
import type { AccessRecorder } from "./core/access-times.js";
import { listAuditEvents } from "./core/audit-events.js";
import type { AuditTrail } from "./core/audit-trail.js";
import { rewrapKeys, type RewrapRequest } from "./core/rewrap.js";
import type { Principal } from "./core/principal.js";
import { sweepOnce } from "./core/sweeper.js";
import { DEFAULT_CONNECTION_LIMITS, DEFAULT_MAX_DEADLINE_MS, type ConnectionLimits } from "./config/config.js";
import type { ServerTls } from "./transport/tls.js";
import { createChangeStream } from "./core/change-stream.js";
import { createProxy } from "./core/proxy-request.js";
import { createRedactText } from "./core/redact-text.js";
import { createSecretsService } from "./core/secrets-service.js";
import type { ChangeEvent, ChangeListener } from "./ports/change-events.js";
import type { ChangeFeed } from "./ports/change-feed.js";
import type { ValueCache } from "./core/value-cache.js";
import type { Clock } from "./ports/clock.js";
import type { IdempotencyStore } from "./ports/idempotency-store.js";
import type { KeyProvider } from "./ports/key-provider.js";
import type { AuditStore } from "./ports/audit-store.js";
import type { Egress } from "./ports/egress.js";
import type { SecretStore } from "./ports/secret-store.js";
import type { TaskTokenStore } from "./ports/task-token-store.js";
import { accessInterceptor, edgeAuditEvent } from "./transport/access.js";
import { HealthState, healthRoutes } from "./transport/health.js";
import type { CallObserver } from "./transport/call-log.js";
import { errorInterceptor } from "./transport/interceptors.js";
import { reflectionRoutes } from "./transport/reflection.js";
import { REDACT_REQUEST_MAX_BYTES, REDACT_TEXT_PATH, secretsRoutes } from "./transport/secrets-handlers.js";
import { buildServer, type RunningServer } from "./transport/server.js";

export interface AppDeps {
  readonly store: SecretStore;
  readonly idempotency: IdempotencyStore;
  readonly keys: KeyProvider;
  readonly verifier: TokenVerifier;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly maxRequestBytes: number;
  /** Client deadlines beyond this are shortened to it (default 24 h). */
  readonly maxDeadlineMs?: number;
  readonly limits?: ConnectionLimits;
  readonly pendingVersionLeaseMs: number;
  readonly tls?: ServerTls;
  /** Value reads go through it, and it hears of every commit; started and stopped by the caller. */
  readonly valueCache?: ValueCache;
  /** Told of every call when its response is done (metrics). */
  readonly onCall?: CallObserver;
  /** Task tokens the service minted; without it task tokens are refused. */
  readonly taskTokenStore?: TaskTokenStore;
  /** The service's signing keys (the verifier must hold the same); without them CreateTaskToken is refused. */
  readonly taskTokenKeys?: TaskTokenKeys;
  /** The audit trail; absent = off (every call goes unrecorded). */
  readonly audit?: { readonly trail: AuditTrail; readonly store: AuditStore; readonly retentionMs: number };
  /** Told of every value read (Secret.last_access_time). */
  readonly accessed?: AccessRecorder;
  /** Carries commits to every replica (WatchSecrets, redaction caches); absent = WatchSecrets is refused. */
  readonly changeFeed?: ChangeFeed;
  /** WatchSecrets heartbeat interval (default 15 s). */
  readonly watchHeartbeatMs?: number;
  /** Told of a commit the change feed could not carry (the write has succeeded). */
  readonly onFeedError?: (err: unknown) => void;
  /** ProxyHttpRequest's outbound calls; absent = the RPC answers FAILED_PRECONDITION. */
  readonly proxy?: { readonly egress: Egress; readonly maxResponseBytes: number; readonly maxConcurrency: number };
}

export const DEFAULT_WATCH_HEARTBEAT_MS = 15_000;

export interface App {
  readonly health: HealthState;
  /** Every commit's listeners (cache, redactors, change feed), for a sweeper run outside the app. */
  readonly changes: ChangeListener;
  /** Ends every WatchSecrets stream with UNAVAILABLE (before a graceful close, which would wait for them). */
  endWatches(): void;
  listen(host: string, port: number): Promise<RunningServer>;
}

/** Wires core and transport over the given adapters (main.ts and the tests both use it). */
export function createApp(deps: AppDeps): App {
  const redact = createRedactText({ store: deps.store, keys: deps.keys, clock: deps.clock, ...(deps.changeFeed ? { feed: deps.changeFeed } : {}) });
  const changeStream = deps.changeFeed
    ? createChangeStream({ feed: deps.changeFeed, clock: deps.clock, heartbeatMs: deps.watchHeartbeatMs ?? DEFAULT_WATCH_HEARTBEAT_MS, ...(deps.onFeedError ? { report: deps.onFeedError } : {}) })
    : undefined;
  // The one commit point's listeners, in order: the value cache first (a watcher told of a change
  // and reading at once must not get the old value), then this replica's redactors, then the feed.
  const listeners: ChangeListener[] = [...(deps.valueCache ? [deps.valueCache] : []), redact, ...(changeStream ? [changeStream] : [])];
  const changes: ChangeListener = {
    async committed(event: ChangeEvent) {
      for (const listener of listeners) await listener.committed(event);
    },
  };
  const service = createSecretsService({
    store: deps.store,
    idempotency: deps.idempotency,
    keys: deps.keys,
    clock: deps.clock,
    pendingLeaseMs: deps.pendingVersionLeaseMs,
    changes,
    ...(deps.valueCache ? { cache: deps.valueCache } : {}),
    ...(deps.accessed ? { accessed: deps.accessed } : {}),
  });
  const taskTokens = deps.taskTokenStore
    ? createTaskTokens({ store: deps.taskTokenStore, clock: deps.clock, ...(deps.taskTokenKeys ? { keys: deps.taskTokenKeys } : {}) })
    : undefined;
  const audit = deps.audit;
  const maintenance = () =>
    sweepOnce({
      store: deps.store,
      idempotency: deps.idempotency,
      clock: deps.clock,
      pendingLeaseMs: deps.pendingVersionLeaseMs,
      changes,
      ...(deps.taskTokenStore ? { taskTokens: deps.taskTokenStore } : {}),
      ...(audit ? { audit: { store: audit.store, retentionMs: audit.retentionMs } } : {}),
    });
  const valueCache = deps.valueCache;
  const rewrap = (principal: Principal, req: RewrapRequest) =>
    rewrapKeys(
      {
        store: deps.store,
        keys: deps.keys,
        clock: deps.clock,
        pendingLeaseMs: deps.pendingVersionLeaseMs,
        ...(valueCache ? { rotateCacheKey: () => valueCache.rotateKey() } : {}),
      },
      principal,
      req,
    );
  const guarded = new Set([SecretsServiceDesc.typeName]);
  // A call refused at the edge (malformed, oversize) never reached the pipeline: its event is written here, without a principal.
  const onCall: CallObserver = (method, code, seconds, call) => {
    deps.onCall?.(method, code, seconds, call);
    if (audit && call && !call.audited && guarded.has(call.method.slice(0, call.method.lastIndexOf("/")))) {
      call.audited = true;
      audit.trail.record(edgeAuditEvent(call, codeNumber(code))).catch(() => {});
    }
  };
  const health = new HealthState();
  health.setStatus(SecretsServiceDesc.typeName, "SERVING");
  const server = buildServer({
    routes: (router) => {
      secretsRoutes(
        service,
        {
          ...(taskTokens ? { taskTokens } : {}),
          ...(audit ? { auditEvents: (tenant, input, visible) => listAuditEvents({ audit: audit.store }, tenant, input, visible) } : {}),
          maintenance,
          rewrap,
        },
        { reads: service, redact, ...(changeStream ? { changes: changeStream } : {}), ...(taskTokens ? { taskTokens } : {}) },
        deps.proxy ? createProxy({ reads: service, ...deps.proxy }) : undefined,
      )(router);
      healthRoutes(health)(router);
      reflectionRoutes([
        file_secrets_v1_secrets,
        file_health_v1_health,
        file_grpc_reflection_v1_reflection,
        file_grpc_reflection_v1alpha_reflection,
      ])(router);
    },
    interceptors: [
      errorInterceptor(),
      accessInterceptor({ verifier: deps.verifier, guarded, ...(taskTokens ? { taskTokens } : {}), ...(audit ? { audit: audit.trail } : {}) }),
    ],
    maxRequestBytes: deps.maxRequestBytes,
    requestLimits: new Map([[REDACT_TEXT_PATH, REDACT_REQUEST_MAX_BYTES]]),
    maxDeadlineMs: deps.maxDeadlineMs ?? DEFAULT_MAX_DEADLINE_MS,
    limits: deps.limits ?? DEFAULT_CONNECTION_LIMITS,
    logger: deps.logger,
    health,
    onCall,
    ...(deps.tls ? { tls: deps.tls } : {}),
  });
  return { health, changes, endWatches: () => changeStream?.close(), listen: (host, port) => server.listen(host, port) };
}

/** A log line's code name ("ok", "NotFound") as the gRPC number. */
function codeNumber(code: string): number {
  if (code === "ok") return 0;
  const n = (Code as unknown as Record<string, unknown>)[code];
  return typeof n === "number" ? n : Code.Unknown;
}
