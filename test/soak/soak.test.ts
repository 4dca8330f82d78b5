import { readdirSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintToken } from "../../src/auth/dev-token.js";
import { connectGrpcClient } from "../helpers/clients.js";
import type { Secrets } from "../helpers/lifecycle.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { startRedisProcess, type RedisProcess } from "../helpers/redis-process.js";
import { spawnServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { dropDatabase, freshDbName, mongoUriFor } from "../helpers/services.js";

// Soak: mixed load (90% reads, 10% writes, several clients) against 2 replicas sharing FerretDB, a
// Redis of its own and one master key, for SOAK_SECONDS (`npm run test:soak`: 1,800; in `npm test`,
// 60). Verdicts that cannot depend on the machine's speed: no call fails, every call has exactly one
// audit event, RSS and open file descriptors do not keep growing (the last third of the samples
// against the middle third, after the warm-up, with a wide margin). Latency percentiles per window are printed, not judged.

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const CLIENTS = 8;
const SECRETS = 20;
const SAMPLE_MS = 5_000;

const db = freshDbName("soak");
const tenant = `dev_soak_${randomBytes(3).toString("hex")}`;
let redis: RedisProcess;
let raw: RawDb;
const replicas: ServerProcess[] = [];
let clients: Secrets[][];

beforeAll(async () => {
  redis = await startRedisProcess({});
  const jwtSecret = randomBytes(32).toString("base64url");
  const env = {
    PORT: "0",
    STORE: "mongodb",
    MONGODB_URI: mongoUriFor(db),
    KEY_PROVIDER: "local",
    LOCAL_MASTER_KEY: randomBytes(32).toString("base64"),
    AUTH_JWT_SECRET: jwtSecret,
    REDIS_URL: redis.url,
    CACHE_TTL_SECONDS: "30",
    SWEEP_INTERVAL_MS: "60000",
    LOG_LEVEL: "info",
  };
  for (let i = 0; i < 2; i++) replicas.push(await spawnServerProcess(env, { keepOutputBytes: 64 * 1024 }));
  const token = await mintToken(jwtSecret, { sub: "soak", developer_id: tenant, expiresIn: `${SECONDS + 3_600}s` });
  // Each client has its own connection to each replica.
  clients = Array.from({ length: CLIENTS }, () => replicas.map((r) => connectGrpcClient(r.baseUrl, token)));
  for (let i = 0; i < SECRETS; i++) await clients[0]![i % 2]!.createSecret({ name: `soak_${i}`, value: `v0_${i}` });
  raw = await openRawDb(db);
}, 300_000);

afterAll(async () => {
  await raw?.close();
  await Promise.allSettled(replicas.map((r) => r.kill()));
  await redis?.stop();
  await dropDatabase(db);
});

interface Sample {
  readonly atS: number;
  readonly rssMiB: number[];
  readonly fds: number[];
}

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0;

describe(`soak: ${SECONDS} s of mixed load on 2 replicas`, () => {
  it(
    "no call fails; one audit event per call; RSS and open files do not keep growing",
    async () => {
      const before = await raw.db.collection("audit_events").countDocuments({ tenant });
      const startedAt = performance.now();
      const endAt = startedAt + SECONDS * 1000;
      const failures: string[] = [];
      const windows = new Map<number, number[]>();
      let calls = 0;
      const latestVersion = new Map<string, number>();

      const worker = async (c: number) => {
        let n = 0;
        while (performance.now() < endAt) {
          const replica = (c + n++) % 2;
          const name = `soak_${Math.floor(Math.random() * SECRETS)}`;
          const write = Math.random() < 0.1;
          const t0 = performance.now();
          try {
            if (write) {
              const res = await clients[c]![replica]!.putSecretValue({ name, value: `v_${randomBytes(6).toString("hex")}` });
              latestVersion.set(name, Math.max(latestVersion.get(name) ?? 1, Number(res.version!.version)));
            } else {
              await clients[c]![replica]!.getSecretValue({ name });
            }
          } catch (err) {
            failures.push(`${write ? "PutSecretValue" : "GetSecretValue"} ${name} on replica ${replica}: ${ConnectError.from(err).message}`);
          }
          calls++;
          const window = Math.floor((t0 - startedAt) / 10_000);
          const list = windows.get(window) ?? [];
          list.push(performance.now() - t0);
          windows.set(window, list);
        }
      };

      const samples: Sample[] = [];
      const sampler = (async () => {
        while (performance.now() < endAt) {
          samples.push({ atS: (performance.now() - startedAt) / 1000, rssMiB: replicas.map((r) => rssMiB(r.child.pid!)), fds: replicas.map((r) => fds(r.child.pid!)) });
          await sleep(Math.min(SAMPLE_MS, Math.max(0, endAt - performance.now())));
        }
      })();
      await Promise.all([...Array.from({ length: CLIENTS }, (_, c) => worker(c)), sampler]);

      const rows = [...windows].map(([w, lat]) => `  ${w * 10}-${w * 10 + 10} s: ${lat.length} calls, p50 ${pct(lat, 0.5).toFixed(1)} ms, p99 ${pct(lat, 0.99).toFixed(1)} ms`);
      // The first third is warm-up (the heap grows to its working size); the middle third is the base.
      const third = Math.max(1, Math.floor(samples.length / 3));
      const first = samples.slice(third, 2 * third);
      const last = samples.slice(-third);
      const growth = [0, 1].map((i) => ({
        rss: [median(first.map((s) => s.rssMiB[i]!)), median(last.map((s) => s.rssMiB[i]!))],
        fds: [median(first.map((s) => s.fds[i]!)), median(last.map((s) => s.fds[i]!))],
      }));
      console.log(
        [
          `soak ${SECONDS} s, ${CLIENTS} clients, 2 replicas: ${calls} calls, ${failures.length} failed (${(calls / SECONDS).toFixed(0)} calls/s)`,
          ...rows,
          ...growth.map((g, i) => `  replica ${i}: RSS ${g.rss[0]!.toFixed(1)} -> ${g.rss[1]!.toFixed(1)} MiB, open files ${g.fds[0]} -> ${g.fds[1]} (medians of the middle and last third of ${samples.length} samples)`),
        ].join("\n"),
      );

      expect(failures.slice(0, 5)).toEqual([]);
      expect(calls).toBeGreaterThan(0);
      // Fail closed means one event per call, written before the answer: exact, right after the load.
      const events = (await raw.db.collection("audit_events").countDocuments({ tenant })) - before;
      expect(events).toBe(calls);
      for (const g of growth) {
        // A leak shows as steady growth; a wide margin absorbs the allocator and a busy machine.
        expect(g.rss[1]!).toBeLessThan(g.rss[0]! * 1.5 + 64);
        expect(g.fds[1]!).toBeLessThanOrEqual(g.fds[0]! + 16);
      }
      // Every write that was acknowledged is there: the latest version of each secret reads back.
      for (const [name, version] of latestVersion) {
        const got = await clients[0]![0]!.getSecretValue({ name });
        expect(Number(got.version)).toBeGreaterThanOrEqual(version);
      }
    },
    (SECONDS + 600) * 1000,
  );
});
