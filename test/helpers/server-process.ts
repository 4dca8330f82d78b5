import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

// The service as a real OS process (src/main.ts under tsx), for tests that kill it.

const PROJECT_ROOT = path.resolve(import.meta.dirname, "../..");

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly baseUrl: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when the process has exited (at once if it already has). */
  exited(): Promise<void>;
  /** Sends SIGKILL and waits for the exit. */
  kill(): Promise<void>;
  /** Sends SIGTERM (a clean shutdown) and resolves with the exit code. */
  terminate(): Promise<number | null>;
}

export interface SpawnOptions {
  /** Arguments after src/main.ts, e.g. ["--dev"]. */
  readonly args?: readonly string[];
  /** A safety net against a process that never starts, not a speed check: generous for busy machines. */
  readonly startTimeoutMs?: number;
  /** Keep at most this much of the output once started (a long run logs a line per call). Default: all. */
  readonly keepOutputBytes?: number;
}

/**
 * Starts `node --import tsx src/main.ts` with exactly `env` (plus PATH and HOME)
 * and waits for its JSON "listening" log line, which carries the bound port.
 */
export async function spawnServerProcess(env: Record<string, string>, options: SpawnOptions = {}): Promise<ServerProcess> {
  const startTimeoutMs = options.startTimeoutMs ?? 120_000;
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...(options.args ?? [])], {
    cwd: PROJECT_ROOT,
    // Metrics on a free port unless the test chooses: processes of parallel test files must not collide.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, METRICS_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let started = false;
  const append = (d: Buffer) => {
    out += d.toString();
    const keep = options.keepOutputBytes;
    if (started && keep !== undefined && out.length > 2 * keep) out = out.slice(-keep);
  };
  child.stdout!.on("data", append);
  child.stderr!.on("data", append);
  const exit = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  const exited = () => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : exit);
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exit;
  };

  const until = Date.now() + startTimeoutMs;
  let port: number | undefined;
  while (port === undefined) {
    port = listeningPort(out);
    if (port !== undefined) break;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited during start:\n${out.slice(-2_000)}`);
    if (Date.now() > until) {
      await kill();
      throw new Error(`server did not log "listening" within ${startTimeoutMs} ms:\n${out.slice(-2_000)}`);
    }
    await sleep(20);
  }
  started = true;
  const terminate = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exit;
    return child.exitCode;
  };
  return { child, port, baseUrl: `http://127.0.0.1:${port}`, output: () => out, exited, kill, terminate };
}

function listeningPort(out: string): number | undefined {
  for (const line of out.split("\n")) {
    if (!line.includes('"listening"')) continue;
    try {
      const port = (JSON.parse(line) as { address?: { port?: unknown } }).address?.port;
      if (typeof port === "number") return port;
    } catch {
      // a partial line: the rest is still on its way
    }
  }
  return undefined;
}
