import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync, statSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { mintToken } from "../../src/auth/dev-token.js";
import { connectJson } from "../helpers/clients.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { spawnServerProcess, type ServerProcess } from "../helpers/server-process.js";

// The service as a process: dev mode (its token secret kept across restarts, `npm run dev-token`
// for more developers), start-up config errors, SIGTERM. Every dev process gets its own cache
// folder (SECRETS_SERVICE_CACHE), so nothing touches the real ~/.cache/secrets-service.

const PROJECT_ROOT = path.resolve(import.meta.dirname, "../..");
/** Waiting for a process to print or exit: a safety net against a hang, generous for busy machines. */
const PROCESS_WAIT_MS = 120_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempCache(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "secrets-cache-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `npm run dev` as a process on a free port, with its banner printed. */
async function startDev(env: Record<string, string>): Promise<{ server: ServerProcess; token: string }> {
  const server = await spawnServerProcess({ PORT: "0", ...env }, { args: ["--dev"] });
  cleanups.push(() => server.kill());
  await waitUntil(() => /export TOKEN=\S+/.test(server.output()), "the dev banner", PROCESS_WAIT_MS);
  return { server, token: /export TOKEN=(\S+)/.exec(server.output())![1]! };
}

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the dev-token CLI: through `npm run --silent dev-token` (as the README says) or tsx directly. */
function devToken(args: string[], env: Record<string, string>, via: "npm" | "tsx" = "tsx"): Promise<CliResult> {
  const [file, argv] =
    via === "npm" ? ["npm", ["run", "--silent", "dev-token", "--", ...args]] : [process.execPath, ["--import", "tsx", "src/cli/dev-token.ts", ...args]];
  return new Promise((resolve) => {
    execFile(file, argv, { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: PROCESS_WAIT_MS }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function tokenFor(developer: string, env: Record<string, string>, via: "npm" | "tsx" = "tsx"): Promise<string> {
  const r = await devToken(["--developer", developer], env, via);
  expect(r.code, r.stderr).toBe(0);
  const token = r.stdout.trim();
  expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  return token;
}

describe("the service process", () => {
  it("dev mode prints a working token, serves Connect JSON, and stops cleanly on SIGTERM", async () => {
    const { server, token } = await startDev({ SECRETS_SERVICE_CACHE: tempCache() });
    const out = server.output();
    expect(out).toMatch(/only in this process/);
    expect(out).toContain("npm run --silent dev-token -- --developer");
    expect(out).toMatch(/grpcurl/);
    const created = await connectJson(server.baseUrl, "CreateSecret", { name: "stripe_api_key", value: "sk_test_dev" }, token);
    expect(created.status).toBe(200);
    const read = await connectJson(server.baseUrl, "GetSecretValue", { name: "stripe_api_key" }, token);
    expect(read.json).toMatchObject({ name: "stripe_api_key", version: "1", value: "sk_test_dev" });
    expect(server.output()).not.toContain("sk_test_dev");
    expect(await server.terminate()).toBe(0);
    expect(server.output()).toContain('"stopped"');
  });

  it("dev mode keeps its token secret in the cache folder: dev-token mints other developers' tokens, isolated, valid after a restart", async () => {
    const cache = tempCache();
    const env = { SECRETS_SERVICE_CACHE: cache };
    const secretFile = path.join(cache, "dev", "jwt-secret");

    // Before the first `npm run dev` there is no secret to sign with.
    const early = await devToken(["--developer", "alice"], env);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain("start `npm run dev` first");
    expect(early.stdout).toBe("");

    const first = await startDev(env);
    expect(first.server.output()).toContain(secretFile);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(secretFile)).mode & 0o777).toBe(0o700);

    const alice = await tokenFor("alice", env, "npm");
    const dev = first.token;
    const call = (method: string, body: unknown, token: string) => connectJson(first.server.baseUrl, method, body, token);
    expect((await call("CreateSecret", { name: "shared_name", value: "dev-value" }, dev)).status).toBe(200);
    expect((await call("CreateSecret", { name: "shared_name", value: "alice-value" }, alice)).status).toBe(200);
    expect((await call("CreateSecret", { name: "dev_only", value: "dev-only-value" }, dev)).status).toBe(200);
    expect((await call("GetSecretValue", { name: "shared_name" }, dev)).json).toMatchObject({ value: "dev-value" });
    expect((await call("GetSecretValue", { name: "shared_name" }, alice)).json).toMatchObject({ value: "alice-value" });
    expect((await call("GetSecretValue", { name: "dev_only" }, alice)).json).toMatchObject({ code: "not_found" });
    const names = async (token: string) => ((await call("ListSecrets", {}, token)).json.secrets as { name: string }[]).map((s) => s.name).sort();
    expect(await names(dev)).toEqual(["dev_only", "shared_name"]);
    expect(await names(alice)).toEqual(["shared_name"]);
    expect(await first.server.terminate()).toBe(0);

    // After a restart: the same secret, so tokens minted before it still work (the data did not survive).
    const second = await startDev(env);
    const again = (method: string, body: unknown, token: string) => connectJson(second.server.baseUrl, method, body, token);
    expect((await again("GetSecretValue", { name: "shared_name" }, alice)).json).toMatchObject({ code: "not_found" });
    expect((await again("CreateSecret", { name: "after_restart", value: "a2" }, alice)).status).toBe(200);
    expect((await again("GetSecretValue", { name: "after_restart" }, alice)).json).toMatchObject({ value: "a2" });
    expect((await again("GetSecretValue", { name: "after_restart" }, dev)).json).toMatchObject({ code: "not_found" });
    expect((await again("ListSecrets", {}, dev)).status).toBe(200);
    // A token for another developer minted now (with --subject and --ttl) works as well.
    const bob = await devToken(["--developer", "bob", "--subject", "bob-laptop", "--ttl", "30m"], env);
    expect(bob.code, bob.stderr).toBe(0);
    const bobCreated = await again("CreateSecret", { name: "bobs", value: "b" }, bob.stdout.trim());
    expect(bobCreated.status).toBe(200);
    expect(bobCreated.json).toMatchObject({ secret: { createdBy: "bob-laptop" } });
  });

  it("dev mode honours AUTH_JWT_SECRET (and writes no secret file); dev-token signs with it", async () => {
    const cache = tempCache();
    const secret = randomBytes(32).toString("base64url");
    const { server, token } = await startDev({ SECRETS_SERVICE_CACHE: cache, AUTH_JWT_SECRET: secret });
    expect(existsSync(path.join(cache, "dev", "jwt-secret"))).toBe(false);
    expect(server.output()).toContain("signed with AUTH_JWT_SECRET");
    const carol = await tokenFor("carol", { SECRETS_SERVICE_CACHE: cache, AUTH_JWT_SECRET: secret });
    expect((await connectJson(server.baseUrl, "CreateSecret", { name: "c", value: "v" }, carol)).status).toBe(200);
    expect((await connectJson(server.baseUrl, "ListSecrets", {}, token)).json).not.toHaveProperty("secrets");
    const stranger = await mintToken(randomBytes(32).toString("base64url"), { sub: "x", developer_id: "carol" });
    expect((await connectJson(server.baseUrl, "ListSecrets", {}, stranger)).json).toMatchObject({ code: "unauthenticated" });
  });

  it.each([
    [["--developer", "not a name"], /--developer/],
    [["--ttl", "forever"], /--ttl/],
    [["--ttl", "7d"], /AUTH_MAX_TOKEN_LIFETIME/], // the server would refuse a token that lives longer
    [["--bogus"], /bogus/],
  ])("dev-token %j is a usage error (exit 2)", async (args, message) => {
    const r = await devToken(args, { SECRETS_SERVICE_CACHE: tempCache(), AUTH_JWT_SECRET: "x".repeat(32) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain("usage:");
    expect(r.stdout).toBe("");
  });

  it.each([
    ["MONGODB_URI", { AUTH_JWT_SECRET: "x".repeat(32), KMS_KEY_ID: "alias/k", AWS_REGION: "us-east-1" }],
    ["AUTH_JWT_SECRET", { MONGODB_URI: "mongodb://127.0.0.1:1/x", KMS_KEY_ID: "alias/k", AWS_REGION: "us-east-1", AUTH_JWT_SECRET: "short" }],
    ["PORT", { PORT: "not-a-port", MONGODB_URI: "mongodb://127.0.0.1:1/x", KMS_KEY_ID: "k", AWS_REGION: "r", AUTH_JWT_SECRET: "x".repeat(32) }],
  ])("refuses to start without a valid %s, naming it", async (variable, env) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const [code] = (await once(child, "exit")) as [number];
    expect(code).toBe(2);
    expect(err).toContain(variable);
  });
});
