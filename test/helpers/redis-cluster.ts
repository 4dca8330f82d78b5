import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { homedir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { freePort } from "./free-port.js";

// A Redis Cluster of this test file's own (3 masters, no replicas, on free loopback ports), started,
// restarted and removed through scripts/services.sh (cluster-up, cluster-status, cluster-down --purge),
// so the tests run the same script a developer does, and never touch another file's cluster.

const PROJECT_ROOT = path.resolve(import.meta.dirname, "../..");
const CACHE_DIR = process.env.SECRETS_SERVICE_CACHE ?? path.join(homedir(), ".cache/secrets-service");
/** A safety net for services.sh (which bounds its own waits), not a speed check. */
const SCRIPT_TIMEOUT_MS = 300_000;

export interface RedisCluster {
  /** REDIS_CLUSTER_NAME given to services.sh. */
  readonly name: string;
  /** The masters' client ports, in the order given to `--cluster create`. */
  readonly ports: readonly number[];
  /** redis-cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3, for REDIS_URL. */
  readonly url: string;
  /** `services.sh cluster-up` again: starts the nodes that are down, waits until the cluster is healthy. */
  up(): Promise<void>;
  /** `services.sh cluster-status` exits 0: every node runs, cluster_state:ok, every slot served, all connected. */
  healthy(): Promise<boolean>;
  /** SIGKILL to one node; resolves once the process is gone and its port refuses connections. */
  kill(port: number): Promise<void>;
  /** The port of the master serving `key` (CLUSTER KEYSLOT and CLUSTER SLOTS, asked of a live node). */
  masterOf(key: string): Promise<number>;
  /** A plain connection to one node, for a test's look at it (the caller disconnects it). */
  node(port: number): Redis;
  /** The last lines of every node's log, for a failure's explanation. */
  logTails(lines?: number): Promise<string>;
  /** `services.sh cluster-down --purge`: stops every node, removes their data and logs. */
  stop(): Promise<void>;
}

/** Starts a new cluster named after `label` (plus the pid and a random part) on 6 free ports. */
export async function startRedisCluster(label: string): Promise<RedisCluster> {
  const name = `test-${label}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const ports = await distinctFreePorts(6);
  const [client, bus] = [ports.slice(0, 3), ports.slice(3)];
  const env = {
    ...process.env,
    REDIS_CLUSTER_NAME: name,
    REDIS_CLUSTER_PORTS: client.join(" "),
    REDIS_CLUSTER_BUS_PORTS: bus.join(" "),
    REDIS_CLUSTER_NODE_TIMEOUT: "3000",
    REDIS_CLUSTER_FULL_COVERAGE: "no",
  };
  const script = (...args: string[]) => run(["scripts/services.sh", ...args], env);
  const status = async () => {
    try {
      return { code: 0, out: (await script("cluster-status")).stdout };
    } catch (err) {
      const e = err as { code?: number; stdout?: string };
      return { code: e.code ?? 1, out: e.stdout ?? "" };
    }
  };
  const nodeName = (port: number) => `redis-cluster-${name}-${port}`;

  const cluster: RedisCluster = {
    name,
    ports: client,
    url: `redis-cluster://${client.map((p) => `127.0.0.1:${p}`).join(",")}`,
    async up() {
      await script("cluster-up");
    },
    async healthy() {
      return (await status()).code === 0;
    },
    async kill(port) {
      const line = (await status()).out.split("\n").find((l) => l.startsWith(`${nodeName(port)}:`));
      const pid = Number(/\(pid (\d+)\)/.exec(line ?? "")?.[1]);
      if (!pid) throw new Error(`no running node on port ${port}: ${line ?? "(not listed)"}`);
      process.kill(pid, "SIGKILL");
      await until(async () => !(await alive(pid)) && !(await accepts(port)), `node ${port} (pid ${pid}) is gone`);
    },
    async masterOf(key) {
      for (const port of client) {
        const redis = cluster.node(port);
        try {
          const slot = Number(await redis.cluster("KEYSLOT", key));
          const ranges = await redis.cluster("SLOTS");
          const owner = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2];
          if (owner) return owner[1];
        } catch {
          // this node is down: ask the next
        } finally {
          redis.disconnect();
        }
      }
      throw new Error(`no node could tell which master serves ${key}`);
    },
    node(port) {
      const redis = new Redis({ host: "127.0.0.1", port, lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 5_000, commandTimeout: 10_000 });
      redis.on("error", () => {});
      return redis;
    },
    async logTails(lines = 30) {
      const parts = await Promise.all(
        client.map(async (port) => {
          const text = await readFile(path.join(CACHE_DIR, "logs", `${nodeName(port)}.log`), "utf8").catch((err: Error) => `(no log: ${err.message})`);
          return `--- ${nodeName(port)}\n${text.split("\n").slice(-lines).join("\n")}`;
        }),
      );
      return parts.join("\n");
    },
    async stop() {
      await script("cluster-down", "--purge");
    },
  };

  try {
    await cluster.up();
  } catch (err) {
    const tails = await cluster.logTails().catch(() => "");
    await cluster.stop().catch(() => {});
    throw new Error(`services.sh cluster-up failed: ${String(err)}\n${tails}`);
  }
  return cluster;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile("bash", args, { cwd: PROJECT_ROOT, env, timeout: SCRIPT_TIMEOUT_MS, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`bash ${args.join(" ")}: ${err.message}\n${stderr}`), { code: err.code, stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** Alive and not a zombie (a killed node whose parent, init here, has not reaped it yet counts as gone). */
async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return !/^State:\s*Z/m.test(status) && status !== "";
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Polls `condition` (bounded: a safety net, not a speed check). */
async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}
