// bench/RESULTS.md from the raw runs: one table per protocol, the targets, backend operations, memory, noise.
import type { LoadResult } from "./load.js";
import { total, type MetricsDelta } from "./metrics.js";
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
    all.find((f) => f.first.scenario === "floor" && f.first.protocol === row.first.protocol && f.first.concurrency === row.first.concurrency && f.first.group === (row.first.group === "cold" ? "cold" : "reads"));
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
  const label = (row: Row) => `${row.first.title}${row.first.group === "repeat" ? ", repeated at the end" : ""}${row.first.server === "cold" && row.first.scenario === "floor" ? " (cold server)" : ""}`;

  const out: string[] = [];
  out.push("# Benchmark results", "");
  out.push(`${res.date} · commit \`${res.commit}\` · \`${res.command}\` · ${res.totalSeconds} s in all`, "");
  out.push(`Machine: ${res.machine.nproc} × ${res.machine.cpu}, ${res.machine.memory}, ${res.machine.kernel}, Node ${res.machine.node}. ` +
    "The server, the load generator and the backing services share these cores.", "");
  const st = res.settings;
  out.push(`Server: \`node dist/src/main.js\` (not --dev), STORE=mongodb on FerretDB (database \`${st.database}\`, dropped after), ` +
    `KEY_PROVIDER=aws-kms on LocalStack, Redis, LOG_LEVEL=${st.logLevel} (stdout to a file: ${Object.entries(res.logBytes).map(([s, b]) => `${s} ${fmt(b / 2 ** 20, 1)} MiB`).join(", ")}), ` +
    `CACHE_TTL_SECONDS=${st.cacheTtlSeconds} (the cold server: 0), CACHE_LOCAL_MAX_BYTES=${st.cacheLocalMaxBytes}. ` +
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
  out.push("| group | protocol | scenario | c | try | server | load gen | services | others | irq | steal | loadavg | noisy |", "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|");
  for (const r of res.runs) {
    const c = r.cpu;
    out.push(`| ${r.group} | ${r.protocol} | ${r.scenario} | ${r.concurrency} | ${r.attempt} | ${fmt(c.server, 2)} | ${fmt(c.loadgen, 2)} | ${fmt(c.services, 2)} | ${fmt(c.others, 2)} | ${fmt(c.irq, 2)} | ${fmt(c.steal, 2)} | ${c.loadavg.join(" ")} | ${r.noisy ? (r.rerun ? "yes, rerun" : "yes") : ""} |`);
  }
  out.push("", "Raw numbers: results.json next to this file.", "");
  return out.join("\n");
}

function sumStatuses(runs: RunRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of runs) for (const [s, n] of Object.entries(r.load.statuses)) out[s] = (out[s] ?? 0) + n;
  return out;
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
  const last = res.rss.filter((p) => p.server === "main").at(-1);
  if (res.cacheBound) out.push({ target: `after ${res.cacheBound.reads.toLocaleString("en-US")} reads of distinct names, RSS growth within the cache bound + 100 MB`, measured: `${fmt(res.cacheBound.growthMiB, 1)} MiB growth, bound ${fmt(res.cacheBound.localBoundMiB, 0)} MiB`, met: res.cacheBound.withinBoundPlus100MiB });
  out.push({ target: "RSS ≤ 200 MiB after the whole run", measured: last ? `${fmt(last.mib, 1)} MiB (${last.point})` : "–", met: last?.mib != null ? last.mib <= 200 : null });
  return out;
}
