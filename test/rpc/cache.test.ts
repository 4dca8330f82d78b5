import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectJson } from "../helpers/clients.js";
import { sampleValue } from "../helpers/prometheus.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { services } from "../helpers/services.js";

// The value cache through the whole server, on FerretDB, the KMS emulator and the services' Redis.

let cached: TestServer;
let uncached: TestServer;
beforeAll(async () => {
  [cached, uncached] = await Promise.all([
    // Entries outlive the test, so no refill (a TTL expiry) can count as a store read on a slow machine.
    startTestServer({ store: "mongodb", keys: "aws-kms", label: "rpc_cache", metrics: true, cache: { ttlMs: 600_000 } }),
    startTestServer({ store: "mongodb", keys: "aws-kms", label: "rpc_nocache", cache: false }),
  ]);
});
afterAll(async () => {
  await Promise.all([cached?.close(), uncached?.close()]);
});

const scrape = async () => (await fetch(cached.metrics!.url)).text();
const STORE_READS = ["findSecret", "findSecrets", "findVersion", "listSecrets", "listVersions"];

async function costs() {
  const text = await scrape();
  return {
    kms: sampleValue(text, "secrets_kms_requests_total", { operation: "decryptDataKey" }) + sampleValue(text, "secrets_kms_requests_total", { operation: "generateDataKey" }),
    storeReads: STORE_READS.reduce((n, op) => n + sampleValue(text, "secrets_mongodb_operations_total", { operation: op }), 0),
    localHits: sampleValue(text, "secrets_cache_requests_total", { layer: "local", result: "hit" }),
    calls: sampleValue(text, "secrets_rpc_requests_total", { method: "secrets.v1.SecretsService/GetSecretValue", code: "ok" }),
  };
}

describe("hot reads", () => {
  it("cost 0 KMS calls and 0 MongoDB reads, as /metrics shows, over GetSecretValue and BatchGetSecretValues", async () => {
    const token = await cached.token("hot-dev");
    const names = Array.from({ length: 10 }, (_, i) => `hot_${i}`);
    for (const name of names) expect((await connectJson(cached.baseUrl, "CreateSecret", { name, value: `v-${name}` }, token)).status).toBe(200);
    for (const name of names) await connectJson(cached.baseUrl, "GetSecretValue", { name }, token);
    const before = await costs();
    for (let round = 0; round < 5; round++) {
      for (const name of names) {
        const res = await connectJson(cached.baseUrl, "GetSecretValue", { name }, token);
        expect(res.json.value).toBe(`v-${name}`);
      }
      const batch = await connectJson(cached.baseUrl, "BatchGetSecretValues", { names }, token);
      expect((batch.json.values as { value: string }[]).map((v) => v.value)).toEqual(names.map((n) => `v-${n}`));
    }
    // A call is counted when its response is done, which can be just after the client has it.
    let after = await costs();
    for (let i = 0; i < 50 && after.calls < before.calls + 50; i++) after = await costs();
    expect(after.calls - before.calls).toBe(50);
    expect(after.kms - before.kms).toBe(0);
    expect(after.storeReads - before.storeReads).toBe(0);
    expect(after.localHits - before.localHits).toBe(100);
  });
});

describe("what Redis holds", () => {
  it("holds no plaintext value: every value in the Redis database is scanned for the values written", async () => {
    const token = await cached.token("dump-dev");
    const plaintexts = Array.from({ length: 8 }, () => `sk_live_${randomBytes(16).toString("hex")}`);
    const names = plaintexts.map((_, i) => `dump_${i}`);
    for (const [i, name] of names.entries()) await connectJson(cached.baseUrl, "CreateSecret", { name, value: plaintexts[i] }, token);
    for (const name of names) await connectJson(cached.baseUrl, "GetSecretValue", { name }, token);
    await connectJson(cached.baseUrl, "BatchGetSecretValues", { names }, token);
    const redis = new Redis(services.redisUrl);
    try {
      let found = 0;
      const holders: string[] = [];
      // Entries are written after the read answers: wait until all of ours are there, then scan everything.
      for (let attempt = 0; attempt < 100 && found < names.length; attempt++) {
        found = (await Promise.all(names.map((n) => redis.exists(`sc:{dump-dev|${n}}:e:0`)))).reduce((a, b) => a + b, 0);
      }
      expect(found).toBe(names.length);
      let cursor = "0";
      let scanned = 0;
      do {
        const [next, keys] = await redis.scan(cursor, "COUNT", 500);
        cursor = next;
        for (const key of keys) {
          const type = await redis.type(key);
          if (type !== "string") continue;
          const bytes = await redis.getBuffer(key);
          scanned++;
          for (const p of plaintexts) if (bytes?.includes(p) || key.includes(p)) holders.push(key);
        }
      } while (cursor !== "0");
      expect(scanned).toBeGreaterThanOrEqual(names.length);
      expect(holders).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });
});

describe("every RPC answers the same with the cache on and off", () => {
  /** Times, etags and ids differ between two servers by nature; everything else must not. */
  const normalise = (json: unknown): unknown =>
    JSON.parse(JSON.stringify(json), (key, v: unknown) => (key.endsWith("Time") || key === "etag" ? "<varies>" : v));

  const script = (other: string): [string, Record<string, unknown>][] => [
    ["CreateSecret", { name: "alpha", value: "a1", metadata: { team: "x" } }],
    ["CreateSecret", { name: "beta", value: "b1", maxVersions: 2 }],
    ["CreateSecret", { name: "alpha", value: "again" }],
    ["GetSecretValue", { name: "alpha" }],
    ["GetSecretValue", { name: "alpha" }],
    ["GetSecretValue", { name: "alpha", version: "1" }],
    ["GetSecretValue", { name: "missing" }],
    ["GetSecretValue", { name: "bad name!" }],
    ["BatchGetSecretValues", { names: ["beta", "alpha", "missing"] }],
    ["PutSecretValue", { name: "alpha", value: "a2" }],
    ["GetSecretValue", { name: "alpha" }],
    ["BatchGetSecretValues", { names: ["alpha", "beta"] }],
    ["PutSecretValue", { name: "beta", value: "b2" }],
    ["PutSecretValue", { name: "beta", value: "b3" }],
    ["GetSecretValue", { name: "beta", version: "1" }],
    ["UpdateSecret", { name: "alpha", updateMask: "description", description: "the first" }],
    ["UpdateSecret", { name: "alpha", value: "a3" }],
    ["GetSecretValue", { name: "alpha" }],
    ["DisableSecretVersion", { name: "alpha", version: "3" }],
    ["GetSecretValue", { name: "alpha" }],
    ["GetSecretValue", { name: "alpha", version: "3" }],
    ["EnableSecretVersion", { name: "alpha", version: "3" }],
    ["GetSecretValue", { name: "alpha" }],
    ["DestroySecretVersion", { name: "alpha", version: "1" }],
    ["GetSecretValue", { name: "alpha", version: "1" }],
    ["ListSecretVersions", { name: "alpha" }],
    ["GetSecret", { name: "alpha" }],
    ["ListSecrets", {}],
    ["DeleteSecret", { name: "beta", recoveryWindowDays: 7 }],
    ["GetSecretValue", { name: "beta" }],
    ["BatchGetSecretValues", { names: ["alpha", "beta"] }],
    ["ListSecrets", { showDeleted: true }],
    ["RestoreSecret", { name: "beta" }],
    ["GetSecretValue", { name: "beta" }],
    ["DeleteSecret", { name: "beta", force: true }],
    ["GetSecretValue", { name: "beta" }],
    ["CreateSecret", { name: "beta", value: "reborn" }],
    ["GetSecretValue", { name: "beta" }],
    ["GetSecretValue", { name: "beta", version: "2" }],
    [`as:${other}`, { name: "alpha" }],
  ];

  async function run(server: TestServer, tenant: string): Promise<unknown[]> {
    const token = await server.token(tenant);
    const otherToken = await server.token(`${tenant}-other`);
    const answers: unknown[] = [];
    for (const [method, body] of script("other")) {
      const res = method.startsWith("as:")
        ? await connectJson(server.baseUrl, "GetSecretValue", body, otherToken)
        : await connectJson(server.baseUrl, method, body, token);
      answers.push({ step: `${method} ${JSON.stringify(body)}`, status: res.status, json: normalise(res.json) });
    }
    return answers;
  }

  it("a scripted sequence of every RPC, reads repeated, gives identical answers", async () => {
    // One tenant on both servers (each has its own database).
    const tenant = `same-${randomBytes(3).toString("hex")}`;
    const [on, off] = [await run(cached, tenant), await run(uncached, tenant)];
    expect(on).toEqual(off);
    // The sequence does exercise what it claims: values, errors and an isolated tenant.
    const statuses = (on as { status: number }[]).map((a) => a.status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(25);
    expect(new Set(statuses).size).toBeGreaterThan(2);
  });
});
