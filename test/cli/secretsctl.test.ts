import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { createTestCa, startHttpUpstream, type Upstream } from "../helpers/https-upstream.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// secretsctl as a user runs it: the real binary (bin/secretsctl) spawned against a real server on
// FerretDB, Redis and local keys; its stdin, stdout, stderr and exit code are what is checked.

const BIN = join(import.meta.dirname, "../../bin/secretsctl");

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let server: TestServer;
let upstream: Upstream;
const dir = mkdtempSync(join(tmpdir(), "secretsctl-test-"));

beforeAll(async () => {
  upstream = await startHttpUpstream();
  const hostPort = `127.0.0.1:${upstream.port}`;
  server = await startTestServer({
    store: "mongodb",
    keys: "local",
    label: "cli_secretsctl",
    proxy: { allowPrivateHosts: [hostPort], insecureHosts: [hostPort] },
  });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([server?.close(), upstream?.close()]);
});

const tenant = () => `dev_cli_${randomBytes(4).toString("hex")}`;

/** Runs secretsctl with `args`, `input` on stdin (a pipe, never a terminal), `env` added. */
function run(args: readonly string[], options: { input?: string | Buffer; env?: Record<string, string | undefined> } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, {
      env: { ...process.env, SECRETSCTL_CONFIG: join(dir, "absent.yaml"), SECRETS_TOKEN: undefined, SECRETS_ADDR: undefined, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    child.stdin.end(options.input ?? "");
  });
}

/** A `run` bound to one developer's token on the test server. */
async function as(developer: string, extra?: Record<string, unknown>) {
  const env = { SECRETS_ADDR: server.target, SECRETS_TOKEN: await server.token(developer, undefined, extra) };
  return (args: readonly string[], input?: string | Buffer, more: Record<string, string> = {}) =>
    run(args, { env: { ...env, ...more }, ...(input !== undefined ? { input } : {}) });
}

/** The run succeeded; its stderr is returned for further checks. */
function ok(r: Run): Run {
  expect(r.stderr + r.stdout, `exit ${r.code}`).toBeDefined();
  expect(r.code, r.stderr).toBe(0);
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

describe("secretsctl: values in and out", () => {
  it("create from stdin drops one trailing newline; value prints the bytes as stored, nothing else", async () => {
    const cli = await as(tenant());
    const value = `sk_live_${randomBytes(8).toString("hex")}`;
    const created = ok(await cli(["create", "stripe_api_key", "-d", "Stripe live key", "-m", "env=prod", "-m", "team=pay"], `${value}\n`));
    expect(created.stdout).toMatch(/^FIELD\s+VALUE$/m);
    expect(created.stdout).toMatch(/^metadata\s+env=prod, team=pay$/m);
    expect(created.stdout + created.stderr).not.toContain(value);
    const read = ok(await cli(["value", "stripe_api_key"]));
    expect(read.stdout).toBe(value);
    expect(read.stderr).toBe("");
  });

  it("--value-file is read byte for byte (newlines, quotes, non-ASCII); --value works but warns", async () => {
    const cli = await as(tenant());
    const value = "line one\nline \"two\" 'é€😀'\n\n";
    const file = join(dir, "value.txt");
    writeFileSync(file, value);
    ok(await cli(["create", "pem_like", "--value-file", file]));
    expect((await cli(["value", "pem_like"])).stdout).toBe(value);

    const warned = ok(await cli(["create", "flagged", "--value", "v_on_the_line"]));
    expect(warned.stderr).toMatch(/warning: --value puts the secret in your shell history/);
    expect((await cli(["value", "flagged"])).stdout).toBe("v_on_the_line");
  });

  it("a value that is not UTF-8 is refused before anything is sent (usage, exit 2)", async () => {
    const cli = await as(tenant());
    failed(await cli(["create", "binary"], Buffer.from([0x73, 0x6b, 0xff, 0xfe])), 2, undefined, /not valid UTF-8/);
    failed(await cli(["get", "binary"]), 3, "NOT_FOUND");
  });

  it("put adds versions; versions lists them; value --version reads one; disable, enable, destroy (needs --yes without a terminal)", async () => {
    const cli = await as(tenant());
    ok(await cli(["create", "rotating"], "v1"));
    const put = ok(await cli(["put", "rotating", "-o", "json"], "v2"));
    expect(JSON.parse(put.stdout)).toMatchObject({ name: "rotating", version: "2", state: "VERSION_STATE_ENABLED" });
    const versions = ok(await cli(["versions", "rotating"]));
    expect(versions.stdout.split("\n")[0]).toMatch(/^VERSION\s+STATE\s+CREATED/);
    expect(versions.stdout).toMatch(/^2\s+enabled/m);
    expect(versions.stdout).toMatch(/^1\s+enabled/m);
    expect((await cli(["value", "rotating", "--version", "1"])).stdout).toBe("v1");
    expect((await cli(["value", "rotating"])).stdout).toBe("v2");

    ok(await cli(["disable", "rotating", "1"]));
    failed(await cli(["value", "rotating", "--version", "1"]), 1, "FAILED_PRECONDITION");
    ok(await cli(["enable", "rotating", "1"]));
    expect((await cli(["value", "rotating", "-V", "1"])).stdout).toBe("v1");

    failed(await cli(["destroy", "rotating", "1"]), 2, undefined, /Pass --yes/);
    expect((await cli(["value", "rotating", "-V", "1"])).stdout).toBe("v1");
    const destroyed = ok(await cli(["destroy", "rotating", "1", "--yes"]));
    expect(destroyed.stdout).toMatch(/^state\s+destroyed$/m);
    failed(await cli(["value", "rotating", "-V", "1"]), 1, "FAILED_PRECONDITION");
    failed(await cli(["value", "rotating", "-V", "x1"]), 2, undefined, /version "x1" is not a version number/);
  });
});

describe("secretsctl: metadata", () => {
  it("list walks every page for the user, with --prefix, --metadata and --limit; json and yaml parse", async () => {
    const cli = await as(tenant());
    for (const name of ["a_one", "a_two", "a_three", "b_one", "b_two"]) ok(await cli(["create", name, "-m", `group=${name[0]}`], "x"));
    const all = ok(await cli(["list", "--page-size", "2", "-o", "json"]));
    expect((JSON.parse(all.stdout) as Array<{ name: string }>).map((s) => s.name).sort()).toEqual(["a_one", "a_three", "a_two", "b_one", "b_two"]);
    const prefixed = ok(await cli(["list", "--prefix", "a_", "--page-size", "1", "-o", "yaml"]));
    expect((parseYaml(prefixed.stdout) as Array<{ name: string }>).map((s) => s.name).sort()).toEqual(["a_one", "a_three", "a_two"]);
    const filtered = ok(await cli(["list", "-m", "group=b"]));
    expect(filtered.stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/)[0]).sort()).toEqual(["b_one", "b_two"]);
    const limited = ok(await cli(["list", "--limit", "3", "--page-size", "2", "-o", "json"]));
    expect(JSON.parse(limited.stdout)).toHaveLength(3);
  });

  it("a table fits the terminal's width (COLUMNS), wrapping long cells", async () => {
    const cli = await as(tenant());
    ok(await cli(["create", "wide", "-d", "a description long enough that it cannot fit in a narrow terminal at all, not even close"], "x"));
    const wide = ok(await cli(["list"], undefined, { COLUMNS: "400" }));
    expect(wide.stdout.trimEnd().split("\n")).toHaveLength(2);
    const narrow = ok(await cli(["list"], undefined, { COLUMNS: "60" }));
    const lines = narrow.stdout.trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(60);
    // Wrapped, not cut: the description's last words are still there, on a later line.
    expect(lines.slice(2).join("\n")).toMatch(/close/);
  });

  it("get shows metadata, never the value; update changes only what is given; delete and restore", async () => {
    const cli = await as(tenant());
    ok(await cli(["create", "svc_token", "--allowed-host", "api.example.com"], "the_value_itself"));
    const got = ok(await cli(["get", "svc_token"]));
    expect(got.stdout).toMatch(/^allowed_hosts\s+api\.example\.com$/m);
    expect(got.stdout).not.toContain("the_value_itself");

    const updated = ok(await cli(["update", "svc_token", "-d", "for the svc", "--max-versions", "3", "--allowed-host", "*.example.org", "-o", "json"]));
    expect(JSON.parse(updated.stdout)).toMatchObject({ description: "for the svc", maxVersions: 3, allowedHosts: ["*.example.org"] });
    const cleared = ok(await cli(["update", "svc_token", "--clear-allowed-hosts", "-o", "json"]));
    expect(JSON.parse(cleared.stdout).allowedHosts).toBeUndefined();
    expect(JSON.parse(cleared.stdout).description).toBe("for the svc");
    failed(await cli(["update", "svc_token"]), 2, undefined, /nothing to update/);
    failed(await cli(["update", "svc_token", "--allowed-host", "bad host"]), 1, "INVALID_ARGUMENT", /allowed_hosts/);

    ok(await cli(["delete", "svc_token"]));
    expect(ok(await cli(["list", "-o", "json"])).stdout.trim()).toBe("[]");
    expect(JSON.parse(ok(await cli(["list", "--deleted", "-o", "json"])).stdout)[0].name).toBe("svc_token");
    ok(await cli(["restore", "svc_token"]));
    expect((await cli(["value", "svc_token"])).stdout).toBe("the_value_itself");

    failed(await cli(["delete", "svc_token", "--force"]), 2, undefined, /Pass --yes/);
    ok(await cli(["delete", "svc_token", "--force", "--yes"]));
    failed(await cli(["get", "svc_token"]), 3, "NOT_FOUND");
  });
});

describe("secretsctl: exit codes and errors", () => {
  it("each failure is one stderr line with the gRPC code, and the documented exit code", async () => {
    const developer = tenant();
    const cli = await as(developer);
    ok(await cli(["create", "present"], "x"));
    failed(await cli(["get", "absent"]), 3, "NOT_FOUND", /secret "absent"/);
    failed(await cli(["create", "bad-name"], "x"), 1, "INVALID_ARGUMENT", /name/);
    failed(await cli(["create", "present"], "x"), 1, "ALREADY_EXISTS");

    const readOnly = await as(developer, { scope: "secrets.read" });
    failed(await readOnly(["value", "present"]), 4, "PERMISSION_DENIED", /secrets\.access/);
    const wrongKey = await run(["get", "present"], { env: { SECRETS_ADDR: server.target, SECRETS_TOKEN: "not.a.jwt" } });
    failed(wrongKey, 4, "UNAUTHENTICATED");
    const noToken = await run(["get", "present"], { env: { SECRETS_ADDR: server.target } });
    failed(noToken, 4, "UNAUTHENTICATED");

    const closed = await run(["get", "present"], { env: { SECRETS_ADDR: "127.0.0.1:1", SECRETS_TOKEN: "x" } });
    failed(closed, 5, "UNAVAILABLE");

    failed(await cli(["get"]), 2);
    failed(await cli(["frobnicate"]), 2);
    failed(await cli(["list", "--limit", "zero"]), 2);
    failed(await cli(["-o", "xml", "list"]), 2);
    expect((await cli([])).code).toBe(2);
    const help = ok(await cli(["--help"]));
    expect(help.stdout).toMatch(/Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 permission/);
  });
});

describe("secretsctl: connection settings", () => {
  it("a profile file gives the address and token; --profile picks one; flags beat it; a missing profile is a usage error", async () => {
    const developer = tenant();
    const cli = await as(developer);
    ok(await cli(["create", "profiled"], "from_profile"));
    const tokenFile = join(dir, `${developer}.token`);
    writeFileSync(tokenFile, `${await server.token(developer)}\n`);
    const config = join(dir, `${developer}.yaml`);
    writeFileSync(
      config,
      [
        "current: broken",
        "profiles:",
        "  broken:",
        "    address: 127.0.0.1:1",
        "  local:",
        `    address: ${server.target}`,
        `    token_file: ${tokenFile}`,
      ].join("\n"),
    );
    const env = { SECRETSCTL_CONFIG: config };
    failed(await run(["value", "profiled"], { env }), 5, "UNAVAILABLE");
    expect(ok(await run(["value", "profiled", "--profile", "local"], { env })).stdout).toBe("from_profile");
    expect(ok(await run(["value", "profiled"], { env: { ...env, SECRETS_PROFILE: "local" } })).stdout).toBe("from_profile");
    expect(ok(await run(["--addr", server.target, "--token-file", tokenFile, "value", "profiled"], { env })).stdout).toBe("from_profile");
    failed(await run(["value", "profiled", "--profile", "nope"], { env }), 2, undefined, /has no profile "nope"/);
    writeFileSync(config, "profiles:\n  x:\n    adress: typo\n");
    failed(await run(["value", "profiled", "--profile", "x"], { env }), 2, undefined, /adress/);
  });

  it("speaks TLS when given --tls-ca (or SECRETS_TLS_CA), and refuses a server it cannot verify", async () => {
    const ca = createTestCa();
    const caFile = join(dir, `ca-${randomBytes(3).toString("hex")}.pem`);
    writeFileSync(caFile, ca.caPem);
    const secure = await startTestServer({ store: "memory", keys: "local", label: "cli_tls", audit: false, changeFeed: false, tls: { cert: Buffer.from(ca.certPem), key: Buffer.from(ca.keyPem) } });
    try {
      const env = { SECRETS_ADDR: secure.target, SECRETS_TOKEN: await secure.token(tenant()) };
      ok(await run(["--tls-ca", caFile, "create", "over_tls"], { env, input: "tls_value" }));
      expect(ok(await run(["value", "over_tls"], { env: { ...env, SECRETS_TLS_CA: caFile } })).stdout).toBe("tls_value");
      // Loopback without TLS options speaks plaintext: a TLS server does not answer it.
      expect((await run(["value", "over_tls"], { env })).code).not.toBe(0);
      // TLS asked for by URL, without the CA: the certificate is not trusted.
      const untrusted = await run(["value", "over_tls"], { env: { ...env, SECRETS_ADDR: `https://${secure.target}` } });
      failed(untrusted, 1, undefined, /^secretsctl: TLS: unable to verify the first certificate \(is --tls-ca the CA/);
      expect(untrusted.stderr).not.toContain("tls_value");
    } finally {
      await secure.close();
    }
  });

  it("dev-token mints a token the server (same secret) accepts, narrowed by --scope and --secrets", async () => {
    const developer = tenant();
    const env = { AUTH_JWT_SECRET: server.jwtSecret };
    const minted = ok(await run(["dev-token", "--developer", developer], { env }));
    expect(minted.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const full = { SECRETS_ADDR: server.target, SECRETS_TOKEN: minted.stdout };
    ok(await run(["create", "minted_ok"], { env: full, input: "x" }));
    const readOnly = ok(await run(["dev-token", "--developer", developer, "--scope", "secrets.read"], { env }));
    ok(await run(["get", "minted_ok"], { env: { ...full, SECRETS_TOKEN: readOnly.stdout } }));
    failed(await run(["value", "minted_ok"], { env: { ...full, SECRETS_TOKEN: readOnly.stdout } }), 4, "PERMISSION_DENIED");
    // A name outside the token's globs is answered as if absent.
    const elsewhere = ok(await run(["dev-token", "--developer", developer, "--secrets", "other_*"], { env }));
    failed(await run(["get", "minted_ok"], { env: { ...full, SECRETS_TOKEN: elsewhere.stdout } }), 3, "NOT_FOUND");
    failed(await run(["dev-token", "--scope", "secrets.everything"], { env }), 2, undefined, /not a scope/);
  });
});

describe("secretsctl: references, redaction, watch, proxy", () => {
  it("resolve fills in a JSON template from a file or stdin; redact copies stdin to stdout with values replaced", async () => {
    const cli = await as(tenant());
    ok(await cli(["create", "openai_key"], "sk-openai-123"));
    const file = join(dir, "task.json");
    writeFileSync(file, JSON.stringify({ headers: { Authorization: "Bearer {{ secrets.openai_key }}" }, key: "$ secrets.openai_key", n: 3 }));
    const resolved = ok(await cli(["resolve", file]));
    expect(JSON.parse(resolved.stdout)).toEqual({ headers: { Authorization: "Bearer sk-openai-123" }, key: "sk-openai-123", n: 3 });
    failed(await cli(["resolve"], JSON.stringify({ k: "$ secrets.not_there" })), 3, "NOT_FOUND");
    const lenient = ok(await cli(["resolve", "--allow-missing", "-o", "json"], JSON.stringify({ k: "$ secrets.not_there" })));
    expect(JSON.parse(lenient.stdout)).toMatchObject({ missing: ["not_there"] });
    failed(await cli(["resolve"], "{not json"), 2, undefined, /not JSON/);

    const redacted = ok(await cli(["redact"], "log: key=sk-openai-123 done\n"));
    expect(redacted.stdout).toBe("log: key=[REDACTED:openai_key] done\n");
    expect(redacted.stderr).toMatch(/redacted: openai_key/);
  });

  it("watch prints change events (never values) and exits after --count", async () => {
    const developer = tenant();
    const cli = await as(developer);
    const env = { SECRETS_ADDR: server.target, SECRETS_TOKEN: await server.token(developer) };
    const child = spawn(BIN, ["watch", "--heartbeats", "--count", "2", "-o", "json"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    // Writes start once the stream is live (its first heartbeat): events before that are not promised.
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes('"heartbeat"')) resolve();
      });
      child.on("close", () => reject(new Error(`watch ended early: ${err}`)));
    });
    ok(await cli(["create", "watched"], "watched_value_1"));
    ok(await cli(["put", "watched"], "watched_value_2"));
    expect(await exited, err).toBe(0);
    const events = out.trim().split("\n").map((l) => JSON.parse(l) as { type: string; name: string; version: string }).filter((e) => e.type !== "heartbeat");
    expect(events).toEqual([
      expect.objectContaining({ type: "created", name: "watched", version: "1" }),
      expect.objectContaining({ type: "version_added", name: "watched", version: "2" }),
    ]);
    expect(out).not.toContain("watched_value");
  });

  it("proxy has the service make the call with the secret in, and prints the redacted answer", async () => {
    const cli = await as(tenant());
    const hostPort = `127.0.0.1:${upstream.port}`;
    ok(await cli(["create", "upstream_key", "--allowed-host", hostPort], "sk_upstream_secret_42"));
    const res = ok(await cli(["proxy", "-i", "POST", upstream.url("/echo?k={{ secrets.upstream_key }}"), "-H", "Authorization: Bearer {{ secrets.upstream_key }}", "-H", "content-type: application/json", "-d", '{"key":"{{ secrets.upstream_key }}"}']));
    const got = upstream.received.at(-1)!;
    expect(got.headers.authorization).toBe("Bearer sk_upstream_secret_42");
    expect(got.body.toString()).toBe('{"key":"sk_upstream_secret_42"}');
    expect(res.stdout).toMatch(/^HTTP 200$/m);
    expect(res.stdout).not.toContain("sk_upstream_secret_42");
    expect(res.stdout).toContain("[REDACTED:upstream_key]");

    ok(await cli(["create", "nowhere_key"], "sk_nowhere"));
    const before = upstream.received.length;
    failed(await cli(["proxy", "GET", upstream.url("/echo"), "-H", "x-key: {{ secrets.nowhere_key }}"]), 4, "PERMISSION_DENIED", /nowhere_key/);
    expect(upstream.received.length).toBe(before);
    failed(await cli(["proxy", "GET", upstream.url("/echo"), "-H", "no colon"]), 2, undefined, /Name: value/);
  });
});

describe("secretsctl: import and export", () => {
  it("import a .env: created, updated, unchanged, failed in the summary; a re-run changes nothing", async () => {
    const cli = await as(tenant());
    ok(await cli(["create", "EXISTING"], "old"));
    ok(await cli(["create", "SAME"], "same"));
    const file = join(dir, "app.env");
    writeFileSync(file, ["# app settings", "NEW_ONE=first", 'EXISTING="new value"', "SAME=same", "bad-name=x", "MULTI=\"l1\\nl2\"", ""].join("\n"));
    const first = await cli(["import", file, "-o", "json"]);
    failed(first, 1, undefined, /1 of 5 entries failed/);
    const summary = JSON.parse(first.stdout) as { created: number; updated: number; unchanged: number; failed: number; results: Array<{ name: string; outcome: string; error?: string }> };
    expect(summary).toMatchObject({ created: 2, updated: 1, unchanged: 1, failed: 1 });
    expect(summary.results.find((r) => r.name === "bad-name")?.error).toMatch(/^INVALID_ARGUMENT: name/);
    expect((await cli(["value", "EXISTING"])).stdout).toBe("new value");
    expect((await cli(["value", "MULTI"])).stdout).toBe("l1\nl2");

    writeFileSync(file, ["NEW_ONE=first", 'EXISTING="new value"', "SAME=same", "MULTI=\"l1\\nl2\""].join("\n"));
    const again = ok(await cli(["import", file]));
    expect(again.stdout).toMatch(/^created\s+0$/m);
    expect(again.stdout).toMatch(/^updated\s+0$/m);
    expect(again.stdout).toMatch(/^unchanged\s+4$/m);
    const versions = JSON.parse(ok(await cli(["versions", "EXISTING", "-o", "json"])).stdout) as unknown[];
    expect(versions).toHaveLength(2);
  });

  it("export then import into another developer reads every value back byte for byte (dotenv and json)", async () => {
    const source = await as(tenant());
    const values: Record<string, string> = {
      plain: "simple",
      quoted: `it's "quoted"`,
      multiline: "-----BEGIN KEY-----\nabc\n-----END KEY-----\n",
      unicode: "ключ 🔑 €",
      spaces: "  padded  ",
      hashes: "a#b $HOME ${X}",
    };
    for (const [name, value] of Object.entries(values)) ok(await source(["create", name], Buffer.from(value + "\n")));
    for (const format of ["dotenv", "json"]) {
      const exported = ok(await source(["export", "--format", format]));
      const file = join(dir, `export-${randomBytes(3).toString("hex")}.${format === "json" ? "json" : "env"}`);
      writeFileSync(file, exported.stdout);
      const target = await as(tenant());
      const imported = ok(await target(["import", file, "-o", "json"]));
      expect(JSON.parse(imported.stdout)).toMatchObject({ created: 6, failed: 0 });
      for (const [name, value] of Object.entries(values)) expect((await target(["value", name])).stdout, `${format} ${name}`).toBe(value);
    }
    const some = ok(await source(["export", "-f", "json", "plain", "unicode"]));
    expect(JSON.parse(some.stdout)).toEqual({ plain: "simple", unicode: "ключ 🔑 €" });
    const missing = await source(["export", "plain", "absent_one"]);
    failed(missing, 1, undefined, /1 of 2 secrets were not exported/);
    expect(missing.stderr).toMatch(/not exported: absent_one: NOT_FOUND/);
    expect(missing.stdout).toBe("plain='simple'\n");
  });
});

describe("secretsctl: task tokens, audit, maintenance", () => {
  it("token create prints only the token, which works and is narrower; token revoke ends it", async () => {
    const developer = tenant();
    const cli = await as(developer);
    ok(await cli(["create", "stripe_live"], "sk_stripe"));
    ok(await cli(["create", "other"], "sk_other"));
    const minted = ok(await cli(["token", "create", "--secret", "stripe_*", "--label", "ci-job", "--ttl", "10m"]));
    expect(minted.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const tokenId = /token_id (\S+),/.exec(minted.stderr)?.[1];
    expect(tokenId).toBeDefined();
    const task = { SECRETS_ADDR: server.target, SECRETS_TOKEN: minted.stdout };
    expect(ok(await run(["value", "stripe_live"], { env: task })).stdout).toBe("sk_stripe");
    failed(await run(["value", "other"], { env: task }), 3, "NOT_FOUND");
    ok(await cli(["token", "revoke", tokenId!]));
    failed(await run(["value", "stripe_live"], { env: task }), 4, "UNAUTHENTICATED");
    failed(await cli(["token", "mint"]), 2, undefined, /not create or revoke/);
  });

  it("audit lists the developer's events with filters; maintenance needs secrets.admin", async () => {
    const developer = tenant();
    const cli = await as(developer);
    ok(await cli(["create", "audited"], "x"));
    ok(await cli(["value", "audited"]));
    failed(await cli(["get", "nothing_here"]), 3);
    const events = JSON.parse(ok(await cli(["audit", "-o", "json", "--name", "audited"])).stdout) as Array<{ method: string; names: string[] }>;
    expect(events.map((e) => e.method)).toEqual(expect.arrayContaining(["CreateSecret", "GetSecretValue"]));
    for (const e of events) expect(e.names).toContain("audited");
    const notFound = JSON.parse(ok(await cli(["audit", "-o", "json", "--code", "NOT_FOUND", "--since", "1h"])).stdout) as Array<{ method: string; code: number }>;
    expect(notFound.map((e) => [e.method, e.code])).toEqual([["GetSecret", 5]]);
    const table = ok(await cli(["audit", "--method", "GetSecretValue"]));
    expect(table.stdout).toMatch(/^TIME\s+METHOD\s+CODE/);
    expect(table.stdout).toMatch(/GetSecretValue\s+OK\s+audited/);
    failed(await cli(["audit", "--code", "NOPE"]), 2, undefined, /not a gRPC code/);

    failed(await cli(["maintenance"]), 4, "PERMISSION_DENIED", /secrets\.admin/);
    const admin = await as(developer, { scope: "secrets.admin" });
    const done = JSON.parse(ok(await admin(["maintenance", "-o", "json"])).stdout) as Record<string, number>;
    expect(Object.keys(done)).toEqual(expect.arrayContaining(["purgedSecrets", "removedTaskTokens"]));
  });
});
