import { readFileSync } from "node:fs";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { SecretEventType } from "../../../gen/secrets/v1/secrets_pb.js";
import { collect, positiveInt } from "./context.js";
import { CliError, UsageError } from "./exit-codes.js";
import { printDocument } from "./output.js";
import type { Register } from "./secrets-commands.js";
import { durationFlag } from "./times.js";
import { readAll, utf8 } from "./values.js";
import { eventLine, eventTypeName } from "./views.js";
import { time } from "./output.js";

// The agent-facing commands: resolve (a template's references filled in), redact (stdin → stdout),
// watch (change events), proxy (an HTTP call made by the service with secrets put in).

export function agentCommands(register: Register): void {
  register(
    "resolve",
    (c) =>
      c
        .argument("[file]", "a JSON template (default or -: stdin)")
        .description("fill in $ secrets.NAME, {{ secrets.NAME }} and secret://NAME references of a JSON template; prints the result")
        .option("--allow-missing", "leave references to absent secrets as they are instead of failing"),
    async (ctx, file: string | undefined, o) => {
      const text = utf8(file && file !== "-" ? file : "stdin", file && file !== "-" ? readInput(file) : await readAll(ctx.io.stdin));
      let template;
      try {
        template = fromJson(ValueSchema, JSON.parse(text));
      } catch (err) {
        throw new UsageError(`${file ?? "stdin"} is not JSON: ${(err as Error).message}`);
      }
      const res = await ctx.client().resolveReferences({ template, allowMissing: Boolean(o.allowMissing) });
      if (res.missing.length > 0) ctx.io.stderr.write(`secretsctl: left unresolved (absent): ${res.missing.join(", ")}\n`);
      const resolved = res.resolved ? toJson(ValueSchema, res.resolved) : null;
      if (ctx.format === "table") ctx.io.stdout.write(`${JSON.stringify(resolved, null, 2)}\n`);
      else printDocument(ctx.io, ctx.format, { resolved, names: res.names, missing: res.missing });
    },
  );

  register(
    "redact",
    (c) =>
      c
        .description("copy stdin to stdout with every secret value replaced by [REDACTED:NAME]")
        .option("-n, --name <name>", "only these secrets (repeat for more; default: all the token can read)", collect),
    async (ctx, o) => {
      const text = utf8("stdin", await readAll(ctx.io.stdin));
      const res = await ctx.client().redactText({ text, names: o.name ?? [] });
      if (ctx.format === "table") ctx.io.stdout.write(res.text);
      else printDocument(ctx.io, ctx.format, { text: res.text, matchedNames: res.matchedNames });
      if (res.matchedNames.length > 0) ctx.io.stderr.write(`secretsctl: redacted: ${res.matchedNames.join(", ")}\n`);
    },
  );

  register(
    "watch",
    (c) =>
      c
        .argument("[names...]", "secrets to watch (default: all)")
        .description("print change events as they happen (Ctrl-C ends); never values")
        .option("--count <n>", "exit after this many events", positiveInt)
        .option("--heartbeats", "print heartbeats too"),
    async (ctx, names: string[], o) => {
      let seen = 0;
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        // No deadline (the SDK sets one on unary calls only): a watch stays open until it is ended.
        for await (const res of ctx.client().watchSecrets({ names }, { signal: abort.signal })) {
          const e = res.event;
          if (!e) continue;
          const heartbeat = e.type === SecretEventType.HEARTBEAT;
          if (heartbeat && !o.heartbeats) continue;
          if (ctx.format === "table") ctx.io.stdout.write(`${eventLine(e)}\n`);
          else {
            const doc = { type: eventTypeName(e.type), name: e.name, version: String(e.version), eventTime: time(e.eventTime) };
            ctx.io.stdout.write(ctx.format === "json" ? `${JSON.stringify(doc)}\n` : `---\n${Object.entries(doc).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n")}\n`);
          }
          if (!heartbeat && o.count !== undefined && ++seen >= o.count) return;
        }
      } catch (err) {
        if (abort.signal.aborted) return;
        throw err;
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
    },
  );

  register(
    "proxy",
    (c) =>
      c
        .argument("<method>", "GET, POST, ...")
        .argument("<url>", "https URL; {{ secrets.NAME }} in the query is filled in")
        .description("have the service make an HTTP call with {{ secrets.NAME }} filled in (headers, query, body); prints the redacted answer's body")
        .option("-H, --header <name: value>", "a request header (repeat for more)", collect)
        .option("-d, --data <body>", "the request body; @FILE reads a file, @- stdin")
        .option("-i, --include", "print the status line and headers before the body")
        .option("--fail", "exit 1 when the upstream answers 400 or above")
        .option("--upstream-timeout <duration>", "how long the service waits for the upstream (default 10s, at most 60s)"),
    async (ctx, method: string, url: string, o) => {
      const headers = (o.header ?? []).map((h: string) => {
        const at = h.indexOf(":");
        if (at <= 0) throw new UsageError(`--header "${h}" is not "Name: value"`);
        return { name: h.slice(0, at).trim(), value: h.slice(at + 1).trim() };
      });
      const body: Uint8Array =
        o.data === undefined ? new Uint8Array() : o.data === "@-" ? await readAll(ctx.io.stdin) : o.data.startsWith("@") ? readInput(o.data.slice(1)) : Buffer.from(o.data);
      const timeout = o.upstreamTimeout ? durationFlag("--upstream-timeout", o.upstreamTimeout) : undefined;
      const upstreamMs = timeout ? Number(timeout.seconds) * 1000 : 10_000;
      const res = await ctx.client().proxyHttpRequest(
        { method: method.toUpperCase(), url, headers, body, ...(timeout ? { timeout } : {}) },
        { timeoutMs: upstreamMs + 15_000 },
      );
      if (ctx.format !== "table") {
        printDocument(ctx.io, ctx.format, {
          status: res.status,
          headers: res.headers.map((h) => ({ name: h.name, value: h.value })),
          ...bodyField(res.body),
          names: res.names,
          truncated: res.truncated,
        });
      } else {
        if (o.include) {
          ctx.io.stdout.write(`HTTP ${res.status}\n${res.headers.map((h) => `${h.name}: ${h.value}\n`).join("")}\n`);
        }
        ctx.io.stdout.write(res.body);
      }
      if (res.truncated) ctx.io.stderr.write("secretsctl: the answer was cut at the service's size limit\n");
      if (o.fail && res.status >= 400) throw new CliError(`the upstream answered ${res.status}`);
    },
  );
}

/** The body as text when it is UTF-8, else as base64. */
function bodyField(body: Uint8Array): { body: string } | { bodyBase64: string } {
  try {
    return { body: new TextDecoder("utf-8", { fatal: true }).decode(body) };
  } catch {
    return { bodyBase64: Buffer.from(body).toString("base64") };
  }
}

function readInput(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
