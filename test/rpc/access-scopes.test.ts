import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { timestampDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretEventType, SecretsService, type BatchGetSecretValuesResponse } from "../../gen/secrets/v1/secrets_pb.js";
import { DEFAULT_SCOPES } from "../../src/auth/identity.js";
import { METHOD_REQUIREMENTS } from "../../src/auth/policy.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { openRawDb } from "../helpers/raw-db.js";
import { connectErrorOf } from "../helpers/rpc-failures.js";
import { startHttpUpstream, type Upstream } from "../helpers/https-upstream.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Scopes and name globs through the real server, positive and boundary cases: what a token
// without a scope claim may do, what `scope: ""` may do, that no scope implies another, what
// secrets.admin runs, how `secrets` globs shape reads, listings, batches and creates, and the
// order of the checks (scope before field validation, validation before globs).

type Secrets = Client<typeof SecretsService>;
type AnyCall = (req: Record<string, unknown>) => Promise<unknown>;

const TENANT = "dev-scopes";
const ABSENT_TOKEN_ID = `tt_${"B".repeat(22)}`;

/** A gRPC client sending the token and any extra headers on every call. */
function clientAs(baseUrl: string, token: string, headers: Record<string, string> = {}): Secrets {
  const transport = createGrpcTransport({
    baseUrl,
    interceptors: [
      (next) => (req) => {
        req.header.set("authorization", `Bearer ${token}`);
        for (const [name, value] of Object.entries(headers)) req.header.set(name, value);
        return next(req);
      },
    ],
  });
  return createClient(SecretsService, transport);
}

/** The RPC by its proto name, on any client; a server stream answers its first message (or fails as it opens). */
const rpc = (client: Secrets, method: string): AnyCall => {
  const desc = SecretsService.methods.find((m) => m.name === method);
  if (!desc) throw new Error(`no RPC ${method}`);
  const fn = (client as unknown as Record<string, (req: unknown, options?: { signal?: AbortSignal }) => unknown>)[desc.localName]!;
  if (desc.methodKind !== "server_streaming") return fn as AnyCall;
  return (req) => firstMessage((signal) => fn(req, { signal }) as AsyncIterable<unknown>);
};

async function firstMessage<T>(open: (signal: AbortSignal) => AsyncIterable<T>): Promise<T> {
  const abort = new AbortController();
  try {
    for await (const message of open(abort.signal)) return message;
  } finally {
    abort.abort();
  }
  throw new Error("the stream ended without a message");
}

const template = (json: JsonValue) => fromJson(ValueSchema, json);
const HEARTBEAT = { name: "", version: 0n, type: SecretEventType.HEARTBEAT };

/** A refusal with its name blanked out, so the shapes for two names can be compared. */
async function shapeOf(call: Promise<unknown>, name: string): Promise<{ code: Code; message: string }> {
  const err = await connectErrorOf(call);
  return { code: err.code, message: err.rawMessage.split(name).join("<name>") };
}

const batchShape = (res: BatchGetSecretValuesResponse) => ({
  values: res.values.map((v) => [v.name, v.value]),
  errors: res.errors.map((e) => [e.name, e.code]),
});

/** Every name of a ListSecrets walk, following next_page_token (bounded, so a token loop fails instead of hanging). */
async function walk(client: Secrets, pageSize: number): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let pageToken = "";
  let pages = 0;
  do {
    const page = await client.listSecrets({ pageSize, pageToken });
    expect(page.secrets.length).toBeLessThanOrEqual(pageSize);
    names.push(...page.secrets.map((s) => s.name));
    pageToken = page.nextPageToken;
    pages++;
    expect(pages, "the walk does not end").toBeLessThan(100);
  } while (pageToken !== "");
  return { names, pages };
}

describe("scopes and name globs through the real server", () => {
  let server: TestServer;
  let upstream: Upstream;
  let owner: Secrets; // no scope claim, every name
  const as = async (extra: { scope?: string; secrets?: string[] }, subject = "scoped") => clientAs(server.baseUrl, await server.token(TENANT, subject, extra));

  beforeAll(async () => {
    upstream = await startHttpUpstream();
    server = await startTestServer({
      store: "mongodb",
      keys: "local",
      label: "rpc_access_scopes",
      proxy: { allowPrivateHosts: [`127.0.0.1:${upstream.port}`], insecureHosts: [`127.0.0.1:${upstream.port}`] },
    });
    owner = clientAs(server.baseUrl, await server.token(TENANT, "owner"));
    await owner.createSecret({ name: "base_secret", value: "base value", description: "untouched" });
  });

  afterAll(async () => {
    await upstream?.close();
    await server?.close();
  });

  describe("a token without a scope claim: read, access, write and proxy, nothing more", () => {
    it("every RPC but RunMaintenance and RewrapKeys works, in one lifecycle", async () => {
      const c = clientAs(server.baseUrl, await server.token(TENANT, "plain"));
      const done = new Set<string>();
      const step = async <T>(method: string, call: Promise<T>): Promise<T> => {
        const res = await call;
        done.add(method);
        return res;
      };
      // A watch opened first hears the creation.
      const abort = new AbortController();
      const watch = c.watchSecrets({ names: ["flow_secret"] }, { signal: abort.signal })[Symbol.asyncIterator]();
      try {
        expect((await watch.next()).value?.event).toMatchObject(HEARTBEAT);
        await step("CreateSecret", c.createSecret({ name: "flow_secret", value: "v1" }));
        let event = (await watch.next()).value?.event;
        while (event?.type === SecretEventType.HEARTBEAT) event = (await watch.next()).value?.event;
        expect(await step("WatchSecrets", Promise.resolve(event))).toMatchObject({ name: "flow_secret", version: 1n, type: SecretEventType.CREATED });
      } finally {
        abort.abort();
      }
      expect((await step("GetSecret", c.getSecret({ name: "flow_secret" }))).secret?.createdBy).toBe("plain");
      expect((await step("GetSecretValue", c.getSecretValue({ name: "flow_secret" }))).value).toBe("v1");
      expect((await step("ListSecrets", c.listSecrets({ namePrefix: "flow_" }))).secrets.map((s) => s.name)).toEqual(["flow_secret"]);
      await step("UpdateSecret", c.updateSecret({ name: "flow_secret", value: "v2" }));
      expect((await step("PutSecretValue", c.putSecretValue({ name: "flow_secret", value: "v3" }))).version?.version).toBe(3n);
      const resolved = await step("ResolveReferences", c.resolveReferences({ template: template({ url: "https://x/{{ secrets.flow_secret }}", pinned: "secret://flow_secret@2" }) }));
      expect([toJson(ValueSchema, resolved.resolved!), resolved.names]).toEqual([{ url: "https://x/v3", pinned: "v2" }, ["flow_secret"]]);
      // Every enabled version's value: the current one and an older one.
      const redacted = await step("RedactText", c.redactText({ text: "token=v3; old=v1", names: ["flow_secret"] }));
      expect([redacted.text, redacted.matchedNames]).toEqual(["token=[REDACTED:flow_secret]; old=[REDACTED:flow_secret]", ["flow_secret"]]);
      await c.updateSecret({ name: "flow_secret", allowedHosts: [`127.0.0.1:${upstream.port}`] });
      const proxied = await step("ProxyHttpRequest", c.proxyHttpRequest({ method: "GET", url: upstream.url("/?k={{ secrets.flow_secret }}") }));
      expect([proxied.status, proxied.names, upstream.received.at(-1)?.query]).toEqual([200, ["flow_secret"], "k=v3"]);
      expect((await step("ListSecretVersions", c.listSecretVersions({ name: "flow_secret" }))).versions).toHaveLength(3);
      await step("DisableSecretVersion", c.disableSecretVersion({ name: "flow_secret", version: 1n }));
      await step("EnableSecretVersion", c.enableSecretVersion({ name: "flow_secret", version: 1n }));
      await step("DestroySecretVersion", c.destroySecretVersion({ name: "flow_secret", version: 1n }));
      expect(batchShape(await step("BatchGetSecretValues", c.batchGetSecretValues({ names: ["flow_secret"] })))).toEqual({ values: [["flow_secret", "v3"]], errors: [] });
      await step("DeleteSecret", c.deleteSecret({ name: "flow_secret" }));
      expect((await step("RestoreSecret", c.restoreSecret({ name: "flow_secret" }))).secret?.deleteTime).toBeUndefined();
      const minted = await step("CreateTaskToken", c.createTaskToken({ secrets: ["flow_*"], scopes: [...DEFAULT_SCOPES], label: "flow" }));
      await step("RevokeTaskToken", c.revokeTaskToken({ tokenId: minted.tokenId }));
      const events = await step("ListAuditEvents", c.listAuditEvents({ name: "flow_secret" }));
      expect(events.events.map((e) => e.method)).toContain("CreateSecret");
      expect([...done].sort()).toEqual(SecretsService.methods.map((m) => m.name).filter((m) => m !== "RunMaintenance" && m !== "RewrapKeys").sort());
    });

    it("RunMaintenance and RewrapKeys need secrets.admin", async () => {
      for (const call of [owner.runMaintenance({}), owner.rewrapKeys({ toKey: "k1" })]) {
        const err = await connectErrorOf(call);
        expect(err.code).toBe(Code.PermissionDenied);
        expect(err.rawMessage).toContain("secrets.admin");
      }
    });

    it("x-developer-id needs secrets.delegate, even naming the token's own tenant", async () => {
      const token = await server.token(TENANT, "plain");
      for (const tenant of [TENANT, "dev-elsewhere"]) {
        const err = await connectErrorOf(clientAs(server.baseUrl, token, { "x-developer-id": tenant }).getSecret({ name: "base_secret" }));
        expect(err.code, tenant).toBe(Code.PermissionDenied);
        expect(err.rawMessage, tenant).toContain("secrets.delegate");
      }
    });
  });

  describe('scope "" grants nothing', () => {
    /** A request per RPC naming the existing base_secret (it would change it, if allowed). */
    const REQUESTS: Record<string, Record<string, unknown>> = {
      CreateSecret: { name: "empty_scope_new", value: "x" },
      GetSecret: { name: "base_secret" },
      GetSecretValue: { name: "base_secret" },
      ListSecrets: {},
      UpdateSecret: { name: "base_secret", description: "changed" },
      PutSecretValue: { name: "base_secret", value: "changed" },
      ListSecretVersions: { name: "base_secret" },
      DisableSecretVersion: { name: "base_secret", version: 1n },
      EnableSecretVersion: { name: "base_secret", version: 1n },
      DestroySecretVersion: { name: "base_secret", version: 1n },
      DeleteSecret: { name: "base_secret", force: true },
      RestoreSecret: { name: "base_secret" },
      BatchGetSecretValues: { names: ["base_secret"] },
      CreateTaskToken: { secrets: ["base_secret"], scopes: ["secrets.read"], label: "from nothing" },
      RevokeTaskToken: { tokenId: ABSENT_TOKEN_ID },
      ListAuditEvents: {},
      RunMaintenance: {},
      RewrapKeys: { toKey: "k1" },
      ResolveReferences: { template: template({ a: "$ secrets.base_secret" }) },
      RedactText: { text: "leaked: base value", names: ["base_secret"] },
      WatchSecrets: { names: ["base_secret"] },
      ProxyHttpRequest: { method: "GET", url: "https://api.example.test/?key={{ secrets.base_secret }}" },
    };

    it("the table has a request for every RPC", () => {
      expect(Object.keys(REQUESTS).sort()).toEqual(SecretsService.methods.map((m) => m.name).sort());
    });

    it.each(SecretsService.methods.map((m) => m.name))("%s", async (method) => {
      const c = await as({ scope: "" });
      const err = await connectErrorOf(rpc(c, method)(REQUESTS[method]!));
      const rule = METHOD_REQUIREMENTS[method]!;
      if (method === "CreateTaskToken") {
        // Passes the gate (any token), then asks for more than the caller holds.
        expect([err.code, err.rawMessage]).toEqual([Code.PermissionDenied, "the caller does not hold scope secrets.read"]);
      } else if (method === "RevokeTaskToken") {
        // Needs no scope: an unknown id is simply not found.
        expect(err.code, err.rawMessage).toBe(Code.NotFound);
      } else {
        expect("scope" in rule).toBe(true);
        expect(err.code, err.rawMessage).toBe(Code.PermissionDenied);
        expect(err.rawMessage).toBe(`${method} needs scope ${(rule as { scope: string }).scope}`);
      }
    });

    it("and base_secret is as it was", async () => {
      const s = (await owner.getSecret({ name: "base_secret" })).secret;
      expect(s).toMatchObject({ description: "untouched", latestVersion: 1n, updatedBy: "owner" });
      expect((await owner.getSecretValue({ name: "base_secret" })).value).toBe("base value");
      expect((await connectErrorOf(owner.getSecret({ name: "empty_scope_new" }))).code).toBe(Code.NotFound);
    });
  });

  describe("scopes do not imply each other", () => {
    const refusedFor = async (c: Secrets, method: string, request: Record<string, unknown>, scope: string) => {
      const err = await connectErrorOf(rpc(c, method)(request));
      expect([method, err.code, err.rawMessage]).toEqual([method, Code.PermissionDenied, `${method} needs scope ${scope}`]);
    };

    it("secrets.write alone writes, but cannot read metadata, values or listings", async () => {
      const c = await as({ scope: "secrets.write" });
      await c.createSecret({ name: "write_only_made", value: "v1" });
      expect((await c.putSecretValue({ name: "write_only_made", value: "v2" })).version?.version).toBe(2n);
      await refusedFor(c, "GetSecret", { name: "base_secret" }, "secrets.read");
      await refusedFor(c, "GetSecretValue", { name: "base_secret" }, "secrets.access");
      await refusedFor(c, "ListSecrets", {}, "secrets.read");
      await refusedFor(c, "RunMaintenance", {}, "secrets.admin");
      await refusedFor(c, "RewrapKeys", { toKey: "k1" }, "secrets.admin");
    });

    it("secrets.access alone reads values, but cannot list, read metadata or write", async () => {
      const c = await as({ scope: "secrets.access" });
      expect((await c.getSecretValue({ name: "base_secret" })).value).toBe("base value");
      await refusedFor(c, "ListSecrets", {}, "secrets.read");
      await refusedFor(c, "GetSecret", { name: "base_secret" }, "secrets.read");
      await refusedFor(c, "PutSecretValue", { name: "base_secret", value: "x" }, "secrets.write");
    });

    it("secrets.read alone reads metadata, but not values, and cannot write", async () => {
      const c = await as({ scope: "secrets.read" });
      expect((await c.getSecret({ name: "base_secret" })).secret?.name).toBe("base_secret");
      await refusedFor(c, "GetSecretValue", { name: "base_secret" }, "secrets.access");
      await refusedFor(c, "BatchGetSecretValues", { names: ["base_secret"] }, "secrets.access");
      await refusedFor(c, "UpdateSecret", { name: "base_secret", description: "x" }, "secrets.write");
    });

    it("secrets.access alone resolves references and redacts text, but cannot watch", async () => {
      const c = await as({ scope: "secrets.access" });
      const resolved = await c.resolveReferences({ template: template({ key: "$ secrets['base_secret']" }) });
      expect([toJson(ValueSchema, resolved.resolved!), resolved.names]).toEqual([{ key: "base value" }, ["base_secret"]]);
      const redacted = await c.redactText({ text: "leaked: base value", names: ["base_secret"] });
      expect([redacted.text, redacted.matchedNames]).toEqual(["leaked: [REDACTED:base_secret]", ["base_secret"]]);
      await refusedFor(c, "WatchSecrets", { names: ["base_secret"] }, "secrets.read");
      await refusedFor(c, "WatchSecrets", {}, "secrets.read");
    });

    it("secrets.read alone watches, but cannot resolve references or redact text", async () => {
      const c = await as({ scope: "secrets.read" });
      expect(((await rpc(c, "WatchSecrets")({ names: ["base_secret"] })) as { event?: unknown }).event).toMatchObject(HEARTBEAT);
      expect(((await rpc(c, "WatchSecrets")({})) as { event?: unknown }).event).toMatchObject(HEARTBEAT);
      await refusedFor(c, "ResolveReferences", { template: template({ key: "$ secrets.base_secret" }) }, "secrets.access");
      // Even a template without references: the scope is checked before anything is read.
      await refusedFor(c, "ResolveReferences", { template: template("plain") }, "secrets.access");
      await refusedFor(c, "RedactText", { text: "leaked: base value", names: ["base_secret"] }, "secrets.access");
      await refusedFor(c, "RedactText", { text: "leaked: base value" }, "secrets.access");
    });

    it("secrets.proxy is needed for ProxyHttpRequest, and gives nothing else", async () => {
      const proxyOnly = await as({ scope: "secrets.proxy" });
      await refusedFor(proxyOnly, "GetSecretValue", { name: "base_secret" }, "secrets.access");
      await refusedFor(proxyOnly, "BatchGetSecretValues", { names: ["base_secret"] }, "secrets.access");
      await refusedFor(proxyOnly, "ResolveReferences", { template: template({ key: "$ secrets.base_secret" }) }, "secrets.access");
      await refusedFor(proxyOnly, "RedactText", { text: "leaked: base value", names: ["base_secret"] }, "secrets.access");
      await refusedFor(proxyOnly, "WatchSecrets", { names: ["base_secret"] }, "secrets.read");
      await refusedFor(proxyOnly, "GetSecret", { name: "base_secret" }, "secrets.read");
      for (const scope of ["secrets.read secrets.access secrets.write", "secrets.access"]) {
        const c = await as({ scope });
        await refusedFor(c, "ProxyHttpRequest", { method: "GET", url: "https://api.example.test/?key={{ secrets.base_secret }}" }, "secrets.proxy");
      }
      // It passes the gate: base_secret has no allowed_hosts, so nothing is sent.
      const err = await connectErrorOf(rpc(proxyOnly, "ProxyHttpRequest")({ method: "GET", url: "https://api.example.test/?key={{ secrets.base_secret }}" }));
      expect([err.code, err.rawMessage]).toEqual([Code.PermissionDenied, 'secret "base_secret" has no allowed_hosts: it is never sent anywhere']);
    });

    it("secrets.admin alone runs maintenance, but cannot read, list or write", async () => {
      const c = await as({ scope: "secrets.admin" });
      expect(typeof (await c.runMaintenance({})).purgedSecrets).toBe("number");
      await refusedFor(c, "GetSecret", { name: "base_secret" }, "secrets.read");
      await refusedFor(c, "GetSecretValue", { name: "base_secret" }, "secrets.access");
      await refusedFor(c, "ListSecrets", {}, "secrets.read");
      await refusedFor(c, "CreateSecret", { name: "admin_made", value: "x" }, "secrets.write");
    });

    it("secrets.delegate alone cannot read, with or without the header", async () => {
      const token = await server.token(TENANT, "delegate-only", { scope: "secrets.delegate" });
      await refusedFor(clientAs(server.baseUrl, token), "GetSecret", { name: "base_secret" }, "secrets.read");
      await refusedFor(clientAs(server.baseUrl, token, { "x-developer-id": "dev-elsewhere" }), "GetSecretValue", { name: "base_secret" }, "secrets.access");
    });
  });

  describe("secrets.admin: RunMaintenance", () => {
    let admin: Secrets;
    beforeAll(async () => {
      admin = await as({ scope: "secrets.admin" }, "operator");
    });

    const counts = (r: Record<string, unknown>) =>
      ["purgedSecrets", "completedWrites", "removedRequestIds", "removedTaskTokens", "removedAuditEvents"].map((k) => [k, Number.isInteger(r[k]) && (r[k] as number) >= 0]);

    it("answers its counts as non-negative integers; a soft-deleted secret within its window is kept", async () => {
      await owner.createSecret({ name: "maint_soft", value: "x" });
      await owner.deleteSecret({ name: "maint_soft", force: false });
      const r = await admin.runMaintenance({});
      expect(counts(r as unknown as Record<string, unknown>)).toEqual(counts({ purgedSecrets: 0, completedWrites: 0, removedRequestIds: 0, removedTaskTokens: 0, removedAuditEvents: 0 }));
      const listed = await owner.listSecrets({ namePrefix: "maint_soft", showDeleted: true });
      expect(listed.secrets.map((s) => [s.name, s.deleteTime !== undefined])).toEqual([["maint_soft", true]]);
    });

    it("purges a secret whose ttl has run out", async () => {
      const created = await owner.createSecret({ name: "maint_ttl", value: "short-lived", ttl: { seconds: 1n } });
      const expireTime = timestampDate(created.secret!.expireTime!).getTime();
      await waitUntil(async () => Date.now() > expireTime && (await connectErrorOf(owner.getSecret({ name: "maint_ttl" }))).code === Code.NotFound, "maint_ttl has expired");
      const r = await admin.runMaintenance({});
      expect(r.purgedSecrets).toBeGreaterThanOrEqual(1);
      const raw = await openRawDb(server.fixture.db!);
      try {
        expect(await raw.db.collection("secrets").countDocuments({ tenant: TENANT, name: "maint_ttl" })).toBe(0);
      } finally {
        await raw.close();
      }
      expect((await owner.listSecrets({ namePrefix: "maint_ttl", showDeleted: true })).secrets).toEqual([]);
    });
  });

  describe("name globs", () => {
    /** 10 names each under three prefixes, interleaved in creation order, plus the two named in the checks. */
    const GROUPS = ["github_k", "openai_k", "stripe_k"];
    const names = [
      ...Array.from({ length: 10 }, (_, i) => GROUPS.map((g) => `${g}${String(i).padStart(2, "0")}`)).flat(),
      "stripe_live",
      "openai_key",
    ];
    let stripe: Secrets;

    beforeAll(async () => {
      for (const name of names) await owner.createSecret({ name, value: `value of ${name}` });
      stripe = await as({ secrets: ["stripe_*"] }, "stripe-agent");
    });

    it("GetSecretValue inside the globs works; outside answers NOT_FOUND shaped exactly like an absent name", async () => {
      expect((await stripe.getSecretValue({ name: "stripe_live" })).value).toBe("value of stripe_live");
      const outside = await shapeOf(stripe.getSecretValue({ name: "openai_key" }), "openai_key");
      expect(outside.code).toBe(Code.NotFound);
      // Truly absent, for the unrestricted owner and for the glob token inside its globs.
      expect(outside).toEqual(await shapeOf(owner.getSecretValue({ name: "nothing_here" }), "nothing_here"));
      expect(outside).toEqual(await shapeOf(stripe.getSecretValue({ name: "stripe_absent" }), "stripe_absent"));
      expect(outside.message).not.toMatch(/glob|scope|permission|token|denied/i);
      // Metadata and versions too.
      expect(await shapeOf(stripe.getSecret({ name: "openai_key" }), "openai_key")).toEqual(await shapeOf(owner.getSecret({ name: "nothing_here" }), "nothing_here"));
      expect((await connectErrorOf(stripe.listSecretVersions({ name: "openai_key" }))).code).toBe(Code.NotFound);
    });

    it("ListSecrets walks only stripe_* names, each exactly once, over pages of 4", async () => {
      const everything = (await walk(owner, 1000)).names;
      const expected = everything.filter((n) => n.startsWith("stripe_"));
      expect(expected).toEqual(expect.arrayContaining(names.filter((n) => n.startsWith("stripe_"))));
      expect(everything.length).toBeGreaterThan(2 * expected.length);
      const { names: seen, pages } = await walk(stripe, 4);
      expect(seen).toEqual(expected);
      expect(new Set(seen).size).toBe(seen.length);
      expect(pages).toBeGreaterThanOrEqual(Math.ceil(expected.length / 4));
    });

    it("no page token of a glob-limited walk holds a hidden name", async () => {
      // stripe_* names sort after more than ten hidden ones: a cursor taken from the names scanned would hold one.
      const odd = await as({ secrets: ["*1", "*3", "*5", "*7", "*9"] }, "odd-tokens");
      for (const [client, visible] of [[stripe, (n: string) => n.startsWith("stripe_")], [odd, (n: string) => /[13579]$/.test(n)]] as const) {
        const hidden = names.filter((n) => !visible(n));
        let pageToken = "";
        let tokens = 0;
        for (;;) {
          const page = await client.listSecrets({ pageSize: 1, pageToken });
          pageToken = page.nextPageToken;
          if (!pageToken) break;
          tokens++;
          const decoded = Buffer.from(pageToken, "base64url").toString("utf8");
          for (const name of hidden) expect(decoded, `page token ${tokens}`).not.toContain(`"${name}"`);
        }
        expect(tokens).toBe(names.filter(visible).length - 1);
      }
    });

    it("a glob that picks names scattered through the listing: every visible name once, none other", async () => {
      // Names ending in an odd digit, under every prefix: visible and invisible names alternate in name order.
      const odd = await as({ secrets: ["*1", "*3", "*5", "*7", "*9"] }, "odd-agent");
      const expected = (await walk(owner, 1000)).names.filter((n) => /[13579]$/.test(n));
      expect(expected).toEqual(names.filter((n) => /[13579]$/.test(n)).sort());
      expect(expected.length).toBe(15);
      const { names: seen } = await walk(odd, 4);
      expect(seen).toEqual(expected);
      expect(new Set(seen).size).toBe(seen.length);
    });

    it("BatchGetSecretValues mixes values and NOT_FOUND entries, each in request order", async () => {
      const res = await stripe.batchGetSecretValues({ names: ["openai_key", "stripe_live", "absent_x", "stripe_k03", "github_k01", "stripe_absent"] });
      expect(batchShape(res)).toEqual({
        values: [
          ["stripe_live", "value of stripe_live"],
          ["stripe_k03", "value of stripe_k03"],
        ],
        errors: [
          ["openai_key", Code.NotFound],
          ["absent_x", Code.NotFound],
          ["github_k01", Code.NotFound],
          ["stripe_absent", Code.NotFound],
        ],
      });
      const message = (name: string) => res.errors.find((e) => e.name === name)!.message.split(name).join("<name>");
      expect(message("openai_key")).toBe(message("absent_x"));
      expect(message("openai_key")).toBe(message("stripe_absent"));
    });

    it("CreateSecret outside the globs is PERMISSION_DENIED and creates nothing; inside it works", async () => {
      const err = await connectErrorOf(stripe.createSecret({ name: "openai_x", value: "x" }));
      expect(err.code, err.rawMessage).toBe(Code.PermissionDenied);
      expect(err.rawMessage).toContain("openai_x");
      expect((await connectErrorOf(owner.getSecret({ name: "openai_x" }))).code).toBe(Code.NotFound);
      expect((await stripe.createSecret({ name: "stripe_new", value: "x" })).secret?.createdBy).toBe("stripe-agent");
    });

    it("secrets: [] sees no name at all", async () => {
      const none = await as({ secrets: [] }, "no-names");
      for (const [label, call] of [
        ["GetSecret", none.getSecret({ name: "stripe_live" })],
        ["GetSecretValue", none.getSecretValue({ name: "stripe_live" })],
        ["ListSecretVersions", none.listSecretVersions({ name: "base_secret" })],
        ["UpdateSecret", none.updateSecret({ name: "base_secret", description: "changed" })],
        ["PutSecretValue", none.putSecretValue({ name: "base_secret", value: "changed" })],
        ["DeleteSecret", none.deleteSecret({ name: "base_secret", force: true })],
      ] as const) {
        const err = await connectErrorOf(call);
        expect([label, err.code]).toEqual([label, Code.NotFound]);
      }
      const listed = await none.listSecrets({ pageSize: 1000 });
      expect([listed.secrets, listed.nextPageToken]).toEqual([[], ""]);
      expect(batchShape(await none.batchGetSecretValues({ names: ["stripe_live", "base_secret"] }))).toEqual({
        values: [],
        errors: [
          ["stripe_live", Code.NotFound],
          ["base_secret", Code.NotFound],
        ],
      });
      expect((await connectErrorOf(none.createSecret({ name: "anything", value: "x" }))).code).toBe(Code.PermissionDenied);
      // Audit events that name any secret are out of its sight.
      const events = await none.listAuditEvents({ pageSize: 1000 });
      expect(events.events.filter((e) => e.names.length > 0)).toEqual([]);
      expect((await owner.getSecret({ name: "base_secret" })).secret?.description).toBe("untouched");
    });
  });

  describe("the order of the checks", () => {
    it("scope before field validation: an invalid name with a token lacking the scope is PERMISSION_DENIED", async () => {
      const readOnly = await as({ scope: "secrets.read" });
      const writeOnly = await as({ scope: "secrets.write" });
      for (const [c, method, request, scope] of [
        [readOnly, "PutSecretValue", { name: "1bad", value: "x" }, "secrets.write"],
        [readOnly, "CreateSecret", { name: "1bad", value: "x" }, "secrets.write"],
        [writeOnly, "GetSecretValue", { name: "1bad" }, "secrets.access"],
        [writeOnly, "GetSecret", { name: "" }, "secrets.read"],
      ] as const) {
        const err = await connectErrorOf(rpc(c, method)(request));
        expect([method, err.code, err.rawMessage]).toEqual([method, Code.PermissionDenied, `${method} needs scope ${scope}`]);
      }
    });

    it("validation before globs: an invalid name with a glob-limited token is INVALID_ARGUMENT", async () => {
      const stripe = await as({ secrets: ["stripe_*"] }, "stripe-agent");
      const none = await as({ secrets: [] }, "no-names");
      for (const [label, c] of [
        ["stripe_*", stripe],
        ["[]", none],
      ] as const) {
        for (const [method, request] of [
          ["GetSecret", { name: "1bad" }],
          ["GetSecretValue", { name: "1bad" }],
          ["PutSecretValue", { name: "1bad", value: "x" }],
          ["CreateSecret", { name: "1bad", value: "x" }],
          ["DeleteSecret", { name: "1bad" }],
        ] as const) {
          const err = await connectErrorOf(rpc(c, method)(request));
          expect([label, method, err.code]).toEqual([label, method, Code.InvalidArgument]);
          expect(err.rawMessage).toContain("name");
        }
      }
      // In a batch, the invalid name keeps its own error beside the glob's NOT_FOUND.
      expect(batchShape(await stripe.batchGetSecretValues({ names: ["1bad", "openai_key", "stripe_live"] }))).toEqual({
        values: [["stripe_live", "value of stripe_live"]],
        errors: [
          ["1bad", Code.InvalidArgument],
          ["openai_key", Code.NotFound],
        ],
      });
    });
  });
});
