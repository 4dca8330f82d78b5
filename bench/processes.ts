// Every child process the harness starts is tracked here, so an error or Ctrl-C never leaves one behind.
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

const live = new Set<ChildProcess>();
let closing = false;

export function track<T extends ChildProcess>(child: T): T {
  if (closing) {
    child.kill("SIGKILL");
    throw new Error("the bench is stopping");
  }
  live.add(child);
  child.once("exit", () => live.delete(child));
  child.once("error", () => live.delete(child)); // never started (ENOENT): there is no exit to wait for
  return child;
}

/** Sends SIGTERM to every live child, then SIGKILL to those still there after `graceMs`; starts no more. */
export async function stopAll(graceMs = 5_000): Promise<void> {
  closing = true;
  await Promise.all([...live].map((child) => stop(child, graceMs)));
}

export function stop(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Last resort on process exit: whatever is still running gets SIGKILL. */
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export interface ToolOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, keeping what it printed. */
export function run(file: string, args: readonly string[], options: SpawnOptions = {}): Promise<ToolOutput> {
  const child = track(spawn(file, args, { ...options, stdio: ["ignore", "pipe", "pipe"] }));
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}
