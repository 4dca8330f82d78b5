// The load generators: ghz (gRPC over HTTP/2, one connection) and hey (HTTP/1.1, one connection per
// worker), each run for a fixed time; their reports reduced to the same shape.
import { readFile, writeFile } from "node:fs/promises";
import { run } from "./processes.js";

export interface LoadResult {
  tool: "ghz" | "hey";
  seconds: number;
  /** Every answer, errors included. */
  requests: number;
  ok: number;
  errors: number;
  /** gRPC status names (ghz) or HTTP status codes and transport errors (hey), with counts. */
  statuses: Record<string, number>;
  errorSamples: string[];
  /** OK answers per second. */
  rps: number;
  /** Latency percentiles of the OK answers (ghz) or of all answers (hey), in milliseconds. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface LoadOptions {
  concurrency: number;
  seconds: number;
  /** Where the tool's own report goes (kept for a look when something is off). */
  reportFile: string;
}

export interface GrpcCall {
  /** package.Service/Method */
  method: string;
  proto: string;
  importPath: string;
  /** One message, or (an array of messages) sent round-robin. */
  data: unknown;
  authorization?: string;
  /** The data holds ghz templates such as {{.RequestNumber}}. */
  templated?: boolean;
}

const ms = (ns: number) => Math.round(ns / 1e4) / 100;

export async function ghz(bin: string, target: string, call: GrpcCall, opts: LoadOptions): Promise<LoadResult> {
  const args = ["--insecure", "--proto", call.proto, "--import-paths", call.importPath, "--call", call.method];
  args.push("-d", JSON.stringify(call.data), "-c", String(opts.concurrency), "-z", `${opts.seconds}s`);
  // wait: requests in flight when the time is up are finished and counted, not cancelled as errors.
  args.push("--duration-stop", "wait", "-O", "json", "-o", opts.reportFile);
  if (call.authorization) args.push("-m", JSON.stringify({ authorization: call.authorization }));
  if (!call.templated) args.push("--disable-template-data", "--disable-template-functions");
  const out = await run(bin, [...args, target]);
  if (out.code !== 0) throw new Error(`ghz ${call.method} exited with ${out.code}: ${out.stderr.trim() || out.stdout.trim()}`);
  const r = JSON.parse(await readFile(opts.reportFile, "utf8")) as GhzReport;
  const statuses = r.statusCodeDistribution ?? {};
  const ok = statuses.OK ?? 0;
  const seconds = r.total / 1e9;
  const at = (p: number) => {
    const hit = (r.latencyDistribution ?? []).find((d) => d.percentage === p);
    return ok > 0 && hit ? ms(hit.latency) : null;
  };
  return {
    tool: "ghz",
    seconds,
    requests: r.count,
    ok,
    errors: r.count - ok,
    statuses,
    errorSamples: Object.keys(r.errorDistribution ?? {}).slice(0, 3),
    rps: ok / seconds,
    p50: at(50),
    p95: at(95),
    p99: at(99),
  };
}

interface GhzReport {
  count: number;
  total: number;
  statusCodeDistribution: Record<string, number> | null;
  errorDistribution: Record<string, number> | null;
  latencyDistribution: { percentage: number; latency: number }[] | null;
}

export interface HttpCall {
  url: string;
  body: string;
  authorization?: string;
}

/** hey's text summary: it sends one body over and over (it cannot vary it per request). */
export async function hey(bin: string, call: HttpCall, opts: LoadOptions): Promise<LoadResult> {
  const args = ["-z", `${opts.seconds}s`, "-c", String(opts.concurrency), "-m", "POST", "-T", "application/json", "-d", call.body];
  if (call.authorization) args.push("-H", `authorization: ${call.authorization}`);
  const out = await run(bin, [...args, call.url]);
  await writeFile(opts.reportFile, out.stdout + out.stderr);
  if (out.code !== 0) throw new Error(`hey ${call.url} exited with ${out.code}: ${out.stderr.trim()}`);
  return parseHey(out.stdout);
}

export function parseHey(text: string): LoadResult {
  const num = (re: RegExp) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const seconds = num(/Total:\s+([\d.]+) secs/);
  if (seconds === undefined) throw new Error(`hey printed no summary:\n${text.slice(0, 2_000)}`);
  const statuses: Record<string, number> = {};
  for (const m of text.matchAll(/\[(\d{3})\]\s+(\d+) responses/g)) statuses[m[1]!] = Number(m[2]);
  const errorSection = text.split("Error distribution:")[1] ?? "";
  const errorSamples: string[] = [];
  for (const m of errorSection.matchAll(/^\s*\[(\d+)\]\s+(.+)$/gm)) {
    statuses[`error: ${m[2]!.slice(0, 80)}`] = Number(m[1]);
    errorSamples.push(m[2]!);
  }
  const requests = Object.values(statuses).reduce((a, b) => a + b, 0);
  const ok = statuses["200"] ?? 0;
  // hey writes "50%% in 0.0012 secs" (a doubled percent sign) in some versions.
  const at = (p: number) => {
    const v = num(new RegExp(`\\b${p}%+ in ([\\d.]+) secs`));
    return v === undefined ? null : Math.round(v * 1e5) / 100;
  };
  return {
    tool: "hey",
    seconds,
    requests,
    ok,
    errors: requests - ok,
    statuses,
    errorSamples: errorSamples.slice(0, 3),
    rps: ok / seconds,
    p50: at(50),
    p95: at(95),
    p99: at(99),
  };
}
