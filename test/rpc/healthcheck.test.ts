import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path, { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestCa } from "../helpers/https-upstream.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// The container's probe (src/cli/healthcheck.ts, HEALTHCHECK in the Dockerfile) as a real process
// against the real server: exit 0 and one line on SERVING, exit 1 on anything else.

const PROJECT_ROOT = path.resolve(import.meta.dirname, "../..");
const API = "secrets.v1.SecretsService";
// A safety net for a busy machine, not a speed check.
const GENEROUS = ["--timeout", "60000"];

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function healthcheck(env: Record<string, string>, args: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli/healthcheck.ts", ...args],
      { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

const portOf = (server: TestServer) => server.target.split(":")[1]!;

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return String(port);
}

function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
    "-subj", `/CN=${name}`, "-keyout", key, "-out", cert], { stdio: "ignore" });
  return { cert, key };
}

describe("healthcheck over h2c", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ store: "memory", cache: false, changeFeed: false, label: "rpc_healthcheck" });
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each([
    ["the server as a whole", []],
    ["the API", [API]],
  ])("exits 0 with one SERVING line for %s", async (_what, service) => {
    const run = await healthcheck({ PORT: portOf(server) }, [...service, ...GENEROUS]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trimEnd().split("\n")).toHaveLength(1);
    expect(run.stdout).toContain(`127.0.0.1:${portOf(server)}`);
    expect(run.stdout).toMatch(/: SERVING\n$/);
  });

  it("takes the server's HOST: 0.0.0.0 is dialled on loopback", async () => {
    const run = await healthcheck({ PORT: portOf(server), HOST: "0.0.0.0" }, [API, ...GENEROUS]);
    expect(run.code, run.stderr).toBe(0);
  });

  it("exits 1 while the service reports NOT_SERVING, 0 again after", async () => {
    server.app.health.setStatus(API, "NOT_SERVING");
    try {
      const run = await healthcheck({ PORT: portOf(server) }, [API, ...GENEROUS]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/: NOT_SERVING\n$/);
    } finally {
      server.app.health.setStatus(API, "SERVING");
    }
    expect((await healthcheck({ PORT: portOf(server) }, [API, ...GENEROUS])).code).toBe(0);
  });

  it("exits 1 for a service the server does not know", async () => {
    const run = await healthcheck({ PORT: portOf(server) }, ["no.such.Service", ...GENEROUS]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("NotFound");
  });

  it("exits 1 with one line against a closed port", async () => {
    const port = await closedPort();
    const run = await healthcheck({ PORT: port }, GENEROUS);
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain(`127.0.0.1:${port}`);
    expect(run.stdout).toBe("");
  });

  it("exits 1 on bad arguments, not 2 (Docker reserves 2)", async () => {
    for (const args of [["--timeout", "soon"], ["a", "b"], ["--cert", "x.pem"]]) {
      const run = await healthcheck({ PORT: portOf(server) }, args);
      expect(run.code, args.join(" ")).toBe(1);
    }
    expect((await healthcheck({ PORT: "70000" })).code).toBe(1);
  });
});

describe("healthcheck over TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "healthcheck-tls-"));
  // A certificate a CA signed, the file holding the leaf only: the probe must trust a partial chain.
  const ca = createTestCa();
  const own = { cert: join(dir, "server.pem"), key: join(dir, "server-key.pem") };
  writeFileSync(own.cert, ca.certPem);
  writeFileSync(own.key, ca.keyPem);
  const other = selfSigned(dir, "other");
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      store: "memory",
      cache: false,
      changeFeed: false,
      label: "rpc_healthcheck_tls",
      tls: { cert: Buffer.from(ca.certPem), key: Buffer.from(ca.keyPem) },
    });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("speaks TLS when TLS_CERT_FILE and TLS_KEY_FILE are set, trusting the server's own certificate", async () => {
    const run = await healthcheck({ PORT: portOf(server), TLS_CERT_FILE: own.cert, TLS_KEY_FILE: own.key }, [API, ...GENEROUS]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("(tls)");
  });

  it("exits 1 when the server presents a certificate other than TLS_CERT_FILE's", async () => {
    const run = await healthcheck({ PORT: portOf(server), TLS_CERT_FILE: other.cert, TLS_KEY_FILE: other.key }, [API, ...GENEROUS]);
    expect(run.code).toBe(1);
  });

  it("exits 1 when it speaks h2c to a TLS port", async () => {
    const run = await healthcheck({ PORT: portOf(server) }, [API, ...GENEROUS]);
    expect(run.code).toBe(1);
  });
});
