import type { Logger } from "pino";
import { file_health_v1_health } from "../gen/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_secrets_v1_secrets, SecretsService as SecretsServiceDesc } from "../gen/secrets/v1/secrets_pb.js";
import type { TokenVerifier } from "./auth/token-verifier.js";
import { DEFAULT_CONNECTION_LIMITS, DEFAULT_MAX_DEADLINE_MS, type ConnectionLimits } from "./config/config.js";
import { createSecretsService } from "./core/secrets-service.js";
import type { ValueCache } from "./core/value-cache.js";
import type { Clock } from "./ports/clock.js";
import type { IdempotencyStore } from "./ports/idempotency-store.js";
import type { KeyProvider } from "./ports/key-provider.js";
import type { SecretStore } from "./ports/secret-store.js";
import { HealthState, healthRoutes } from "./transport/health.js";
import type { CallObserver } from "./transport/call-log.js";
import { authInterceptor, errorInterceptor } from "./transport/interceptors.js";
import { reflectionRoutes } from "./transport/reflection.js";
import { secretsRoutes } from "./transport/secrets-handlers.js";
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
  readonly tls?: { cert: Buffer; key: Buffer };
  /** Value reads go through it, and it hears of every commit; started and stopped by the caller. */
  readonly valueCache?: ValueCache;
  /** Told of every call when its response is done (metrics). */
  readonly onCall?: CallObserver;
}

export interface App {
  readonly health: HealthState;
  listen(host: string, port: number): Promise<RunningServer>;
}

/** Wires core and transport over the given adapters (main.ts and the tests both use it). */
export function createApp(deps: AppDeps): App {
  const service = createSecretsService({
    store: deps.store,
    idempotency: deps.idempotency,
    keys: deps.keys,
    clock: deps.clock,
    pendingLeaseMs: deps.pendingVersionLeaseMs,
    ...(deps.valueCache ? { cache: deps.valueCache, changes: deps.valueCache } : {}),
  });
  const health = new HealthState();
  health.setStatus(SecretsServiceDesc.typeName, "SERVING");
  const server = buildServer({
    routes: (router) => {
      secretsRoutes(service)(router);
      healthRoutes(health)(router);
      reflectionRoutes([
        file_secrets_v1_secrets,
        file_health_v1_health,
        file_grpc_reflection_v1_reflection,
        file_grpc_reflection_v1alpha_reflection,
      ])(router);
    },
    interceptors: [errorInterceptor(), authInterceptor(deps.verifier, new Set([SecretsServiceDesc.typeName]))],
    maxRequestBytes: deps.maxRequestBytes,
    maxDeadlineMs: deps.maxDeadlineMs ?? DEFAULT_MAX_DEADLINE_MS,
    limits: deps.limits ?? DEFAULT_CONNECTION_LIMITS,
    logger: deps.logger,
    health,
    ...(deps.onCall ? { onCall: deps.onCall } : {}),
    ...(deps.tls ? { tls: deps.tls } : {}),
  });
  return { health, listen: (host, port) => server.listen(host, port) };
}
