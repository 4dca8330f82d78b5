import { create, fromJson, toJson, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { SignJWT } from "jose";
import { BSON, type Document } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretEventType, SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { mintToken } from "../../src/auth/dev-token.js";
import { DEFAULT_SCOPES, SCOPES } from "../../src/auth/identity.js";
import { METHOD_REQUIREMENTS } from "../../src/auth/policy.js";
import { connectGrpcClient, connectJson } from "../helpers/clients.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// The access-control matrix over the real server: every SecretsService RPC (taken from the
// generated descriptor, so a new RPC without a case fails here) × every kind of bad caller — a
// foreign tenant, a token lacking the RPC's scope, a token whose name globs exclude the name, and
// five unauthenticated tokens. Each cell checks the answer (code and message, or what a listing
// shows) and that the data collections did not change (audit and cache collections may).
// A server-streaming RPC (WatchSecrets) is judged by what opening it gives: its first message, or
// the error the stream fails with before any.

const AUDIENCE = "secrets-api";
const OWNER = { developer: "dev-owner", subject: "owner" };
const FOREIGN = { developer: "dev-foreign", subject: "intruder" };
/** The foreign tenant whose calls create things (so FOREIGN's own listings stay empty). */
const FOREIGN_CREATOR = { developer: "dev-foreign-2", subject: "intruder2" };
const GLOBS = ["other_*"];
const VISIBLE = "other_visible";
/** A name no one ever creates, and a task token id no one ever mints: the "truly absent" shapes. */
const ABSENT_NAME = "acc_never_created";
const ABSENT_TOKEN_ID = `tt_${"A".repeat(22)}`;

/** The raw collections that hold data; audit_events, cache_state and cache_keys legitimately change. */
const DATA_COLLECTIONS = ["secrets", "secret_versions", "secret_claims", "idempotency", "task_tokens"] as const;

const METHODS: readonly DescMethod[] = SecretsService.methods;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const nameOf = (method: string) => `acc_${method.toLowerCase()}`;
const template = (json: JsonValue) => fromJson(ValueSchema, json);

/** The JSON error codes and HTTP statuses of the Connect protocol, for the codes this matrix expects. */
const CONNECT_JSON: Partial<Record<Code, { status: number; code: string }>> = {
  [Code.NotFound]: { status: 404, code: "not_found" },
  [Code.PermissionDenied]: { status: 403, code: "permission_denied" },
  [Code.Unauthenticated]: { status: 401, code: "unauthenticated" },
};

type Answer = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type DataRule = "unchanged" | { readonly addedFor: string } | { readonly revoked: () => string };

/** One cell: who calls with what, and what must come back. */
interface Cell {
  readonly token: () => string;
  readonly request: Record<string, unknown>;
  /** A refusal: its code, a pattern its message must match, and (NOT_FOUND) the request that names a truly absent subject. */
  readonly refused?: { readonly code: Code; readonly message: RegExp; readonly absent?: Absent };
  /** An answer instead: what it must show. */
  readonly answer?: (res: Answer) => void | Promise<void>;
  /** How the data collections may change (default: not at all). */
  readonly data?: DataRule;
  /** Checked after the data: what still holds for the owner. */
  readonly after?: () => Promise<void>;
}

interface RpcCase {
  /** The request that acts on the owner's state prepared for this RPC (it would change it, if allowed). */
  readonly request: () => Record<string, unknown>;
  /** For name- or id-bearing calls: the same request naming `subject` instead, and the subject of request(). */
  readonly naming?: { readonly subject: () => string; readonly absent: string; readonly with: (subject: string) => Record<string, unknown> };
  readonly foreign?: () => Cell;
  readonly scope?: () => Cell;
  readonly glob?: () => Cell;
}

/** A NOT_FOUND must look like the one for a truly absent subject: the subject named, and the request naming the absent one instead. */
interface Absent {
  readonly subject: string;
  readonly absentSubject: string;
  readonly request: Record<string, unknown>;
}

type Snapshot = Map<string, Map<string, { readonly doc: Document; readonly text: string }>>;

describe("access-control matrix: every RPC × every bad caller", () => {
  let server: TestServer;
  let raw: RawDb;
  const clients = new Map<string, Client<typeof SecretsService>>();
  const client = (token: string) => {
    let c = clients.get(token);
    if (!c) clients.set(token, (c = connectGrpcClient(server.baseUrl, token)));
    return c;
  };
  const tokens: Record<string, string> = {};
  /** A live task token of the owner (read, access, write; every name). */
  let ownerTask = "";
  /** Owner task token ids the foreign tenant, the task token and bad credentials try to revoke; one the glob token does revoke. */
  let victimId = "";
  let globVictimId = "";
  const unauthenticated: [kind: string, token: () => string][] = [
    ["expired (beyond the 60 s skew)", () => tokens.expired!],
    ["signed with another key", () => tokens.wrongKey!],
    ['alg "none"', () => tokens.none!],
    ["wrong audience", () => tokens.wrongAudience!],
    ["revoked task token", () => tokens.revokedTask!],
  ];

  /** Every RPC's owner state is prepared in beforeAll; names per RPC, so a call that wrongly succeeds cannot hide behind another's. */
  const CASES: Record<string, RpcCase> = {};
  const named = (method: string, build: (name: string) => Record<string, unknown>): Pick<RpcCase, "request" | "naming"> => ({
    request: () => build(nameOf(method)),
    naming: { subject: () => nameOf(method), absent: ABSENT_NAME, with: build },
  });
  CASES.CreateSecret = {
    request: () => ({ name: `${nameOf("CreateSecret")}_new`, value: "intruder" }),
    // Same name as the owner's: it lands in the foreign tenant only.
    foreign: () => ({
      token: () => tokens.foreignCreator!,
      request: { name: nameOf("CreateSecret"), value: "intruder's own", description: "foreign" },
      answer: (res) => expect(res.secret).toMatchObject({ name: nameOf("CreateSecret"), createdBy: FOREIGN_CREATOR.subject, description: "foreign", latestVersion: 1n }),
      data: { addedFor: FOREIGN_CREATOR.developer },
      after: async () => {
        expect((await client(tokens.owner!).getSecret({ name: nameOf("CreateSecret") })).secret).toMatchObject({ createdBy: OWNER.subject, description: "owner's" });
      },
    }),
    glob: () => ({ token: () => tokens.glob!, request: CASES.CreateSecret!.request(), refused: { code: Code.PermissionDenied, message: /may not create secret "acc_createsecret_new"/ } }),
  };
  CASES.GetSecret = named("GetSecret", (name) => ({ name }));
  CASES.GetSecretValue = named("GetSecretValue", (name) => ({ name }));
  CASES.ListSecrets = {
    request: () => ({ pageSize: 1000, showDeleted: true }),
    foreign: () => ({
      token: () => tokens.foreign!,
      request: { pageSize: 1000, showDeleted: true },
      answer: (res) => {
        expect(res.secrets).toEqual([]);
        expect(res.nextPageToken).toBe("");
      },
    }),
    glob: () => ({
      token: () => tokens.glob!,
      request: { pageSize: 1000, showDeleted: true },
      answer: (res) => expect(res.secrets.map((s: Answer) => s.name)).toEqual([VISIBLE]),
    }),
  };
  CASES.UpdateSecret = named("UpdateSecret", (name) => ({ name, value: "intruder", description: "intruder" }));
  CASES.PutSecretValue = named("PutSecretValue", (name) => ({ name, value: "intruder" }));
  CASES.ListSecretVersions = named("ListSecretVersions", (name) => ({ name }));
  CASES.DisableSecretVersion = named("DisableSecretVersion", (name) => ({ name, version: 1n }));
  // The owner's version 1 is disabled: enabling it would change it.
  CASES.EnableSecretVersion = named("EnableSecretVersion", (name) => ({ name, version: 1n }));
  CASES.DestroySecretVersion = named("DestroySecretVersion", (name) => ({ name, version: 1n }));
  CASES.DeleteSecret = named("DeleteSecret", (name) => ({ name, force: true }));
  // The owner's secret is soft-deleted: restoring it would change it.
  CASES.RestoreSecret = named("RestoreSecret", (name) => ({ name }));
  CASES.BatchGetSecretValues = {
    request: () => ({ names: [nameOf("BatchGetSecretValues"), nameOf("GetSecretValue")] }),
    foreign: () => ({
      token: () => tokens.foreign!,
      request: CASES.BatchGetSecretValues!.request(),
      answer: (res) => {
        expect(res.values).toEqual([]);
        expect(res.errors.map((e: Answer) => [e.name, e.code])).toEqual([
          [nameOf("BatchGetSecretValues"), Code.NotFound],
          [nameOf("GetSecretValue"), Code.NotFound],
        ]);
      },
    }),
    glob: () => ({
      token: () => tokens.glob!,
      request: { names: [nameOf("BatchGetSecretValues"), VISIBLE, nameOf("GetSecretValue")] },
      answer: (res) => {
        expect(res.values.map((v: Answer) => [v.name, v.value])).toEqual([[VISIBLE, "visible value"]]);
        expect(res.errors.map((e: Answer) => [e.name, e.code])).toEqual([
          [nameOf("BatchGetSecretValues"), Code.NotFound],
          [nameOf("GetSecretValue"), Code.NotFound],
        ]);
        for (const e of res.errors) expect(e.message).not.toMatch(/glob|scope|permission|token/i);
      },
    }),
  };
  CASES.CreateTaskToken = {
    request: () => ({ secrets: [nameOf("CreateTaskToken")], scopes: ["secrets.read"], label: "matrix" }),
    // Minting succeeds, for the foreign tenant only: the token it gets cannot see the owner's secret.
    foreign: () => ({
      token: () => tokens.foreignCreator!,
      request: CASES.CreateTaskToken!.request(),
      answer: async (res) => {
        expect(res.tokenId).toMatch(/^tt_/);
        const err = await errorOf(client(res.token).getSecret({ name: nameOf("CreateTaskToken") }));
        expect(err.code, err.rawMessage).toBe(Code.NotFound);
      },
      data: { addedFor: FOREIGN_CREATOR.developer },
    }),
    // A task token cannot mint another.
    scope: () => ({ token: () => ownerTask, request: CASES.CreateTaskToken!.request(), refused: { code: Code.PermissionDenied, message: /task token/ } }),
    glob: () => ({
      token: () => tokens.glob!,
      request: CASES.CreateTaskToken!.request(),
      refused: { code: Code.PermissionDenied, message: /do not cover "acc_createtasktoken"/ },
    }),
  };
  CASES.RevokeTaskToken = {
    request: () => ({ tokenId: victimId }),
    naming: { subject: () => victimId, absent: ABSENT_TOKEN_ID, with: (tokenId) => ({ tokenId }) },
    foreign: () => ({
      token: () => tokens.foreign!,
      request: { tokenId: victimId },
      refused: { code: Code.NotFound, message: /not found/, absent: { subject: victimId, absentSubject: ABSENT_TOKEN_ID, request: { tokenId: ABSENT_TOKEN_ID } } },
      after: async () => {
        // The victim still works.
        expect((await client(tokens.victim!).getSecret({ name: nameOf("GetSecret") })).secret?.name).toBe(nameOf("GetSecret"));
      },
    }),
    scope: () => ({ token: () => ownerTask, request: { tokenId: victimId }, refused: { code: Code.PermissionDenied, message: /task token/ } }),
    // Name globs do not confine revocation (it only takes access away): the glob token revokes a
    // task token of its tenant, and nothing else changes.
    glob: () => ({
      token: () => tokens.glob!,
      request: { tokenId: globVictimId },
      answer: (res) => expect(res.$typeName).toBe("secrets.v1.RevokeTaskTokenResponse"),
      data: { revoked: () => globVictimId },
      after: () => waitUntil(async () => (await invoke(SecretsService.method.getSecret, tokens.globVictim!, { name: VISIBLE })).err?.code === Code.Unauthenticated, "the revoked task token is refused"),
    }),
  };
  CASES.ListAuditEvents = {
    request: () => ({ pageSize: 1000 }),
    foreign: () => ({
      token: () => tokens.foreign!,
      request: { pageSize: 1000 },
      answer: async (res) => {
        // The foreign tenant's own (refused) calls, never the owner's.
        expect(res.events.length).toBeGreaterThan(0);
        for (const e of res.events) expect([e.developerId, e.principal]).toEqual([FOREIGN.developer, FOREIGN.subject]);
        const owners = await client(tokens.owner!).listAuditEvents({ pageSize: 1000 });
        const ownerIds = new Set(owners.events.map((e) => e.eventId));
        expect(ownerIds.size).toBeGreaterThan(0);
        expect(res.events.filter((e: Answer) => ownerIds.has(e.eventId))).toEqual([]);
      },
    }),
    glob: () => ({
      token: () => tokens.glob!,
      request: { pageSize: 1000 },
      answer: (res) => {
        // Only events whose names all match the globs: the owner's events on acc_* are left out.
        expect(res.events.some((e: Answer) => e.names.includes(VISIBLE))).toBe(true);
        const named = res.events.flatMap((e: Answer) => e.names as string[]);
        expect(named.filter((n: string) => !n.startsWith("other_"))).toEqual([]);
      },
    }),
  };
  CASES.RunMaintenance = {
    request: () => ({}),
    // Neither token holds secrets.admin.
    foreign: () => ({ token: () => tokens.foreign!, request: {}, refused: { code: Code.PermissionDenied, message: /needs scope secrets\.admin/ } }),
    glob: () => ({ token: () => tokens.glob!, request: {}, refused: { code: Code.PermissionDenied, message: /needs scope secrets\.admin/ } }),
  };
  CASES.RewrapKeys = {
    request: () => ({ toKey: "k1" }),
    // Neither token holds secrets.admin.
    foreign: () => ({ token: () => tokens.foreign!, request: { toKey: "k1" }, refused: { code: Code.PermissionDenied, message: /needs scope secrets\.admin/ } }),
    glob: () => ({ token: () => tokens.glob!, request: { toKey: "k1" }, refused: { code: Code.PermissionDenied, message: /needs scope secrets\.admin/ } }),
  };
  // A reference the caller cannot read is "missing": NOT_FOUND without allow_missing, shaped like a
  // truly absent name; with allow_missing it is left as it was and listed, never resolved.
  CASES.ResolveReferences = {
    ...named("ResolveReferences", (name) => ({ template: template({ env: { TOKEN: `$ secrets.${name}` } }) })),
    foreign: () => ({
      ...notFoundCell(CASES.ResolveReferences!, () => tokens.foreign!),
      after: async () => {
        const res = await client(tokens.foreign!).resolveReferences({ template: template({ a: `$ secrets.${nameOf("ResolveReferences")}` }), allowMissing: true });
        expect([toJson(ValueSchema, res.resolved!), res.names, res.missing]).toEqual([{ a: `$ secrets.${nameOf("ResolveReferences")}` }, [], [nameOf("ResolveReferences")]]);
      },
    }),
    glob: () => ({
      ...notFoundCell(CASES.ResolveReferences!, () => tokens.glob!),
      after: async () => {
        const res = await client(tokens.glob!).resolveReferences({
          template: template({ a: `$ secrets.${nameOf("ResolveReferences")}`, b: `secret://${VISIBLE}` }),
          allowMissing: true,
        });
        expect([toJson(ValueSchema, res.resolved!), res.names, res.missing]).toEqual([
          { a: `$ secrets.${nameOf("ResolveReferences")}`, b: "visible value" },
          [VISIBLE],
          [nameOf("ResolveReferences")],
        ]);
      },
    }),
  };
  // Naming a secret the caller cannot see is NOT_FOUND; naming none covers only what it can see, so
  // the owner's value in the text stays as it is.
  const leaked = `log: ${nameOf("RedactText")} value; ${VISIBLE}: visible value`;
  CASES.RedactText = {
    ...named("RedactText", (name) => ({ text: leaked, names: [name] })),
    foreign: () => ({
      ...notFoundCell(CASES.RedactText!, () => tokens.foreign!),
      after: async () => {
        const res = await client(tokens.foreign!).redactText({ text: leaked });
        expect([res.text, res.matchedNames]).toEqual([leaked, []]);
      },
    }),
    glob: () => ({
      ...notFoundCell(CASES.RedactText!, () => tokens.glob!),
      after: async () => {
        const res = await client(tokens.glob!).redactText({ text: leaked });
        expect([res.text, res.matchedNames]).toEqual([`log: ${nameOf("RedactText")} value; ${VISIBLE}: [REDACTED:${VISIBLE}]`, [VISIBLE]]);
      },
    }),
  };
  // A watch of a name the caller cannot see opens like any other (a heartbeat), and then hears
  // nothing of it: the owner's change reaches the owner's own watch, and the next change the
  // caller's watch delivers is a later one it may see (events reach a watch in commit order).
  CASES.WatchSecrets = {
    request: () => ({ names: [nameOf("WatchSecrets")] }),
    foreign: () => ({
      token: () => tokens.foreignCreator!,
      request: CASES.WatchSecrets!.request(),
      answer: expectHeartbeat,
      after: async () => {
        const name = nameOf("WatchSecrets");
        const seen = await changeHeardAfterOwners(tokens.foreignCreator!, [name], () => client(tokens.foreignCreator!).createSecret({ name, value: "intruder's own" }));
        expect(seen).toMatchObject({ name, type: SecretEventType.CREATED, version: 1n });
      },
    }),
    glob: () => ({
      token: () => tokens.glob!,
      request: CASES.WatchSecrets!.request(),
      answer: expectHeartbeat,
      after: async () => {
        const put = async () => (await client(tokens.owner!).putSecretValue({ name: VISIBLE, value: "visible value" })).version!.version;
        let version = 0n;
        const seen = await changeHeardAfterOwners(tokens.glob!, [nameOf("WatchSecrets"), VISIBLE], async () => (version = await put()));
        expect(seen).toMatchObject({ name: VISIBLE, type: SecretEventType.VERSION_ADDED, version });
      },
    }),
  };

  // A reference the caller cannot read fails the call before anything is sent, NOT_FOUND shaped
  // like a truly absent name (the owner's secret has no allowed_hosts: even the owner sends nothing).
  CASES.ProxyHttpRequest = named("ProxyHttpRequest", (name) => ({
    method: "POST",
    url: `https://api.example.test/charge?key={{ secrets.${name} }}`,
    headers: [{ name: "authorization", value: `Bearer {{ secrets.${name} }}` }],
  }));

  // ---- the columns --------------------------------------------------------------------------

  function rpcCase(method: DescMethod): RpcCase {
    const c = CASES[method.name];
    if (!c) throw new Error(`the access matrix has no case for ${method.name}: add one to CASES`);
    return c;
  }

  /** Default for a name- or id-bearing call: NOT_FOUND, shaped like a truly absent subject. */
  function notFoundCell(c: RpcCase, token: () => string): Cell {
    const naming = c.naming!;
    return {
      token,
      request: c.request(),
      refused: { code: Code.NotFound, message: /not found/, absent: { subject: naming.subject(), absentSubject: naming.absent, request: naming.with(naming.absent) } },
    };
  }

  const COLUMNS: [column: string, cell: (method: DescMethod) => Cell][] = [
    [
      "foreign tenant",
      (m) => {
        const c = rpcCase(m);
        if (c.foreign) return c.foreign();
        if (!c.naming) throw new Error(`${m.name}: no foreign-tenant cell`);
        return notFoundCell(c, () => tokens.foreign!);
      },
    ],
    [
      "token lacking the scope",
      (m) => {
        const c = rpcCase(m);
        if (c.scope) return c.scope();
        const rule = METHOD_REQUIREMENTS[m.name];
        if (!rule || !("scope" in rule)) throw new Error(`${m.name}: no scope cell and no scope in METHOD_REQUIREMENTS`);
        return {
          token: () => tokens[`without ${rule.scope}`]!,
          request: c.request(),
          refused: { code: Code.PermissionDenied, message: new RegExp(`needs scope ${rule.scope.replace(".", "\\.")}`) },
        };
      },
    ],
    [
      "token whose globs exclude the name",
      (m) => {
        const c = rpcCase(m);
        if (c.glob) return c.glob();
        if (!c.naming) throw new Error(`${m.name}: no glob cell`);
        return notFoundCell(c, () => tokens.glob!);
      },
    ],
    ...unauthenticated.map(
      ([kind, token]) =>
        [
          `unauthenticated: ${kind}`,
          (m: DescMethod): Cell => ({ token, request: rpcCase(m).request(), refused: { code: Code.Unauthenticated, message: /\S/ } }),
        ] as [string, (method: DescMethod) => Cell],
    ),
  ];

  // ---- running a cell -----------------------------------------------------------------------

  async function errorOf(call: Promise<unknown>): Promise<ConnectError> {
    try {
      await call;
    } catch (err) {
      return ConnectError.from(err);
    }
    throw new Error("expected the call to fail, but it succeeded");
  }

  /** A unary call's answer, or a server stream's first message; or the error either fails with. */
  async function invoke(method: DescMethod, token: string, request: Record<string, unknown>, via = client(token)): Promise<{ res?: Answer; err?: ConnectError }> {
    const fn = (via as unknown as Record<string, (req: unknown, options?: { signal?: AbortSignal }) => unknown>)[method.localName];
    if (!fn) throw new Error(`the client has no method ${method.localName}`);
    try {
      if (method.methodKind !== "server_streaming") return { res: await (fn(request) as Promise<Answer>) };
      const abort = new AbortController();
      try {
        for await (const message of fn(request, { signal: abort.signal }) as AsyncIterable<Answer>) return { res: message };
      } finally {
        abort.abort();
      }
      throw new Error(`${method.name}: the stream ended without a message`);
    } catch (err) {
      return { err: ConnectError.from(err) };
    }
  }

  /** The Connect protocol with JSON messages, for server streams (curl's protocol needs the streaming envelope there). */
  function connectJsonClient(token: string): Client<typeof SecretsService> {
    const transport = createConnectTransport({
      baseUrl: server.baseUrl,
      httpVersion: "1.1",
      useBinaryFormat: false,
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${token}`);
          return next(req);
        },
      ],
    });
    return createClient(SecretsService, transport);
  }

  function expectHeartbeat(res: Answer): void {
    expect(res.event).toMatchObject({ name: "", version: 0n, type: SecretEventType.HEARTBEAT });
  }

  /** An open watch: its messages in order, and its end. */
  function openWatch(token: string, names: string[]) {
    const abort = new AbortController();
    const messages = client(token).watchSecrets({ names }, { signal: abort.signal })[Symbol.asyncIterator]();
    const next = async (): Promise<Answer> => {
      const r = await messages.next();
      if (r.done) throw new Error("the watch ended");
      return r.value.event!;
    };
    return {
      next,
      /** The next event that is not a heartbeat. */
      async nextChange(): Promise<Answer> {
        for (;;) {
          const e = await next();
          if (e.type !== SecretEventType.HEARTBEAT) return e;
        }
      },
      close: () => abort.abort(),
    };
  }

  /**
   * Watches `names` as `token` and acc_watchsecrets as the owner; the owner changes acc_watchsecrets
   * and its own watch hears it; then `later` commits a change the caller may see. Answers the first
   * change the caller's watch delivers: `later`'s, unless the owner's reached it too.
   */
  async function changeHeardAfterOwners(token: string, names: string[], later: () => Promise<unknown>): Promise<Answer> {
    const name = nameOf("WatchSecrets");
    const watch = openWatch(token, names);
    const control = openWatch(tokens.owner!, [name]);
    try {
      // Both subscriptions are active once their heartbeats arrive.
      expectHeartbeat({ event: await watch.next() });
      expectHeartbeat({ event: await control.next() });
      const put = await client(tokens.owner!).putSecretValue({ name, value: "owner's next value" });
      expect(await control.nextChange()).toMatchObject({ name, type: SecretEventType.VERSION_ADDED, version: put.version!.version });
      await later();
      return await watch.nextChange();
    } finally {
      watch.close();
      control.close();
    }
  }

  async function snapshot(): Promise<Snapshot> {
    // Last-access hints of earlier successful reads are written in the background: let them land first.
    await server.accessed.flush();
    const out: Snapshot = new Map();
    await Promise.all(
      DATA_COLLECTIONS.map(async (name) => {
        const docs = await raw.db.collection(name).find({}).toArray();
        out.set(name, new Map(docs.map((doc) => [BSON.EJSON.stringify(doc._id), { doc, text: BSON.EJSON.stringify(doc, { relaxed: false }) }])));
      }),
    );
    return out;
  }

  function diff(before: Snapshot, after: Snapshot) {
    const changed: string[] = [];
    const removed: string[] = [];
    const added: { collection: string; doc: Document }[] = [];
    for (const name of DATA_COLLECTIONS) {
      const b = before.get(name)!;
      const a = after.get(name)!;
      for (const [id, { text }] of b) {
        const now = a.get(id);
        if (!now) removed.push(`${name}/${id}`);
        else if (now.text !== text) changed.push(`${name}/${id}`);
      }
      for (const [id, { doc }] of a) if (!b.has(id)) added.push({ collection: name, doc });
    }
    return { changed, removed, added };
  }

  function checkData(rule: DataRule, before: Snapshot, after: Snapshot): void {
    const d = diff(before, after);
    const shown = { changed: d.changed, removed: d.removed, added: d.added.map((x) => `${x.collection}/${BSON.EJSON.stringify(x.doc._id)}`) };
    if (rule === "unchanged") {
      expect(shown, "the data collections changed").toEqual({ changed: [], removed: [], added: [] });
      return;
    }
    if ("revoked" in rule) {
      const id = rule.revoked();
      expect(shown).toEqual({ changed: [`task_tokens/${JSON.stringify(id)}`], removed: [], added: [] });
      expect(after.get("task_tokens")!.get(JSON.stringify(id))!.doc.revokeTime).toBeInstanceOf(Date);
      return;
    }
    // Nothing that existed changed; what was added belongs to the other tenant.
    expect({ changed: shown.changed, removed: shown.removed }, "the owner's documents changed").toEqual({ changed: [], removed: [] });
    expect(d.added.length).toBeGreaterThan(0);
    const newSids = new Set(d.added.filter((x) => x.collection === "secrets" && x.doc.tenant === rule.addedFor).map((x) => x.doc.sid as string));
    for (const { collection, doc } of d.added) {
      const label = `${collection}/${BSON.EJSON.stringify(doc._id)}`;
      if (collection === "secret_versions") expect(newSids.has(doc.secretId as string), label).toBe(true);
      else expect([label, doc.tenant]).toEqual([label, rule.addedFor]);
    }
  }

  function checkMessage(err: ConnectError, token: string): void {
    expect(err.rawMessage).not.toMatch(/[\r\n]/);
    expect(err.rawMessage).not.toContain(token);
    for (const part of token.split(".").filter((p) => p.length >= 8)) expect(err.rawMessage).not.toContain(part);
  }

  async function runCell(method: DescMethod, cell: Cell): Promise<void> {
    const token = cell.token();
    expect(token, "the cell's token").not.toBe("");
    const before = await snapshot();
    const { res, err } = await invoke(method, token, cell.request);
    if (cell.refused) {
      expect(err, `expected ${Code[cell.refused.code]}, got an answer: ${JSON.stringify(res, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`).toBeDefined();
      expect(err!.code, err!.rawMessage).toBe(cell.refused.code);
      expect(err!.rawMessage).toMatch(cell.refused.message);
      checkMessage(err!, token);
      // Nor a value the request carried or named (RedactText's text holds two).
      for (const value of [`${nameOf(method.name)} value`, "visible value"]) expect(err!.rawMessage).not.toContain(value);
      const shape = cell.refused.absent;
      if (shape) {
        // Someone else's (or an excluded) subject looks exactly like a truly absent one, as the owner sees it.
        const absent = await invoke(method, tokens.owner!, shape.request);
        expect(absent.err?.code, "the owner's call naming an absent subject").toBe(Code.NotFound);
        expect(err!.rawMessage.split(shape.subject).join("<subject>")).toBe(absent.err!.rawMessage.split(shape.absentSubject).join("<subject>"));
      }
      // The same refusal over Connect JSON (curl's protocol): the codes map the same.
      if (method.methodKind === "server_streaming") {
        const json = await invoke(method, token, cell.request, connectJsonClient(token));
        expect({ code: json.err?.code, message: json.err?.rawMessage }).toEqual({ code: cell.refused.code, message: err!.rawMessage });
      } else {
        const json = await connectJson(server.baseUrl, method.name, toJson(method.input, create(method.input, cell.request)), token);
        expect({ status: json.status, code: json.json.code, message: json.json.message }).toEqual({ ...CONNECT_JSON[cell.refused.code], message: err!.rawMessage });
      }
    } else {
      expect(err, err ? `${Code[err.code]}: ${err.rawMessage}` : "").toBeUndefined();
      await cell.answer!(res!);
    }
    checkData(cell.data ?? "unchanged", before, await snapshot());
    await cell.after?.();
  }

  // ---- the owner's state and the callers ----------------------------------------------------

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_access_matrix", audience: AUDIENCE });
    raw = await openRawDb(server.fixture.db!);
    const secret = new TextEncoder().encode(server.jwtSecret);
    tokens.owner = await server.token(OWNER.developer, OWNER.subject);
    tokens.foreign = await server.token(FOREIGN.developer, FOREIGN.subject);
    tokens.foreignCreator = await server.token(FOREIGN_CREATOR.developer, FOREIGN_CREATOR.subject);
    tokens.glob = await server.token(OWNER.developer, "globbed", { secrets: GLOBS });
    for (const scope of SCOPES) tokens[`without ${scope}`] = await server.token(OWNER.developer, "scoped", { scope: SCOPES.filter((s) => s !== scope).join(" ") });

    const ownerClaims = { developer_id: OWNER.developer };
    const validTimes = (jwt: SignJWT) => jwt.setSubject(OWNER.subject).setAudience(AUDIENCE).setIssuedAt().setExpirationTime("1h");
    tokens.expired = await new SignJWT(ownerClaims)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(OWNER.subject)
      .setAudience(AUDIENCE)
      .setIssuedAt(nowSeconds() - 600)
      .setExpirationTime(nowSeconds() - 120)
      .sign(secret);
    tokens.wrongKey = await validTimes(new SignJWT(ownerClaims).setProtectedHeader({ alg: "HS256", typ: "JWT" })).sign(new TextEncoder().encode("another-secret-of-32-characters!!"));
    tokens.none = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: OWNER.subject, ...ownerClaims, aud: AUDIENCE, iat: nowSeconds(), exp: nowSeconds() + 3600 })}.`;
    tokens.wrongAudience = await mintToken(server.jwtSecret, { sub: OWNER.subject, developer_id: OWNER.developer, audience: "other-api" });

    const owner = client(tokens.owner);
    const create = (name: string, value = `${name} value`) => owner.createSecret({ name, value, description: "owner's" });
    for (const method of METHODS) {
      if (["ListSecrets", "RevokeTaskToken", "ListAuditEvents", "RunMaintenance", "RewrapKeys"].includes(method.name)) continue;
      await create(nameOf(method.name));
    }
    await create(VISIBLE, "visible value");
    await owner.putSecretValue({ name: nameOf("EnableSecretVersion"), value: "v2" });
    await owner.disableSecretVersion({ name: nameOf("EnableSecretVersion"), version: 1n });
    await owner.deleteSecret({ name: nameOf("RestoreSecret") });
    // Reads now, so the cells' successful reads add no last-access write within their window.
    await owner.batchGetSecretValues({ names: [VISIBLE, nameOf("GetSecretValue"), nameOf("BatchGetSecretValues")] });

    const mint = async (label: string) => owner.createTaskToken({ secrets: ["*"], scopes: [...DEFAULT_SCOPES], label });
    ownerTask = (await mint("matrix task")).token;
    const victim = await mint("victim");
    victimId = victim.tokenId;
    tokens.victim = victim.token;
    const globVictim = await mint("glob victim");
    globVictimId = globVictim.tokenId;
    tokens.globVictim = globVictim.token;
    const revoked = await mint("revoked");
    await owner.revokeTaskToken({ tokenId: revoked.tokenId });
    tokens.revokedTask = revoked.token;
    await waitUntil(async () => (await invoke(SecretsService.method.getSecret, revoked.token, { name: VISIBLE })).err?.code === Code.Unauthenticated, "the revoked task token is refused");
    // The foreign tenant has called once, so its audit listing is never empty by accident.
    await client(tokens.foreign).listSecrets({});
    // Controls: the tokens that must work do.
    expect((await client(ownerTask).getSecret({ name: VISIBLE })).secret?.name).toBe(VISIBLE);
    expect((await client(tokens.glob).getSecret({ name: VISIBLE })).secret?.name).toBe(VISIBLE);
    await server.accessed.flush();
  });

  afterAll(async () => {
    await raw?.close();
    await server?.close();
  });

  it("every RPC of the descriptor has a case, and every case is an RPC of the descriptor", () => {
    const rpcs = METHODS.map((m) => m.name).sort();
    expect(Object.keys(CASES).sort()).toEqual(rpcs);
    expect(Object.keys(METHOD_REQUIREMENTS).sort()).toEqual(rpcs);
    expect(rpcs).toHaveLength(22);
  });

  it("the bad tokens differ from a good one only in what makes them bad (controls)", async () => {
    const good = await server.token(OWNER.developer, OWNER.subject);
    expect((await client(good).getSecret({ name: VISIBLE })).secret?.name).toBe(VISIBLE);
    // Without the audience the server requires, even the right key is refused.
    const noAudience = await mintToken(server.jwtSecret, { sub: OWNER.subject, developer_id: OWNER.developer });
    expect((await invoke(SecretsService.method.getSecret, noAudience, { name: VISIBLE })).err?.code).toBe(Code.Unauthenticated);
  });

  describe.each(COLUMNS)("%s", (_column, cellOf) => {
    it.each(METHODS.map((m) => [m.name, m] as const))("%s", async (_name, method) => {
      await runCell(method, cellOf(method));
    });
  });

  it("after the whole matrix the owner's secrets are as the owner left them", async () => {
    const owner = client(tokens.owner!);
    const listed = await owner.listSecrets({ pageSize: 1000, showDeleted: true });
    const byName = new Map(listed.secrets.map((s) => [s.name, s]));
    for (const method of METHODS) {
      if (["ListSecrets", "RevokeTaskToken", "ListAuditEvents", "RunMaintenance", "RewrapKeys"].includes(method.name)) continue;
      const s = byName.get(nameOf(method.name));
      expect(s, method.name).toBeDefined();
      expect(s!.updatedBy, method.name).toBe(OWNER.subject);
      expect(s!.description, method.name).toBe("owner's");
    }
    expect(byName.get(nameOf("RestoreSecret"))?.deleteTime).toBeDefined();
    expect(byName.has(`${nameOf("CreateSecret")}_new`)).toBe(false);
    const versions = await owner.listSecretVersions({ name: nameOf("EnableSecretVersion") });
    expect(versions.versions.map((v) => [Number(v.version), v.state])).toEqual([
      [2, 1],
      [1, 2],
    ]);
    expect((await owner.getSecretValue({ name: nameOf("DestroySecretVersion"), version: 1n })).value).toBe(`${nameOf("DestroySecretVersion")} value`);
  });
});
