import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintToken } from "../../src/auth/dev-token.js";
import { connectGrpcClient } from "../helpers/clients.js";
import type { Secrets } from "../helpers/lifecycle.js";
import { startRedisCluster, type RedisCluster } from "../helpers/redis-cluster.js";
import { cacheCounts, countsSince, scanKeys, startReplicas, warningSummary, type CacheCounts, type ReplicaProcess } from "../helpers/replicas.js";
import { dropDatabase, freshDbName, mongoUriFor } from "../helpers/services.js";

// The value cache of two real service processes (src/main.ts) on a 3-master Redis Cluster of this
// file's own (scripts/services.sh cluster-up), sharing one FerretDB database:
// - read-after-write across replicas: a write on either replica is read back at once on the other,
//   exactly, never the older value, over secrets on every master; hot reads hit the cache; the
//   cluster holds no plaintext;
// - one master killed -9 under a steady mixed load (6 clients, both replicas, 80% GetSecretValue, 10%
//   BatchGetSecretValues, 10% PutSecretValue), the load going on while it is down, then restarted
//   (services.sh cluster-up, which waits for cluster_state:ok; the master comes back from its AOF, with
//   the generation tokens and entries it held): no call fails, and no read returns a version older
//   than one acknowledged more than CACHE_MAX_STALENESS_MS before the read began (the bound of
//   docs/ARCHITECTURE.md "The value cache"). Reads older than the newest acknowledged write, within
//   the bound, are counted and printed. The table goes to docs/RELIABILITY.md "Redis Cluster".
// No verdict depends on speed: phases last until what they need has happened (bounded), durations
// are printed, never judged.

/** CACHE_MAX_STALENESS_MS of the replicas: the bound a read's staleness is judged against. */
const MAX_STALENESS_MS = 1_000;
/** Safety nets against a hang, never verdicts on speed. */
const CALL = { timeoutMs: 30_000 };
const PHASE_LIMIT_MS = 120_000;
const TEST_TIMEOUT_MS = 600_000;
/** How long the load goes on with the master dead, before it is restarted (beyond the 3 s node timeout, so the cluster marks it failed). */
const DOWN_MS = Number(process.env.CLUSTER_MASTER_DOWN_MS ?? 5_000);
const CLIENTS = 6;

let cluster: RedisCluster | undefined;
const replicas: ReplicaProcess[] = [];
let db: string | undefined;
let jwtSecret: string;
/** Every value written (or attempted) by this file, for the plaintext scan. */
const written: string[] = [];

const hex = () => randomBytes(12).toString("hex");
const newValue = (prefix: string) => {
  const value = `${prefix}-${hex()}`;
  written.push(value);
  return value;
};
const clientsFor = async (developer: string): Promise<Secrets[]> => {
  const token = await mintToken(jwtSecret, { sub: `user-${developer}`, developer_id: developer, expiresIn: "2h" });
  return replicas.map((r) => connectGrpcClient(r.proc.baseUrl, token));
};
const allCounts = () => Promise.all(replicas.map((r) => cacheCounts(r)));
const deltas = (now: CacheCounts[], before: CacheCounts[]) => now.map((c, i) => countsSince(c, before[i]!));
const codeName = (err: unknown) => Code[ConnectError.from(err).code] ?? String(ConnectError.from(err).code);

/** The master (port) serving each secret's keys: its generation token's slot (one slot per secret). */
async function mastersOf(developer: string, names: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const name of names) out.set(name, await cluster!.masterOf(`sc:{${developer}|${name}}:g`));
  return out;
}

beforeAll(async () => {
  cluster = await startRedisCluster("replicas");
  db = freshDbName("redis_cluster");
  jwtSecret = randomBytes(32).toString("base64url");
  const env = {
    PORT: "0",
    STORE: "mongodb",
    MONGODB_URI: mongoUriFor(db),
    KEY_PROVIDER: "local",
    LOCAL_MASTER_KEY: randomBytes(32).toString("base64"),
    AUTH_JWT_SECRET: jwtSecret,
    REDIS_URL: cluster.url,
    CHANGE_CHANNEL: `sc:changes:test:${randomBytes(6).toString("hex")}`,
    CACHE_TTL_SECONDS: "60",
    CACHE_MAX_STALENESS_MS: String(MAX_STALENESS_MS),
    SWEEP_INTERVAL_MS: "3600000",
    // "info": the "listening" line (which carries the port) is an info line.
    LOG_LEVEL: "info",
  };
  await startReplicas(2, env, (r) => replicas.push(r));
  replicas.sort((a, b) => a.index - b.index);
  for (const r of replicas) expect(r.listening, `replica ${r.index}`).toMatchObject({ cache: "redis", store: "mongodb" });
}, 300_000);

afterAll(async () => {
  for (const r of replicas) {
    const file = path.join(tmpdir(), `redis-cluster-replica${r.index}-${process.pid}.log`);
    await writeFile(file, r.proc.output()).catch(() => {});
    console.log(`replica ${r.index} warnings: ${JSON.stringify(warningSummary(r.proc))}; output in ${file}`);
  }
  await Promise.allSettled(replicas.map((r) => r.proc.kill()));
  await cluster?.stop();
  if (db) await dropDatabase(db);
}, 300_000);

describe("the value cache of two replicas on a Redis Cluster", () => {
  it("a write on either replica is read at once on the other, exactly; hot reads hit the cache", { timeout: TEST_TIMEOUT_MS }, async () => {
    const developer = "rc-rounds";
    const clients = await clientsFor(developer);
    const names = Array.from({ length: 12 }, (_, i) => `rounds_${i}`);
    const current = new Map<string, { value: string; version: bigint }>();
    for (const name of names) {
      const value = newValue("init");
      const res = await clients[0]!.createSecret({ name, value }, CALL);
      current.set(name, { value, version: res.secret!.latestVersion });
    }
    const masters = await mastersOf(developer, names);
    expect(new Set(masters.values()).size, "the secrets sit on every master").toBe(3);

    const wrong: string[] = [];
    const before = await allCounts();
    const ROUNDS = 120;
    for (let round = 0; round < ROUNDS; round++) {
      const name = names[round % names.length]!;
      const writer = round % 2;
      const reader = 1 - writer;
      // Both replicas hold the current value first (in both cache layers).
      for (const client of clients) {
        const got = await client.getSecretValue({ name }, CALL);
        if (got.value !== current.get(name)!.value) wrong.push(`round ${round}: before the write, ${name} read ${got.value}`);
      }
      const value = newValue(`round-${round}`);
      const put = await clients[writer]!.putSecretValue({ name, value }, CALL);
      current.set(name, { value, version: put.version!.version });
      const got = await clients[reader]!.getSecretValue({ name }, CALL);
      if (got.value !== value || got.version !== put.version!.version) {
        wrong.push(`round ${round}: replica ${reader} read ${name} v${got.version} ${got.value} right after replica ${writer} acknowledged v${put.version!.version} ${value}`);
      }
      if (round % 6 === 0) {
        const batch = await clients[reader]!.batchGetSecretValues({ names }, CALL);
        if (batch.errors.length) wrong.push(`round ${round}: batch errors ${JSON.stringify(batch.errors.map((e) => [e.name, e.code]))}`);
        for (const v of batch.values) if (v.value !== current.get(v.name)!.value) wrong.push(`round ${round}: batch on replica ${reader}: ${v.name} ${v.value}, expected ${current.get(v.name)!.value}`);
      }
    }
    const rounds = deltas(await allCounts(), before);

    // Hot reads: nothing written meanwhile, every replica reads every secret a few times.
    const hotBefore = await allCounts();
    for (let i = 0; i < 3; i++) {
      for (const [r, client] of clients.entries()) {
        for (const name of names) {
          const got = await client.getSecretValue({ name }, CALL);
          if (got.value !== current.get(name)!.value) wrong.push(`hot read ${i} on replica ${r}: ${name} ${got.value}`);
        }
      }
    }
    const hot = deltas(await allCounts(), hotBefore);
    console.log(
      `Cluster read-after-write: ${ROUNDS} rounds over ${names.length} secrets on masters ${[...new Set(masters.values())].join(", ")}, ${wrong.length} wrong reads; ` +
        `cache hits/misses/errors per replica: rounds ${rounds.map((u) => `${u.hits}/${u.misses}/${u.errors}`).join(", ")}; ` +
        `hot reads (${names.length * 3} each) ${hot.map((u) => `${u.hits}/${u.misses}/${u.errors}`).join(", ")}`,
    );
    expect(wrong).toEqual([]);
    for (const [i, u] of rounds.entries()) expect(u.hits, `cache hits on replica ${i} during the rounds`).toBeGreaterThan(0);
    for (const [i, u] of hot.entries()) expect(u.hits, `cache hits on replica ${i} in the hot reads`).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------
// One master killed -9 under load.

interface Outcome {
  readonly phase: string;
  readonly op: "get" | "batch" | "put";
  readonly failed?: string;
}

describe("one master of three killed -9 under a steady mixed load", () => {
  it("no call fails, no read is staler than the bound; the master restarts and the cache serves again", { timeout: TEST_TIMEOUT_MS }, async () => {
    const developer = "rc-load";
    const clients = await clientsFor(developer);
    const names = Array.from({ length: 18 }, (_, i) => `load_${i}`);
    /** name -> version -> value, acknowledged. */
    const acked = new Map<string, Map<number, string>>();
    /** name -> every value a write was attempted with. */
    const attempted = new Map<string, Set<string>>();
    /** name -> [performance.now() when acknowledged, version], in acknowledgement order. */
    const ackTimes = new Map<string, [number, number][]>();
    for (const name of names) {
      const value = newValue("load-init");
      const res = await clients[0]!.createSecret({ name, value }, CALL);
      const version = Number(res.secret!.latestVersion);
      acked.set(name, new Map([[version, value]]));
      attempted.set(name, new Set([value]));
      ackTimes.set(name, [[performance.now(), version]]);
    }
    const masters = await mastersOf(developer, names);
    // The master the change feed publishes through (the first by address): the hardest one to lose.
    const victim = [...cluster!.ports].sort((a, b) => `127.0.0.1:${a}`.localeCompare(`127.0.0.1:${b}`))[0]!;
    const onVictim = names.filter((n) => masters.get(n) === victim);
    expect(onVictim.length, "secrets on the master to be killed").toBeGreaterThan(1);
    expect(names.length - onVictim.length, "secrets on the other masters").toBeGreaterThan(1);

    let phase = "before";
    const outcomes: Outcome[] = [];
    const wrongReads: string[] = [];
    const staleReads: string[] = [];
    /** Per phase: reads older than the newest write acknowledged before they began (within the bound, else also stale). */
    const olderReads = new Map<string, number>();
    const readsChecked = new Map<string, number>();

    const judge = (name: string, version: number, value: string, startedAt: number, at: string) => {
      readsChecked.set(at, (readsChecked.get(at) ?? 0) + 1);
      if (!attempted.get(name)!.has(value)) wrongReads.push(`${name} v${version}: a value never written (${at})`);
      const known = acked.get(name)!.get(version);
      if (known !== undefined && known !== value) wrongReads.push(`${name} v${version}: another value than the one acknowledged (${at})`);
      const times = ackTimes.get(name)!;
      const newestBefore = (t: number) => times.reduce((max, [ackAt, v]) => (ackAt <= t && v > max ? v : max), 0);
      const newest = newestBefore(startedAt);
      if (version < newest) olderReads.set(at, (olderReads.get(at) ?? 0) + 1);
      const bound = newestBefore(startedAt - MAX_STALENESS_MS);
      if (version < bound) staleReads.push(`${name}: v${version} read on ${at}, though v${bound} was acknowledged more than ${MAX_STALENESS_MS} ms before the read began`);
    };

    const pick = () => names[Math.floor(Math.random() * names.length)]!;
    async function oneCall(c: number, n: number): Promise<void> {
      const client = clients[(c + n) % 2]!;
      const at = phase;
      const dice = Math.random();
      const op: Outcome["op"] = dice < 0.1 ? "put" : dice < 0.2 ? "batch" : "get";
      const startedAt = performance.now();
      try {
        if (op === "put") {
          const name = pick();
          const value = newValue("load");
          attempted.get(name)!.add(value);
          const res = await client.putSecretValue({ name, value }, CALL);
          const version = Number(res.version!.version);
          const versions = acked.get(name)!;
          if (versions.has(version) && versions.get(version) !== value) wrongReads.push(`${name} v${version} acknowledged twice with different values`);
          versions.set(version, value);
          ackTimes.get(name)!.push([performance.now(), version]);
        } else if (op === "get") {
          const name = pick();
          const res = await client.getSecretValue({ name }, CALL);
          judge(name, Number(res.version), res.value, startedAt, at);
        } else {
          const wanted = [...new Set([pick(), pick(), pick()])];
          const res = await client.batchGetSecretValues({ names: wanted }, CALL);
          if (res.errors.length) throw new Error(`batch entries failed: ${res.errors.map((e) => `${e.name} ${Code[e.code] ?? e.code}`).join(", ")}`);
          for (const v of res.values) judge(v.name, Number(v.version), v.value, startedAt, at);
        }
        outcomes.push({ phase: at, op });
      } catch (err) {
        outcomes.push({ phase: at, op, failed: err instanceof ConnectError ? codeName(err) : `batch entry (${String(err).slice(0, 200)})` });
      }
    }

    let running = true;
    const workers = Array.from({ length: CLIENTS }, async (_, c) => {
      for (let n = 0; running; n++) await oneCall(c, n);
    });
    const callsIn = (p: string) => outcomes.filter((o) => o.phase === p).length;
    /** Until `condition` holds, bounded: a phase lasts as long as what it must show takes. */
    const holdUntil = async (what: string, condition: () => Promise<boolean>) => {
      const giveUpAt = Date.now() + PHASE_LIMIT_MS;
      while (!(await condition())) {
        if (Date.now() > giveUpAt) throw new Error(`${phase}: ${what} did not happen within ${PHASE_LIMIT_MS} ms`);
        await sleep(100);
      }
    };
    const phaseCounts = new Map<string, CacheCounts[]>();
    const bothHitSince = (since: CacheCounts[]) => async () => deltas(await allCounts(), since).every((d) => d.hits > 0);
    let downMs = 0;
    let restartMs = 0;
    let failure: unknown;
    try {
      // Before: a warm cache on both replicas.
      let since = await allCounts();
      await sleep(2_000);
      await holdUntil("cache hits on both replicas and 300 calls", async () => callsIn("before") >= 300 && (await bothHitSince(since)()));
      phaseCounts.set("before", deltas(await allCounts(), since));

      // Down: the master is killed and stays dead while the load goes on.
      since = await allCounts();
      phase = "master down";
      const killedAt = performance.now();
      await cluster!.kill(victim);
      await sleep(DOWN_MS);
      await holdUntil("calls during the outage", async () => callsIn("master down") >= 100);
      phaseCounts.set("master down", deltas(await allCounts(), since));

      // Restarting: services.sh cluster-up starts the node (from its AOF) and waits until the cluster is healthy.
      since = await allCounts();
      phase = "restarting";
      const restartAt = performance.now();
      await cluster!.up();
      restartMs = performance.now() - restartAt;
      downMs = performance.now() - killedAt;
      phaseCounts.set("restarting", deltas(await allCounts(), since));

      // After: the cache serves both replicas again.
      since = await allCounts();
      phase = "after";
      await sleep(2_000);
      await holdUntil("cache hits on both replicas and 300 calls", async () => callsIn("after") >= 300 && (await bothHitSince(since)()));
      phaseCounts.set("after", deltas(await allCounts(), since));
    } catch (err) {
      failure = err;
    } finally {
      running = false;
      await Promise.all(workers);
      // Leave the cluster whole for the next test file run's sake (stop() follows in afterAll anyway).
      if (!(await cluster!.healthy())) await cluster!.up().catch(() => {});
    }

    const phases = ["before", "master down", "restarting", "after"];
    const failedBy = (p: string) => {
      const by = new Map<string, number>();
      for (const o of outcomes.filter((o) => o.phase === p && o.failed)) by.set(o.failed!, (by.get(o.failed!) ?? 0) + 1);
      return [...by].map(([code, n]) => `${code} ${n}`).join(", ") || "none";
    };
    const ops = (p: string) => {
      const of = (op: Outcome["op"]) => outcomes.filter((o) => o.phase === p && o.op === op).length;
      return `${of("get")} / ${of("batch")} / ${of("put")}`;
    };
    const cacheCell = (p: string) => phaseCounts.get(p)?.map((d) => `${d.hits}/${d.misses}/${d.errors}`).join(", ") ?? "-";
    console.log(
      [
        `Redis Cluster master kill: ${CLIENTS} clients, 2 replicas, ${names.length} secrets (${onVictim.length} on the killed master ${victim}); ` +
          `master down ${(downMs / 1000).toFixed(1)} s (kill -9 to cluster_state:ok again; cluster-up took ${(restartMs / 1000).toFixed(1)} s of it)`,
        "| phase | calls (get / batch / put) | failed, by code | reads checked | older than the newest acknowledged write (within the bound) | stale beyond the bound | cache hits/misses/errors, replica 0, replica 1 |",
        "|---|---|---|---|---|---|---|",
        ...phases.map((p) => `| ${p} | ${callsIn(p)} (${ops(p)}) | ${failedBy(p)} | ${readsChecked.get(p) ?? 0} | ${olderReads.get(p) ?? 0} | ${staleReads.filter((s) => s.includes(`read on ${p},`)).length} | ${cacheCell(p)} |`),
        `total: ${outcomes.length} calls, ${outcomes.filter((o) => o.failed).length} failed, ${wrongReads.length} wrong reads, ${staleReads.length} stale reads`,
      ].join("\n"),
    );
    if (failure) {
      console.log(`cluster node logs:\n${await cluster!.logTails()}`);
      throw failure;
    }
    expect(outcomes.filter((o) => o.failed)).toEqual([]);
    expect(wrongReads).toEqual([]);
    expect(staleReads).toEqual([]);
    for (const p of ["before", "after"]) for (const [i, d] of phaseCounts.get(p)!.entries()) expect(d.hits, `cache hits on replica ${i}, ${p}`).toBeGreaterThan(0);

    // Every acknowledged write reads back with its value, at its version; the latest is current on both replicas.
    for (const name of names) {
      for (const [version, value] of acked.get(name)!) expect((await clients[1]!.getSecretValue({ name, version: BigInt(version) }, CALL)).value, `${name} v${version}`).toBe(value);
      const latest = Math.max(...acked.get(name)!.keys());
      for (const [r, client] of clients.entries()) expect(Number((await client.getSecretValue({ name }, CALL)).version), `${name} latest on replica ${r}`).toBe(latest);
    }
  });
});

// Last, so that it covers every value written above.
describe("what the cluster holds", () => {
  it("no key or value on any master contains a value written by these tests", { timeout: TEST_TIMEOUT_MS }, async () => {
    const needles = written.flatMap((v) => [v, /[0-9a-f]{24}$/.exec(v)![0]]);
    const holders: string[] = [];
    let keys = 0;
    let entries = 0;
    for (const port of cluster!.ports) {
      const node = cluster!.node(port);
      try {
        for (const key of await scanKeys(node, "sc:*")) {
          const value = await node.getBuffer(key).catch(() => null);
          if (value === null) continue; // expired between SCAN and GET
          keys++;
          if (key.includes(":e:")) entries++;
          for (const needle of needles) if (key.includes(needle) || value.includes(needle)) holders.push(`${port} ${key} holds ${needle}`);
        }
      } finally {
        node.disconnect();
      }
    }
    console.log(`Cluster scan: ${keys} keys, ${entries} value entries, checked against ${written.length} values written`);
    expect(holders).toEqual([]);
    expect(entries).toBeGreaterThan(0);
  });
});
