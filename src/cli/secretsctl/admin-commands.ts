import { Code } from "@connectrpc/connect";
import { InvalidArgumentError } from "commander";
import type { AuditEvent } from "../../../gen/secrets/v1/secrets_pb.js";
import { parseDurationSeconds } from "../../config/config.js";
import { devTokenFor } from "../dev-token-options.js";
import { collect, positiveInt, VERSION } from "./context.js";
import { CliError, codeName, UsageError } from "./exit-codes.js";
import { fieldsView, print, printDocument, time } from "./output.js";
import type { Register } from "./secrets-commands.js";
import { durationFlag, timeFlag } from "./times.js";
import { auditJson, auditView } from "./views.js";

// audit, token create / revoke, maintenance, admin rewrap, dev-token, version.

const CODES = new Map<string, number>([["OK", 0], ...Object.values(Code).filter((c): c is Code => typeof c === "number").map((c) => [codeName(c), c] as [string, number])]);

export function adminCommands(register: Register): void {
  register(
    "audit",
    (c) =>
      c
        .description("list audit events, newest first (every page up to --limit)")
        .option("-n, --name <name>", "events naming this secret")
        .option("--method <method>", "events of this RPC, e.g. GetSecretValue")
        .option("--code <code>", "events that ended with this code: OK, NOT_FOUND, PERMISSION_DENIED, ... or a number")
        .option("--since <time>", "events at or after this time (RFC 3339, or a duration ago: 1h)")
        .option("--until <time>", "events before this time (RFC 3339, or a duration ago)")
        .option("--limit <n>", "at most this many events", positiveInt, 100),
    async (ctx, o) => {
      const code = o.code === undefined ? undefined : codeOf(o.code);
      const events: AuditEvent[] = [];
      let pageToken = "";
      do {
        const res = await ctx.client().listAuditEvents({
          pageSize: Math.min(o.limit - events.length, 500),
          pageToken,
          name: o.name ?? "",
          method: o.method ?? "",
          ...(code !== undefined ? { code } : {}),
          ...(o.since ? { startTime: timeFlag("--since", o.since, "ago") } : {}),
          ...(o.until ? { endTime: timeFlag("--until", o.until, "ago") } : {}),
        });
        events.push(...res.events);
        pageToken = res.nextPageToken;
      } while (pageToken && events.length < o.limit);
      print(ctx.io, ctx.format, () => events.map(auditJson), () => auditView(events));
    },
  );

  register(
    "token",
    (c) =>
      c
        .argument("<action>", "create or revoke")
        .argument("[token-id]", "for revoke: the token's id")
        .description("mint a short-lived task token narrower than yours (create), or revoke one by its id (revoke)")
        .option("-s, --secret <glob>", "create: names it may touch, e.g. stripe_* (repeat for more; default: as yours)", collect)
        .option("--scope <scope>", "create: a scope it gets (repeat for more; default: secrets.access)", collect)
        .option("--ttl <duration>", "create: how long it lives (default 15m, never past your token)")
        .option("--label <text>", "create: recorded in its audit events"),
    async (ctx, action: string, tokenId: string | undefined, o) => {
      if (action === "revoke") {
        if (!tokenId) throw new UsageError("token revoke needs the token's id");
        await ctx.client().revokeTaskToken({ tokenId });
        print(ctx.io, ctx.format, () => ({ tokenId, revoked: true }), () => fieldsView([["token_id", tokenId], ["revoked", "true"]]));
        return;
      }
      if (action !== "create") throw new UsageError(`token: "${action}" is not create or revoke`);
      if (tokenId) throw new UsageError("token create takes no token id");
      const res = await ctx.client().createTaskToken({
        secrets: o.secret ?? [],
        scopes: o.scope ?? ["secrets.access"],
        ...(o.ttl ? { ttl: durationFlag("--ttl", o.ttl) } : {}),
        label: o.label ?? "",
      });
      if (ctx.format === "table") {
        // The token alone on stdout, for $(...); its id and expiry on stderr.
        ctx.io.stdout.write(ctx.io.stdout.isTTY ? `${res.token}\n` : res.token);
        ctx.io.stderr.write(`secretsctl: token_id ${res.tokenId}, expires ${time(res.expireTime)}\n`);
      } else printDocument(ctx.io, ctx.format, { token: res.token, tokenId: res.tokenId, expireTime: time(res.expireTime) });
    },
  );

  register(
    "maintenance",
    (c) => c.description("run the service's clean-up now (purges, expired request ids and task tokens, old audit events; secrets.admin)"),
    async (ctx) => {
      const res = await ctx.client().runMaintenance({});
      const doc = {
        purgedSecrets: res.purgedSecrets,
        completedWrites: res.completedWrites,
        removedRequestIds: res.removedRequestIds,
        removedTaskTokens: res.removedTaskTokens,
        removedAuditEvents: res.removedAuditEvents,
      };
      print(ctx.io, ctx.format, () => doc, () => fieldsView(Object.entries(doc).map(([k, v]) => [k, String(v)] as const)));
    },
  );

  register(
    "admin",
    (c) =>
      c
        .argument("<action>", "rewrap")
        .description(
          "rewrap: re-wrap the data key of every stored version, of every tenant, under --to-key (RewrapKeys, page by page; secrets.admin). " +
            "A progress line on stderr after each page ends with the --resume token that continues from there (after Ctrl-C or a failed call); " +
            "a run started over skips what is already under the key",
        )
        .option("--to-key <key>", "rewrap: the key to wrap under (KMS key id, ARN or alias, or a local master key id); must be the key new versions are sealed with")
        .option("--page-size <n>", "rewrap: secrets per call, 1 to 1000 (default: the server's, 100)", upTo1000)
        .option("--rate <n>", "rewrap: most key re-wraps a second, 1 to 1000 (default: the server's, 50)", upTo1000)
        .option("--resume <token>", "rewrap: continue from this token (from a progress line)")
        .option("--page-timeout <duration>", "rewrap: deadline of each page's call (default 2m; --timeout does not apply to them)"),
    async (ctx, action: string, o) => {
      if (action !== "rewrap") throw new UsageError(`admin: "${action}" is not rewrap`);
      if (o.toKey === undefined || o.toKey === "") throw new UsageError("admin rewrap needs --to-key KEY");
      if (o.resume === "") throw new UsageError("--resume: the token is empty");
      const pageTimeout: string = o.pageTimeout ?? "2m";
      const seconds = parseDurationSeconds(pageTimeout);
      if (seconds === undefined || seconds === 0) throw new UsageError(`--page-timeout: "${pageTimeout}" is not a duration like 90s or 5m`);
      const timeoutMs = seconds * 1000;
      const totals = { secrets: 0, rewrapped: 0, already: 0, skipped: 0 };
      let keyId = "";
      let cacheKeyRotated = false;
      // The token of the last completed page: where a new run picks up (the given one until a page completes).
      let resumeFrom: string = o.resume ?? "";
      let pages = 0;
      const counts = () => `${totals.secrets} secrets, ${totals.rewrapped} re-wrapped, ${totals.already} already, ${totals.skipped} skipped`;
      for (;;) {
        let res;
        try {
          res = await ctx.client().rewrapKeys(
            { toKey: o.toKey, pageToken: resumeFrom, pageSize: o.pageSize ?? 0, rateLimit: o.rate ?? 0 },
            { timeoutMs },
          );
        } catch (err) {
          // The error's own line follows (and sets the exit code); before it, where to pick up.
          ctx.io.stderr.write(
            resumeFrom
              ? `rewrap: stopped after ${pages} page(s) (${counts()}); resume with --resume ${resumeFrom}\n`
              : "rewrap: stopped before a page completed; run it again to start from the beginning\n",
          );
          throw err;
        }
        pages++;
        totals.secrets += res.secrets;
        totals.rewrapped += res.rewrapped;
        totals.already += res.already;
        totals.skipped += res.skipped;
        keyId = res.keyId || keyId;
        cacheKeyRotated ||= res.cacheKeyRotated;
        if (!res.nextPageToken) {
          ctx.io.stderr.write(`rewrap: ${counts()}; done\n`);
          break;
        }
        if (res.nextPageToken === resumeFrom) throw new CliError(`rewrap: the server answered the page token it was given (${resumeFrom}); stopping instead of looping`);
        resumeFrom = res.nextPageToken;
        ctx.io.stderr.write(`rewrap: ${counts()}; resume with --resume ${resumeFrom}\n`);
      }
      const doc = { ...totals, keyId, cacheKeyRotated };
      print(ctx.io, ctx.format, () => doc, () =>
        fieldsView([
          ["secrets", String(doc.secrets)],
          ["rewrapped", String(doc.rewrapped)],
          ["already", String(doc.already)],
          ["skipped", String(doc.skipped)],
          ["key_id", doc.keyId],
          ["cache_key_rotated", String(doc.cacheKeyRotated)],
        ]),
      );
    },
  );

  register(
    "dev-token",
    (c) =>
      c
        .description("mint a token a dev server (npm run dev) accepts, signed with its secret (AUTH_JWT_SECRET, else the one dev mode keeps)")
        .option("--developer <name>", "the developer (tenant)", "dev")
        .option("--subject <subject>", "recorded as created_by/updated_by (default: NAME-user)")
        .option("--ttl <duration>", "how long it is valid", "12h")
        .option("--scope <scopes>", 'space-separated scopes, e.g. "secrets.read secrets.access"')
        .option("--secrets <globs>", 'comma-separated name globs, e.g. "stripe_*,openai_key"'),
    async (ctx, o) => {
      const token = await devTokenFor(o, ctx.io.env);
      ctx.io.stdout.write(ctx.io.stdout.isTTY ? `${token}\n` : token);
    },
  );

  register(
    "version",
    (c) => c.description("print secretsctl's version"),
    async (ctx) => {
      ctx.io.stdout.write(`${VERSION}\n`);
    },
  );
}

/** A --page-size or --rate: a whole number from 1 to 1000 (what RewrapKeys takes). */
function upTo1000(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1000) throw new InvalidArgumentError(`"${value}" is not a whole number from 1 to 1000`);
  return Number(value);
}

function codeOf(text: string): number {
  if (/^\d+$/.test(text) && Number(text) <= 16) return Number(text);
  const code = CODES.get(text.toUpperCase());
  if (code === undefined) throw new UsageError(`--code: "${text}" is not a gRPC code (${[...CODES.keys()].join(", ")})`);
  return code;
}
