import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";

// secretsctl at a terminal: the hidden value prompt, the confirmation prompt and the import progress
// bar only show on a terminal, so these runs get one: util-linux's `script` (Debian's essential
// bsdutils) runs the binary on a pseudo-terminal, and the test types at its prompts.

const BIN = join(import.meta.dirname, "../../bin/secretsctl");

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ store: "memory", keys: "local", label: "cli_terminal", audit: false, changeFeed: false });
}, 120_000);
afterAll(async () => {
  await server?.close();
});

interface Session {
  /** Resolves once the terminal showed text matching `pattern`. */
  waitFor(pattern: RegExp): Promise<void>;
  type(text: string): void;
  /** The exit code, and everything the terminal showed. */
  done: Promise<{ code: number | null; screen: string }>;
}

function onTerminal(args: readonly string[], env: Record<string, string>): Session {
  const command = [BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  const child = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], { env: { ...process.env, ...env, TERM: "xterm", COLUMNS: "100" }, stdio: ["pipe", "pipe", "pipe"] });
  let screen = "";
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  const onData = (b: Buffer) => {
    screen += b.toString("utf8");
    for (const w of [...waiters]) if (w.pattern.test(screen)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const done = new Promise<{ code: number | null; screen: string }>((resolve) =>
    child.on("close", (code) => {
      child.stdin.destroy();
      resolve({ code, screen });
    }),
  );
  return {
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        if (pattern.test(screen)) return resolve();
        waiters.push({ pattern, resolve });
        void done.then(() => reject(new Error(`exited before ${pattern}: ${screen}`)));
      }),
    type: (text) => child.stdin.write(text),
    done,
  };
}

const envFor = async (developer: string) => ({ SECRETS_ADDR: server.target, SECRETS_TOKEN: await server.token(developer), SECRETSCTL_CONFIG: "/nonexistent/secretsctl.yaml" });

describe("secretsctl on a terminal", () => {
  it("asks for the value with a hidden prompt: the terminal shows a mask, never the value", async () => {
    const env = await envFor(`dev_tty_${randomBytes(4).toString("hex")}`);
    const value = `typed_${randomBytes(6).toString("hex")}`;
    const session = onTerminal(["create", "prompted"], env);
    await session.waitFor(/Value for prompted/);
    session.type(`${value}\r`);
    const { code, screen } = await session.done;
    expect(code, screen).toBe(0);
    expect(screen).not.toContain(value);
    expect(screen).toContain("*".repeat(value.length));
    expect(screen).toMatch(/name\s+prompted/);

    const read = onTerminal(["value", "prompted"], env);
    const shown = await read.done;
    expect(shown.code).toBe(0);
    // On a terminal the value is followed by a newline; to a pipe it is not (the other suite checks).
    expect(shown.screen).toContain(`${value}\r\n`);
  });

  it("destroy asks first: 'n' keeps the version (exit 1), 'y' destroys it", async () => {
    const env = await envFor(`dev_tty_${randomBytes(4).toString("hex")}`);
    const create = onTerminal(["create", "kept", "--value-file", writeTemp("v1")], env);
    expect((await create.done).code).toBe(0);

    const no = onTerminal(["destroy", "kept", "1"], env);
    await no.waitFor(/Destroy version 1 of kept\?/);
    no.type("n\r");
    const refused = await no.done;
    expect(refused.code, refused.screen).toBe(1);
    expect(refused.screen).toMatch(/not destroyed/);
    const still = await onTerminal(["value", "kept"], env).done;
    expect(still.screen).toContain("v1");

    const yes = onTerminal(["destroy", "kept", "1"], env);
    await yes.waitFor(/Destroy version 1 of kept\?/);
    yes.type("y\r");
    const destroyed = await yes.done;
    expect(destroyed.code, destroyed.screen).toBe(0);
    expect(destroyed.screen).toMatch(/state\s+destroyed/);
  });

  it("import shows a progress bar on a terminal, and the summary", async () => {
    const env = await envFor(`dev_tty_${randomBytes(4).toString("hex")}`);
    const file = writeTemp(Array.from({ length: 12 }, (_, i) => `KEY_${i}=value_${i}`).join("\n"), ".env");
    const session = onTerminal(["import", file], env);
    const { code, screen } = await session.done;
    expect(code, screen).toBe(0);
    expect(screen).toMatch(/importing \[[^\]]*\] \d+\/12/);
    expect(screen).toMatch(/created\s+12/);
  });
});

const tmp = mkdtempSync(join(tmpdir(), "secretsctl-tty-"));
function writeTemp(text: string, ext = ".txt"): string {
  const file = join(tmp, `${randomBytes(4).toString("hex")}${ext}`);
  writeFileSync(file, text);
  return file;
}
