import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintToken } from "../../src/auth/dev-token.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { startFerretProcess, type FerretProcess } from "../helpers/ferretdb-process.js";
import type { Secrets } from "../helpers/lifecycle.js";
import { startRedisProcess, type RedisProcess } from "../helpers/redis-process.js";
import { spawnServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { kmsProcessEnv, services } from "../helpers/services.js";
import { startTcpProxy } from "../helpers/tcp-proxy.js";

// Faults under load (`npm run test:faults`; in `npm test` as it is): 2 service replicas on a FerretDB
// and a Redis of this test's own, with KMS (the shared LocalStack) behind a TCP proxy, take a steady
// mixed load (90% reads, 10% writes, 6 clients, both replicas) while, in turn: Redis is killed -9 and
// restarted, FerretDB is killed -9 and restarted, KMS is cut (its process is shared with other test
// files, so it is cut at the proxy: connections reset, new ones refused), a replica is killed -9 and
// started again, FerretDB is paused (SIGSTOP) and KMS stalled (connections accepted, never answered).
// Then: every acknowledged write reads back with its value and version; no version number is doubled
// or skipped; no read returned a value never written, or an older version than one acknowledged before
// the read began; while the store or KMS was down, reads from the cache kept succeeding and the rest
// failed with UNAVAILABLE or DEADLINE_EXCEEDED (the call's own 5 s deadline), never hung; after each
// fault the service recovered with no manual step. The table is printed (docs/RELIABILITY.md).

const FAULT_MS = Number(process.env.FAULT_MS ?? 6_000);
const CLIENTS = 6;
const NAMES = Array.from({ length: 12 }, (_, i) => `fault_${i}`);
const CALL_DEADLINE_MS = 5_000;
const RECOVERY_LIMIT_MS = 120_000;

let ferret: FerretProcess;
let redis: RedisProcess;
let kms: Awaited<ReturnType<typeof startTcpProxy>>;
let env: Record<string, string>;
let token: string;
const replicas: ServerProcess[] = [];
const clientCache = new Map<string, Secrets>();

interface Outcome {
  readonly phase: string;
  /** The phase when the answer came. */
  readonly endPhase: string;
  readonly op: "read" | "write";
  readonly ok: boolean;
  readonly code?: Code;
}

const outcomes: Outcome[] = [];
/** name -> version -> value, for acknowledged writes (and the seeds). */
const acked = new Map<string, Map<number, string>>();
/** name -> every value a write was attempted with. */
const attempted = new Map<string, Set<string>>();
/** name -> [time acknowledged, version]. */
const ackTimes = new Map<string, Array<[number, number]>>();
const wrongReads: string[] = [];
const staleReads: string[] = [];
let phase = "warm-up";

const startReplica = () => spawnServerProcess(env, { keepOutputBytes: 64 * 1024 });
function clientOf(replica: number): Secrets {
  const base = replicas[replica]!.baseUrl;
  let c = clientCache.get(base);
  if (!c) clientCache.set(base, (c = connectGrpcClient(base, token)));
  return c;
}

beforeAll(async () => {
  ferret = await startFerretProcess();
  redis = await startRedisProcess({});
  const kmsUrl = new URL(services.kmsEndpoint);
  kms = await startTcpProxy(Number(kmsUrl.port || 4566), kmsUrl.hostname);
  const jwtSecret = randomBytes(32).toString("base64url");
  env = {
    PORT: "0",
    STORE: "mongodb",
    MONGODB_URI: ferret.uri("faults"),
    ...kmsProcessEnv(`http://127.0.0.1:${kms.port}`),
    AUTH_JWT_SECRET: jwtSecret,
    REDIS_URL: redis.url,
    CACHE_TTL_SECONDS: "60",
    PENDING_VERSION_LEASE_MS: "2000",
    SWEEP_INTERVAL_MS: "1000",
    READINESS_INTERVAL_MS: "500",
    LOG_LEVEL: "info",
  };
  for (let i = 0; i < 2; i++) replicas.push(await startReplica());
  token = await mintToken(jwtSecret, { sub: "faults", developer_id: "dev_faults", expiresIn: "2h" });
  for (const name of NAMES) {
    const value = `seed_${name}`;
    await clientOf(0).createSecret({ name, value });
    acked.set(name, new Map([[1, value]]));
    attempted.set(name, new Set([value]));
    ackTimes.set(name, [[performance.now(), 1]]);
  }
}, 300_000);

afterAll(async () => {
  await Promise.allSettled(replicas.map((r) => r.kill()));
  await Promise.allSettled([ferret?.stop(), redis?.stop(), kms?.close()]);
});

async function oneCall(c: number, n: number): Promise<void> {
  const replica = (c + n) % 2;
  const name = NAMES[Math.floor(Math.random() * NAMES.length)]!;
  const write = Math.random() < 0.1;
  const started = performance.now();
  const at = phase;
  const client = clientOf(replica);
  try {
    if (write) {
      const value = `v_${randomBytes(6).toString("hex")}`;
      attempted.get(name)!.add(value);
      const res = await client.putSecretValue({ name, value }, { timeoutMs: CALL_DEADLINE_MS });
      const version = Number(res.version!.version);
      const versions = acked.get(name)!;
      if (versions.has(version) && versions.get(version) !== value) wrongReads.push(`${name} v${version} acknowledged twice with different values`);
      versions.set(version, value);
      ackTimes.get(name)!.push([performance.now(), version]);
    } else {
      const res = await client.getSecretValue({ name }, { timeoutMs: CALL_DEADLINE_MS });
      const version = Number(res.version);
      if (!attempted.get(name)!.has(res.value)) wrongReads.push(`${name}: a value never written`);
      const knownValue = acked.get(name)!.get(version);
      if (knownValue !== undefined && knownValue !== res.value) wrongReads.push(`${name} v${version}: another value than acknowledged`);
      const newest = Math.max(0, ...ackTimes.get(name)!.filter(([t]) => t < started).map(([, v]) => v));
      if (version < newest) staleReads.push(`${name}: v${version} read after v${newest} was acknowledged (${at})`);
    }
    outcomes.push({ phase: at, endPhase: phase, op: write ? "write" : "read", ok: true });
  } catch (err) {
    outcomes.push({ phase: at, endPhase: phase, op: write ? "write" : "read", ok: false, code: ConnectError.from(err).code });
  }
}

interface Fault {
  readonly name: string;
  inject(): Promise<void> | void;
  heal(): Promise<void> | void;
}

const faults: Fault[] = [
  { name: "Redis kill -9, restart", inject: () => redis.kill(), heal: () => redis.restart({ keepData: false }) },
  { name: "FerretDB kill -9, restart", inject: () => ferret.kill(), heal: () => ferret.restart() },
  { name: "KMS cut (connections reset, refused)", inject: () => kms.cut(), heal: () => kms.heal() },
  {
    name: "replica 0 kill -9, start again",
    inject: () => replicas[0]!.kill(),
    heal: async () => {
      replicas[0] = await startReplica();
    },
  },
  { name: "FerretDB paused (SIGSTOP), resumed", inject: () => ferret.pause(), heal: () => ferret.resume() },
  { name: "KMS stalled (accepted, never answered)", inject: () => kms.stall(), heal: () => kms.heal() },
];

/** Until a read and a write succeed on both replicas, three rounds in a row; the time it took. */
async function recovered(): Promise<number> {
  const from = performance.now();
  const lastErrors = new Map<number, string>();
  for (let good = 0; ; ) {
    const ok = await Promise.all(
      [0, 1].map(async (r) => {
        try {
          const name = NAMES[r]!;
          const value = `probe_${randomBytes(4).toString("hex")}`;
          attempted.get(name)!.add(value);
          const res = await clientOf(r).putSecretValue({ name, value }, { timeoutMs: CALL_DEADLINE_MS });
          acked.get(name)!.set(Number(res.version!.version), value);
          ackTimes.get(name)!.push([performance.now(), Number(res.version!.version)]);
          await clientOf(r).getSecretValue({ name: NAMES[r + 2]! }, { timeoutMs: CALL_DEADLINE_MS });
          return true;
        } catch (err) {
          lastErrors.set(r, err instanceof ConnectError ? `${Code[err.code]}: ${err.rawMessage}` : String(err));
          return false;
        }
      }),
    );
    good = ok.every(Boolean) ? good + 1 : 0;
    if (good === 3) return performance.now() - from;
    if (performance.now() - from > RECOVERY_LIMIT_MS) {
      // What the replicas said last (their log lines carry no value), to tell a wedge from an outage.
      for (const [i, r] of replicas.entries()) console.error(`replica ${i} log tail:\n${r.output().slice(-6_000)}`);
      throw new Error(`no recovery within ${RECOVERY_LIMIT_MS} ms after: ${phase}; last errors: ${[...lastErrors].map(([r, e]) => `replica ${r}: ${e}`).join("; ")}`);
    }
    await sleep(200);
  }
}

describe("faults under a steady mixed load, 2 replicas", () => {
  it(
    "each fault in turn: nothing acknowledged is lost, no wrong or stale read, recovery with no manual step",
    async () => {
      let running = true;
      const workers = Array.from({ length: CLIENTS }, async (_, c) => {
        for (let n = 0; running; n++) await oneCall(c, n);
      });
      const recovery = new Map<string, number>();
      await sleep(2_000);
      for (const fault of faults) {
        phase = fault.name;
        await fault.inject();
        await sleep(FAULT_MS);
        phase = `${fault.name}: recovering`;
        await fault.heal();
        recovery.set(fault.name, await recovered());
        phase = "steady";
        await sleep(1_000);
      }
      running = false;
      await Promise.all(workers);
      // Recovered for good: after the last fault, every call succeeds.
      phase = "after";
      for (let n = 0; n < 200; n++) await oneCall(n % CLIENTS, n);

      // The table: per fault window, calls attempted, succeeded, failed by code.
      const rows = faults.map((f) => {
        const during = outcomes.filter((o) => o.phase === f.name || o.phase === `${f.name}: recovering`);
        const failedBy = new Map<string, number>();
        for (const o of during.filter((o) => !o.ok)) failedBy.set(Code[o.code!] ?? String(o.code), (failedBy.get(Code[o.code!] ?? String(o.code)) ?? 0) + 1);
        // Reads answered while the fault was still in place (begun and ended in it).
        const readsOk = during.filter((o) => o.op === "read" && o.ok && o.phase === f.name && o.endPhase === f.name).length;
        return { fault: f.name, attempted: during.length, succeeded: during.filter((o) => o.ok).length, readsOk, failed: Object.fromEntries(failedBy), recoverMs: Math.round(recovery.get(f.name)!) };
      });
      console.log(
        [
          "| fault | attempted | succeeded (reads answered during the fault) | failed, by code | recovered in |",
          "|---|---|---|---|---|",
          ...rows.map((r) => `| ${r.fault} | ${r.attempted} | ${r.succeeded} (${r.readsOk}) | ${Object.entries(r.failed).map(([c, n]) => `${c} ${n}`).join(", ") || "none"} | ${(r.recoverMs / 1000).toFixed(1)} s |`),
          `between faults (the second after each recovery): ${outcomes.filter((o) => o.phase === "steady").length} calls, ${outcomes.filter((o) => o.phase === "steady" && !o.ok).length} failed (${[...new Set(outcomes.filter((o) => o.phase === "steady" && !o.ok).map((o) => Code[o.code!]))].join(", ") || "none"}); after the last: ${outcomes.filter((o) => o.phase === "after" && o.ok).length} of 200 succeeded; wrong reads ${wrongReads.length}, stale reads ${staleReads.length}`,
        ].join("\n"),
      );

      // Failures are fast and retryable, never INTERNAL or UNKNOWN; outside the faults nothing fails.
      const failureCodes = new Set(outcomes.filter((o) => !o.ok).map((o) => o.code));
      // ABORTED: a write that waited out another writer's claim (a killed replica's, until its lease ends).
      for (const code of failureCodes) expect([Code.Unavailable, Code.DeadlineExceeded, Code.Aborted, Code.Canceled], `failure code ${Code[code!]}`).toContain(code);
      // CANCELED only in the recovery tail (seen once there, in a CI run with both cores saturated:
      // a stream reset while a replica caught up), never while a fault is in place.
      expect(outcomes.filter((o) => o.code === Code.Canceled && o.phase !== "steady")).toEqual([]);
      expect(outcomes.filter((o) => !o.ok && (o.phase === "warm-up" || o.phase === "after"))).toEqual([]);
      expect(outcomes.filter((o) => o.phase === "after" && o.ok)).toHaveLength(200);
      // With KMS down, reads served from the cache went on. (With FerretDB down they wait or fail:
      // the audit trail, in the same database, fails closed. docs/RELIABILITY.md.)
      for (const r of rows.filter((r) => /^KMS/.test(r.fault))) expect(r.readsOk, r.fault).toBeGreaterThan(0);
      expect(wrongReads).toEqual([]);
      expect(staleReads).toEqual([]);

      // Every acknowledged write is readable with its exact value; no version number is doubled or
      // skipped (a CI run once found a gap: a writer undid a version another had rolled forward, fixed
      // in core/secret-mutation.ts, test/integration/write-races.test.ts).
      const reader = clientOf(1);
      const gaps: string[] = [];
      for (const name of NAMES) {
        const versions = (await reader.listSecretVersions({ name, pageSize: 1_000 })).versions.map((v) => Number(v.version));
        expect(new Set(versions).size, name).toBe(versions.length);
        expect(versions, name).toEqual([...versions].sort((a, b) => b - a));
        const latest = Math.max(...versions);
        for (let v = 1; v <= latest; v++) if (!versions.includes(v)) gaps.push(`${name} v${v}`);
        for (const [version, value] of acked.get(name)!) expect((await reader.getSecretValue({ name, version: BigInt(version) })).value, `${name} v${version}`).toBe(value);
      }
      expect(gaps).toEqual([]);
    },
    900_000,
  );
});
