// A production-mode server process (node dist/src/main.js) on free loopback ports, and Connect JSON calls to it.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { SignJWT } from "jose";
import { stop, track } from "./processes.js";

export interface Server {
  readonly name: string;
  readonly pid: number;
  readonly base: string;
  readonly target: string;
  readonly metricsPort: number;
  readonly logFile: string;
  /** Bytes the server has written to stdout (its log) so far. */
  logBytes(): number;
  stop(): Promise<void>;
}

/** An HS256 bearer token for developer `bench`, signed with the servers' AUTH_JWT_SECRET. */
export async function benchAuthorization(secret: string): Promise<string> {
  const jwt = await new SignJWT({ developer_id: "bench" }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject("bench").setIssuedAt().setExpirationTime("2h");
  return `Bearer ${await jwt.sign(new TextEncoder().encode(secret))}`;
}

/** The backing services' settings (from scripts/services.sh env), as every bench server gets them. */
export function serviceEnv(need: (name: string) => string): Record<string, string> {
  return Object.fromEntries(["KMS_ENDPOINT", "KMS_KEY_ID", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "REDIS_URL"].map((k) => [k, need(k)]));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Starts the built server as `npm start` does (scripts/start.sh: jemalloc, V8 flags) with exactly `env` (plus PATH, HOME, ports) and waits until its health check answers. */
export async function startServer(root: string, name: string, env: Record<string, string>, workDir: string): Promise<Server> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const logFile = join(workDir, `server-${name}.log`);
  const errFile = join(workDir, `server-${name}.stderr`);
  const out = openSync(logFile, "w");
  const err = openSync(errFile, "w");
  const child = track(
    // start.sh ends in exec: the child's pid is the server's.
    spawn("bash", ["scripts/start.sh"], {
      cwd: root,
      stdio: ["ignore", out, err],
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env, HOST: "127.0.0.1", PORT: String(port), METRICS_PORT: String(metricsPort) },
    }),
  );
  closeSync(out);
  closeSync(err);
  const base = `http://127.0.0.1:${port}`;
  const server: Server = {
    name,
    pid: child.pid!,
    base,
    target: `127.0.0.1:${port}`,
    metricsPort,
    logFile,
    logBytes: () => statSync(logFile).size,
    stop: () => stop(child),
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server ${name} exited (${child.exitCode ?? child.signalCode}) during start:\n${tail(errFile)}\n${tail(logFile)}`);
    }
    const health = await connectCall(base, "grpc.health.v1.Health/Check", {}).catch(() => undefined);
    if ((health as { status?: string } | undefined)?.status === "SERVING") return server;
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`server ${name} did not report SERVING within 60 s:\n${tail(errFile)}\n${tail(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function tail(file: string): string {
  return readFileSync(file, "utf8").split("\n").slice(-20).join("\n");
}

export class CallError extends Error {}

/** One Connect unary call with a JSON body, over HTTP/1.1; throws with the Connect error code when it fails. */
export async function connectCall(base: string, method: string, body: unknown, authorization?: string): Promise<unknown> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (authorization) headers.authorization = authorization;
  const res = await fetch(`${base}/${method}`, { method: "POST", headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  const json = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
  if (!res.ok) throw new CallError(`${method}: HTTP ${res.status} ${json.code ?? ""} ${json.message ?? ""}`.trim());
  return json;
}
