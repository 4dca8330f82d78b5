import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { freePort } from "./free-port.js";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

// A private redis-server on a free loopback port, in a temp dir, for tests that kill and restart it.

export interface RedisProcess {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** SIGKILL (nothing is saved), and waits for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port: with keepData, from the last snapshot(); without, empty. */
  restart(options: { keepData: boolean }): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing, until resume(). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Writes the data set to dump.rdb (SAVE). Only with `persist: true`. */
  snapshot(): Promise<void>;
  /** Kills the server and removes its dir. */
  stop(): Promise<void>;
}

export interface RedisProcessOptions {
  /** Allows snapshot(), so that restart({ keepData: true }) has data to load. */
  readonly persist?: boolean;
  /** A safety net against a server that never answers, not a speed check. */
  readonly startTimeoutMs?: number;
}

export async function startRedisProcess(options: RedisProcessOptions = {}): Promise<RedisProcess> {
  const dir = await mkdtemp(path.join(tmpdir(), "redis-test-"));
  const port = await freePort();
  const dump = path.join(dir, "dump.rdb");
  let child = await launch(dir, port, options.startTimeoutMs ?? 30_000);

  const kill = () => killProcess(child);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    async restart({ keepData }) {
      await kill();
      if (!keepData) await rm(dump, { force: true });
      child = await launch(dir, port, options.startTimeoutMs ?? 30_000);
    },
    pause: () => void child.kill("SIGSTOP"),
    resume: () => void child.kill("SIGCONT"),
    async snapshot() {
      if (!options.persist) throw new Error("snapshot() needs startRedisProcess({ persist: true })");
      const reply = await inlineCommand(port, "SAVE");
      if (reply !== "+OK") throw new Error(`SAVE answered ${reply}`);
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function launch(dir: string, port: number, startTimeoutMs: number): Promise<ChildProcess> {
  const args = ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir, "--dbfilename", "dump.rdb"];
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const spawnFailed = new Promise<Error>((resolve) => child.once("error", resolve));
  const giveUpAt = Date.now() + startTimeoutMs;
  for (;;) {
    if ((await inlineCommand(port, "PING").catch(() => "")) === "+PONG") return child;
    const failure = await Promise.race([spawnFailed, sleep(20).then(() => undefined)]);
    if (failure || hasExited(child)) throw new Error(`redis-server did not start: ${failure?.message ?? output.slice(-2_000)}`);
    if (Date.now() > giveUpAt) {
      await killProcess(child);
      throw new Error(`redis-server did not answer PING within ${startTimeoutMs} ms:\n${output.slice(-2_000)}`);
    }
  }
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

async function killProcess(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

/** Sends one inline command and resolves with the first line of the reply. */
function inlineCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let reply = "";
    socket.setTimeout(5_000, () => socket.destroy(new Error(`${command}: no reply`)));
    socket.once("connect", () => socket.write(`${command}\r\n`));
    socket.on("data", (d: Buffer) => {
      reply += d.toString();
      const end = reply.indexOf("\r\n");
      if (end === -1) return;
      socket.destroy();
      resolve(reply.slice(0, end));
    });
    socket.once("error", reject);
    socket.once("close", () => reject(new Error(`${command}: connection closed`)));
  });
}
