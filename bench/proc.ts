// What /proc says about CPU time and memory: of the server, the load generator, the backing services and
// the whole machine, so a run can tell its own cost from everything else that ran beside it.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";

const TICKS_PER_SECOND = Number(tryRun("getconf", ["CLK_TCK"]) ?? 100) || 100;

function tryRun(file: string, args: string[]): string | undefined {
  try {
    return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}

interface ProcTimes {
  pgrp: number;
  /** utime + stime, in clock ticks. */
  own: number;
  /** cutime + cstime: children already waited for. */
  children: number;
}

function procTimes(pid: number): ProcTimes | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm)": state is field 3, so field n is rest[n - 3].
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
    return { pgrp: rest[2]!, own: rest[11]! + rest[12]!, children: rest[13]! + rest[14]! };
  } catch {
    return undefined;
  }
}

/** Resident set size of a process, in MiB (undefined once it is gone). */
export function rssMiB(pid: number): number | undefined {
  try {
    const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kib === undefined ? undefined : Math.round((Number(kib) / 1024) * 10) / 10;
  } catch {
    return undefined;
  }
}

function machineTicks(): { busy: number; irq: number; steal: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return { busy: user + nice + system, irq: irq + softirq, steal };
}

export interface CpuSnapshot {
  at: number;
  machine: ReturnType<typeof machineTicks>;
  servers: number;
  /** The harness's own time, and that of its children already waited for (the load generators). */
  harness: number;
  loadgen: number;
  services: number;
}

/** Who used how much CPU so far: `servers` are the server pids, `services` the process-group leaders of the backing services. */
export function cpuSnapshot(servers: readonly number[], services: readonly number[]): CpuSnapshot {
  const self = procTimes(process.pid);
  let serviceTicks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const t = procTimes(Number(entry));
    if (!t) continue;
    if (services.includes(t.pgrp)) serviceTicks += t.own;
    if (services.includes(Number(entry))) serviceTicks += t.children;
  }
  return {
    at: performance.now(),
    machine: machineTicks(),
    servers: servers.reduce((sum, pid) => sum + (procTimes(pid)?.own ?? 0), 0),
    harness: self?.own ?? 0,
    loadgen: self?.children ?? 0,
    services: serviceTicks,
  };
}

/** CPU used between two snapshots, in cores (1 = one core busy the whole time). */
export interface CpuUse {
  server: number;
  loadgen: number;
  harness: number;
  services: number;
  /** User + system time of every other process: what makes a run noisy. */
  others: number;
  irq: number;
  steal: number;
  /** Server CPU seconds spent, for per-request costs. */
  serverSeconds: number;
  loadavg: number[];
}

export function cpuUse(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const ticks = ((after.at - before.at) / 1000) * TICKS_PER_SECOND;
  const cores = (d: number) => Math.round((d / ticks) * 1000) / 1000;
  const d = (k: "servers" | "harness" | "loadgen" | "services") => after[k] - before[k];
  const busy = after.machine.busy - before.machine.busy;
  return {
    server: cores(d("servers")),
    loadgen: cores(d("loadgen")),
    harness: cores(d("harness")),
    services: cores(d("services")),
    others: cores(Math.max(0, busy - d("servers") - d("loadgen") - d("harness") - d("services"))),
    irq: cores(after.machine.irq - before.machine.irq),
    steal: cores(after.machine.steal - before.machine.steal),
    serverSeconds: d("servers") / TICKS_PER_SECOND,
    loadavg: loadavg(),
  };
}

export function loadavg(): number[] {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);
}

export function machineInfo(): Record<string, string> {
  const model = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpus()[0]?.model ?? "unknown";
  return {
    nproc: tryRun("nproc", []) ?? String(cpus().length),
    cpu: model.trim(),
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: tryRun("uname", ["-srm"]) ?? "unknown",
    node: process.version,
  };
}

export function commit(): string {
  const head = tryRun("git", ["rev-parse", "--short", "HEAD"]) ?? "unknown";
  // The results files themselves do not make the measured code dirty.
  const status = tryRun("git", ["status", "--porcelain", "--", ".", ":!bench/RESULTS.md", ":!bench/results.json"]);
  const dirty = (status ?? "") !== "";
  return dirty ? `${head} (dirty)` : head;
}
