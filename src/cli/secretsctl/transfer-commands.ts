import { readFileSync } from "node:fs";
import { Code, ConnectError } from "@connectrpc/connect";
import cliProgress from "cli-progress";
import { positiveInt } from "./context.js";
import { dotenvLine, parseDotenv } from "./dotenv.js";
import { CliError, codeName, UsageError } from "./exit-codes.js";
import { fieldsView, print } from "./output.js";
import type { Register } from "./secrets-commands.js";
import { readAll, utf8 } from "./values.js";
import type { Context } from "./context.js";

// import: a .env or JSON file into secrets, idempotent (a name whose value is already current is left
// alone, so a re-run after an interruption only does what is left); export: secrets as .env or JSON.

type Outcome = "created" | "updated" | "unchanged" | "failed";
interface EntryResult {
  readonly name: string;
  readonly outcome: Outcome;
  readonly error?: string;
}

const BATCH = 100;
const IMPORT_CONCURRENCY = 4;

export function transferCommands(register: Register): void {
  register(
    "import",
    (c) =>
      c
        .argument("<file>", "a .env file or a JSON object of name: value (- for stdin)")
        .description("create or update a secret for each entry; entries whose value is current are left alone")
        .option("-f, --format <format>", "dotenv or json (default: json for *.json, else dotenv)")
        .option("--dry-run", "say what would change, change nothing")
        .option("--no-progress", "no progress bar (there is none without a terminal either)"),
    async (ctx, file: string, o) => {
      const entries = await readEntries(ctx, file, o.format);
      const bar =
        o.progress && ctx.io.stderr.isTTY && entries.length > 0
          ? new cliProgress.SingleBar({ stream: ctx.io.stderr, format: "importing [{bar}] {value}/{total} {name}", hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
          : undefined;
      bar?.start(entries.length, 0, { name: "" });
      const results: EntryResult[] = new Array(entries.length);
      let next = 0;
      const worker = async () => {
        while (next < entries.length) {
          const i = next++;
          const [name, value] = entries[i]!;
          results[i] = await importOne(ctx, name, value, Boolean(o.dryRun));
          bar?.increment(1, { name });
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.min(IMPORT_CONCURRENCY, entries.length) }, worker));
      } finally {
        bar?.stop();
      }
      const count = (outcome: Outcome) => results.filter((r) => r.outcome === outcome).length;
      const summary = { created: count("created"), updated: count("updated"), unchanged: count("unchanged"), failed: count("failed") };
      const failed = results.filter((r) => r.outcome === "failed");
      print(
        ctx.io,
        ctx.format,
        () => ({ ...summary, dryRun: Boolean(o.dryRun), results }),
        () => fieldsView([...Object.entries(summary).map(([k, v]) => [k, String(v)] as const), ...failed.map((r) => [r.name, r.error] as const)]),
      );
      if (failed.length > 0) throw new CliError(`${failed.length} of ${entries.length} entries failed`);
    },
  );

  register(
    "export",
    (c) =>
      c
        .argument("[names...]", "secrets to export (default: every secret, or those with --prefix)")
        .description("print secrets' current values as a .env file or a JSON object (values leave the service: mind where the output goes)")
        .option("-f, --format <format>", "dotenv or json", "dotenv")
        .option("-p, --prefix <prefix>", "secrets whose names start with this")
        .option("--page-size <n>", "secrets per list request", positiveInt, 100),
    async (ctx, names: string[], o) => {
      if (o.format !== "dotenv" && o.format !== "json") throw new UsageError(`--format: "${o.format}" is not dotenv or json`);
      if (names.length > 0 && o.prefix) throw new UsageError("names and --prefix: give one");
      const wanted = names.length > 0 ? names : await listNames(ctx, o.prefix ?? "", o.pageSize);
      const values = new Map<string, string>();
      const errors: string[] = [];
      for (let i = 0; i < wanted.length; i += BATCH) {
        const res = await ctx.client().batchGetSecretValues({ names: wanted.slice(i, i + BATCH) });
        for (const v of res.values) values.set(v.name, v.value);
        for (const e of res.errors) errors.push(`${e.name}: ${codeName(e.code as Code)}: ${e.message}`);
      }
      const sorted = [...values.keys()].sort();
      if (o.format === "json") {
        ctx.io.stdout.write(`${JSON.stringify(Object.fromEntries(sorted.map((n) => [n, values.get(n)!])), null, 2)}\n`);
      } else {
        const lines: string[] = [];
        for (const name of sorted) {
          const line = dotenvLine(name, values.get(name)!);
          if (line instanceof Error) errors.push(`${name}: ${line.message}`);
          else lines.push(line);
        }
        ctx.io.stdout.write(lines.map((l) => `${l}\n`).join(""));
      }
      if (errors.length > 0) {
        for (const e of errors) ctx.io.stderr.write(`secretsctl: not exported: ${e}\n`);
        throw new CliError(`${errors.length} of ${wanted.length} secrets were not exported`);
      }
    },
  );
}

async function readEntries(ctx: Context, file: string, format: string | undefined): Promise<Array<[string, string]>> {
  const kind = format ?? (file.toLowerCase().endsWith(".json") ? "json" : "dotenv");
  if (kind !== "dotenv" && kind !== "json") throw new UsageError(`--format: "${kind}" is not dotenv or json`);
  let bytes: Buffer;
  try {
    bytes = file === "-" ? await readAll(ctx.io.stdin) : readFileSync(file);
  } catch (err) {
    throw new UsageError(`${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const text = utf8(file, bytes);
  if (kind === "dotenv") return Object.entries(parseDotenv(text));
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new UsageError(`${file}: expected a JSON object of name: value`);
  return Object.entries(doc).map(([name, value]) => {
    if (typeof value !== "string") throw new UsageError(`${file}: the value of "${name}" is a ${value === null ? "null" : typeof value}, not a string`);
    return [name, value];
  });
}

async function importOne(ctx: Context, name: string, value: string, dryRun: boolean): Promise<EntryResult> {
  const client = ctx.client();
  try {
    let current: string | undefined;
    try {
      current = (await client.getSecretValue({ name })).value;
    } catch (err) {
      if (ConnectError.from(err).code !== Code.NotFound) throw err;
    }
    if (current === value) return { name, outcome: "unchanged" };
    if (current === undefined) {
      if (!dryRun) await client.createSecret({ name, value });
      return { name, outcome: "created" };
    }
    if (!dryRun) await client.putSecretValue({ name, value });
    return { name, outcome: "updated" };
  } catch (err) {
    const e = ConnectError.from(err);
    return { name, outcome: "failed", error: `${codeName(e.code)}: ${e.rawMessage}` };
  }
}

async function listNames(ctx: Context, prefix: string, pageSize: number): Promise<string[]> {
  const names: string[] = [];
  let pageToken = "";
  do {
    const res = await ctx.client().listSecrets({ pageSize, pageToken, namePrefix: prefix });
    names.push(...res.secrets.map((s) => s.name));
    pageToken = res.nextPageToken;
  } while (pageToken);
  return names;
}
