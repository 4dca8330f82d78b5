// `npm run bench`: a production-mode server against the real services, loaded by ghz (gRPC) and hey
// (Connect JSON over HTTP/1.1); writes bench/RESULTS.md and bench/results.json. See bench/README.md.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { MongoClient } from "mongodb";
import { auditDelta, delta, sampleAuditQueue, scrape, type AuditRun } from "./metrics.js";
import { commit, cpuSnapshot, cpuUse, machineInfo, rssMiB } from "./proc.js";
import { run, stopAll } from "./processes.js";
import { auditFigures, renderResults, type CacheBound, type Results, type RunRecord } from "./report.js";
import { scenarios, seed, type Scenario, type Tools } from "./scenarios.js";
import { benchAuthorization, serviceEnv, startServer, type Server } from "./server.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const USAGE = `usage: npm run bench -- [--smoke] [--duration S] [--concurrency 1,8,32] [--log-level info]
  [--cache-ttl S] [--cache-local-max-bytes N] [--audit-group-commit-ms MS] [--audit-max-inflight N] [--noise-threshold CORES] [--out DIR] [--no-build]
  [--cache-bound-reads N (full runs; default 1000000, 0 skips)]`;

const { values: flags } = parseArgs({
  options: {
    smoke: { type: "boolean", default: false },
    duration: { type: "string" },
    concurrency: { type: "string" },
    "log-level": { type: "string", default: "info" },
    "cache-ttl": { type: "string", default: "30" },
    "cache-local-max-bytes": { type: "string" },
    "audit-group-commit-ms": { type: "string" },
    "audit-max-inflight": { type: "string" },
    "noise-threshold": { type: "string", default: "0.25" },
    out: { type: "string" },
    "no-build": { type: "boolean", default: false },
    "cache-bound-reads": { type: "string", default: "1000000" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
const smoke = flags.smoke;
const seconds = Number(flags.duration ?? (smoke ? 1 : 10));
const concurrencies = (flags.concurrency ?? (smoke ? "8" : "1,8,32")).split(",").map(Number);
const noiseThreshold = Number(flags["noise-threshold"]);
if (!(seconds > 0) || !concurrencies.every((c) => Number.isInteger(c) && c > 0) || !(noiseThreshold > 0)) {
  console.error(USAGE);
  process.exit(2);
}

const need = (name: string) => process.env[name] ?? fail(`${name} is not set: run the bench with \`npm run bench\` (scripts/bench.sh)`);
function fail(message: string): never {
  throw new Error(message);
}
const log = (message: string) => console.error(`bench: ${message}`);

const started = Date.now();
const outDir = flags.out ? resolve(flags.out) : smoke ? mkdtempSync(join(tmpdir(), "secrets-bench-")) : join(ROOT, "bench");
// Server logs and tool reports (large at LOG_LEVEL=info): outside the tree, kept only when the run fails.
const workDir = mkdtempSync(join(tmpdir(), "secrets-bench-work-"));
const database = `bench_${randomBytes(4).toString("hex")}`;
const servers: Server[] = [];
let failed = false;

async function main(): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  const tools: Tools = { root: ROOT, ghz: join(need("BENCH_BIN_DIR"), "ghz"), hey: join(need("BENCH_BIN_DIR"), "hey"), authorization: "" };
  const servicePids = need("BENCH_SERVICE_PIDS").split(/\s+/).filter(Boolean).map(Number);
  for (const file of [tools.ghz, tools.hey, join(ROOT, "node_modules/grpc-health-check/proto/health/v1/health.proto")]) {
    if (!existsSync(file)) fail(`${file} is missing (scripts/services.sh tools ghz hey installs the tools; npm ci the proto)`);
  }
  if (!flags["no-build"]) await build();

  const secret = randomBytes(32).toString("base64url");
  tools.authorization = await benchAuthorization(secret);
  const mongoUri = new URL(need("MONGODB_URI"));
  mongoUri.pathname = `/${database}`;
  const env = (cacheTtl: string, audit: "on" | "off" = "on"): Record<string, string> => ({
    NODE_ENV: "production",
    LOG_LEVEL: flags["log-level"],
    STORE: "mongodb",
    MONGODB_URI: mongoUri.toString(),
    KEY_PROVIDER: "aws-kms",
    ...serviceEnv(need),
    AUTH_JWT_SECRET: secret,
    CACHE_TTL_SECONDS: cacheTtl,
    ...(flags["cache-local-max-bytes"] ? { CACHE_LOCAL_MAX_BYTES: flags["cache-local-max-bytes"] } : {}),
    AUDIT: audit,
    ...(audit === "on" && flags["audit-group-commit-ms"] ? { AUDIT_GROUP_COMMIT_MS: flags["audit-group-commit-ms"] } : {}),
    ...(audit === "on" && flags["audit-max-inflight"] ? { AUDIT_MAX_INFLIGHT: flags["audit-max-inflight"] } : {}),
  });

  const results: Results = {
    date: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    commit: commit(),
    machine: machineInfo(),
    settings: { smoke, seconds, concurrencies, logLevel: flags["log-level"], cacheTtlSeconds: flags["cache-ttl"], cacheLocalMaxBytes: flags["cache-local-max-bytes"] ?? "default",
      auditGroupCommitMs: flags["audit-group-commit-ms"] ?? "default", auditMaxInflight: flags["audit-max-inflight"] ?? "default", noiseThreshold, database },
    rss: [],
    runs: [],
    logBytes: {},
    totalSeconds: 0,
  };
  const primary = await startServer(ROOT, "main", env(flags["cache-ttl"]), workDir);
  servers.push(primary);
  const rss = (point: string, server = primary) => {
    results.rss.push({ point, server: server.name, mib: rssMiB(server.pid) ?? null });
    log(`RSS ${server.name} ${point}: ${rssMiB(server.pid)} MiB`);
  };
  rss("after start");
  await seed(primary, tools.authorization);
  rss("after seed");

  /**
   * One run (twice when noisy). `audit`: sample the audit queue, record
   * the audit series and check them (every run of the audit group, so both sides pay alike for the scrapes).
   */
  const measure = async (server: Server, scenario: Scenario, concurrency: number, group: string, audit = false): Promise<void> => {
    const label = `${group} ${server.name} ${scenario.protocol} ${scenario.id} c=${concurrency}`;
    for (let attempt = 1; attempt <= 2; attempt++) {
      await scenario.prepare?.();
      const reportFile = join(workDir, `${group}-${scenario.protocol}-${scenario.id}-c${concurrency}-${attempt}.out`);
      const [m0, log0, rss0] = [await scrape(server.metricsPort), server.logBytes(), rssMiB(server.pid) ?? null];
      const cpu0 = cpuSnapshot([server.pid], servicePids);
      const queue = audit ? sampleAuditQueue(server.metricsPort) : undefined;
      // The sampler is stopped even when the load fails, so no scrape outlives the run.
      const load = await scenario.load({ concurrency, seconds, reportFile }).finally(() => queue?.stop());
      const cpu = cpuUse(cpu0, cpuSnapshot([server.pid], servicePids));
      const m1 = await scrape(server.metricsPort);
      const metrics = delta(m0, m1) ?? null;
      const auditRun = queue ? (auditDelta(m0, m1, await queue.stop()) ?? null) : undefined;
      const noisy = cpu.others > noiseThreshold;
      const record: RunRecord = {
        group,
        server: server.name,
        scenario: scenario.id,
        title: scenario.title,
        protocol: scenario.protocol,
        read: scenario.read,
        concurrency,
        attempt,
        load,
        cpu,
        metrics,
        rssBefore: rss0,
        rssAfter: rssMiB(server.pid) ?? null,
        logBytes: server.logBytes() - log0,
        noisy,
        rerun: false,
        ...(auditRun !== undefined ? { audit: auditRun } : {}),
      };
      results.runs.push(record);
      log(`${label}: ${load.rps.toFixed(0)} rps, p50 ${load.p50} ms, p99 ${load.p99} ms, errors ${load.errors}/${load.requests}` +
        `, server ${cpu.server} cores, others ${cpu.others} cores${noisy ? " (noisy)" : ""}${scenario.read && load.errors ? " READ ERRORS" : ""}`);
      // The floor (Health/Check) is not audited, and the noaudit server's check says what it saw.
      if (auditRun && scenario.id !== "floor" && server.name !== "noaudit") log(`${label}: audit ${auditText(auditRun, load.seconds, load.requests)}`);
      if (load.ok === 0) throw new Error(`${label}: every request failed: ${JSON.stringify(load.statuses)} ${load.errorSamples.join("; ")}`);
      if (audit) checkAudit(record);
      if (!noisy || smoke || attempt === 2) return;
      record.rerun = true;
      log(`${label}: other processes used ${cpu.others} cores (> ${noiseThreshold}); running it once more`);
    }
  };

  const s = scenarios(tools, primary);
  // Reads: floor and hot interleaved (A B A B), so drift in the machine hits both alike.
  for (const c of concurrencies) {
    for (let round = 0; round < (smoke ? 1 : 2); round++) {
      for (const scenario of [s.floorGrpc, s.hotGrpc, s.floorConnect, s.hotConnect]) await measure(primary, scenario, c, "reads");
    }
  }
  rss("after reads");

  // What the audit trail costs: hot reads on main (AUDIT=on) and on noaudit (AUDIT=off, otherwise the
  // same), interleaved, with main's floor in the same group so the ratios share the group's drift.
  const noaudit = await startServer(ROOT, "noaudit", env(flags["cache-ttl"], "off"), workDir);
  servers.push(noaudit);
  rss("after start", noaudit);
  const sn = scenarios(tools, noaudit);
  // Main is warm from the reads group (JIT, first-access writes); noaudit gets one unmeasured hot run to match.
  await sn.hotGrpc.prepare?.();
  const warmUp = await sn.hotGrpc.load({ concurrency: 8, seconds: Math.min(seconds, 5), reportFile: join(workDir, "audit-noaudit-warm-up.out") });
  if (warmUp.ok === 0) throw new Error(`audit noaudit warm-up: every request failed: ${JSON.stringify(warmUp.statuses)} ${warmUp.errorSamples.join("; ")}`);
  log(`audit noaudit warm-up (not counted): ${warmUp.ok} hot reads in ${warmUp.seconds.toFixed(1)} s`);
  const auditRuns: [Server, Scenario][] = smoke ? [[primary, s.hotGrpc], [noaudit, sn.hotGrpc]] : [[primary, s.floorGrpc], [primary, s.hotGrpc], [noaudit, sn.hotGrpc]];
  for (const c of concurrencies) {
    for (let round = 0; round < (smoke ? 1 : 2); round++) {
      for (const [server, scenario] of auditRuns) await measure(server, scenario, c, "audit", true);
    }
  }
  // The same 20-name ResolveReferences beside a hot read with AUDIT=off: what its 20 audit events cost.
  for (const c of concurrencies) {
    for (let round = 0; round < (smoke ? 1 : 2); round++) for (const scenario of [sn.hotGrpc, sn.resolveGrpc]) await measure(noaudit, scenario, c, "agent");
  }
  rss("after audit reads");
  rss("after audit reads", noaudit);
  results.logBytes.noaudit = noaudit.logBytes();
  await noaudit.stop();
  servers.splice(servers.indexOf(noaudit), 1);

  if (!smoke) {
    const cold = await startServer(ROOT, "cold", env("0"), workDir);
    servers.push(cold);
    rss("after start", cold);
    const sc = scenarios(tools, cold);
    for (const c of concurrencies) for (let round = 0; round < 2; round++) for (const scenario of [sc.floorGrpc, sc.coldGrpc]) await measure(cold, scenario, c, "cold");
    rss("after cold reads", cold);
    results.logBytes.cold = cold.logBytes();
    await cold.stop();
    servers.splice(servers.indexOf(cold), 1);
  }

  // ResolveReferences of 20 names beside a single hot read, interleaved (A B A B), for their ratio.
  for (const c of concurrencies) {
    for (let round = 0; round < (smoke ? 1 : 2); round++) for (const scenario of [s.hotGrpc, s.resolveGrpc]) await measure(primary, scenario, c, "agent");
  }
  rss("after the agent reads");

  for (const c of concurrencies) for (const scenario of smoke ? [s.createGrpc] : [s.batchGrpc, s.createGrpc, s.putGrpc]) await measure(primary, scenario, c, "writes");
  rss(smoke ? "after create" : "after batch and writes");

  if (!smoke) {
    for (const c of concurrencies) for (const scenario of [s.hotGrpc, s.hotConnect]) await measure(primary, scenario, c, "repeat");
    rss("after the repeated hot reads (whole run)");
    if (Number(flags["cache-bound-reads"]) > 0) results.cacheBound = await cacheBound(Number(flags["cache-bound-reads"]));
  }
  results.logBytes.main = primary.logBytes();
  results.totalSeconds = Math.round((Date.now() - started) / 1000);
  writeFileSync(join(outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(outDir, "RESULTS.md"), renderResults(results));
  log(`wrote ${join(outDir, "RESULTS.md")} and results.json (${results.totalSeconds} s)`);
}

/**
 * The audit group's servers are what they claim: the AUDIT=on one stored events during each hot run,
 * the AUDIT=off one none. A failure is the harness's (a server started with the wrong settings, the
 * audit series gone from /metrics), never a number's; an audit-on run with fewer events than answers
 * is only reported.
 */
function checkAudit(record: RunRecord): void {
  const label = `audit ${record.server} ${record.protocol} ${record.scenario} c=${record.concurrency}`;
  const a = record.audit;
  if (!a) throw new Error(`${label}: the server's /metrics did not answer, so its audit trail cannot be checked`);
  if (record.scenario === "floor") return; // Health/Check is not audited
  if (record.server === "noaudit") {
    if (a.eventsWritten > 0) throw new Error(`${label}: the AUDIT=off server wrote ${a.eventsWritten} audit events`);
    log(`${label}: no audit events written, as AUDIT=off should (secrets_audit_events_total{result="written"} ${a.writtenSeries ? "present, unchanged" : "absent"})`);
    return;
  }
  if (!(a.eventsWritten > 0)) throw new Error(`${label}: secrets_audit_events_total{result="written"} did not grow during the run (AUDIT=on)`);
  if (a.eventsWritten < record.load.ok) log(`${label}: warning: ${a.eventsWritten} audit events written for ${record.load.ok} OK answers`);
}

/** One line for the log: the audit figures of one run. */
function auditText(a: AuditRun, seconds: number, requests: number): string {
  const f = auditFigures([{ audit: a, load: { seconds, requests } }])!;
  const n = (x: number | null, digits: number) => (x === null ? "–" : x.toFixed(digits));
  return `${a.eventsWritten} events written (${n(f.eventsPerSecond, 0)}/s, ${n(f.eventsPerRequest, 3)}/request), ${a.eventsFailed} failed, ` +
    `${n(f.insertsPerSecond, 0)} inserts/s, mean batch ${n(f.meanBatch, 1)}, queue depth max ${n(f.queueMax, 0)} mean ${n(f.queueMean, 1)} (${a.queueDepth.samples} samples), ` +
    `mean insert ${n(f.meanInsertMs, 2)} ms`;
}

/** bench/cache-bound.ts in a process run as production runs it; its last output line is the summary. */
async function cacheBound(reads: number): Promise<CacheBound> {
  log(`cache bound: ${reads} reads of distinct names`);
  const out = await run("bash", ["scripts/production-node.sh", "--expose-gc", "--import", "tsx", "bench/cache-bound.ts", "--reads", String(reads)], { cwd: ROOT });
  if (out.code !== 0) throw new Error(`bench/cache-bound.ts failed:\n${out.stdout}${out.stderr}`);
  const summary = JSON.parse(out.stdout.trim().split("\n").at(-1)!) as CacheBound;
  log(`cache bound: RSS ${summary.rssStartMiB} -> peak ${summary.rssPeakMiB} MiB (bound ${summary.localBoundMiB} MiB)`);
  return summary;
}

async function build(): Promise<void> {
  const t = Date.now();
  // Incremental, with its state inside dist/ (so it goes when dist/ goes): a rebuild of an unchanged tree takes seconds.
  const out = await run("npm", ["run", "--silent", "build", "--", "--incremental", "--tsBuildInfoFile", "dist/.bench.tsbuildinfo"], { cwd: ROOT });
  if (out.code !== 0) throw new Error(`npm run build failed:\n${out.stdout}${out.stderr}`);
  log(`built in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

async function cleanUp(): Promise<void> {
  await Promise.allSettled(servers.map((server) => server.stop()));
  await stopAll();
  const client = new MongoClient(need("MONGODB_URI"), { serverSelectionTimeoutMS: 5_000 });
  try {
    await client.db(database).dropDatabase();
  } catch (err) {
    log(`could not drop database ${database}: ${(err as Error).message}`);
  } finally {
    await client.close();
  }
  // Tool reports and server logs are for a failed run; a good one keeps only RESULTS.md and results.json.
  if (!failed) rmSync(workDir, { recursive: true, force: true });
  else log(`server logs and tool reports are in ${workDir}`);
}

let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    failed = true;
    log(`${signal}: stopping`);
    void cleanUp().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (err) {
  failed = true;
  log(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  if (!interrupted) await cleanUp();
}
