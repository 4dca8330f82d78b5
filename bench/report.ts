// bench/RESULTS.md from the raw runs: one table per protocol, the audit trail's cost, the targets, backend
// operations, memory, noise.
import type { LoadResult } from "./load.js";
import { total, type AuditRun, type MetricsDelta } from "./metrics.js";
import type { CpuUse } from "./proc.js";
import type { Protocol } from "./scenarios.js";

export interface RunRecord {
  group: string;
  server: string;
  scenario: string;
  title: string;
  protocol: Protocol;
  read: boolean;
  concurrency: number;
  attempt: number;
  load: LoadResult;
  cpu: CpuUse;
  /** null: the server has no metrics endpoint (yet). */
  metrics: MetricsDelta | null;
  rssBefore: number | null;
  rssAfter: number | null;
  logBytes: number;
  noisy: boolean;
  /** Noisy, and run once more: the second attempt counts. */
  rerun: boolean;
  /** Runs of the audit group only: what the audit trail did meanwhile; null when /metrics did not answer. */
  audit?: AuditRun | null;
}

/** The audit trail's figures over one or more runs: counter gains over the runs' length. */
export interface AuditFigures {
  eventsPerSecond: number;
  /** Events written per answer (each RPC writes one). */
  eventsPerRequest: number | null;
  /** Appends (group commits) per second. */
  insertsPerSecond: number;
  /** Events per append. */
  meanBatch: number | null;
  queueMax: number | null;
  /** Over every sample of the runs. */
  queueMean: number | null;
  /** Mean duration of an append. */
  meanInsertMs: number | null;
}

/** null when any run has no audit figures. */
export function auditFigures(runs: readonly { audit?: AuditRun | null; load: Pick<LoadResult, "seconds" | "requests"> }[]): AuditFigures | null {
  if (!runs.length || runs.some((r) => !r.audit)) return null;
  const as = runs.map((r) => r.audit!);
  const seconds = sum(runs.map((r) => r.load.seconds));
  const requests = sum(runs.map((r) => r.load.requests));
  const of = (f: (a: AuditRun) => number) => sum(as.map(f));
  const samples = of((a) => a.queueDepth.samples);
  const maxes = as.map((a) => a.queueDepth.max).filter((x): x is number => x !== null);
  const batches = of((a) => a.batchCount);
  const inserts = of((a) => a.insertCount);
  return {
    eventsPerSecond: of((a) => a.eventsWritten) / Math.max(1e-9, seconds),
    eventsPerRequest: requests ? of((a) => a.eventsWritten) / requests : null,
    insertsPerSecond: of((a) => a.insertsOk + a.insertsFailed) / Math.max(1e-9, seconds),
    meanBatch: batches ? of((a) => a.batchEvents) / batches : null,
    queueMax: maxes.length ? Math.max(...maxes) : null,
    queueMean: samples ? of((a) => (a.queueDepth.mean ?? 0) * a.queueDepth.samples) / samples : null,
    meanInsertMs: inserts ? (of((a) => a.insertSeconds) / inserts) * 1000 : null,
  };
}

export interface Results {
  date: string;
  command: string;
  commit: string;
  machine: Record<string, string>;
  settings: Record<string, unknown>;
  rss: { point: string; server: string; mib: number | null }[];
  runs: RunRecord[];
  logBytes: Record<string, number>;
  totalSeconds: number;
  /** bench/cache-bound.ts: distinct-name reads through the value cache (full runs only). */
  cacheBound?: CacheBound;
}

export interface CacheBound {
  reads: number;
  seconds: number;
  localBoundMiB: number;
  rssStartMiB: number;
  rssPeakMiB: number;
  rssEndMiB: number;
  growthMiB: number;
  withinBoundPlus100MiB: boolean;
}

/** The runs of one scenario at one concurrency in one group, taken together. */
interface Row {
  key: string;
  first: RunRecord;
  runs: RunRecord[];
  requests: number;
  errors: number;
  rps: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  noisy: boolean;
  serverCores: number;
  cpuUsPerRequest: number;
  logBytesPerRequest: number;
  /** Summed over the runs; null when any run had no metrics. */
  metrics: MetricsDelta | null;
}

const mean = (xs: (number | null)[]) => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function sumMetrics(all: (MetricsDelta | null)[]): MetricsDelta | null {
  if (all.some((m) => m === null)) return null;
  const out: MetricsDelta = { kms: {}, mongodb: {}, cache: {}, rpc: {} };
  for (const m of all as MetricsDelta[]) {
    for (const kind of Object.keys(out) as (keyof MetricsDelta)[]) {
      for (const [label, n] of Object.entries(m[kind])) out[kind][label] = (out[kind][label] ?? 0) + n;
    }
  }
  return out;
}

/** The group whose floor a row is compared with: the cold and audit groups have their own. */
const floorGroup = (group: string) => (group === "cold" || group === "audit" ? group : "reads");

const keyOf = (r: RunRecord) => `${r.group}|${r.server}|${r.protocol}|${r.scenario}|${r.concurrency}`;

function rows(runs: RunRecord[]): Row[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs.filter((r) => !r.rerun)) groups.set(keyOf(r), [...(groups.get(keyOf(r)) ?? []), r]);
  return [...groups].map(([key, rs]) => {
    const requests = sum(rs.map((r) => r.load.requests));
    return {
      key,
      first: rs[0]!,
      runs: rs,
      requests,
      errors: sum(rs.map((r) => r.load.errors)),
      rps: mean(rs.map((r) => r.load.rps))!,
      p50: mean(rs.map((r) => r.load.p50)),
      p95: mean(rs.map((r) => r.load.p95)),
      p99: mean(rs.map((r) => r.load.p99)),
      noisy: rs.some((r) => r.noisy),
      serverCores: mean(rs.map((r) => r.cpu.server))!,
      cpuUsPerRequest: (sum(rs.map((r) => r.cpu.serverSeconds)) * 1e6) / Math.max(1, requests),
      logBytesPerRequest: sum(rs.map((r) => r.logBytes)) / Math.max(1, requests),
      metrics: sumMetrics(rs.map((r) => r.metrics)),
    };
  });
}

const fmt = (n: number | null, digits = 0) => (n === null ? "–" : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }));
const pct = (x: number | null) => (x === null ? "–" : `${Math.round(x * 100)}%`);

/** Operations per request, by label; labels also seen while only the floor ran are background work. */
function perRequest(counts: Record<string, number>, requests: number, background: ReadonlySet<string>): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return "0";
  return entries.map(([label, n]) => `${label} ${fmt(n / requests, 3)}${background.has(label) ? " (background)" : ""}`).join(", ");
}

export function renderResults(res: Results): string {
  const all = rows(res.runs);
  const floorOf = (row: Row) =>
    all.find((f) => f.first.scenario === "floor" && f.first.protocol === row.first.protocol && f.first.concurrency === row.first.concurrency && f.first.group === floorGroup(row.first.group));
  const floors = all.filter((r) => r.first.scenario === "floor");
  const background = {
    mongodb: new Set(floors.flatMap((f) => Object.keys(f.metrics?.mongodb ?? {}))),
    kms: new Set(floors.flatMap((f) => Object.keys(f.metrics?.kms ?? {}))),
  };
  const kmsPer = (row: Row) => (row.metrics ? total(row.metrics.kms, background.kms) / Math.max(1, row.requests) : null);
  const mongoPer = (row: Row) => (row.metrics ? total(row.metrics.mongodb, background.mongodb) / Math.max(1, row.requests) : null);
  const ratio = (row: Row) => {
    const floor = floorOf(row);
    return floor && row !== floor ? row.rps / floor.rps : null;
  };
  const errorsText = (row: Row) => {
    if (row.errors === 0) return "0";
    const statuses = Object.entries(sumStatuses(row.runs)).filter(([s]) => s !== "OK" && s !== "200").map(([s, n]) => `${s} ${n}`);
    return `**${fmt(row.errors)}** of ${fmt(row.requests)} (${statuses.join(", ")})`;
  };
  const label = (row: Row) =>
    `${row.first.title}${row.first.group === "repeat" ? ", repeated at the end" : row.first.group === "agent" && row.first.scenario === "hot" ? ", beside ResolveReferences" : ""}${row.first.group === "agent" && row.first.server === "noaudit" ? ", AUDIT=off" : ""}${row.first.server === "cold" && row.first.scenario === "floor" ? " (cold server)" : ""}` +
    `${row.first.group === "audit" ? `, audit group, AUDIT=${row.first.server === "noaudit" ? "off" : "on"}` : ""}`;

  const out: string[] = [];
  out.push("# Benchmark results", "");
  out.push(`${res.date} · commit \`${res.commit}\` · \`${res.command}\` · ${res.totalSeconds} s in all`, "");
  out.push(`Machine: ${res.machine.nproc} × ${res.machine.cpu}, ${res.machine.memory}, ${res.machine.kernel}, Node ${res.machine.node}. ` +
    "The server, the load generator and the backing services share these cores.", "");
  const st = res.settings;
  out.push(`Server: \`node dist/src/main.js\` (not --dev), STORE=mongodb on FerretDB (database \`${st.database}\`, dropped after), ` +
    `KEY_PROVIDER=aws-kms on LocalStack, Redis, LOG_LEVEL=${st.logLevel} (stdout to a file: ${Object.entries(res.logBytes).map(([s, b]) => `${s} ${fmt(b / 2 ** 20, 1)} MiB`).join(", ")}), ` +
    `CACHE_TTL_SECONDS=${st.cacheTtlSeconds} (the cold server: 0), CACHE_LOCAL_MAX_BYTES=${st.cacheLocalMaxBytes}, ` +
    `AUDIT=on with AUDIT_GROUP_COMMIT_MS=${st.auditGroupCommitMs ?? "default"}, AUDIT_MAX_INFLIGHT=${st.auditMaxInflight ?? "default"} (the noaudit server: AUDIT=off, otherwise as main). ` +
    `Each run ${st.seconds} s; concurrency ${(st.concurrencies as number[]).join(", ")}.`, "");
  out.push("Load: ghz v0.120.0 for gRPC (all workers on one HTTP/2 connection; percentiles over OK answers), " +
    "hey v0.1.5 for Connect JSON over HTTP/1.1 (one connection per worker; percentiles over all answers; it sends one body, so its hot read asks for one name, `bench_000`, over and over). " +
    "rps counts OK answers only. Floor and hot runs alternate (floor, hot, floor, hot) and their means are shown; “× floor” is rps over the floor's rps at the same protocol and concurrency.", "");

  for (const protocol of ["grpc", "connect"] as const) {
    out.push(`## ${protocol === "grpc" ? "gRPC (ghz)" : "Connect JSON over HTTP/1.1 (hey)"}`, "");
    out.push("| scenario | c | rps | p50 ms | p95 ms | p99 ms | × floor | errors | server cores | server CPU µs/req | KMS/req | MongoDB reads/req | log B/req | noisy |");
    out.push("|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|---|");
    for (const row of all.filter((r) => r.first.protocol === protocol)) {
      out.push(`| ${label(row)} | ${row.first.concurrency} | ${fmt(row.rps)} | ${fmt(row.p50, 2)} | ${fmt(row.p95, 2)} | ${fmt(row.p99, 2)} | ${pct(ratio(row))} | ${errorsText(row)} | ` +
        `${fmt(row.serverCores, 2)} | ${fmt(row.cpuUsPerRequest)} | ${row.metrics ? fmt(kmsPer(row), 3) : "n/a"} | ${row.metrics ? fmt(mongoPer(row), 3) : "n/a"} | ${fmt(row.logBytesPerRequest)} | ${row.noisy ? "yes" : ""} |`);
    }
    out.push("");
  }

  out.push(...auditSection(all, { ratio, errorsText }));

  out.push("## Targets (shown, never asserted)", "", "| target | measured | met |", "|---|---|---|");
  for (const t of targets(res, all, { ratio, kmsPer, mongoPer })) out.push(`| ${t.target} | ${t.measured} | ${t.met === null ? "n/a" : t.met ? "yes" : "**no**"} |`);
  out.push("");

  out.push("## Backend operations per request", "");
  if (all.every((r) => r.metrics === null)) out.push("n/a: the server answered no `/metrics` on METRICS_PORT.", "");
  else {
    out.push("By label, from the server's counters before and after each run. Labels also counted while only the floor ran are marked background (they run on timers, not per request) and are left out of the per-request columns above.", "");
    out.push("| scenario | protocol | c | KMS | MongoDB | cache |", "|---|---|--:|---|---|---|");
    for (const row of all.filter((r) => r.metrics)) {
      const m = row.metrics!;
      out.push(`| ${label(row)} | ${row.first.protocol} | ${row.first.concurrency} | ${perRequest(m.kms, row.requests, background.kms)} | ${perRequest(m.mongodb, row.requests, background.mongodb)} | ${perRequest(m.cache, row.requests, new Set())} |`);
    }
    out.push("");
  }

  out.push("## Memory (server RSS)", "", "| when | server | MiB |", "|---|---|--:|");
  for (const p of res.rss) out.push(`| ${p.point} | ${p.server} | ${fmt(p.mib, 1)} |`);
  out.push("");

  if (res.cacheBound) {
    const b = res.cacheBound;
    out.push("## Memory bound of the cache (bench/cache-bound.ts)", "");
    out.push(`${b.reads.toLocaleString("en-US")} reads of distinct names through the value cache (in-process layer bound ${fmt(b.localBoundMiB, 0)} MiB, Redis shared layer), ` +
      `in one process run as production runs it (scripts/production-node.sh), with a store that fabricates one sealed secret per name, so only the cache can grow. ${fmt(b.seconds, 1)} s.`, "");
    out.push("| RSS at start | peak | end | growth | bound + 100 MiB | within |", "|--:|--:|--:|--:|--:|---|");
    out.push(`| ${fmt(b.rssStartMiB, 1)} | ${fmt(b.rssPeakMiB, 1)} | ${fmt(b.rssEndMiB, 1)} | ${fmt(b.growthMiB, 1)} | ${fmt(b.localBoundMiB + 100, 0)} | ${b.withinBoundPlus100MiB ? "yes" : "**no**"} |`, "");
  }

  out.push("## How busy the machine was", "");
  out.push(`CPU in cores (1 = one core all the time) per run: the server, the load generator, the backing services (FerretDB, Redis, LocalStack), everything else (user + system time of other processes), interrupts and steal. ` +
    `A run is noisy when everything else passed ${res.settings.noiseThreshold} cores; a noisy run is run once more and the second run counts (both are listed).`, "");
  out.push("| group | server | protocol | scenario | c | try | server | load gen | services | others | irq | steal | loadavg | noisy |", "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|");
  for (const r of res.runs) {
    const c = r.cpu;
    out.push(`| ${r.group} | ${r.server} | ${r.protocol} | ${r.scenario} | ${r.concurrency} | ${r.attempt} | ${fmt(c.server, 2)} | ${fmt(c.loadgen, 2)} | ${fmt(c.services, 2)} | ${fmt(c.others, 2)} | ${fmt(c.irq, 2)} | ${fmt(c.steal, 2)} | ${c.loadavg.join(" ")} | ${r.noisy ? (r.rerun ? "yes, rerun" : "yes") : ""} |`);
  }
  out.push("", "Raw numbers: results.json next to this file.", "");
  return out.join("\n");
}

function sumStatuses(runs: RunRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of runs) for (const [s, n] of Object.entries(r.load.statuses)) out[s] = (out[s] ?? 0) + n;
  return out;
}

interface AuditMeasures {
  ratio(row: Row): number | null;
  errorsText(row: Row): string;
}

const isAuditOff = (row: Row) => row.first.server === "noaudit";

/** The audit group: every run with its audit figures, then hot(audit on) over hot(audit off) at each concurrency. */
function auditSection(all: Row[], m: AuditMeasures): string[] {
  const group = all.filter((r) => r.first.group === "audit");
  const out: string[] = ["## Audit trail cost", ""];
  if (!group.length) return [...out, "Not run.", ""];
  out.push("Group `audit`, gRPC (ghz) only: at each concurrency the floor on main, hot GetSecretValue on main (AUDIT=on: one audit event per RPC, " +
    "group-committed into `audit_events`, stored before the answer) and hot GetSecretValue on noaudit (AUDIT=off, otherwise the same server), in that order, " +
    "twice (A B A B); means shown. “× floor” is over main's floor in this group. Audit figures from main's `/metrics` around each run: events written and " +
    "appends (inserts) per second of the run, events per answer (1: every RPC recorded), mean batch (events per append), the queue depth " +
    "(`secrets_audit_queue_depth` read every 250 ms, counting the samples after which RPCs had been answered: max and mean) and the mean append time. " +
    "The queue is read during every run of the group, audit off too, so both sides pay for the scrapes." +
    (group.some((r) => r.first.scenario === "floor") ? "" : " This run had no floor in the group (a smoke run: one pair), so no “× floor”."), "");
  out.push("| audit | scenario | c | rps | p50 ms | p95 ms | p99 ms | × floor | errors | server CPU µs/req | events/s | events/req | inserts/s | mean batch | queue max | queue mean | mean insert ms | noisy |");
  out.push("|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|---|");
  for (const row of group) {
    const f = isAuditOff(row) ? null : auditFigures(row.runs);
    const cells = isAuditOff(row)
      ? Array<string>(7).fill("–")
      : f === null
        ? Array<string>(7).fill("n/a")
        : [fmt(f.eventsPerSecond), fmt(f.eventsPerRequest, 3), fmt(f.insertsPerSecond), fmt(f.meanBatch, 1), fmt(f.queueMax), fmt(f.queueMean, 1), fmt(f.meanInsertMs, 2)];
    out.push(`| ${isAuditOff(row) ? "off" : "on"} | ${row.first.title} | ${row.first.concurrency} | ${fmt(row.rps)} | ${fmt(row.p50, 2)} | ${fmt(row.p95, 2)} | ${fmt(row.p99, 2)} | ` +
      `${pct(m.ratio(row))} | ${m.errorsText(row)} | ${fmt(row.cpuUsPerRequest)} | ${cells.join(" | ")} | ${row.noisy ? "yes" : ""} |`);
  }
  out.push("");
  out.push("| c | hot rps, audit on | hot rps, audit off | on / off | p99 ms on | p99 ms off | server CPU µs/req on | off | on × floor | off × floor |");
  out.push("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
  for (const { c, on, off } of auditPairs(group)) {
    out.push(`| ${c} | ${fmt(on?.rps ?? null)} | ${fmt(off?.rps ?? null)} | ${pct(on && off ? on.rps / off.rps : null)} | ${fmt(on?.p99 ?? null, 2)} | ${fmt(off?.p99 ?? null, 2)} | ` +
      `${fmt(on?.cpuUsPerRequest ?? null)} | ${fmt(off?.cpuUsPerRequest ?? null)} | ${pct(on ? m.ratio(on) : null)} | ${pct(off ? m.ratio(off) : null)} |`);
  }
  out.push("");
  return out;
}

/** The hot rows of the audit group, by concurrency: audit on (main) and audit off (noaudit). */
function auditPairs(group: Row[]): { c: number; on: Row | undefined; off: Row | undefined }[] {
  const hot = group.filter((r) => r.first.scenario === "hot");
  const cs = [...new Set(hot.map((r) => r.first.concurrency))].sort((a, b) => a - b);
  return cs.map((c) => ({ c, on: hot.find((r) => r.first.concurrency === c && !isAuditOff(r)), off: hot.find((r) => r.first.concurrency === c && isAuditOff(r)) }));
}

interface Measures {
  ratio(row: Row): number | null;
  kmsPer(row: Row): number | null;
  mongoPer(row: Row): number | null;
}

function targets(res: Results, all: Row[], m: Measures): { target: string; measured: string; met: boolean | null }[] {
  const find = (group: string, protocol: Protocol, scenario: string) => all.filter((r) => r.first.group === group && r.first.protocol === protocol && r.first.scenario === scenario);
  const at = (rs: Row[], c: number) => rs.find((r) => r.first.concurrency === c);
  const hotGrpc = find("reads", "grpc", "hot");
  const hotConnect = find("reads", "connect", "hot");
  const top = Math.max(...(res.settings.concurrencies as number[]));
  const cTop = top === 32 ? "c=32" : `c=${top} (no c=32 in this run)`;
  const out: { target: string; measured: string; met: boolean | null }[] = [];
  const ratios = hotGrpc.map((r) => ({ c: r.first.concurrency, x: m.ratio(r) }));
  out.push({ target: "hot gRPC ≥ 70% of the floor at every concurrency", measured: ratios.map((r) => `c=${r.c} ${pct(r.x)}`).join(", "), met: ratios.length ? ratios.every((r) => (r.x ?? 0) >= 0.7) : null });
  const g = at(hotGrpc, top);
  out.push({ target: `hot gRPC p99 ≤ 5 ms at ${cTop}`, measured: g ? `${fmt(g.p99, 2)} ms` : "–", met: g?.p99 != null ? g.p99 <= 5 : null });
  const h = at(hotConnect, top);
  out.push({ target: `hot Connect JSON (hey) at ${cTop} ≥ 5,600 rps with p99 ≤ 45 ms`, measured: h ? `${fmt(h.rps)} rps, p99 ${fmt(h.p99, 2)} ms` : "–", met: h?.p99 != null ? h.rps >= 5600 && h.p99 <= 45 : null });
  const hot = [...hotGrpc, ...hotConnect];
  const worst = (rs: Row[], f: (r: Row) => number | null) => (rs.some((r) => f(r) === null) || !rs.length ? null : Math.max(...rs.map((r) => f(r)!)));
  const hk = worst(hot, m.kmsPer);
  const hm = worst(hot, m.mongoPer);
  out.push({ target: "0 KMS calls and 0 MongoDB reads per hot read", measured: hk === null || hm === null ? "n/a" : `at most ${fmt(hk, 4)} KMS, ${fmt(hm, 4)} MongoDB`, met: hk === null || hm === null ? null : hk < 0.001 && hm < 0.001 });
  const cold = find("cold", "grpc", "cold");
  const ck = worst(cold, m.kmsPer);
  const cm = worst(cold, m.mongoPer);
  out.push({ target: "cold read ≤ floor + 1 MongoDB read + 1 KMS Decrypt", measured: !cold.length ? "not run" : ck === null || cm === null ? "n/a" : `at most ${fmt(cm, 3)} MongoDB, ${fmt(ck, 3)} KMS per read`, met: ck === null || cm === null ? null : ck <= 1.001 && cm <= 1.001 });
  const auditOn = at(all.filter((r) => r.first.group === "audit" && r.first.scenario === "hot" && !isAuditOff(r)), top);
  const auditRatio = auditOn ? m.ratio(auditOn) : null;
  out.push({
    target: `hot GetSecretValue with the audit trail on ≥ 60% of the empty RPC (the floor, Health/Check) over gRPC at ${cTop}`,
    measured: !auditOn ? "not run" : auditRatio === null ? "– (no floor in the audit group)" : `${pct(auditRatio)} (${fmt(auditOn.rps)} rps)`,
    met: auditRatio === null ? null : auditRatio >= 0.6,
  });
  out.push({
    target: `p99 ≤ 10 ms at ${cTop} with the audit on (hot GetSecretValue, gRPC)`,
    measured: auditOn ? `${fmt(auditOn.p99, 2)} ms` : "not run",
    met: auditOn?.p99 != null ? auditOn.p99 <= 10 : null,
  });
  for (const server of ["main", "noaudit"]) {
    const agentHot = find("agent", "grpc", "hot").filter((r) => r.first.server === server);
    const resolve = find("agent", "grpc", "resolve").filter((r) => r.first.server === server);
    if (server === "noaudit" && !resolve.length) continue;
    const resolveCost = resolve.map((r) => ({ c: r.first.concurrency, r, hot: at(agentHot, r.first.concurrency) }));
    out.push({
      target: `ResolveReferences with 20 names ≤ 2× a single hot read (hot rps over resolve rps, side by side), AUDIT=${server === "main" ? "on: 20 events a call against 1" : "off"}`,
      measured: !resolve.length ? "not run" : resolveCost.map(({ c, r, hot }) => `c=${c} ${hot ? `${fmt(hot.rps / r.rps, 2)}×` : "–"} (${fmt(r.rps)} rps, p99 ${fmt(r.p99, 2)} ms)`).join(", "),
      met: !resolve.length || resolveCost.some((x) => !x.hot) ? null : resolveCost.every(({ r, hot }) => hot!.rps / r.rps <= 2),
    });
  }
  const last = res.rss.filter((p) => p.server === "main").at(-1);
  if (res.cacheBound) out.push({ target: `after ${res.cacheBound.reads.toLocaleString("en-US")} reads of distinct names, RSS growth within the cache bound + 100 MB`, measured: `${fmt(res.cacheBound.growthMiB, 1)} MiB growth, bound ${fmt(res.cacheBound.localBoundMiB, 0)} MiB`, met: res.cacheBound.withinBoundPlus100MiB });
  out.push({ target: "RSS ≤ 200 MiB after the whole run", measured: last ? `${fmt(last.mib, 1)} MiB (${last.point})` : "–", met: last?.mib != null ? last.mib <= 200 : null });
  return out;
}
