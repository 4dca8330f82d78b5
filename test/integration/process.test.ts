import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { connectJson } from "../helpers/clients.js";

// The service as a process: dev mode, start-up config errors, SIGTERM.

function startProcess(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err };
}

async function waitFor(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("the service process", () => {
  it("dev mode prints a working token, serves Connect JSON, and stops cleanly on SIGTERM", async () => {
    const p = startProcess(["--dev"], { PORT: "0" });
    try {
      await waitFor(() => /export TOKEN=\S+/.test(p.err()) && p.out().includes('"listening"'), "dev banner");
      expect(p.err()).toMatch(/only in this process/);
      const token = /export TOKEN=(\S+)/.exec(p.err())![1]!;
      const port = JSON.parse(p.out().split("\n").find((l) => l.includes('"listening"'))!).address.port as number;
      const base = `http://127.0.0.1:${port}`;
      const created = await connectJson(base, "CreateSecret", { name: "stripe_api_key", value: "sk_test_dev" }, token);
      expect(created.status).toBe(200);
      const read = await connectJson(base, "GetSecretValue", { name: "stripe_api_key" }, token);
      expect(read.json).toMatchObject({ name: "stripe_api_key", version: "1", value: "sk_test_dev" });
      expect(p.out()).not.toContain("sk_test_dev");
      p.child.kill("SIGTERM");
      const [code] = (await once(p.child, "exit")) as [number];
      expect(code).toBe(0);
      expect(p.out()).toContain('"stopped"');
    } finally {
      p.child.kill("SIGKILL");
    }
  });

  it.each([
    ["MONGODB_URI", { AUTH_JWT_SECRET: "x".repeat(32), KMS_KEY_ID: "alias/k", AWS_REGION: "us-east-1" }],
    ["AUTH_JWT_SECRET", { MONGODB_URI: "mongodb://127.0.0.1:1/x", KMS_KEY_ID: "alias/k", AWS_REGION: "us-east-1", AUTH_JWT_SECRET: "short" }],
    ["PORT", { PORT: "not-a-port", MONGODB_URI: "mongodb://127.0.0.1:1/x", KMS_KEY_ID: "k", AWS_REGION: "r", AUTH_JWT_SECRET: "x".repeat(32) }],
  ])("refuses to start without a valid %s, naming it", async (variable, env) => {
    const p = startProcess([], env);
    const [code] = (await once(p.child, "exit")) as [number];
    expect(code).toBe(2);
    expect(p.err()).toContain(variable);
  });
});
