import { randomBytes } from "node:crypto";
import { copyFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { mintToken } from "../../src/auth/dev-token.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { startRedisProcess, type RedisProcess } from "../helpers/redis-process.js";
import {
  cacheCounts,
  countsSince,
  scanKeys,
  startReplicas,
  warnings,
  warningSummary,
  withRedis,
  type CacheCounts,
  type ReplicaProcess,
} from "../helpers/replicas.js";
import { dropDatabase, freshDbName, mongoUriFor } from "../helpers/services.js";

// The value cache across three real replicas (src/main.ts processes) sharing one FerretDB database
// and one private Redis: a write on one replica is read at once on the others, through Redis kills,
// restarts (empty and from old persisted data) and a hang, within the staleness bound; Redis holds
// no plaintext; tenants stay apart. See the header of src/core/value-cache.ts for the design.

/** CACHE_MAX_STALENESS_MS of the replicas: the bound a read's staleness is judged against. */
const MAX_STALENESS_MS = 1_000;
/** Safety nets against a hang, never verdicts on speed: generous for a busy machine. */
const TEST_TIMEOUT_MS = 600_000;
const CALL = { timeoutMs: 60_000 };
/** How long a fault may wait for its precondition (e.g. "every replica uses the cache again"). */
const PRECONDITION_WITHIN_MS = 120_000;

type Secrets = Client<typeof SecretsService>;
type Result = string;
/** What a read returns for a secret that is deleted (a value is always `...-<hex>`). */
const NOT_FOUND: Result = "<NOT_FOUND>";

let redis: RedisProcess | undefined;
const replicas: ReplicaProcess[] = [];
let db: string | undefined;
let jwtSecret: string;
/** Every value written by this file (attempted writes too), and its random part, for the Redis scan. */
const written: string[] = [];

const hex = () => randomBytes(12).toString("hex");
const newValue = (prefix: string) => {
  const value = `${prefix}-${hex()}`;
  written.push(value);
  return value;
};
const tokenFor = (developer: string) => mintToken(jwtSecret, { sub: `user-${developer}`, developer_id: developer });
const clientsFor = (token: string): Secrets[] => replicas.map((r) => connectGrpcClient(r.proc.baseUrl, token));

beforeAll(async () => {
  db = freshDbName("cache_replicas");
  redis = await startRedisProcess({ persist: true });
  jwtSecret = randomBytes(32).toString("base64url");
  const env = {
    PORT: "0",
    STORE: "mongodb",
    MONGODB_URI: mongoUriFor(db),
    KEY_PROVIDER: "local",
    LOCAL_MASTER_KEY: randomBytes(32).toString("base64"),
    AUTH_JWT_SECRET: jwtSecret,
    REDIS_URL: redis.url,
    CACHE_TTL_SECONDS: "30",
    CACHE_MAX_STALENESS_MS: String(MAX_STALENESS_MS),
    // "info", not "warn": the "listening" line (which carries the port) is an info line.
    LOG_LEVEL: "info",
  };
  await startReplicas(3, env, (r) => replicas.push(r));
  replicas.sort((a, b) => a.index - b.index);
  for (const r of replicas) expect(r.listening, `replica ${r.index}`).toMatchObject({ cache: "redis", store: "mongodb", keys: "local" });
}, 300_000);

afterAll(async () => {
  for (const r of replicas) {
    // The whole output of every replica stays in a file for a look afterwards.
    const file = path.join(tmpdir(), `cache-replicas-replica${r.index}-${process.pid}.log`);
    await writeFile(file, r.proc.output()).catch(() => {});
    console.log(`replica ${r.index} warnings: ${JSON.stringify(warningSummary(r.proc))}; output in ${file}`);
  }
  await Promise.allSettled(replicas.map((r) => r.proc.kill()));
  redis?.resume();
  await redis?.stop();
  if (db) await dropDatabase(db);
}, 120_000);

// ---------------------------------------------------------------------------------------------
// What each secret's value was, write by write, and the verdict on a read.

interface State {
  readonly result: Result;
  /** performance.now() when the call that made it returned. */
  readonly ackAt: number;
  readonly round: number;
  readonly what: string;
}

interface Verdict {
  readonly ok: boolean;
  readonly reason?: string;
  /** Older than the newest write acknowledged when the read started (within the bound or not). */
  readonly older: boolean;
}

class Histories {
  private readonly states = new Map<string, State[]>();

  push(name: string, state: State): void {
    const list = this.states.get(name) ?? [];
    list.push(state);
    this.states.set(name, list);
  }

  current(name: string): Result {
    return this.states.get(name)!.at(-1)!.result;
  }

  /**
   * A read that started at `startAt` and returned `result`: it reflects the newest state with that
   * result (j); it is too stale if a later state (k > j) was acknowledged more than the bound before
   * the read started, and wrong if no state ever had that result.
   */
  judge(name: string, result: Result, startAt: number): Verdict {
    const list = this.states.get(name) ?? [];
    let j = -1;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i]!.result === result) {
        j = i;
        break;
      }
    }
    let newestAcked = -1;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i]!.ackAt <= startAt) {
        newestAcked = i;
        break;
      }
    }
    if (j === -1) return { ok: false, reason: "a value that was never written", older: true };
    const older = j < newestAcked;
    const next = list[j + 1];
    if (next && next.ackAt < startAt - MAX_STALENESS_MS) {
      const late = Math.round(startAt - next.ackAt);
      return { ok: false, older, reason: `the state of round ${list[j]!.round} (${list[j]!.what}), while round ${next.round} (${next.what}) had been acknowledged ${late} ms before the read started` };
    }
    return { ok: true, older };
  }
}

// ---------------------------------------------------------------------------------------------
// The write-then-read loop.

interface Problem {
  readonly kind: "rpc error" | "mismatch" | "stale" | "wrong value" | "loop";
  readonly round: number;
  readonly phase: string;
  readonly replica: number;
  readonly method: string;
  readonly name: string;
  readonly detail: string;
}

interface Loop {
  readonly label: string;
  readonly names: readonly string[];
  /** One client per replica, for the loop's developer. */
  readonly clients: readonly Secrets[];
  readonly history: Histories;
  /** Per secret, its versions in order, with the value each holds. */
  readonly versions: Map<string, { version: bigint; value: string }[]>;
  /** Every read must equal the newest acknowledged state at once (no faults), beyond the bound check. */
  readonly strict: boolean;
  phase: string;
  readonly problems: Problem[];
  reads: number;
  olderReads: number;
  /** Milliseconds spent in mutations, for the summary line (never asserted). */
  writeMs: number;
  writes: number;
}

type Mutation = "put" | "disable" | "enable" | "delete" | "restore";

/** Mostly PutSecretValue; once per 50 rounds the newest version is disabled, enabled back, the secret deleted and restored. */
function mutationFor(round: number): Mutation {
  switch (round % 50) {
    case 10:
      return "disable";
    case 20:
      return "enable";
    case 30:
      return "delete";
    case 40:
      return "restore";
    default:
      return "put";
  }
}

/** Rounds 10, 20, 30, 40 of a block of 50 all touch the same secret (and no put touches it between). */
const targetFor = (round: number, names: readonly string[]) => names[(round + Math.floor(round / 50)) % names.length]!;

async function newLoop(label: string, developer: string, strict: boolean, phase: string): Promise<Loop> {
  const clients = clientsFor(await tokenFor(developer));
  const names = Array.from({ length: 10 }, (_, i) => `${label}_secret_${i}`);
  const loop: Loop = { label, names, clients, history: new Histories(), versions: new Map(), strict, phase, problems: [], reads: 0, olderReads: 0, writeMs: 0, writes: 0 };
  for (const name of names) {
    const value = newValue(`${label}-init`);
    const created = await clients[0]!.createSecret({ name, value }, CALL);
    loop.versions.set(name, [{ version: created.secret!.latestVersion, value }]);
    loop.history.push(name, { result: value, ackAt: performance.now(), round: -1, what: "create" });
  }
  return loop;
}

async function getValue(client: Secrets, name: string): Promise<Result> {
  try {
    return (await client.getSecretValue({ name }, CALL)).value;
  } catch (err) {
    if (ConnectError.from(err).code === Code.NotFound) return NOT_FOUND;
    throw err;
  }
}

async function batchValues(client: Secrets, names: readonly string[]): Promise<Map<string, Result>> {
  const res = await client.batchGetSecretValues({ names: [...names] }, CALL);
  const out = new Map<string, Result>();
  for (const v of res.values) out.set(v.name, v.value);
  for (const e of res.errors) {
    if (e.code !== Code.NotFound) throw new Error(`batch entry "${e.name}": code ${Code[e.code] ?? e.code}: ${e.message}`);
    out.set(e.name, NOT_FOUND);
  }
  const missing = names.filter((n) => !out.has(n));
  if (missing.length) throw new Error(`batch answered nothing for ${missing.join(", ")}`);
  return out;
}

const describeError = (err: unknown) => (err instanceof ConnectError ? `${Code[err.code]}: ${err.rawMessage}` : String(err));

async function read(loop: Loop, round: number, replica: number, method: "GetSecretValue" | "BatchGetSecretValues", name: string): Promise<void> {
  const client = loop.clients[replica]!;
  const phase = loop.phase;
  const startAt = performance.now();
  let results: Map<string, Result>;
  try {
    results = method === "GetSecretValue" ? new Map([[name, await getValue(client, name)]]) : await batchValues(client, loop.names);
  } catch (err) {
    loop.problems.push({ kind: "rpc error", round, phase, replica, method, name, detail: describeError(err) });
    return;
  }
  for (const [n, result] of results) {
    loop.reads++;
    const verdict = loop.history.judge(n, result, startAt);
    if (verdict.older) loop.olderReads++;
    if (!verdict.ok) loop.problems.push({ kind: verdict.reason!.startsWith("a value") ? "wrong value" : "stale", round, phase, replica, method, name: n, detail: `${JSON.stringify(result)}: ${verdict.reason}` });
    const expected = loop.history.current(n);
    if (loop.strict && result !== expected) {
      loop.problems.push({ kind: "mismatch", round, phase, replica, method, name: n, detail: `got ${JSON.stringify(result)}, expected ${JSON.stringify(expected)}` });
    }
  }
}

/** The round's mutation on replica 0; false when it failed (the loop cannot know the state then). */
async function mutate(loop: Loop, round: number, name: string, kind: Mutation): Promise<boolean> {
  const client = loop.clients[0]!;
  const versions = loop.versions.get(name)!;
  const newest = versions.at(-1)!;
  let result: Result;
  let call: () => Promise<unknown>;
  switch (kind) {
    case "put": {
      const value = newValue(`${loop.label}-round-${round}`);
      result = value;
      call = async () => {
        const res = await client.putSecretValue({ name, value }, CALL);
        versions.push({ version: res.version!.version, value });
      };
      break;
    }
    case "disable":
      // The latest value is then the previous version's.
      result = versions.at(-2)!.value;
      call = () => client.disableSecretVersion({ name, version: newest.version }, CALL);
      break;
    case "enable":
      result = newest.value;
      call = () => client.enableSecretVersion({ name, version: newest.version }, CALL);
      break;
    case "delete":
      result = NOT_FOUND;
      call = () => client.deleteSecret({ name, recoveryWindowDays: 7 }, CALL);
      break;
    case "restore":
      result = newest.value;
      call = () => client.restoreSecret({ name }, CALL);
      break;
  }
  const phase = loop.phase;
  const startAt = performance.now();
  try {
    await call();
  } catch (err) {
    loop.problems.push({ kind: "rpc error", round, phase, replica: 0, method: kind, name, detail: describeError(err) });
    return false;
  }
  const ackAt = performance.now();
  loop.writes++;
  loop.writeMs += ackAt - startAt;
  loop.history.push(name, { result, ackAt, round, what: kind });
  return true;
}

/**
 * One round: every replica reads the target (so each holds its current value), replica 0 mutates it
 * (with `fault` started alongside), and as soon as that returns replicas 1 and 2 read it (every 10th
 * round also a batch of all names). False when the mutation failed.
 */
async function runRound(loop: Loop, round: number, fault?: () => Promise<void>): Promise<boolean> {
  const name = targetFor(round, loop.names);
  await Promise.all(loop.clients.map((_, r) => read(loop, round, r, "GetSecretValue", name)));
  const faultDone = fault?.();
  const ok = await mutate(loop, round, name, mutationFor(round));
  if (ok) {
    const reads = [1, 2].map((r) => read(loop, round, r, "GetSecretValue", name));
    if (round % 10 === 0) reads.push(...[1, 2].map((r) => read(loop, round, r, "BatchGetSecretValues", name)));
    await Promise.all(reads);
  }
  await faultDone;
  return ok;
}

const allCounts = () => Promise.all(replicas.map((r) => cacheCounts(r)));
const deltas = (now: CacheCounts[], before: CacheCounts[]) => now.map((c, i) => countsSince(c, before[i]!));

/** On failure: every process's whole output in a file, and the first problems and warnings on the console. */
async function explain(loop: Loop): Promise<void> {
  if (loop.problems.length === 0) return;
  const files: string[] = [];
  for (const r of replicas) {
    const file = path.join(tmpdir(), `cache-replicas-${loop.label}-replica${r.index}-${process.pid}.log`);
    await writeFile(file, r.proc.output());
    files.push(file);
  }
  console.log(`${loop.label}: ${loop.problems.length} problems; first ones:\n${loop.problems.slice(0, 30).map((p) => JSON.stringify(p)).join("\n")}`);
  for (const r of replicas) console.log(`replica ${r.index} warnings (first 40):\n${warnings(r.proc).slice(0, 40).map((w) => JSON.stringify(w)).join("\n")}`);
  console.log(`full process output: ${files.join(" ")}`);
}

// ---------------------------------------------------------------------------------------------

describe("1,000 write-then-read rounds", () => {
  it("every read on the other replicas returns the value just written, exactly", { timeout: TEST_TIMEOUT_MS }, async () => {
    const loop = await newLoop("t1", "dev-rounds", true, "healthy");
    const before = await allCounts();
    const started = performance.now();
    let rounds = 0;
    for (let round = 0; round < 1_000; round++) {
      rounds++;
      if (!(await runRound(loop, round))) break;
    }
    const used = deltas(await allCounts(), before);
    console.log(
      `1,000 rounds: ${rounds} rounds, ${loop.reads} reads checked, ${loop.problems.length} problems, ${Math.round(performance.now() - started)} ms ` +
        `(mean mutation ${Math.round(loop.writeMs / Math.max(1, loop.writes))} ms); ` +
        `cache hits/misses/errors per replica: ${used.map((u) => `${u.hits}/${u.misses}/${u.errors}`).join(", ")}`,
    );
    await explain(loop);
    expect(loop.problems).toEqual([]);
    expect(rounds).toBe(1_000);
    // The cache was in play on every replica (else this would test the store alone).
    for (const [i, u] of used.entries()) expect(u.hits, `cache hits on replica ${i}`).toBeGreaterThan(0);
  });
});

describe("Redis killed and restarted mid-run while writes continue", () => {
  it("no call fails and no read is staler than the bound", { timeout: TEST_TIMEOUT_MS }, async () => {
    const server = redis!;
    const loop = await newLoop("t2", "dev-faults", false, "healthy");
    const redisState: { now: "up" | "down" | "paused" } = { now: "up" };
    let backup: { dump: string; copy: string } | undefined;
    let oldGenerations: { key: string; value: string | null }[] = [];
    let oldTokensBack = -1;
    let oldKeysBack = -1;

    const everyReplicaHit = (since: CacheCounts[]) => async () => (deltas(await allCounts(), since)).every((d) => d.hits > 0);
    const entriesExist = async () => (await withRedis(server.url, (r) => scanKeys(r, "sc:*:e:*"))).length > 0;

    interface Step {
      readonly at: number;
      readonly what: string;
      /** The phase from this step on (unchanged when undefined). */
      readonly phase?: string;
      /** What must have happened in the phase before the step runs: the loop goes on until it has. */
      readonly ready?: (since: CacheCounts[]) => () => Promise<boolean>;
      readonly action: () => Promise<void>;
    }
    const steps: Step[] = [
      {
        at: 20,
        what: "snapshot (the old persisted data)",
        ready: () => entriesExist,
        action: async () => {
          await server.snapshot();
          await withRedis(server.url, async (r) => {
            const dir = (await r.config("GET", "dir")) as string[];
            const dump = path.join(dir[1]!, "dump.rdb");
            // restart({ keepData: false }) deletes dump.rdb: keep a copy to restore from later.
            backup = { dump, copy: `${dump}.old` };
            await copyFile(backup.dump, backup.copy);
            const keys = (await scanKeys(r, "sc:*:g")).sort();
            const values = keys.length ? await r.mget(...keys) : [];
            oldGenerations = keys.map((key, i) => ({ key, value: values[i] ?? null }));
          });
        },
      },
      {
        at: 80,
        what: "kill",
        phase: "killed",
        ready: everyReplicaHit,
        action: async () => {
          redisState.now = "down";
          await server.kill();
        },
      },
      {
        at: 140,
        what: "restart empty",
        phase: "restarted empty",
        action: async () => {
          await server.restart({ keepData: false });
          redisState.now = "up";
        },
      },
      {
        at: 200,
        what: "kill",
        phase: "killed again",
        ready: everyReplicaHit,
        action: async () => {
          redisState.now = "down";
          await server.kill();
        },
      },
      {
        at: 260,
        what: "restart from the old snapshot",
        phase: "restarted from old snapshot",
        action: async () => {
          await copyFile(backup!.copy, backup!.dump);
          await server.restart({ keepData: true });
          redisState.now = "up";
          await withRedis(server.url, async (r) => {
            oldKeysBack = await r.dbsize();
            const now = oldGenerations.length ? await r.mget(...oldGenerations.map((g) => g.key)) : [];
            oldTokensBack = oldGenerations.filter((g, i) => g.value !== null && now[i] === g.value).length;
          });
        },
      },
      {
        at: 320,
        what: "pause",
        phase: "paused",
        ready: everyReplicaHit,
        action: async () => {
          redisState.now = "paused";
          server.pause();
        },
      },
      {
        at: 340,
        what: "resume",
        phase: "resumed",
        ready: (since) => async () => deltas(await allCounts(), since).some((d) => d.errors > 0),
        action: async () => {
          server.resume();
          redisState.now = "up";
        },
      },
      { at: 400, what: "end", ready: everyReplicaHit, action: async () => {} },
    ];

    const phases: Record<string, { rounds: number; hits: number; errors: number }> = {};
    let phaseStart = await allCounts();
    const closePhase = async () => {
      const d = deltas(await allCounts(), phaseStart);
      const p = (phases[loop.phase] ??= { rounds: 0, hits: 0, errors: 0 });
      p.hits += d.reduce((n, x) => n + x.hits, 0);
      p.errors += d.reduce((n, x) => n + x.errors, 0);
    };

    let round = 0;
    try {
      for (const step of steps) {
        // Rounds up to the step, and on until its precondition holds (bounded).
        let dueSince: number | undefined;
        for (;;) {
          if (round >= step.at) {
            if (!step.ready || (await step.ready(phaseStart)())) break;
            dueSince ??= Date.now();
            if (Date.now() - dueSince > PRECONDITION_WITHIN_MS) throw new Error(`"${step.what}" at round ${round}: its precondition did not hold within ${PRECONDITION_WITHIN_MS} ms`);
          }
          (phases[loop.phase] ??= { rounds: 0, hits: 0, errors: 0 }).rounds++;
          if (!(await runRound(loop, round++))) throw new Error(`a mutation failed in round ${round - 1}`);
        }
        if (step.what === "end") break;
        // The step starts alongside the round's write.
        if (step.phase) {
          await closePhase();
          loop.phase = step.phase;
        }
        (phases[loop.phase] ??= { rounds: 0, hits: 0, errors: 0 }).rounds++;
        if (!(await runRound(loop, round++, step.action))) throw new Error(`a mutation failed in round ${round - 1}`);
        if (step.phase) phaseStart = await allCounts();
      }
      await closePhase();
    } catch (err) {
      loop.problems.push({ kind: "loop", round, phase: loop.phase, replica: -1, method: "(loop)", name: "", detail: String(err) });
    } finally {
      // Leave Redis serving for the tests after this one.
      if (redisState.now === "paused") server.resume();
      if (redisState.now === "down") await server.restart({ keepData: false });
    }

    console.log(
      `Redis faults: ${round} rounds, ${loop.reads} reads checked, ${loop.olderReads} older than the newest acknowledged write, ` +
        `${loop.problems.length} problems; old snapshot: ${oldGenerations.length} generation tokens saved, ${oldTokensBack} back after the restart, ${oldKeysBack} keys loaded; ` +
        `per phase (rounds, cache hits, Redis errors): ${JSON.stringify(phases)}`,
    );
    await explain(loop);
    expect(loop.problems).toEqual([]);
    // The faults did what they claim: old tokens really came back, and every phase ran.
    expect(oldTokensBack).toBeGreaterThan(0);
    for (const phase of ["healthy", "killed", "restarted empty", "killed again", "restarted from old snapshot", "paused", "resumed"]) {
      expect(phases[phase]?.rounds, phase).toBeGreaterThan(0);
    }
  });
});

// Before the Redis scan, so that the scan also covers these values.
describe("tenant isolation through the cache", () => {
  it("two developers with the same secret name each see their own value on every replica; a third sees none", { timeout: TEST_TIMEOUT_MS }, async () => {
    const name = "tenant_shared_name";
    const devs = [
      { clients: clientsFor(await tokenFor("tenant-a")), value: newValue("tenant-a") },
      { clients: clientsFor(await tokenFor("tenant-b")), value: newValue("tenant-b") },
    ];
    const stranger = clientsFor(await tokenFor("tenant-c"));
    await devs[0]!.clients[0]!.createSecret({ name, value: devs[0]!.value }, CALL);
    await devs[1]!.clients[1]!.createSecret({ name, value: devs[1]!.value }, CALL);
    const before = await allCounts();
    const wrong: string[] = [];
    for (let i = 0; i < 300; i++) {
      const replica = i % 3;
      const dev = devs[i % 2]!;
      const who = `tenant-${i % 2 ? "b" : "a"} on replica ${replica} (iteration ${i})`;
      if (i % 50 === 25) {
        dev.value = newValue(`tenant-${i % 2 ? "b" : "a"}-${i}`);
        await dev.clients[(replica + 1) % 3]!.putSecretValue({ name, value: dev.value }, CALL);
      }
      const got = await getValue(dev.clients[replica]!, name);
      if (got !== dev.value) wrong.push(`${who}: GetSecretValue ${JSON.stringify(got)}, expected ${JSON.stringify(dev.value)}`);
      if (i % 7 === 0) {
        const batch = (await batchValues(dev.clients[replica]!, [name])).get(name);
        if (batch !== dev.value) wrong.push(`${who}: batch ${JSON.stringify(batch)}, expected ${JSON.stringify(dev.value)}`);
      }
      if (i % 10 === 0) {
        const seen = await getValue(stranger[replica]!, name);
        if (seen !== NOT_FOUND) wrong.push(`tenant-c on replica ${replica}: GetSecretValue ${JSON.stringify(seen)}`);
        const batch = await stranger[replica]!.batchGetSecretValues({ names: [name] }, CALL);
        if (batch.values.length || batch.errors.map((e) => e.code).join() !== String(Code.NotFound)) {
          wrong.push(`tenant-c on replica ${replica}: batch values ${JSON.stringify(batch.values.map((v) => v.value))}, errors ${JSON.stringify(batch.errors.map((e) => e.code))}`);
        }
      }
    }
    const used = deltas(await allCounts(), before);
    console.log(`tenant isolation: 300 reads, ${wrong.length} wrong; cache hits per replica: ${used.map((u) => u.hits).join(", ")}`);
    expect(wrong).toEqual([]);
    for (const [i, u] of used.entries()) expect(u.hits, `cache hits on replica ${i}`).toBeGreaterThan(0);
  });
});

describe("the Redis dump holds no plaintext", () => {
  it("no key or value in Redis contains any value written by these tests", { timeout: TEST_TIMEOUT_MS }, async () => {
    const needles = written.flatMap((v) => [v, /[0-9a-f]{24}$/.exec(v)![0]]);
    const { keys, entries, bytes, holders, otherTypes } = await withRedis(redis!.url, async (r) => {
      const keys = await scanKeys(r);
      const holders: string[] = [];
      const otherTypes: string[] = [];
      let entries = 0;
      let bytes = 0;
      for (const key of keys) {
        const type = await r.type(key);
        let values: Buffer[];
        if (type === "string") values = [(await r.getBuffer(key)) ?? Buffer.alloc(0)];
        else if (type === "hash") values = Object.entries(await r.hgetallBuffer(key)).flatMap(([k, v]) => [Buffer.from(k), v]);
        else if (type === "list") values = await r.lrangeBuffer(key, 0, -1);
        else if (type === "set") values = await r.smembersBuffer(key);
        else if (type === "zset") values = await r.zrangeBuffer(key, "0", "-1");
        else if (type === "none") continue; // expired between SCAN and TYPE
        else {
          otherTypes.push(`${key}: ${type}`);
          continue;
        }
        if (key.includes(":e:")) entries++;
        bytes += values.reduce((n, v) => n + v.length, 0);
        for (const needle of needles) {
          if (key.includes(needle) || values.some((v) => v.includes(needle))) holders.push(`${key} holds ${needle}`);
        }
      }
      return { keys: keys.length, entries, bytes, holders, otherTypes };
    });
    console.log(`Redis scan: ${keys} keys, ${entries} value entries, ${bytes} bytes, checked against ${written.length} values written`);
    expect(holders).toEqual([]);
    expect(otherTypes).toEqual([]);
    // The check could fail: there were entries to look into, and values to look for.
    expect(entries).toBeGreaterThan(0);
    expect(written.length).toBeGreaterThan(1_000);
  });
});
