// `npm run --silent task-token-key [-- --add FILE]`: prints a private JWKS for task tokens
// (TASK_TOKEN_KEYS) with one new Ed25519 key, or FILE's keys plus a new one (rotation: the new key
// is last, so it becomes the active one by default; drop the old key once its tokens have expired,
// an hour at most). The output is private key material: redirect it to a file of mode 0600.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { generateTaskTokenKey, loadTaskTokenKeys } from "../auth/task-tokens.js";

const usage = () => `usage: npm run --silent task-token-key -- [--add FILE] [--kid KID]

Prints a private JWKS with a new Ed25519 key for signing task tokens.
  --add FILE   print FILE's keys followed by the new one (key rotation)
  --kid KID    the new key's id (default: tt-<date>-<random>)
`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<string> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        add: { type: "string" },
        kid: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return usage().trimEnd();
  const existing = values.add === undefined ? [] : readKeys(values.add);
  const key = await generateTaskTokenKey(values.kid);
  const keys = [...existing, key];
  // Checked the way the server loads it, so a duplicate kid or a damaged FILE is caught here.
  await loadTaskTokenKeys(JSON.stringify({ keys }));
  return JSON.stringify({ keys }, null, 2);
}

/** FILE's keys as they are; the check of the whole new set in main() judges them. */
function readKeys(file: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the fault: key material.
    throw new Error(`${file} is not valid JSON`);
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error(`${file} is not a JWKS: {"keys": [...]}`);
  return keys;
}

main(process.argv.slice(2)).then(
  (out) => process.stdout.write(`${out}\n`),
  (err: unknown) => {
    process.stderr.write(`task-token-key: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof UsageError) process.stderr.write(usage());
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
