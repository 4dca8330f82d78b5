import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AuditObserver } from "../core/audit-trail.js";
import type { KeyProvider } from "../ports/key-provider.js";
import { instrumentMethods } from "./instrument.js";
import { KEY_PROVIDER_OPERATIONS } from "./port-operations.js";

export type CacheLayer = "local" | "redis";
export type CacheResult = "hit" | "miss" | "error";

export interface Metrics {
  /** Its own registry (never prom-client's global one), so several servers can run in one process. */
  readonly registry: Registry;
  /** One finished RPC: `method` a known RPC path or "unknown", `code` as the call's log line has it. */
  rpc(method: string, code: string, seconds: number): void;
  cache(layer: CacheLayer, result: CacheResult): void;
  /** Times generateDataKey and decryptDataKey. */
  instrumentKeys(keys: KeyProvider): KeyProvider;
  /** Times the listed methods of a MongoDB-backed port (see port-operations.ts); the operation label is the method name. */
  instrumentStore<T extends object>(store: T, methods: readonly (keyof T)[]): T;
  /** The audit trail's queue and its group-commit appends. */
  readonly audit: AuditObserver;
}

/** Events per append: one when idle, up to the largest batch (500) under load. */
const AUDIT_BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500];

/** From a fraction of a millisecond (a local cache hit) to seconds (a stalled backend). */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const rpcRequests = new Counter({
    name: "secrets_rpc_requests_total",
    help: "RPCs answered, by method and code.",
    labelNames: ["method", "code"] as const,
    registers,
  });
  const rpcDuration = new Histogram({
    name: "secrets_rpc_duration_seconds",
    help: "Time from request to finished response, by method.",
    labelNames: ["method"] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const cacheRequests = new Counter({
    name: "secrets_cache_requests_total",
    help: "Value cache lookups, by layer and result.",
    labelNames: ["layer", "result"] as const,
    registers,
  });
  const audit = auditMetrics(registers);
  const observeKms = operationTimer(registry, "secrets_kms_requests_total", "secrets_kms_duration_seconds", "KMS");
  const observeMongo = operationTimer(registry, "secrets_mongodb_operations_total", "secrets_mongodb_duration_seconds", "MongoDB");

  return {
    registry,
    rpc(method, code, seconds) {
      rpcRequests.inc({ method, code });
      rpcDuration.observe({ method }, seconds);
    },
    cache: (layer, result) => cacheRequests.inc({ layer, result }),
    instrumentKeys: (keys) => instrumentMethods(keys, KEY_PROVIDER_OPERATIONS, observeKms),
    instrumentStore: (store, methods) => instrumentMethods(store, methods, observeMongo),
    audit,
  };
}

function auditMetrics(registers: Registry[]): AuditObserver {
  const depth = new Gauge({ name: "secrets_audit_queue_depth", help: "Audit events waiting to be stored, those being written included.", registers });
  const batchSize = new Histogram({ name: "secrets_audit_batch_size", help: "Audit events per append.", buckets: AUDIT_BATCH_BUCKETS, registers });
  const inserts = new Counter({
    name: "secrets_audit_inserts_total",
    help: "Audit appends, by result (ok, failed).",
    labelNames: ["result"] as const,
    registers,
  });
  const events = new Counter({
    name: "secrets_audit_events_total",
    help: "Audit events that reached the store, by result (written, failed).",
    labelNames: ["result"] as const,
    registers,
  });
  const insertSeconds = new Histogram({ name: "secrets_audit_insert_seconds", help: "Duration of audit appends.", buckets: DURATION_BUCKETS, registers });
  return {
    queued: (n) => depth.set(n),
    batch(size, seconds, ok) {
      batchSize.observe(size);
      inserts.inc({ result: ok ? "ok" : "failed" });
      events.inc({ result: ok ? "written" : "failed" }, size);
      insertSeconds.observe(seconds);
    },
  };
}

/** A counter and a histogram of one backend's calls, by operation; failed calls count too. */
function operationTimer(registry: Registry, counterName: string, histogramName: string, backend: string): (operation: string, seconds: number) => void {
  const labelNames = ["operation"] as const;
  const count = new Counter({ name: counterName, help: `${backend} calls, failed ones included, by operation.`, labelNames, registers: [registry] });
  const duration = new Histogram({ name: histogramName, help: `Duration of ${backend} calls, by operation.`, labelNames, buckets: DURATION_BUCKETS, registers: [registry] });
  return (operation, seconds) => {
    count.inc({ operation });
    duration.observe({ operation }, seconds);
  };
}
