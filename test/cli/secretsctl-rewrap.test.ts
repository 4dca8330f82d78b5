import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer as createHttp2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RewrapKeysResponseSchema, SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { LocalKeyProvider } from "../../src/adapters/local-kms/local-key-provider.js";
import { mintToken, type DevTokenClaims } from "../../src/auth/dev-token.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { spawnServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { mongoUriFor, services } from "../helpers/services.js";

// `secretsctl admin rewrap` as an operator runs it, over one database and three servers:
//   A  this process's test server, local master key k1 only (active): the secrets are written here;
//   B  a server process holding k1 and k2, k2 active: the re-wrap runs here;
//   C  a server process holding only k2, started after the re-wrap: every value must still open.
// A owns the database (its close drops it), so it stays up to the end, idle after the writes.
// What a real server cannot be made to do on cue (fail after a page, answer UNAVAILABLE n times) is
// checked against a scripted RewrapKeys on loopback, at the end.

const BIN = join(import.meta.dirname, "../../bin/secretsctl");
const dir = mkdtempSync(join(tmpdir(), "secretsctl-rewrap-"));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const k1 = randomBytes(32);
const k2 = randomBytes(32);
let a: TestServer;
let b: ServerProcess | undefined;
let c: ServerProcess | undefined;

/** The environment of a server process on A's database, with these local master keys. */
function processEnv(masterKeys: string, activeKeyId: string): Record<string, string> {
  return {
    PORT: "0",
    STORE: "mongodb",
    MONGODB_URI: mongoUriFor(a.fixture.db!),
    KEY_PROVIDER: "local",
    LOCAL_MASTER_KEY: masterKeys,
    LOCAL_MASTER_KEY_ID: activeKeyId,
    AUTH_JWT_SECRET: a.jwtSecret,
    TASK_TOKEN_KEYS: a.taskTokenJwks,
    REDIS_URL: services.redisUrl,
    CHANGE_CHANNEL: a.changeChannel!,
    // "info": the "listening" line, which carries the port, is an info line.
    LOG_LEVEL: "info",
  };
}

beforeAll(async () => {
  a = await startTestServer({ store: "mongodb", keys: new LocalKeyProvider(new Map([["k1", Buffer.from(k1)]]), "k1"), label: "cli_rewrap" });
  b = await spawnServerProcess(processEnv(`k1:${k1.toString("base64")},k2:${k2.toString("base64")}`, "k2"));
}, 300_000);

afterAll(async () => {
  await Promise.allSettled([b?.kill(), c?.kill()]);
  await a?.close();
}, 120_000);

const tenant = () => `dev_rewrap_${randomBytes(4).toString("hex")}`;
const targetOf = (p: ServerProcess) => `127.0.0.1:${p.port}`;

/** Runs secretsctl with `args`, `env` added, `input` on stdin (a pipe, never a terminal). */
function run(args: readonly string[], env: Record<string, string | undefined>, input = ""): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, {
      env: { ...process.env, SECRETSCTL_CONFIG: join(dir, "absent.yaml"), SECRETS_TOKEN: undefined, SECRETS_ADDR: undefined, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    child.stdin.end(input);
  });
}

/** secretsctl against `target` with a token of `developer` (extra claims: scope, ...). */
async function cliAt(target: string, developer: string, extra?: Partial<DevTokenClaims>) {
  const env = { SECRETS_ADDR: target, SECRETS_TOKEN: await mintToken(a.jwtSecret, { sub: `${developer}-user`, developer_id: developer, ...extra }) };
  return (args: readonly string[], input?: string) => run(args, env, input);
}

function ok(r: Run): Run {
  expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  return r;
}

/** The run failed with `code`, and stderr's last line names `grpcCode` (when given). */
function failed(r: Run, code: number, grpcCode?: string, message?: RegExp): string {
  expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(code);
  const line = r.stderr.trim().split("\n").at(-1)!;
  if (grpcCode) expect(line).toMatch(new RegExp(`^secretsctl: ${grpcCode}: `));
  if (message) expect(line).toMatch(message);
  return line;
}

interface Progress {
  readonly secrets: number;
  readonly rewrapped: number;
  readonly already: number;
  readonly skipped: number;
  /** The --resume token, or undefined on the "done" line. */
  readonly resume: string | undefined;
}

const PROGRESS = /^rewrap: (\d+) secrets, (\d+) re-wrapped, (\d+) already, (\d+) skipped; (?:resume with --resume (\S+)|done)$/;

/** The progress lines of a run's stderr (every line must be one). */
function progressOf(stderr: string): Progress[] {
  return stderr
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const m = PROGRESS.exec(line);
      expect(m, `not a progress line: ${line}`).not.toBeNull();
      return { secrets: Number(m![1]), rewrapped: Number(m![2]), already: Number(m![3]), skipped: Number(m![4]), resume: m![5] };
    });
}

interface Summary {
  secrets: number;
  rewrapped: number;
  already: number;
  skipped: number;
  keyId: string;
  cacheKeyRotated: boolean;
}

// What the test writes on A, tenant by tenant: every version's value (undefined: destroyed).
interface Written {
  readonly developer: string;
  readonly name: string;
  readonly values: Array<string | undefined>;
  readonly disabled?: number;
  readonly deleted?: boolean;
}

describe("secretsctl admin rewrap", () => {
  it("re-wraps every version of every tenant from k1 to k2, page by page; a server with only k2 then reads every value", async () => {
    const t1 = tenant();
    const t2 = tenant();
    const odd = 'line one\nline "two" \'é€😀\'\n\n';
    const written: Written[] = [
      { developer: t1, name: "alpha", values: ["a1", "a2", "a3"] },
      { developer: t1, name: "beta", values: [undefined, "b2"] },
      { developer: t1, name: "gamma", values: ["g1", "g2"], disabled: 1 },
      { developer: t1, name: "odd_bytes", values: [odd] },
      { developer: t2, name: "delta", values: ["d1", "d2"] },
      { developer: t2, name: "epsilon", values: ["e1"], deleted: true },
    ];
    for (const w of written) {
      const cli = await cliAt(a.target, w.developer);
      for (const [i, v] of w.values.entries()) ok(await cli(i === 0 ? ["create", w.name, "--value-file", "-"] : ["put", w.name, "--value-file", "-"], v ?? `destroy_me_${i}`));
      for (const [i, v] of w.values.entries()) if (v === undefined) ok(await cli(["destroy", w.name, String(i + 1), "--yes"]));
      if (w.disabled) ok(await cli(["disable", w.name, String(w.disabled)]));
      const versions = JSON.parse(ok(await cli(["versions", w.name, "-o", "json"])).stdout) as Array<{ version: string; state: string; keyId?: string }>;
      for (const v of versions) if (v.state !== "VERSION_STATE_DESTROYED") expect(v.keyId, `${w.name} v${v.version} on A`).toBe("k1");
      if (w.deleted) ok(await cli(["delete", w.name]));
    }
    const liveVersions = written.reduce((n, w) => n + w.values.filter((v) => v !== undefined).length, 0);
    const destroyed = written.reduce((n, w) => n + w.values.filter((v) => v === undefined).length, 0);
    expect([written.length, liveVersions, destroyed]).toEqual([6, 10, 1]);

    const admin = await cliAt(targetOf(b!), tenant(), { scope: "secrets.admin" });
    const first = ok(await admin(["admin", "rewrap", "--to-key", "k2", "--page-size", "2", "-o", "json"]));
    const pages = progressOf(first.stderr);
    // 6 secrets, 2 a page: at least 3 pages, every one but the last naming where to resume.
    expect(pages.length, first.stderr).toBeGreaterThanOrEqual(3);
    expect(pages.slice(0, -1).every((p) => p.resume !== undefined)).toBe(true);
    expect(pages.at(-1)!.resume).toBeUndefined();
    for (let i = 1; i < pages.length; i++) expect(pages[i]!.secrets).toBeGreaterThanOrEqual(pages[i - 1]!.secrets);
    expect(pages[0]!.secrets).toBeLessThanOrEqual(2);
    const summary = JSON.parse(first.stdout) as Summary;
    // Re-wrapped: each version not destroyed, and the copy of each secret's current version.
    expect(summary).toEqual({ secrets: 6, rewrapped: liveVersions + written.length, already: 0, skipped: destroyed, keyId: "k2", cacheKeyRotated: true });
    const last = pages.at(-1)!;
    expect([last.secrets, last.rewrapped, last.already, last.skipped]).toEqual([summary.secrets, summary.rewrapped, summary.already, summary.skipped]);

    // k1 is gone: C holds only k2. Every value reads back byte for byte, the disabled one once enabled,
    // the deleted one once restored; every version not destroyed is now under k2.
    c = await spawnServerProcess(processEnv(`k2:${k2.toString("base64")}`, "k2"));
    for (const w of written) {
      const cli = await cliAt(targetOf(c!), w.developer);
      if (w.deleted) ok(await cli(["restore", w.name]));
      if (w.disabled) ok(await cli(["enable", w.name, String(w.disabled)]));
      for (const [i, v] of w.values.entries()) {
        const read = await cli(["value", w.name, "--version", String(i + 1)]);
        if (v === undefined) failed(read, 1, "FAILED_PRECONDITION");
        else expect(ok(read).stdout, `${w.name} v${i + 1} on C`).toBe(v);
      }
      expect(ok(await cli(["value", w.name])).stdout).toBe(w.values.at(-1));
      const versions = JSON.parse(ok(await cli(["versions", w.name, "-o", "json"])).stdout) as Array<{ version: string; state: string; keyId?: string }>;
      expect(versions).toHaveLength(w.values.length);
      for (const v of versions) if (v.state !== "VERSION_STATE_DESTROYED") expect(v.keyId, `${w.name} v${v.version} on C`).toBe("k2");
    }

    // A run after completion (on C: nothing is left that needs k1) re-wraps nothing; as a table.
    const adminOnC = await cliAt(targetOf(c!), tenant(), { scope: "secrets.admin" });
    const again = ok(await adminOnC(["admin", "rewrap", "--to-key", "k2"]));
    expect(progressOf(again.stderr).at(-1)!.resume).toBeUndefined();
    expect(again.stdout).toMatch(/^FIELD\s+VALUE$/m);
    expect(again.stdout).toMatch(/^secrets\s+6$/m);
    expect(again.stdout).toMatch(/^rewrapped\s+0$/m);
    expect(again.stdout).toMatch(new RegExp(`^already\\s+${liveVersions}$`, "m"));
    expect(again.stdout).toMatch(new RegExp(`^skipped\\s+${destroyed}$`, "m"));
    expect(again.stdout).toMatch(/^key_id\s+k2$/m);

    // --resume with the first run's first token goes on after its first page: the other secrets only.
    const resumed = ok(await adminOnC(["admin", "rewrap", "--to-key", "k2", "--page-size", "2", "--resume", pages[0]!.resume!, "-o", "yaml"]));
    expect(resumed.stdout).toMatch(new RegExp(`^secrets: ${6 - pages[0]!.secrets}$`, "m"));
    expect(resumed.stdout).toMatch(/^rewrapped: 0$/m);
    expect(resumed.stdout).toMatch(/^keyId: k2$/m);
  }, 600_000);

  it("--to-key must be the active key: k1 on B is FAILED_PRECONDITION naming to_key (exit 1), before any page", async () => {
    const admin = await cliAt(targetOf(b!), tenant(), { scope: "secrets.admin" });
    const r = await admin(["admin", "rewrap", "--to-key", "k1"]);
    failed(r, 1, "FAILED_PRECONDITION", /to_key/);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^rewrap: stopped before a page completed; run it again to start from the beginning$/m);
  }, 120_000);

  it("a failed call prints where to resume, then the error line, and exits with its code", async () => {
    const admin = await cliAt(targetOf(b!), tenant(), { scope: "secrets.admin" });
    const r = await admin(["admin", "rewrap", "--to-key", "k2", "--resume", "not-a-token"]);
    failed(r, 1, "INVALID_ARGUMENT", /page_token/);
    expect(r.stderr).toMatch(/^rewrap: stopped after 0 page\(s\) \(0 secrets, 0 re-wrapped, 0 already, 0 skipped\); resume with --resume not-a-token$/m);
  }, 120_000);

  it("needs scope secrets.admin (PERMISSION_DENIED, exit 4)", async () => {
    const developer = tenant();
    const plain = await cliAt(targetOf(b!), developer);
    failed(await plain(["admin", "rewrap", "--to-key", "k2"]), 4, "PERMISSION_DENIED", /secrets\.admin/);
    const everyOther = await cliAt(targetOf(b!), developer, { scope: "secrets.read secrets.access secrets.write secrets.proxy secrets.delegate" });
    failed(await everyOther(["admin", "rewrap", "--to-key", "k2"]), 4, "PERMISSION_DENIED");
  }, 120_000);

  it("usage errors (exit 2) before anything is sent: no --to-key, numbers out of range, a bad --page-timeout, an unknown action", async () => {
    // No server at this address: a usage error must not need one.
    const env = { SECRETS_ADDR: "127.0.0.1:9", SECRETS_TOKEN: "unused" };
    failed(await run(["admin", "rewrap"], env), 2, undefined, /needs --to-key/);
    for (const bad of [["--page-size", "0"], ["--page-size", "1001"], ["--page-size", "x"], ["--rate", "0"], ["--rate", "2.5"]]) {
      const r = await run(["admin", "rewrap", "--to-key", "k2", ...bad], env);
      expect(r.code, `${bad.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/is not a whole number from 1 to 1000/);
    }
    failed(await run(["admin", "rewrap", "--to-key", "k2", "--page-timeout", "soon"], env), 2, undefined, /--page-timeout/);
    failed(await run(["admin", "rotate", "--to-key", "k2"], env), 2, undefined, /is not rewrap/);
    const help = ok(await run(["help", "admin"], env));
    expect(help.stdout).toMatch(/--page-timeout/);
    expect(help.stdout).toMatch(/--resume <token>/);
  }, 120_000);
});

/** A SecretsService whose RewrapKeys answers, per page token, the next outcome of its script (recording each call). */
async function startScriptedServer() {
  const calls: Array<{ toKey: string; pageToken: string; pageSize: number; rateLimit: number; timeoutMs: number | undefined }> = [];
  type Page = { secrets?: number; rewrapped?: number; already?: number; skipped?: number; nextPageToken?: string; cacheKeyRotated?: boolean };
  const script = new Map<string, Array<Page | ConnectError>>();
  const impl: Partial<ServiceImpl<typeof SecretsService>> = {
    rewrapKeys(req, ctx) {
      calls.push({ toKey: req.toKey, pageToken: req.pageToken, pageSize: req.pageSize, rateLimit: req.rateLimit, timeoutMs: ctx.timeoutMs() });
      const next = script.get(req.pageToken)?.shift();
      if (next === undefined) throw new ConnectError(`no scripted answer for page token "${req.pageToken}"`, Code.Internal);
      if (next instanceof ConnectError) throw next;
      return create(RewrapKeysResponseSchema, { keyId: "k2", ...next });
    },
  };
  const http2 = createHttp2Server(connectNodeAdapter({ routes: (router) => router.service(SecretsService, impl) }));
  const sessions = new Set<{ destroy(): void }>();
  http2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => http2.listen(0, "127.0.0.1", () => resolve()));
  return {
    env: { SECRETS_ADDR: `127.0.0.1:${(http2.address() as AddressInfo).port}`, SECRETS_TOKEN: "unused" },
    calls,
    script,
    close: async () => {
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => http2.close(() => resolve()));
    },
  };
}

describe("secretsctl admin rewrap against a scripted server", () => {
  let scripted: Awaited<ReturnType<typeof startScriptedServer>>;
  beforeAll(async () => {
    scripted = await startScriptedServer();
  });
  afterAll(async () => {
    await scripted?.close();
  });

  const unavailable = () => new ConnectError("scripted outage", Code.Unavailable);

  it("a call failing after completed pages prints their --resume token, then the error line, and exits with its code; --resume goes on from there", async () => {
    scripted.calls.length = 0;
    scripted.script.set("", [{ secrets: 2, rewrapped: 5, already: 1, nextPageToken: "t1" }]);
    // UNAVAILABLE twice: the SDK retries RewrapKeys (safe to repeat) with the same page token.
    scripted.script.set("t1", [unavailable(), unavailable(), { secrets: 2, rewrapped: 4, skipped: 2, nextPageToken: "t2" }]);
    scripted.script.set("t2", [new ConnectError('secret "x" kept changing during the re-wrap; resume to retry it', Code.Aborted), { secrets: 1, rewrapped: 2, cacheKeyRotated: true }]);

    const r = await run(["admin", "rewrap", "--to-key", "k2", "--page-size", "2", "--rate", "7", "-o", "json"], scripted.env);
    failed(r, 1, "ABORTED", /kept changing/);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toEqual([
      "rewrap: 2 secrets, 5 re-wrapped, 1 already, 0 skipped; resume with --resume t1",
      "rewrap: 4 secrets, 9 re-wrapped, 1 already, 2 skipped; resume with --resume t2",
      "rewrap: stopped after 2 page(s) (4 secrets, 9 re-wrapped, 1 already, 2 skipped); resume with --resume t2",
      'secretsctl: ABORTED: secret "x" kept changing during the re-wrap; resume to retry it',
    ]);
    expect(scripted.calls.map((c) => c.pageToken)).toEqual(["", "t1", "t1", "t1", "t2"]);
    for (const c of scripted.calls) expect([c.toKey, c.pageSize, c.rateLimit]).toEqual(["k2", 2, 7]);
    // The page's deadline is --page-timeout's default (2m), not the 10 s of other calls (the server
    // sees what is left of it: bounds, not a measure of speed).
    for (const c of scripted.calls) expect(c.timeoutMs).toBeGreaterThan(60_000);
    for (const c of scripted.calls) expect(c.timeoutMs).toBeLessThanOrEqual(120_000);

    scripted.calls.length = 0;
    const resumed = ok(await run(["admin", "rewrap", "--to-key", "k2", "--resume", "t2", "--page-timeout", "5m", "-o", "json"], scripted.env));
    expect(resumed.stderr).toBe("rewrap: 1 secrets, 2 re-wrapped, 0 already, 0 skipped; done\n");
    expect(JSON.parse(resumed.stdout)).toEqual({ secrets: 1, rewrapped: 2, already: 0, skipped: 0, keyId: "k2", cacheKeyRotated: true });
    expect(scripted.calls.map((c) => [c.pageToken, c.pageSize, c.rateLimit])).toEqual([["t2", 0, 0]]);
    expect(scripted.calls[0]!.timeoutMs).toBeGreaterThan(120_000);
  }, 120_000);

  it("UNAVAILABLE past the SDK's retries ends with exit 5 and the last completed page's token", async () => {
    scripted.calls.length = 0;
    scripted.script.set("", [{ secrets: 100, rewrapped: 200, nextPageToken: "u1" }]);
    scripted.script.set("u1", Array.from({ length: 4 }, unavailable));
    const r = await run(["admin", "rewrap", "--to-key", "k2"], scripted.env);
    failed(r, 5, "UNAVAILABLE");
    expect(r.stderr).toMatch(/^rewrap: stopped after 1 page\(s\) \(100 secrets, 200 re-wrapped, 0 already, 0 skipped\); resume with --resume u1$/m);
    expect(scripted.calls.map((c) => c.pageToken)).toEqual(["", "u1", "u1", "u1", "u1"]);
  }, 120_000);

  it("a server answering the token it was given is not followed round in circles", async () => {
    scripted.script.set("", [{ secrets: 1, nextPageToken: "same" }]);
    scripted.script.set("same", [{ secrets: 1, nextPageToken: "same" }]);
    failed(await run(["admin", "rewrap", "--to-key", "k2"], scripted.env), 1, undefined, /answered the page token it was given/);
  }, 120_000);
});
