import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { resolveConnection } from "../../src/cli/secretsctl/connection.js";
import { dotenvLine, parseDotenv } from "../../src/cli/secretsctl/dotenv.js";
import { CliError, codeName, errorLine, exitCodeOf, UsageError } from "../../src/cli/secretsctl/exit-codes.js";
import { renderTable } from "../../src/cli/secretsctl/output.js";

// secretsctl's parts that need no server: dotenv quoting, connection settings, exit codes, tables.

describe("dotenv: every value written is read back by util.parseEnv as it was, or refused", () => {
  const samples = ["", "plain", " padded ", "it's", 'say "hi"', "a\nb", "a\n", "lit\\n", 'both \' and "', "both ' \" and\nnewline", "tick ` ' \"", "#hash", "$HOME ${X}", "ünï €😀", "tab\tx", "=", "crlf\r\n"];
  it.each(samples)("%j", (value) => {
    const line = dotenvLine("K", value);
    if (line instanceof Error) {
      expect(line.message).toMatch(/use --format json/);
      return;
    }
    expect(line.startsWith("K=")).toBe(true);
    expect(parseDotenv(line).K).toBe(value);
  });

  it("random strings over a hostile alphabet: read back exactly or refused, never written wrong", () => {
    const alphabet = ["a", " ", "'", '"', "`", "\n", "\r", "\\", "n", "#", "=", "$", "é", "\t"];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    let refused = 0;
    for (let i = 0; i < 2_000; i++) {
      const value = Array.from({ length: next() % 12 }, () => alphabet[next() % alphabet.length]).join("");
      const line = dotenvLine("K", value);
      if (line instanceof Error) refused++;
      else expect(parseDotenv(line).K, JSON.stringify(value)).toBe(value);
    }
    expect(refused).toBeLessThan(2_000);
  });
});

describe("connection settings", () => {
  const none = join(mkdtempSync(join(tmpdir(), "secretsctl-unit-")), "absent.yaml");

  it("defaults to the dev server, plaintext on loopback, TLS elsewhere", () => {
    const c = resolveConnection({}, { SECRETSCTL_CONFIG: none });
    expect(c).toMatchObject({ address: "127.0.0.1:50051", plaintext: true, timeoutMs: 10_000, source: "default" });
    expect(resolveConnection({ addr: "secrets.example.com:443" }, { SECRETSCTL_CONFIG: none }).plaintext).toBe(false);
    expect(resolveConnection({ addr: "localhost:1" }, { SECRETSCTL_CONFIG: none }).plaintext).toBe(true);
    expect(resolveConnection({ addr: "https://127.0.0.1:1" }, { SECRETSCTL_CONFIG: none }).plaintext).toBe(false);
  });

  it("flags beat the environment, which beats the profile; token files are read and trimmed", () => {
    const dir = mkdtempSync(join(tmpdir(), "secretsctl-unit-"));
    writeFileSync(join(dir, "t"), "from-file\n");
    const config = join(dir, "config.yaml");
    writeFileSync(config, `current: p\nprofiles:\n  p:\n    address: p.example:1\n    token: from-profile\n    timeout: 3s\n`);
    const env = { SECRETSCTL_CONFIG: config };
    expect(resolveConnection({}, env)).toMatchObject({ address: "p.example:1", token: "from-profile", timeoutMs: 3_000, source: "profile p" });
    expect(resolveConnection({}, { ...env, SECRETS_ADDR: "e.example:2", SECRETS_TOKEN: "from-env" })).toMatchObject({ address: "e.example:2", token: "from-env", source: "env" });
    expect(resolveConnection({ addr: "f.example:3", tokenFile: join(dir, "t") }, { ...env, SECRETS_TOKEN: "from-env" })).toMatchObject({ address: "f.example:3", token: "from-file", source: "flags" });
    expect(() => resolveConnection({ plaintext: true, tlsCa: join(dir, "t") }, env)).toThrow(UsageError);
    expect(() => resolveConnection({ tlsCert: join(dir, "t") }, env)).toThrow(/go together/);
    expect(() => resolveConnection({ timeout: "soon" }, env)).toThrow(/--timeout/);
    expect(() => resolveConnection({ profile: "q" }, env)).toThrow(/has no profile "q"/);
  });
});

describe("exit codes and error lines", () => {
  it("map gRPC codes to the documented exit codes", () => {
    const of = (code: Code) => exitCodeOf(new ConnectError("m", code));
    expect([of(Code.NotFound), of(Code.PermissionDenied), of(Code.Unauthenticated), of(Code.Unavailable), of(Code.DeadlineExceeded), of(Code.InvalidArgument), of(Code.Aborted)]).toEqual([3, 4, 4, 5, 5, 1, 1]);
    expect(exitCodeOf(new UsageError("u"))).toBe(2);
    expect(exitCodeOf(new CliError("c"))).toBe(1);
    expect(exitCodeOf(new Error("e"))).toBe(1);
    expect(codeName(Code.FailedPrecondition)).toBe("FAILED_PRECONDITION");
    expect(codeName(0)).toBe("OK");
    expect(errorLine(new ConnectError("secret \"x\"\nnot found", Code.NotFound))).toBe('secretsctl: NOT_FOUND: secret "x" not found');
  });
});

describe("tables", () => {
  it("fit the width by wrapping the widest column; no line is longer than the width", () => {
    const view = { head: ["NAME", "DESCRIPTION"], rows: [["k", "x".repeat(100)], ["key_two", "short"]] };
    const text = renderTable(view, 40);
    for (const line of text.trimEnd().split("\n")) expect(line.length).toBeLessThanOrEqual(40);
    expect(text.replace(/[^x]/g, "")).toHaveLength(100);
    expect(renderTable(view, undefined).split("\n")[1]).toMatch(/^k\s+x{100}$/);
    expect(renderTable({ head: ["A"], rows: [] }, 80)).toBe("(none)\n");
  });
});
