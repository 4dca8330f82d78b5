import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { freePort } from "./free-port.js";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

// A private FerretDB (the binary scripts/services.sh built, on SQLite in a temp dir) on a free
// loopback port, for tests that kill, pause and restart the database under the service.

export interface FerretProcess {
  readonly port: number;
  /** mongodb://127.0.0.1:PORT/DB */
  uri(db: string): string;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data. */
  restart(): Promise<void>;
  /** SIGSTOP: connections stay open, nothing answers, until resume(). */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

const BINARY = path.join(process.env.SECRETS_SERVICE_CACHE || path.join(homedir(), ".cache", "secrets-service"), "bin", "ferretdb");

export async function startFerretProcess(startTimeoutMs = 60_000): Promise<FerretProcess> {
  const dir = await mkdtemp(path.join(tmpdir(), "ferretdb-test-"));
  const port = await freePort();
  let child = await launch(dir, port, startTimeoutMs);
  return {
    port,
    uri: (db) => `mongodb://127.0.0.1:${port}/${db}`,
    kill: () => killProcess(child),
    async restart() {
      await killProcess(child);
      child = await launch(dir, port, startTimeoutMs);
    },
    pause: () => void child.kill("SIGSTOP"),
    resume: () => void child.kill("SIGCONT"),
    async stop() {
      child.kill("SIGCONT");
      await killProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function launch(dir: string, port: number, startTimeoutMs: number): Promise<ChildProcess> {
  const args = [
    "--handler=sqlite",
    `--sqlite-url=file:${dir}/`,
    `--state-dir=${dir}`,
    `--listen-addr=127.0.0.1:${port}`,
    "--debug-addr=-",
    "--telemetry=disable",
    "--log-level=warn",
  ];
  const child = spawn(BINARY, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const failed = new Promise<Error>((resolve) => child.once("error", resolve));
  const giveUpAt = Date.now() + startTimeoutMs;
  for (;;) {
    if (await portOpen(port)) return child;
    const failure = await Promise.race([failed, sleep(50).then(() => undefined)]);
    if (failure || child.exitCode !== null) throw new Error(`ferretdb did not start: ${failure?.message ?? output.slice(-2_000)}`);
    if (Date.now() > giveUpAt) {
      await killProcess(child);
      throw new Error(`ferretdb did not listen within ${startTimeoutMs} ms:\n${output.slice(-2_000)}`);
    }
  }
}

async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGCONT");
  child.kill("SIGKILL");
  await exited;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}
