import { register as globalRegistry } from "prom-client";
import { describe, expect, it } from "vitest";
import { MemorySecretStore } from "../../src/adapters/memory/memory-secret-store.js";
import { instrumentMethods } from "../../src/metrics/instrument.js";
import { createMetrics } from "../../src/metrics/metrics.js";
import { SECRET_STORE_OPERATIONS } from "../../src/metrics/port-operations.js";
import type { DataKey, KeyContext, KeyProvider, WrappedKey } from "../../src/ports/key-provider.js";
import { sampleValue } from "../helpers/prometheus.js";

const GET = "secrets.v1.SecretsService/GetSecret";
const context: KeyContext = { developer: "d", secret: "s", version: 1 };

/** Keeps its state in a #private field, which only works when methods run on the object itself. */
class FakeKeys implements KeyProvider {
  readonly name = "fake";
  #key = Buffer.alloc(32, 7);
  closed = 0;
  async generateDataKey(): Promise<DataKey> {
    return { plaintext: this.#key, wrapped: new Uint8Array([1]), keyId: "k1" };
  }
  async decryptDataKey(keyId: string): Promise<Buffer> {
    throw new Error(`cannot unwrap under ${keyId} with a key of ${this.#key.length} bytes`);
  }
  async rewrapDataKey(keyId: string): Promise<WrappedKey> {
    return { wrapped: new Uint8Array([this.#key.length]), keyId };
  }
  async resolveKeyId(key: string): Promise<string> {
    return key;
  }
  async activeKeyId(): Promise<string> {
    return "k1";
  }
  async close(): Promise<void> {
    this.closed += this.#key.length;
  }
}

describe("metrics", () => {
  it("records RPCs by method and code, and their durations by method", async () => {
    const metrics = createMetrics();
    metrics.rpc(GET, "ok", 0.002);
    metrics.rpc(GET, "ok", 0.002);
    metrics.rpc(GET, "NotFound", 0.0003);
    metrics.rpc("unknown", "Unimplemented", 0.0001);
    const text = await metrics.registry.metrics();
    expect(sampleValue(text, "secrets_rpc_requests_total", { method: GET, code: "ok" })).toBe(2);
    expect(sampleValue(text, "secrets_rpc_requests_total", { method: GET, code: "NotFound" })).toBe(1);
    expect(sampleValue(text, "secrets_rpc_requests_total", { method: "unknown", code: "Unimplemented" })).toBe(1);
    expect(text).toContain("# TYPE secrets_rpc_duration_seconds histogram");
    expect(sampleValue(text, "secrets_rpc_duration_seconds_count", { method: GET })).toBe(3);
    expect(sampleValue(text, "secrets_rpc_duration_seconds_sum", { method: GET })).toBeCloseTo(0.0043, 9);
    expect(sampleValue(text, "secrets_rpc_duration_seconds_bucket", { method: GET, le: "0.0005" })).toBe(1);
    expect(sampleValue(text, "secrets_rpc_duration_seconds_bucket", { method: GET, le: "0.0025" })).toBe(3);
  });

  it("records cache lookups by layer and result", async () => {
    const metrics = createMetrics();
    metrics.cache("local", "hit");
    metrics.cache("local", "hit");
    metrics.cache("redis", "miss");
    metrics.cache("redis", "error");
    const text = await metrics.registry.metrics();
    expect(sampleValue(text, "secrets_cache_requests_total", { layer: "local", result: "hit" })).toBe(2);
    expect(sampleValue(text, "secrets_cache_requests_total", { layer: "redis", result: "miss" })).toBe(1);
    expect(sampleValue(text, "secrets_cache_requests_total", { layer: "redis", result: "error" })).toBe(1);
    expect(sampleValue(text, "secrets_cache_requests_total", { layer: "local", result: "miss" })).toBe(0);
  });

  it("records the audit trail's queue depth, batch sizes, appends and events by result, and append durations", async () => {
    const metrics = createMetrics();
    let text = await metrics.registry.metrics();
    expect(text).toContain("# TYPE secrets_audit_queue_depth gauge");
    expect(sampleValue(text, "secrets_audit_queue_depth")).toBe(0);
    metrics.audit.queued(3);
    metrics.audit.queued(7);
    metrics.audit.batch(7, 0.004, true);
    metrics.audit.queued(1);
    metrics.audit.batch(1, 0.3, false);
    metrics.audit.queued(0);
    metrics.audit.batch(200, 0.02, true);
    text = await metrics.registry.metrics();
    expect(sampleValue(text, "secrets_audit_queue_depth")).toBe(0);
    expect(text).toContain("# TYPE secrets_audit_batch_size histogram");
    expect(sampleValue(text, "secrets_audit_batch_size_count")).toBe(3);
    expect(sampleValue(text, "secrets_audit_batch_size_sum")).toBe(208);
    expect(sampleValue(text, "secrets_audit_batch_size_bucket", { le: "1" })).toBe(1);
    expect(sampleValue(text, "secrets_audit_batch_size_bucket", { le: "5" })).toBe(1);
    expect(sampleValue(text, "secrets_audit_batch_size_bucket", { le: "10" })).toBe(2);
    expect(sampleValue(text, "secrets_audit_batch_size_bucket", { le: "200" })).toBe(3);
    expect(sampleValue(text, "secrets_audit_batch_size_bucket", { le: "500" })).toBe(3);
    expect(sampleValue(text, "secrets_audit_inserts_total", { result: "ok" })).toBe(2);
    expect(sampleValue(text, "secrets_audit_inserts_total", { result: "failed" })).toBe(1);
    expect(sampleValue(text, "secrets_audit_events_total", { result: "written" })).toBe(207);
    expect(sampleValue(text, "secrets_audit_events_total", { result: "failed" })).toBe(1);
    expect(sampleValue(text, "secrets_audit_insert_seconds_count")).toBe(3);
    expect(sampleValue(text, "secrets_audit_insert_seconds_sum")).toBeCloseTo(0.324, 9);
    expect(sampleValue(text, "secrets_audit_insert_seconds_bucket", { le: "0.005" })).toBe(1);
    expect(sampleValue(text, "secrets_audit_insert_seconds_bucket", { le: "0.025" })).toBe(2);
    metrics.audit.queued(4);
    expect(sampleValue(await metrics.registry.metrics(), "secrets_audit_queue_depth")).toBe(4);
  });

  it("has the default process metrics, and a registry of its own", async () => {
    const one = createMetrics();
    const other = createMetrics();
    one.rpc(GET, "ok", 0.01);
    const text = await other.registry.metrics();
    expect(text).toContain("# TYPE process_cpu_user_seconds_total counter");
    expect(text).toContain("# TYPE nodejs_eventloop_lag_seconds gauge");
    expect(sampleValue(text, "secrets_rpc_requests_total", { method: GET, code: "ok" })).toBe(0);
    expect(globalRegistry.getSingleMetric("secrets_rpc_requests_total")).toBeUndefined();
  });

  it("times KMS calls that succeed and that fail, keeping results, errors and the object", async () => {
    const metrics = createMetrics();
    const target = new FakeKeys();
    const keys = metrics.instrumentKeys(target);
    const key = await keys.generateDataKey(context);
    expect(key.keyId).toBe("k1");
    expect(key.plaintext).toEqual(Buffer.alloc(32, 7));
    await expect(keys.decryptDataKey("k9", new Uint8Array(), context)).rejects.toThrow("cannot unwrap under k9 with a key of 32 bytes");
    await keys.close();
    expect(target.closed).toBe(32);
    const text = await metrics.registry.metrics();
    expect(sampleValue(text, "secrets_kms_requests_total", { operation: "generateDataKey" })).toBe(1);
    expect(sampleValue(text, "secrets_kms_requests_total", { operation: "decryptDataKey" })).toBe(1);
    expect(sampleValue(text, "secrets_kms_duration_seconds_count", { operation: "decryptDataKey" })).toBe(1);
    expect(sampleValue(text, "secrets_kms_requests_total", { operation: "close" })).toBe(0);
    expect(text).not.toContain("secrets_mongodb_operations_total{");
  });

  it("times store operations by port method name", async () => {
    const metrics = createMetrics();
    const store = metrics.instrumentStore(new MemorySecretStore(), SECRET_STORE_OPERATIONS);
    expect(await store.findSecret("t", "absent")).toBeUndefined();
    expect(await store.findSecrets("t", ["a", "b"])).toEqual([]);
    expect(await store.findSecret("t", "absent")).toBeUndefined();
    const text = await metrics.registry.metrics();
    expect(sampleValue(text, "secrets_mongodb_operations_total", { operation: "findSecret" })).toBe(2);
    expect(sampleValue(text, "secrets_mongodb_operations_total", { operation: "findSecrets" })).toBe(1);
    expect(sampleValue(text, "secrets_mongodb_duration_seconds_count", { operation: "findSecret" })).toBe(2);
  });
});

describe("instrumentMethods", () => {
  const observer = () => {
    const seen: string[] = [];
    return { seen, observe: (operation: string, seconds: number) => void seen.push(`${operation}:${seconds >= 0}`) };
  };

  it("rejects with the method's own error, and observes the failure", async () => {
    const { seen, observe } = observer();
    const failure = new Error("down");
    const target = { fail: async () => Promise.reject(failure) };
    const wrapped = instrumentMethods(target, ["fail"], observe);
    await expect(wrapped.fail()).rejects.toBe(failure);
    expect(seen).toEqual(["fail:true"]);
  });

  it("passes properties and unlisted methods through, on the object itself", async () => {
    const { seen, observe } = observer();
    const target = new FakeKeys();
    const wrapped = instrumentMethods(target, ["generateDataKey"], observe);
    expect(wrapped.name).toBe("fake");
    expect(wrapped).toBeInstanceOf(FakeKeys);
    await wrapped.close();
    expect(wrapped.closed).toBe(32);
    await expect(wrapped.decryptDataKey("k2")).rejects.toThrow("under k2");
    expect(seen).toEqual([]);
    await wrapped.generateDataKey();
    expect(seen).toEqual(["generateDataKey:true"]);
  });

  it("refuses to instrument what is not a method", () => {
    expect(() => instrumentMethods(new FakeKeys(), ["name"], () => {})).toThrow(TypeError);
  });
});
