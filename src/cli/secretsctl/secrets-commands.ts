import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import type { Secret, SecretVersion } from "../../../gen/secrets/v1/secrets_pb.js";
import { collect, keyValue, makeContext, nonNegativeInt, positiveInt, versionNumber, type Context } from "./context.js";
import { CliError, UsageError } from "./exit-codes.js";
import { print, printDocument, type Io } from "./output.js";
import { durationFlag, timeFlag } from "./times.js";
import { readValue, type ValueFlags } from "./values.js";
import { secretJson, secretsView, secretView, versionJson, versionsView, versionView } from "./views.js";

// The commands over one secret and its versions: create, get, value, list, update, put, versions,
// disable, enable, destroy, delete, restore.

type Action = (ctx: Context, ...args: any[]) => Promise<void>;
export type Register = (name: string, describe: (c: Command) => Command, action: Action) => void;

export function secretCommands(register: Register): void {
  register(
    "create",
    (c) =>
      valueOptions(c.argument("<name>", "the secret's name").description("create a secret with its first version (value from stdin, --value-file or a prompt)"))
        .option("-d, --description <text>", "what the secret is")
        .option("-m, --metadata <key=value>", "a metadata entry (repeat for more)", keyValue)
        .option("--ttl <duration>", "expire this long after creation, e.g. 90d")
        .option("--expire-time <time>", "expire at this RFC 3339 time")
        .option("--max-versions <n>", "keep at most this many versions", positiveInt)
        .option("--allowed-host <pattern>", "a host ProxyHttpRequest may send it to, e.g. api.stripe.com (repeat for more)", collect)
        .option("--request-id <id>", "makes a retried create safe (the SDK picks one when absent)"),
    async (ctx, name: string, o) => {
      const value = await readValue(ctx.io, o, `Value for ${name}:`);
      const res = await ctx.client().createSecret({
        name,
        value,
        ...secretFields(o),
        requestId: o.requestId ?? "",
      });
      printSecret(ctx, res.secret);
    },
  );

  register(
    "get",
    (c) => c.argument("<name>").description("show a secret's metadata (never its value)"),
    async (ctx, name: string) => printSecret(ctx, (await ctx.client().getSecret({ name })).secret),
  );

  register(
    "value",
    (c) =>
      c
        .argument("<name>")
        .description("print the value and nothing else, for $(secretsctl value NAME)")
        .option("-V, --version <n>", "a version (default: the latest enabled)"),
    async (ctx, name: string, o) => {
      const res = await ctx.client().getSecretValue({ name, version: o.version ? versionNumber(o.version) : 0n });
      if (ctx.format !== "table") {
        printDocument(ctx.io, ctx.format, { name: res.name, version: String(res.version), value: res.value });
        return;
      }
      // A newline only for a person at a terminal; a pipe or $(...) gets the bytes as stored.
      ctx.io.stdout.write(ctx.io.stdout.isTTY ? `${res.value}\n` : res.value);
    },
  );

  register(
    "list",
    (c) =>
      c
        .description("list secrets, every page (metadata only)")
        .option("-p, --prefix <prefix>", "names starting with this")
        .option("-m, --metadata <key=value>", "only secrets with this metadata entry (repeat: all must match)", keyValue)
        .option("--deleted", "include deleted secrets still in their recovery window")
        .option("--limit <n>", "stop after this many", positiveInt)
        .option("--page-size <n>", "secrets per request", positiveInt, 100),
    async (ctx, o) => {
      const secrets: Secret[] = [];
      let pageToken = "";
      do {
        const res = await ctx.client().listSecrets({
          pageSize: o.pageSize,
          pageToken,
          namePrefix: o.prefix ?? "",
          metadataFilter: o.metadata ?? {},
          showDeleted: Boolean(o.deleted),
        });
        secrets.push(...res.secrets);
        pageToken = res.nextPageToken;
      } while (pageToken && (o.limit === undefined || secrets.length < o.limit));
      const shown = o.limit === undefined ? secrets : secrets.slice(0, o.limit);
      print(ctx.io, ctx.format, () => shown.map(secretJson), () => secretsView(shown));
    },
  );

  register(
    "update",
    (c) =>
      c
        .argument("<name>")
        .description("change a secret's description, metadata, expiry, version limit or allowed hosts (only what is given)")
        .option("-d, --description <text>", "new description ('' clears it)")
        .option("-m, --metadata <key=value>", "replace the metadata with these entries (repeat for more)", keyValue)
        .option("--clear-metadata", "remove every metadata entry")
        .option("--ttl <duration>", "expire this long from now")
        .option("--expire-time <time>", "expire at this RFC 3339 time")
        .option("--max-versions <n>", "keep at most this many versions (0: no limit)", nonNegativeInt)
        .option("--allowed-host <pattern>", "replace the allowed hosts with these (repeat for more)", collect)
        .option("--clear-allowed-hosts", "allow no host (ProxyHttpRequest never sends it)")
        .option("--etag <etag>", "update only if the secret still has this etag (ABORTED otherwise)"),
    async (ctx, name: string, o) => {
      const paths: string[] = [];
      if (o.description !== undefined) paths.push("description");
      if (o.metadata !== undefined || o.clearMetadata) paths.push("metadata");
      if (o.ttl !== undefined) paths.push("ttl");
      if (o.expireTime !== undefined) paths.push("expire_time");
      if (o.maxVersions !== undefined) paths.push("max_versions");
      if (o.allowedHost !== undefined || o.clearAllowedHosts) paths.push("allowed_hosts");
      if (o.metadata && o.clearMetadata) throw new UsageError("--metadata and --clear-metadata: give one");
      if (o.allowedHost && o.clearAllowedHosts) throw new UsageError("--allowed-host and --clear-allowed-hosts: give one");
      if (paths.length === 0) throw new UsageError("nothing to update: give --description, --metadata, --ttl, --expire-time, --max-versions or --allowed-host (a new value: secretsctl put)");
      const res = await ctx.client().updateSecret({
        name,
        updateMask: create(FieldMaskSchema, { paths }),
        ...secretFields(o),
        etag: o.etag ?? "",
      });
      printSecret(ctx, res.secret);
    },
  );

  register(
    "put",
    (c) =>
      valueOptions(c.argument("<name>").description("add a new version (value from stdin, --value-file or a prompt)"))
        .option("--etag <etag>", "add it only if the secret still has this etag (ABORTED otherwise)")
        .option("--request-id <id>", "makes a retried put safe (the SDK picks one when absent)"),
    async (ctx, name: string, o) => {
      const value = await readValue(ctx.io, o, `New value for ${name}:`);
      const res = await ctx.client().putSecretValue({ name, value, etag: o.etag ?? "", requestId: o.requestId ?? "" });
      const v = res.version!;
      print(ctx.io, ctx.format, () => versionJson(v), () => versionView(v));
    },
  );

  register(
    "versions",
    (c) => c.argument("<name>").description("list a secret's versions, newest first"),
    async (ctx, name: string) => {
      const versions: SecretVersion[] = [];
      let pageToken = "";
      do {
        const res = await ctx.client().listSecretVersions({ name, pageSize: 100, pageToken });
        versions.push(...res.versions);
        pageToken = res.nextPageToken;
      } while (pageToken);
      print(ctx.io, ctx.format, () => versions.map(versionJson), () => versionsView(versions));
    },
  );

  for (const [verb, text] of [
    ["disable", "make a version unreadable until enabled again"],
    ["enable", "make a disabled version readable again"],
    ["destroy", "erase a version's value for good (asks first; --yes skips)"],
  ] as const) {
    register(
      verb,
      (c) =>
        c
          .argument("<name>")
          .argument("<version>")
          .description(text)
          .option("--etag <etag>", "only if the secret still has this etag"),
      async (ctx, name: string, versionText: string, o) => {
        const version = versionNumber(versionText);
        const req = { name, version, etag: o.etag ?? "" };
        if (verb === "destroy" && !(await ctx.confirm(`Destroy version ${version} of ${name}? Its value cannot be recovered.`))) {
          throw new CliError("not destroyed");
        }
        const client = ctx.client();
        const res =
          verb === "disable" ? await client.disableSecretVersion(req) : verb === "enable" ? await client.enableSecretVersion(req) : await client.destroySecretVersion(req);
        const v = res.version!;
        print(ctx.io, ctx.format, () => versionJson(v), () => versionView(v));
      },
    );
  }

  register(
    "delete",
    (c) =>
      c
        .argument("<name>")
        .description("delete a secret: recoverable with restore for its recovery window, or at once with --force (asks first)")
        .option("--force", "delete for good now, with every version")
        .option("--recovery-window <days>", "days it stays restorable (server default when absent)", positiveInt)
        .option("--etag <etag>", "only if the secret still has this etag"),
    async (ctx, name: string, o) => {
      if (o.force && o.recoveryWindow !== undefined) throw new UsageError("--force and --recovery-window: give one");
      if (o.force && !(await ctx.confirm(`Delete ${name} and all its versions for good? It cannot be restored.`))) {
        throw new CliError("not deleted");
      }
      const res = await ctx.client().deleteSecret({ name, force: Boolean(o.force), recoveryWindowDays: o.recoveryWindow ?? 0, etag: o.etag ?? "" });
      printSecret(ctx, res.secret);
    },
  );

  register(
    "restore",
    (c) => c.argument("<name>").description("undo a delete within its recovery window").option("--etag <etag>", "only if the secret still has this etag"),
    async (ctx, name: string, o) => printSecret(ctx, (await ctx.client().restoreSecret({ name, etag: o.etag ?? "" })).secret),
  );
}

interface SecretFieldFlags {
  description?: string;
  metadata?: Record<string, string>;
  ttl?: string;
  expireTime?: string;
  maxVersions?: number;
  allowedHost?: string[];
}

/** The fields create and update share, from their flags (absent: the proto's empty value). */
function secretFields(o: SecretFieldFlags) {
  return {
    description: o.description ?? "",
    metadata: o.metadata ?? {},
    ...(o.ttl ? { ttl: durationFlag("--ttl", o.ttl) } : {}),
    ...(o.expireTime ? { expireTime: timeFlag("--expire-time", o.expireTime) } : {}),
    maxVersions: o.maxVersions ?? 0,
    allowedHosts: o.allowedHost ?? [],
  };
}

function valueOptions(c: Command): Command {
  return c
    .option("--value-file <path>", "read the value from this file, byte for byte (- for stdin)")
    .option("--value <value>", "the value itself (lands in shell history: prefer stdin or --value-file)");
}

function printSecret(ctx: Context, secret: Secret | undefined): void {
  if (!secret) throw new CliError("the server's answer carried no secret");
  print(ctx.io, ctx.format, () => secretJson(secret), () => secretView(secret));
}

export type { Io, ValueFlags };
export { makeContext };
