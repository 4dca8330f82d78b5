// ProxyHttpRequest's overhead: the same loopback HTTPS upstream called directly and through the
// service, side by side in one run, at concurrency 1 and 32. Direct and proxied calls both go out
// from hey (HTTP/1.1, kept-alive connections; the proxied ones as Connect JSON), so the difference
// is the service: the RPC, authentication, the secret's read (cached), substitution, the upstream call
// from the service, redaction and the audit event. Proxied gRPC (ghz) is measured as well, and the
// service without its audit trail (AUDIT=off) shows what the audit event adds.
// Run: npm run bench:proxy [-- --duration S --concurrency 1,32 --out DIR]. Writes RESULTS-proxy.md.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { MongoClient } from "mongodb";
import { createTestCa } from "../test/helpers/https-upstream.js";
import { ghz, hey, type LoadResult } from "./load.js";
import { commit, cpuSnapshot, cpuUse, machineInfo, type CpuUse } from "./proc.js";
import { run, stopAll, track } from "./processes.js";
import { benchAuthorization, connectCall, serviceEnv, startServer, type Server } from "./server.js";

const ROOT = resolve(import.meta.dirname, "..");
const { values: flags } = parseArgs({
  options: { duration: { type: "string", default: "10" }, concurrency: { type: "string", default: "1,32" }, out: { type: "string" }, "no-build": { type: "boolean", default: false } },
});
const seconds = Number(flags.duration);
const concurrencies = flags.concurrency!.split(",").map(Number);
const need = (name: string) => process.env[name] ?? fail(`${name} is not set: run it with \`npm run bench:proxy\``);
function fail(message: string): never {
  throw new Error(message);
}
const log = (message: string) => console.error(`bench:proxy: ${message}`);

interface Row {
  readonly what: string;
  readonly concurrency: number;
  readonly round: number;
  readonly load: LoadResult;
  readonly cpu: CpuUse;
}

const workDir = mkdtempSync(join(tmpdir(), "secrets-bench-proxy-"));
const database = `bench_proxy_${randomBytes(4).toString("hex")}`;

async function main(): Promise<void> {
  const bin = need("BENCH_BIN_DIR");
  const servicePids = need("BENCH_SERVICE_PIDS").split(/\s+/).filter(Boolean).map(Number);
  if (!flags["no-build"]) {
    const out = await run("npm", ["run", "--silent", "build", "--", "--incremental", "--tsBuildInfoFile", "dist/.bench.tsbuildinfo"], { cwd: ROOT });
    if (out.code !== 0) throw new Error(`npm run build failed:\n${out.stdout}${out.stderr}`);
  }
  const ca = createTestCa();
  const caFile = join(workDir, "ca.pem");
  writeFileSync(caFile, ca.caPem);
  const upstream = track(spawn("tsx", ["bench/upstream.ts"], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, BENCH_UPSTREAM_TLS: JSON.stringify({ cert: ca.certPem, key: ca.keyPem }) } }));
  const upstreamPort = await new Promise<number>((resolvePort, reject) => {
    upstream.stdout!.once("data", (d: Buffer) => resolvePort(Number(String(d).trim())));
    upstream.once("exit", (code) => reject(new Error(`the upstream exited (${code})`)));
  });
  const upstreamHost = `127.0.0.1:${upstreamPort}`;

  const secret = randomBytes(32).toString("base64url");
  const authorization = await benchAuthorization(secret);
  const mongoUri = new URL(need("MONGODB_URI"));
  mongoUri.pathname = `/${database}`;
  const env = (audit: "on" | "off"): Record<string, string> => ({
    NODE_ENV: "production",
    LOG_LEVEL: "info",
    STORE: "mongodb",
    MONGODB_URI: mongoUri.toString(),
    KEY_PROVIDER: "aws-kms",
    ...serviceEnv(need),
    AUTH_JWT_SECRET: secret,
    AUDIT: audit,
    PROXY_ALLOW_PRIVATE_HOSTS: upstreamHost,
    PROXY_CA_FILE: caFile,
    PROXY_MAX_CONCURRENCY: "64",
  });
  const servers: Server[] = [await startServer(ROOT, "audit-on", env("on"), workDir), await startServer(ROOT, "audit-off", env("off"), workDir)];
  const key = `sk_bench_${randomBytes(16).toString("hex")}`;
  await connectCall(servers[0]!.base, "secrets.v1.SecretsService/CreateSecret", { name: "stripe_api_key", value: key, allowedHosts: [upstreamHost] }, authorization);

  const body = JSON.stringify({ amount: 2000, currency: "usd" });
  const proxied = {
    method: "POST",
    url: `https://${upstreamHost}/v1/charges`,
    headers: [
      { name: "authorization", value: "Bearer {{ secrets.stripe_api_key }}" },
      { name: "content-type", value: "application/json" },
    ],
    body: Buffer.from(body).toString("base64"),
  };
  const check = (await connectCall(servers[0]!.base, "secrets.v1.SecretsService/ProxyHttpRequest", proxied, authorization)) as { status?: number; body?: string };
  if (check.status !== 200 || Buffer.from(check.body ?? "", "base64").toString().includes(key)) throw new Error(`the proxied call does not work: ${JSON.stringify(check)}`);

  const proto = join(ROOT, "proto/secrets/v1/secrets.proto");
  const kinds: { what: string; measure: (c: number, report: string) => Promise<LoadResult> }[] = [
    // hey sends its body to the upstream as the proxy does (same headers, literal key): the baseline.
    // hey does not verify the test certificate.
    { what: "direct (hey, HTTPS)", measure: (c, report) => hey(join(bin, "hey"), { url: `https://${upstreamHost}/v1/charges`, body, authorization: `Bearer ${key}` }, { concurrency: c, seconds, reportFile: report }) },
    { what: "proxied, Connect JSON (hey), audit on", measure: (c, report) => hey(join(bin, "hey"), { url: `${servers[0]!.base}/secrets.v1.SecretsService/ProxyHttpRequest`, body: JSON.stringify(proxied), authorization }, { concurrency: c, seconds, reportFile: report }) },
    { what: "proxied, Connect JSON (hey), audit off", measure: (c, report) => hey(join(bin, "hey"), { url: `${servers[1]!.base}/secrets.v1.SecretsService/ProxyHttpRequest`, body: JSON.stringify(proxied), authorization }, { concurrency: c, seconds, reportFile: report }) },
    {
      what: "proxied, gRPC (ghz), audit on",
      measure: (c, report) =>
        ghz(join(bin, "ghz"), servers[0]!.target, { method: "secrets.v1.SecretsService/ProxyHttpRequest", proto, importPath: join(ROOT, "proto"), data: proxied, authorization }, { concurrency: c, seconds, reportFile: report }),
    },
  ];
  const rows: Row[] = [];
  const pids = [...servers.map((s) => s.pid), upstream.pid!];
  for (const c of concurrencies) {
    for (let round = 1; round <= 2; round++) {
      for (const kind of kinds) {
        const before = cpuSnapshot(pids, servicePids);
        const load = await kind.measure(c, join(workDir, `${rows.length}.report`));
        const cpu = cpuUse(before, cpuSnapshot(pids, servicePids));
        rows.push({ what: kind.what, concurrency: c, round, load, cpu });
        log(`${kind.what} c=${c} #${round}: ${load.rps.toFixed(0)} rps, p50 ${load.p50} ms, p99 ${load.p99} ms, errors ${load.errors}, others ${cpu.others} cores`);
      }
    }
  }
  const outDir = flags.out ? resolve(flags.out) : join(ROOT, "bench");
  writeFileSync(join(outDir, "RESULTS-proxy.md"), render(rows, kinds.map((k) => k.what)));
  log(`wrote ${join(outDir, "RESULTS-proxy.md")}`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const f = (n: number | null | undefined, digits = 2) => (n === null || n === undefined ? "n/a" : n.toFixed(digits));

function render(rows: readonly Row[], kinds: readonly string[]): string {
  const m = machineInfo();
  const lines = [
    "# ProxyHttpRequest overhead (`npm run bench:proxy`)",
    "",
    `${new Date().toISOString()}, commit ${commit()}; ${m.nproc} cores (${m.cpu}), ${m.memory}, ${m.kernel}, node ${m.node}.`,
    `${seconds} s per run, each kind twice per concurrency (A B C D A B C D); the server (production mode, FerretDB, Redis, LocalStack KMS),`,
    "the upstream (its own process), the load generator and the backing services share the machine's cores.",
    "",
    "| kind | c | round | rps | p50 ms | p99 ms | errors | server cores | upstream+harness | others (noise) | load avg |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.what} | ${r.concurrency} | ${r.round} | ${r.load.rps.toFixed(0)} | ${f(r.load.p50)} | ${f(r.load.p99)} | ${r.load.errors} | ${r.cpu.server.toFixed(2)} | ${(r.cpu.harness + r.cpu.loadgen).toFixed(2)} | ${r.cpu.others.toFixed(2)} | ${r.cpu.loadavg.join(" ")} |`,
    ),
    "",
    "## Added latency at p50 (median of the two rounds, minus the direct call's)",
    "",
    "| c | direct p50 ms | " + kinds.slice(1).map((k) => `${k}: added ms`).join(" | ") + " |",
    "|---|---|" + kinds.slice(1).map(() => "---").join("|") + "|",
  ];
  for (const c of new Set(rows.map((r) => r.concurrency))) {
    const p50 = (what: string) => median(rows.filter((r) => r.what === what && r.concurrency === c && r.load.p50 !== null).map((r) => r.load.p50!));
    const direct = p50(kinds[0]!);
    lines.push(`| ${c} | ${f(direct)} | ${kinds.slice(1).map((k) => f(p50(k) - direct)).join(" | ")} |`);
  }
  lines.push("", "Target: at most 1 ms added at p50. The server cores column includes both servers (only one is loaded per run).", "");
  return lines.join("\n");
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
    const client = new MongoClient(need("MONGODB_URI"), { serverSelectionTimeoutMS: 5_000 });
    await client.db(database).dropDatabase().catch((err: Error) => log(`could not drop database ${database}: ${err.message}`));
    await client.close();
    rmSync(workDir, { recursive: true, force: true });
  });
