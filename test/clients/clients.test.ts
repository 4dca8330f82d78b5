import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectGrpcClient } from "../helpers/clients.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// The generated clients as their users meet them: the Python package gen/python (installed into the
// venv of scripts/client-tools.sh, not loaded from the tree) and the Go module gen/go (through
// test/clients/go's replace), each driving a round trip over plaintext gRPC against the real server
// over FerretDB. Each run works as a developer of its own, so reruns never meet an earlier secret.

const ROOT = resolve(import.meta.dirname, "../..");
// Safety nets for a busy machine, never verdicts on speed: the first run on a fresh machine installs
// the tools (go install, pip) and compiles grpc-go.
const INSTALL_TIMEOUT_MS = 900_000;
const BUILD_TIMEOUT_MS = 600_000;
const CLIENT_TIMEOUT_MS = 180_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Run> {
  return new Promise((done) => {
    execFile(
      command,
      args,
      { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, timeout: options.timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
        done({ code, stdout, stderr });
      },
    );
  });
}

async function mustRun(command: string, args: string[], options: { cwd?: string; timeoutMs: number }): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited ${result.code}:\n${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

/** The summary both clients print as their last line of output. */
interface Summary {
  client: string;
  name: string;
  created_version: number;
  put_version: number;
  latest_version: number;
  version1_read: number;
  listed: boolean;
  absent_code: string;
  package?: string;
  stdlib_secrets?: boolean;
}

function summaryOf(result: Run): Summary {
  const lines = result.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1] ?? "") as Summary;
}

describe("Python and Go clients generated from the proto", () => {
  let server: TestServer;
  let python = "";
  let goClient = "";
  let buildDir = "";

  beforeAll(async () => {
    // Idempotent and quiet when everything is there (CI ran it already); reinstalls gen/python if it changed.
    await mustRun("bash", ["scripts/client-tools.sh"], { timeoutMs: INSTALL_TIMEOUT_MS });
    const env = Object.fromEntries(
      (await mustRun("bash", ["scripts/client-tools.sh", "env"], { timeoutMs: 60_000 }))
        .trim()
        .split("\n")
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
    python = env.CLIENT_PYTHON ?? "";
    expect(python).not.toBe("");
    buildDir = await mkdtemp(join(tmpdir(), "secrets-go-client-"));
    goClient = join(buildDir, "roundtrip");
    await mustRun("go", ["build", "-o", goClient, "."], { cwd: join(ROOT, "test/clients/go"), timeoutMs: BUILD_TIMEOUT_MS });
    server = await startTestServer({ store: "mongodb", keys: "local", label: "clients" });
  }, INSTALL_TIMEOUT_MS + BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await server?.close();
    if (buildDir) await rm(buildDir, { recursive: true, force: true });
  });

  const clients = {
    python: (args: string[], env: NodeJS.ProcessEnv) =>
      // From /: only the installed package can be imported, not gen/python's files.
      run(python, [join(ROOT, "test/clients/python/roundtrip.py"), ...args], { cwd: "/", env, timeoutMs: CLIENT_TIMEOUT_MS }),
    go: (args: string[], env: NodeJS.ProcessEnv) => run(goClient, args, { cwd: "/", env, timeoutMs: CLIENT_TIMEOUT_MS }),
  };

  for (const [client, start] of Object.entries(clients)) {
    it(`the ${client} client makes a secret with two versions, lists it and sees NOT_FOUND`, async () => {
      const suffix = randomBytes(6).toString("hex");
      const developer = `clients-${client}-${suffix}`;
      const name = `${client}_roundtrip_${suffix}`;
      const token = await server.token(developer);
      // The token travels in the environment (not in argv, which other users of the machine can read).
      const result = await start(["--addr", server.target, "--name", name], { ...process.env, SECRETS_TOKEN: token });
      expect(result.code, result.stderr).toBe(0);
      const summary = summaryOf(result);
      expect(summary).toMatchObject({
        client,
        name,
        created_version: 1,
        put_version: 2,
        latest_version: 2,
        version1_read: 1,
        listed: true,
        absent_code: "NOT_FOUND",
      });
      if (client === "python") {
        // The package came from the venv's site-packages, and the standard library's `secrets` still works.
        expect(summary.package).toContain("site-packages");
        expect(summary.package?.startsWith(join(ROOT, "gen"))).toBe(false);
        expect(summary.stdlib_secrets).toBe(true);
      }

      // The server holds what the client wrote, seen through another client stack.
      const ts = connectGrpcClient(server.baseUrl, token);
      const secret = (await ts.getSecret({ name })).secret;
      expect(secret?.latestVersion).toBe(2n);
      expect(secret?.metadata).toEqual({ client });
      expect((await ts.getSecretValue({ name, version: 1n })).value).toBe(`v1:${name}`);
      expect((await ts.getSecretValue({ name })).value).toBe(`v2:${name}`);
    });

    it(`the ${client} client exits non-zero with a message when a call fails`, async () => {
      const result = await start(["--addr", server.target], { ...process.env, SECRETS_TOKEN: "not-a-jwt" });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/UNAUTHENTICATED|Unauthenticated/);
      expect(result.stdout).toBe("");
    });
  }
});
