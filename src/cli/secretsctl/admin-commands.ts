import { Code } from "@connectrpc/connect";
import type { AuditEvent } from "../../../gen/secrets/v1/secrets_pb.js";
import { devTokenFor } from "../dev-token-options.js";
import { collect, positiveInt, VERSION } from "./context.js";
import { codeName, UsageError } from "./exit-codes.js";
import { fieldsView, print, printDocument, time } from "./output.js";
import type { Register } from "./secrets-commands.js";
import { durationFlag, timeFlag } from "./times.js";
import { auditJson, auditView } from "./views.js";

// audit, token create / revoke, maintenance, dev-token, version.

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

function codeOf(text: string): number {
  if (/^\d+$/.test(text) && Number(text) <= 16) return Number(text);
  const code = CODES.get(text.toUpperCase());
  if (code === undefined) throw new UsageError(`--code: "${text}" is not a gRPC code (${[...CODES.keys()].join(", ")})`);
  return code;
}
