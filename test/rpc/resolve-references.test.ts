import { create, fromJson, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { durationFromMs, ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { BSON } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResolveReferencesRequestSchema } from "../../gen/secrets/v1/secrets_pb.js";
import { connectGrpcClient, connectJson } from "../helpers/clients.js";
import { inParallel, waitUntil, type Secrets } from "../helpers/lifecycle.js";
import { openRawDb } from "../helpers/raw-db.js";
import { closeSession, connectSession, grpcFrame, lengthDelimitedField, rawRequest, varint } from "../helpers/raw-http2.js";
import { connectErrorOf, expectCode } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// ResolveReferences over the real server and FerretDB: every reference form over gRPC and over
// Connect JSON, values put back byte for byte and never re-scanned, what is left alone (keys,
// scalars, the workflow engine's own expressions), missing references with and without
// allow_missing, the limits (depth, names, size, a hostile nesting that must not crash the
// server), access (scope, name globs, tenants), and the audit trail (one event a resolved name,
// never a value). One describe runs over AWS KMS (LocalStack) instead of the local key.

const PATH = "/secrets.v1.SecretsService/ResolveReferences";
const MIB = 1024 * 1024;

const STRIPE = "sk_live_51HxStripeKey";
const DB_V1 = "postgres://old:pw@db/app";
const DB_V2 = "postgres://new:pw@db/app";
const UNICODE = `héllo wörld ✓ 日本語 😀🎉 "double" 'single' back\\slash \\n literal, real newline\n tab\t nul-free ${"\u00a0"} end`;
// 65,536 bytes of UTF-8: the largest value a secret may hold.
const BIG = "0123456789abcdef".repeat(4095) + "z".repeat(12) + "😀";
// A value that looks like references: it must come out as it went in.
const TRICKY = "{{ secrets.a }} $ secrets.a secret://a {{secrets.b}}";

interface Resolution {
  resolved: JsonValue;
  names: string[];
  missing: string[];
}

async function resolve(client: Secrets, template: JsonValue, allowMissing = false): Promise<Resolution> {
  const res = await client.resolveReferences({ template: fromJson(ValueSchema, template), allowMissing });
  return { resolved: toJson(ValueSchema, res.resolved!), names: res.names, missing: res.missing };
}

const call = (client: Secrets, template: JsonValue, allowMissing = false) =>
  client.resolveReferences({ template: fromJson(ValueSchema, template), allowMissing });

/** A template of exactly `depth` levels (a scalar root is 1): arrays around `leaf`. */
function nestedArrays(depth: number, leaf: JsonValue): JsonValue {
  let v = leaf;
  for (let i = 1; i < depth; i++) v = [v];
  return v;
}

function nestedObjects(depth: number, leaf: JsonValue): JsonValue {
  let v = leaf;
  for (let i = 1; i < depth; i++) v = { k: v };
  return v;
}

/**
 * A binary ResolveReferencesRequest whose template is `depth` levels of list_value around a null,
 * written back to front into one buffer (no library recursion, no quadratic copying).
 */
function deepBinaryRequest(depth: number): Buffer {
  const buf = Buffer.alloc(depth * 12 + 16);
  let p = buf.length;
  const prepend = (bytes: Uint8Array) => {
    p -= bytes.length;
    buf.set(bytes, p);
  };
  prepend(Uint8Array.of(0x08, 0x00)); // Value.null_value = 0
  for (let i = 1; i < depth; i++) {
    prepend(varint(buf.length - p));
    prepend(Uint8Array.of(0x0a)); // ListValue.values (field 1, length-delimited)
    prepend(varint(buf.length - p));
    prepend(Uint8Array.of(0x32)); // Value.list_value (field 6, length-delimited)
  }
  return lengthDelimitedField(1, buf.subarray(p)); // ResolveReferencesRequest.template
}

/** `depth` levels of list_value as a message, built without recursion. */
function deepValue(depth: number): Value {
  let v = create(ValueSchema, { kind: { case: "nullValue", value: 0 } });
  for (let i = 1; i < depth; i++) v = create(ValueSchema, { kind: { case: "listValue", value: { values: [v] } } });
  return v;
}

let server: TestServer;
let alice: Secrets;
let bob: Secrets;
let aliceToken: string;
const ALICE = "dev-resolve-a";

beforeAll(async () => {
  server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_resolve" });
  aliceToken = await server.token(ALICE, "alice");
  alice = connectGrpcClient(server.baseUrl, aliceToken);
  bob = connectGrpcClient(server.baseUrl, await server.token("dev-resolve-b", "bob"));
  await alice.createSecret({ name: "stripe_api_key", value: STRIPE });
  await alice.createSecret({ name: "db_url", value: DB_V1 });
  await alice.putSecretValue({ name: "db_url", value: DB_V2 });
  await alice.createSecret({ name: "api", value: "API-SHORT" });
  await alice.createSecret({ name: "api_key", value: "API-KEY-LONG" });
  await alice.createSecret({ name: "a", value: "value-a" });
  await alice.createSecret({ name: "b", value: "value-b" });
  await alice.createSecret({ name: "unicode", value: UNICODE });
  await alice.createSecret({ name: "big", value: BIG });
  await alice.createSecret({ name: "tricky", value: TRICKY });
  await bob.createSecret({ name: "a", value: "bob's own a" });
  await bob.createSecret({ name: "bob_only", value: "bob-only-value" });
});

afterAll(async () => {
  await server?.close();
});

describe("reference forms over gRPC", () => {
  it("64 KiB really is the largest value, and it was stored", () => {
    expect(Buffer.byteLength(BIG)).toBe(65_536);
  });

  const forms: { label: string; template: string; out: string; names: string[] }[] = [
    { label: "$ secrets.NAME", template: "$ secrets.stripe_api_key", out: STRIPE, names: ["stripe_api_key"] },
    { label: "$ secrets['NAME']", template: "$ secrets['stripe_api_key']", out: STRIPE, names: ["stripe_api_key"] },
    { label: '$ secrets["NAME"]', template: '$ secrets["stripe_api_key"]', out: STRIPE, names: ["stripe_api_key"] },
    { label: "{{ secrets.NAME }} inside a string", template: "Bearer {{ secrets.stripe_api_key }}", out: `Bearer ${STRIPE}`, names: ["stripe_api_key"] },
    { label: "{{secrets.NAME}} without spaces", template: "x{{secrets.a}}y", out: "xvalue-ay", names: ["a"] },
    { label: "{{ secrets.NAME }} alone", template: "{{ secrets.a }}", out: "value-a", names: ["a"] },
    { label: "$ f'...{secrets.NAME}...'", template: "$ f'Bearer {secrets.stripe_api_key}!'", out: `Bearer ${STRIPE}!`, names: ["stripe_api_key"] },
    { label: '$ f"..." with two placeholders', template: '$ f"{secrets.a}:{secrets.b}"', out: "value-a:value-b", names: ["a", "b"] },
    { label: "$ f'...' with bracket access and {{ }} escapes", template: "$ f'{{x}} {secrets[\"b\"]}'", out: "{x} value-b", names: ["b"] },
    { label: "secret://NAME", template: "secret://a", out: "value-a", names: ["a"] },
    { label: "secret://NAME is the current version", template: "secret://db_url", out: DB_V2, names: ["db_url"] },
    { label: "secret://NAME@VERSION pins the old version after a put", template: "secret://db_url@1", out: DB_V1, names: ["db_url"] },
    { label: "secret://NAME@VERSION of the current version", template: "secret://db_url@2", out: DB_V2, names: ["db_url"] },
    { label: "two references in one string", template: "{{ secrets.a }}-{{ secrets.b }}", out: "value-a-value-b", names: ["a", "b"] },
    { label: "look-alike names: api and api_key", template: "{{ secrets.api }}|{{ secrets.api_key }}", out: "API-SHORT|API-KEY-LONG", names: ["api", "api_key"] },
    { label: "look-alike names: $ secrets.api", template: "$ secrets.api", out: "API-SHORT", names: ["api"] },
    { label: "look-alike names: $ secrets.api_key", template: "$ secrets.api_key", out: "API-KEY-LONG", names: ["api_key"] },
  ];

  it.each(forms)("$label", async ({ template, out, names }) => {
    const res = await resolve(alice, template);
    expect(res.resolved).toBe(out);
    expect(res.names).toEqual(names);
    expect(res.missing).toEqual([]);
  });

  it("resolves a realistic task step, leaving numbers, booleans and null as they are", async () => {
    const step = {
      tool: "http",
      headers: { Authorization: "Bearer {{ secrets.stripe_api_key }}" },
      args: ["$ secrets.db_url", { k: "secret://db_url@1" }],
      n: 3,
      b: true,
      z: null,
    };
    const res = await resolve(alice, step);
    expect(res.resolved).toEqual({
      tool: "http",
      headers: { Authorization: `Bearer ${STRIPE}` },
      args: [DB_V2, { k: DB_V1 }],
      n: 3,
      b: true,
      z: null,
    });
    // Key order is kept.
    expect(Object.keys(res.resolved as object)).toEqual(["tool", "headers", "args", "n", "b", "z"]);
    expect(res.names).toEqual(["db_url", "stripe_api_key"]);
  });

  it("never touches object keys, numbers, booleans, null or empty containers", async () => {
    const template = {
      "{{ secrets.a }}": "{{ secrets.a }}",
      "$ secrets.b": 1,
      "secret://a": [0, -2.5, 1e300, false, true, null, "", [], {}],
      nested: { "{{ secrets.b }}": { "$ secrets.a": "$ secrets.b" } },
    };
    const res = await resolve(alice, template);
    expect(res.resolved).toEqual({
      "{{ secrets.a }}": "value-a",
      "$ secrets.b": 1,
      "secret://a": [0, -2.5, 1e300, false, true, null, "", [], {}],
      nested: { "{{ secrets.b }}": { "$ secrets.a": "value-b" } },
    });
    expect(Object.keys(res.resolved as object)).toEqual(["{{ secrets.a }}", "$ secrets.b", "secret://a", "nested"]);
    expect(res.names).toEqual(["a", "b"]);
  });

  const untouched = [
    "$ inputs.x",
    "$ f'{inputs.x}'",
    "$ f'{secrets.a} {inputs.x}'", // an f-string is ours only when every placeholder is a secret
    "$ {{ secrets.a }}", // {{ }} inside the engine's expression: never injected into
    "$ 'x' + {{ secrets.a }}",
    "$ secrets.a + 'x'",
    "$ secrets.a.b",
    "$secrets.a",
    " $ secrets.a",
    "secrets.a",
    "{{ secrets.a }",
    "{ secrets.a }}",
    "{{ inputs.a }}",
    "{{ secrets.1a }}",
    "{{ secrets.a-b }}",
    "secret://a@0",
    "secret://a@01",
    "secret://a@",
    "secret://1a",
    "secret:/a",
    "see secret://a",
    "plain text",
  ];

  it.each(untouched)("leaves %j alone", async (text) => {
    const res = await resolve(alice, { s: text, list: [text] });
    expect(res.resolved).toEqual({ s: text, list: [text] });
    expect(res.names).toEqual([]);
    expect(res.missing).toEqual([]);
  });

  it("puts values back byte for byte: unicode, emoji, quotes, backslashes, 64 KiB", async () => {
    const res = await resolve(alice, {
      whole: "$ secrets.unicode",
      wrapped: "<{{ secrets.unicode }}>",
      big: "secret://big",
      bigInside: "[{{ secrets.big }}]",
      fstring: "$ f'{secrets.unicode}|{secrets.big}'",
    });
    expect(res.resolved).toEqual({
      whole: UNICODE,
      wrapped: `<${UNICODE}>`,
      big: BIG,
      bigInside: `[${BIG}]`,
      fstring: `${UNICODE}|${BIG}`,
    });
    const out = res.resolved as Record<string, string>;
    expect(Buffer.from(out.whole!)).toEqual(Buffer.from(UNICODE));
    expect(Buffer.byteLength(out.big!)).toBe(65_536);
    expect(res.names).toEqual(["big", "unicode"]);
  });

  it("does not re-resolve a value that itself holds references", async () => {
    const res = await resolve(alice, ["$ secrets.tricky", "pre {{ secrets.tricky }} post", "secret://tricky"]);
    expect(res.resolved).toEqual([TRICKY, `pre ${TRICKY} post`, TRICKY]);
    expect(res.names).toEqual(["tricky"]);
  });

  it("reports names distinct and sorted, a pinned and a current read of one name once", async () => {
    const res = await resolve(alice, ["$ secrets.b", "{{ secrets.a }}{{ secrets.b }}", "secret://db_url@1", "secret://db_url", { x: "$ secrets['a']" }]);
    expect(res.resolved).toEqual(["value-b", "value-avalue-b", DB_V1, DB_V2, { x: "value-a" }]);
    expect(res.names).toEqual(["a", "b", "db_url"]);
  });

  it("resolves a scalar root and passes through a template without references", async () => {
    expect((await resolve(alice, "$ secrets.a")).resolved).toBe("value-a");
    expect(await resolve(alice, 42)).toEqual({ resolved: 42, names: [], missing: [] });
    expect(await resolve(alice, null)).toEqual({ resolved: null, names: [], missing: [] });
    expect(await resolve(alice, { a: ["b", 1] })).toEqual({ resolved: { a: ["b", 1] }, names: [], missing: [] });
  });

  it("reads each tenant's own secret of the same name", async () => {
    expect((await resolve(alice, "$ secrets.a")).resolved).toBe("value-a");
    expect((await resolve(bob, "$ secrets.a")).resolved).toBe("bob's own a");
  });
});

describe("reference forms over Connect JSON", () => {
  const post = (body: unknown, token = aliceToken) => connectJson(server.baseUrl, "ResolveReferences", body, token);

  it("resolves the task step", async () => {
    const { status, json } = await post({
      template: {
        tool: "http",
        headers: { Authorization: "Bearer {{ secrets.stripe_api_key }}" },
        args: ["$ secrets.db_url", { k: "secret://db_url@1" }],
        n: 3,
        b: true,
        z: null,
        "{{ secrets.a }}": "$ inputs.x",
      },
    });
    expect(status).toBe(200);
    expect(json.resolved).toEqual({
      tool: "http",
      headers: { Authorization: `Bearer ${STRIPE}` },
      args: [DB_V2, { k: DB_V1 }],
      n: 3,
      b: true,
      z: null,
      "{{ secrets.a }}": "$ inputs.x",
    });
    expect(json.names).toEqual(["db_url", "stripe_api_key"]);
  });

  it("resolves each whole-string form and f-strings", async () => {
    const { status, json } = await post({
      template: [
        "$ secrets.a",
        "$ secrets['a']",
        '$ secrets["b"]',
        "$ f'{secrets.a}/{secrets.b}'",
        '$ f"k={secrets.api_key}"',
        "secret://api",
        "{{secrets.api}}+{{ secrets.api_key }}",
        "$ {{ secrets.a }}",
      ],
    });
    expect(status).toBe(200);
    expect(json.resolved).toEqual(["value-a", "value-a", "value-b", "value-a/value-b", "k=API-KEY-LONG", "API-SHORT", "API-SHORT+API-KEY-LONG", "$ {{ secrets.a }}"]);
    expect(json.names).toEqual(["a", "api", "api_key", "b"]);
  });

  it("puts unicode and 64 KiB values back byte for byte through JSON escaping", async () => {
    const { status, json } = await post({ template: { u: "$ secrets.unicode", big: "<{{ secrets.big }}>", t: "secret://tricky" } });
    expect(status).toBe(200);
    expect(json.resolved).toEqual({ u: UNICODE, big: `<${BIG}>`, t: TRICKY });
  });

  it("lists missing references with allowMissing and answers not_found without", async () => {
    const withMissing = await post({ template: ["$ secrets.nope", "{{ secrets.a }}", "secret://a@7"], allowMissing: true });
    expect(withMissing.status).toBe(200);
    expect(withMissing.json.resolved).toEqual(["$ secrets.nope", "value-a", "secret://a@7"]);
    expect(withMissing.json.missing).toEqual(["a@7", "nope"]);
    const refused = await post({ template: ["$ secrets.nope", "{{ secrets.a }}"] });
    expect(refused.status).toBe(404);
    expect(refused.json.code).toBe("not_found");
    expect(String(refused.json.message)).toContain("nope");
    expect(JSON.stringify(refused.json)).not.toContain("value-a");
  });

  it("refuses an absent template and one too deep, naming template", async () => {
    for (const body of [{}, { allowMissing: true }, { template: nestedArrays(33, "x") }]) {
      const { status, json } = await post(body);
      expect(status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(json.code).toBe("invalid_argument");
      expect(String(json.message)).toMatch(/^template\b/);
    }
    // JSON null is a template.
    const nullTemplate = await post({ template: null });
    expect(nullTemplate.status).toBe(200);
    expect(nullTemplate.json.resolved).toBeNull();
  });
});

describe("missing references", () => {
  beforeAll(async () => {
    await alice.createSecret({ name: "gone", value: "gone-value" });
    await alice.deleteSecret({ name: "gone" });
    const brief = await alice.createSecret({ name: "brief", value: "brief-value", ttl: durationFromMs(1_000) });
    expect(brief.secret?.expireTime).toBeDefined();
    await waitUntil(async () => (await connectErrorOf(alice.getSecretValue({ name: "brief" })).catch(() => undefined))?.code === Code.NotFound, "brief has expired", 60_000);
    // pins: 1 disabled, 2 destroyed, 3 enabled. dark: its only version disabled.
    await alice.createSecret({ name: "pins", value: "pins-1" });
    await alice.putSecretValue({ name: "pins", value: "pins-2" });
    await alice.putSecretValue({ name: "pins", value: "pins-3" });
    await alice.disableSecretVersion({ name: "pins", version: 1n });
    await alice.destroySecretVersion({ name: "pins", version: 2n });
    await alice.createSecret({ name: "dark", value: "dark-1" });
    await alice.disableSecretVersion({ name: "dark", version: 1n });
  });

  it("answers NOT_FOUND listing every missing name, pinned ones as name@version", async () => {
    const err = await connectErrorOf(call(alice, ["$ secrets.zeta", "{{ secrets.a }}", { k: "secret://nope2@3" }, "$ f'{secrets.alpha}'", "secret://a@7"]));
    expect(err.code).toBe(Code.NotFound);
    expect(err.rawMessage).toBe("secrets not found: a@7, alpha, nope2@3, zeta");
    expect(err.rawMessage).not.toContain("value-a");
  });

  it("with allow_missing, leaves strings holding a missing reference wholly unchanged and resolves the rest", async () => {
    const template = {
      x: "$ secrets.zeta",
      y: "Bearer {{ secrets.a }}",
      pinned: "secret://a@7",
      both: "{{ secrets.a }} and {{ secrets.zeta }}",
      fboth: "$ f'{secrets.a}{secrets.alpha}'",
      lookalike: "{{ secrets.api_keyz }}",
      fine: "{{ secrets.api_key }}",
    };
    const res = await resolve(alice, template, true);
    expect(res.resolved).toEqual({ ...template, y: "Bearer value-a", fine: "API-KEY-LONG" });
    expect(res.missing).toEqual(["a@7", "alpha", "api_keyz", "zeta"]);
    expect(res.names).toEqual(["a", "api_key"]);
  });

  // b is read, but its only string stays unchanged: it was not disclosed, so names (and the audit
  // trail, one event per name) must not list it.
  it("names lists only secrets whose value was put in, not one read for a string left unchanged", async () => {
    const res = await resolve(alice, ["$ f'{secrets.b}{secrets.alpha}'", "{{ secrets.a }}"], true);
    expect(res.resolved).toEqual(["$ f'{secrets.b}{secrets.alpha}'", "value-a"]);
    expect(res.missing).toEqual(["alpha"]);
    expect(res.names).toEqual(["a"]);
  });

  it("counts soft-deleted and expired secrets as missing", async () => {
    await expectCode(call(alice, ["$ secrets.gone", "$ secrets.brief"]), Code.NotFound, /^secrets not found: brief, gone$/);
    const res = await resolve(alice, ["$ secrets.gone", "{{ secrets.brief }}", "secret://gone@1", "$ secrets.a"], true);
    expect(res.resolved).toEqual(["$ secrets.gone", "{{ secrets.brief }}", "secret://gone@1", "value-a"]);
    expect(res.missing).toEqual(["brief", "gone", "gone@1"]);
  });

  it("counts a pinned version that never existed as missing", async () => {
    await expectCode(call(alice, "secret://pins@4"), Code.NotFound, /pins@4/);
    const res = await resolve(alice, ["secret://pins@4", "secret://pins@3", "secret://pins@9007199254740991"], true);
    expect(res.resolved).toEqual(["secret://pins@4", "pins-3", "secret://pins@9007199254740991"]);
    expect(res.missing).toEqual(["pins@4", "pins@9007199254740991"]);
    expect(res.names).toEqual(["pins"]);
  });

  it("a pinned DISABLED or DESTROYED version is FAILED_PRECONDITION, even with allow_missing", async () => {
    for (const allowMissing of [false, true]) {
      await expectCode(call(alice, "secret://pins@1", allowMissing), Code.FailedPrecondition, /version 1\b.*disabled/i);
      await expectCode(call(alice, ["$ secrets.a", { k: "secret://pins@2" }], allowMissing), Code.FailedPrecondition, /version 2\b.*destroyed/i);
      // It wins over a missing reference met first.
      await expectCode(call(alice, ["$ secrets.zeta", "secret://pins@1"], allowMissing), Code.FailedPrecondition);
    }
  });

  it("a secret with no enabled version is FAILED_PRECONDITION, even with allow_missing", async () => {
    for (const allowMissing of [false, true]) {
      const err = await connectErrorOf(call(alice, ["{{ secrets.dark }}", "$ secrets.a", "$ secrets.zeta"], allowMissing));
      expect(err.code, err.rawMessage).toBe(Code.FailedPrecondition);
      expect(err.rawMessage).toMatch(/dark/);
      expect(err.rawMessage).not.toContain("dark-1");
    }
  });
});

describe("limits", () => {
  let big: TestServer;
  let bigAlice: Secrets;

  beforeAll(async () => {
    // Requests up to 2 MiB pass the edge, so the 1 MiB template limit of the core answers.
    big = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_resolve_big", maxRequestBytes: 2 * MIB });
    bigAlice = connectGrpcClient(big.baseUrl, await big.token(ALICE, "alice"));
    await bigAlice.createSecret({ name: "a", value: "value-a" });
  });
  afterAll(async () => {
    await big?.close();
  });

  it("takes a template 32 deep, of arrays and of objects", async () => {
    expect((await resolve(alice, nestedArrays(32, "$ secrets.a"))).resolved).toEqual(nestedArrays(32, "value-a"));
    expect((await resolve(alice, nestedObjects(32, "{{ secrets.b }}"))).resolved).toEqual(nestedObjects(32, "value-b"));
    // Depth counts containers too: an empty array at the bottom is the 32nd level.
    expect((await resolve(alice, nestedArrays(32, []))).resolved).toEqual(nestedArrays(32, []));
  });

  it("refuses 33 deep with INVALID_ARGUMENT naming template, even with no reference in it", async () => {
    await expectCode(call(alice, nestedArrays(33, "$ secrets.a")), Code.InvalidArgument, /^template\b/);
    await expectCode(call(alice, nestedObjects(33, "plain")), Code.InvalidArgument, /^template\b/);
    await expectCode(call(alice, nestedArrays(33, []), true), Code.InvalidArgument, /^template\b/);
  });

  describe("distinct names", () => {
    const NAMES = Array.from({ length: 100 }, (_, i) => `n${String(i).padStart(3, "0")}`);

    beforeAll(async () => {
      await inParallel(NAMES, 4, (name) => alice.createSecret({ name, value: `value-of-${name}` }));
    });

    it("takes 100 distinct names (pinned reads of them add none)", async () => {
      const template = [...NAMES.map((n) => `$ secrets.${n}`).reverse(), "secret://n000@1", "{{ secrets.n099 }}"];
      const res = await resolve(alice, template);
      expect(res.names).toEqual(NAMES);
      expect(res.resolved).toEqual([...NAMES.map((n) => `value-of-${n}`).reverse(), "value-of-n000", "value-of-n099"]);
    });

    it("refuses 101 with INVALID_ARGUMENT naming template, found or not, allow_missing or not", async () => {
      const template = [...NAMES.map((n) => `{{ secrets.${n} }}`), "$ secrets.a"];
      await expectCode(call(alice, template), Code.InvalidArgument, /^template\b.*100/);
      await expectCode(call(alice, [...NAMES.map((n) => `secret://${n}@1`), "secret://absent_one@1"], true), Code.InvalidArgument, /^template\b/);
    });
  });

  it("refuses a serialized template over 1 MiB with RESOURCE_EXHAUSTED from the core; 1 MiB exactly passes", async () => {
    // JSON.stringify adds two quotes to a string.
    const fits = "x".repeat(MIB - 2);
    const res = await bigAlice.resolveReferences({ template: fromJson(ValueSchema, fits) });
    expect(toJson(ValueSchema, res.resolved!)).toBe(fits);
    await expectCode(bigAlice.resolveReferences({ template: fromJson(ValueSchema, fits + "x") }), Code.ResourceExhausted, /^template is larger than 1048576 bytes/);
    await expectCode(call(bigAlice, ["{{ secrets.a }}", "y".repeat(MIB + 10)]), Code.ResourceExhausted, /^template is larger/);
    // The server still serves.
    expect((await resolve(bigAlice, "$ secrets.a")).resolved).toBe("value-a");
  });

  it("the default server refuses a large template at the edge, before the core sees it", async () => {
    const err = await connectErrorOf(call(alice, "x".repeat(300_000)));
    expect(err.code, err.rawMessage).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).not.toMatch(/template/);
    expect((await resolve(alice, "$ secrets.a")).resolved).toBe("value-a");
  });

  it("refuses an absent template with INVALID_ARGUMENT naming template", async () => {
    await expectCode(alice.resolveReferences({}), Code.InvalidArgument, /^template\b/);
    await expectCode(alice.resolveReferences({ allowMissing: true }), Code.InvalidArgument, /^template\b/);
    // A Value with no kind is not JSON.
    await expectCode(alice.resolveReferences({ template: create(ValueSchema) }), Code.InvalidArgument, /^template\b/);
  });

  describe("a hostile nesting is refused and the server keeps serving", () => {
    async function rawBinary(target: TestServer, depth: number, token: string) {
      const session = await connectSession(target.baseUrl);
      try {
        return await rawRequest(session, {
          path: PATH,
          contentType: "application/grpc",
          body: grpcFrame(deepBinaryRequest(depth)),
          headers: { authorization: `Bearer ${token}` },
        });
      } finally {
        await closeSession(session);
      }
    }

    it("the hand-written binary request is a valid message", async () => {
      // Depth 3 decodes to [[null]]: proves the encoder before it is trusted at depth 50,000.
      const session = await connectSession(server.baseUrl);
      try {
        const reply = await rawRequest(session, { path: PATH, contentType: "application/grpc", body: grpcFrame(deepBinaryRequest(3)), headers: { authorization: `Bearer ${aliceToken}` } });
        expect(reply.grpcStatus, reply.grpcMessage).toBe(0);
      } finally {
        await closeSession(session);
      }
      // And it is byte for byte what the library writes.
      expect(Buffer.from(toBinary(ResolveReferencesRequestSchema, create(ResolveReferencesRequestSchema, { template: deepValue(40) })))).toEqual(deepBinaryRequest(40));
    });

    it.each([5_000, 50_000])("binary protobuf %i deep on the default server", async (depth) => {
      const reply = await rawBinary(server, depth, aliceToken);
      expect(reply.rstCode).toBe(0);
      // 5,000 levels fit under the edge's 256 KiB and reach the parser; 50,000 do not.
      expect(reply.grpcStatus, reply.grpcMessage).toBe(depth === 5_000 ? Code.InvalidArgument : Code.ResourceExhausted);
      expect(reply.grpcMessage?.length ?? 0).toBeLessThan(2_000);
      expect((await resolve(alice, "$ secrets.a")).resolved).toBe("value-a");
    });

    it("binary protobuf 50,000 deep reaches the parser of the 2 MiB server", async () => {
      const reply = await rawBinary(big, 50_000, await big.token(ALICE, "alice"));
      expect(reply.rstCode).toBe(0);
      expect(reply.grpcStatus, reply.grpcMessage).toBe(Code.InvalidArgument);
      expect((await resolve(bigAlice, "$ secrets.a")).resolved).toBe("value-a");
    });

    // The client's own serializer recurses, so it cannot send much deeper than this.
    it("a 1,000-deep Value sent by the connect client", async () => {
      const err = await connectErrorOf(alice.resolveReferences({ template: deepValue(1_000) }));
      expect(err.code, err.rawMessage).toBe(Code.InvalidArgument);
      expect((await resolve(alice, "$ secrets.a")).resolved).toBe("value-a");
    });

    it.each([5_000, 50_000])("Connect JSON [[[...]]] %i deep", async (depth) => {
      for (const target of [server, big]) {
        const token = await target.token(ALICE, "alice");
        const res = await fetch(`${target.baseUrl}${PATH}`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: `{"template":${"[".repeat(depth)}${"]".repeat(depth)}}`,
        });
        const json = (await res.json()) as { code?: string; message?: string };
        expect(json.code, json.message).toBe("invalid_argument");
        expect(res.status).toBe(400);
        const after = await connectJson(target.baseUrl, "ResolveReferences", { template: "$ secrets.a" }, token);
        expect(after.json.resolved).toBe("value-a");
      }
    });

    it("no call of either server ended INTERNAL or UNKNOWN", () => {
      const severe = [...server.logLines, ...big.logLines].filter((l) => /"code":"(Internal|Unknown)"/.test(l));
      expect(severe).toEqual([]);
      // The log does record codes this way (the edge's refusals above).
      expect(server.logLines.some((l) => l.includes('"code":"ResourceExhausted"'))).toBe(true);
    });
  });
});

describe("access", () => {
  it("a token with scope secrets.read only is PERMISSION_DENIED naming secrets.access", async () => {
    const reader = connectGrpcClient(server.baseUrl, await server.token(ALICE, "reader", { scope: "secrets.read" }));
    await expectCode(call(reader, "$ secrets.a"), Code.PermissionDenied, /secrets\.access/);
    // Read alone is enough to see the secret exists, so the refusal is about the scope.
    expect((await reader.getSecret({ name: "a" })).secret?.name).toBe("a");
  });

  it("a reference outside the token's name globs is missing, never its value", async () => {
    const narrow = connectGrpcClient(server.baseUrl, await server.token(ALICE, "narrow", { secrets: ["stripe_*"] }));
    expect((await resolve(narrow, "Bearer {{ secrets.stripe_api_key }}")).resolved).toBe(`Bearer ${STRIPE}`);
    const err = await connectErrorOf(call(narrow, ["$ secrets.stripe_api_key", "$ secrets.a", "secret://db_url@1"]));
    expect(err.code).toBe(Code.NotFound);
    expect(err.rawMessage).toBe("secrets not found: a, db_url@1");
    const res = await resolve(narrow, ["$ secrets.stripe_api_key", "$ secrets.a", "secret://db_url@1", "{{ secrets.stripe_api_key }}{{ secrets.b }}"], true);
    expect(res.resolved).toEqual([STRIPE, "$ secrets.a", "secret://db_url@1", "{{ secrets.stripe_api_key }}{{ secrets.b }}"]);
    expect(res.missing).toEqual(["a", "b", "db_url@1"]);
    expect(res.names).toEqual(["stripe_api_key"]);
  });

  it("another tenant's secret is missing", async () => {
    await expectCode(call(alice, "$ secrets.bob_only"), Code.NotFound, /^secrets not found: bob_only$/);
    const res = await resolve(alice, ["$ secrets.bob_only", "secret://bob_only@1"], true);
    expect(res.resolved).toEqual(["$ secrets.bob_only", "secret://bob_only@1"]);
    expect(res.missing).toEqual(["bob_only", "bob_only@1"]);
    expect(JSON.stringify(res)).not.toContain("bob-only-value");
    expect((await resolve(bob, "$ secrets.bob_only")).resolved).toBe("bob-only-value");
  });
});

describe("audit", () => {
  const TENANT = "dev-resolve-audit";
  const VALUES = { audit_one: "AUDIT-VALUE-ONE-7f3a", audit_two: "AUDIT-VALUE-TWO-9c1e", audit_three: "AUDIT-VALUE-THREE-2b8d" };
  let auditor: Secrets;

  beforeAll(async () => {
    auditor = connectGrpcClient(server.baseUrl, await server.token(TENANT, "auditor"));
    for (const [name, value] of Object.entries(VALUES)) await auditor.createSecret({ name, value });
  });

  it("writes one event per resolved name, code 0, and none holds a value", async () => {
    const res = await resolve(auditor, {
      h: "Bearer {{ secrets.audit_two }} TEMPLATE-MARKER-41",
      a: ["$ secrets.audit_one", "secret://audit_three@1", "$ secrets.audit_one"],
      x: "$ inputs.x",
    });
    expect(res.names).toEqual(["audit_one", "audit_three", "audit_two"]);

    const events = await server.fixture.audit.list({ tenant: TENANT, method: "ResolveReferences", limit: 100 });
    expect(events).toHaveLength(3);
    expect(events.map((e) => e.names).sort()).toEqual([["audit_one"], ["audit_three"], ["audit_two"]]);
    for (const e of events) {
      expect(e.code).toBe(0);
      expect(e.principal).toBe("auditor");
      expect(e.versions).toHaveLength(1);
    }
    // One call: one request id on all three.
    expect(new Set(events.map((e) => e.requestId)).size).toBe(1);
    expect(events[0]!.requestId).not.toBe("");

    // The ListAuditEvents RPC shows the same three.
    const listed = await auditor.listAuditEvents({ method: "ResolveReferences" });
    expect(listed.events.map((e) => e.names).sort()).toEqual([["audit_one"], ["audit_three"], ["audit_two"]]);

    // The raw documents hold neither a value nor the template's text.
    const raw = await openRawDb(server.fixture.db!);
    try {
      const docs = await raw.db.collection("audit_events").find({ tenant: TENANT }).toArray();
      expect(docs.length).toBeGreaterThanOrEqual(3 + Object.keys(VALUES).length);
      const text = BSON.EJSON.stringify(docs, { relaxed: false });
      expect(text).toContain("audit_two");
      for (const value of Object.values(VALUES)) expect(text).not.toContain(value);
      expect(text).not.toContain("TEMPLATE-MARKER-41");
      expect(text).not.toContain("inputs.x");
    } finally {
      await raw.close();
    }
  });

  it("a refused call leaves one event with its code and no names", async () => {
    await expectCode(call(auditor, ["$ secrets.audit_one", "$ secrets.audit_absent"]), Code.NotFound);
    const events = await server.fixture.audit.list({ tenant: TENANT, method: "ResolveReferences", code: Code.NotFound, limit: 100 });
    expect(events).toHaveLength(1);
    expect(events[0]!.names).toEqual([]);
  });
});

describe("over AWS KMS", () => {
  let kms: TestServer;
  let client: Secrets;
  let token: string;

  beforeAll(async () => {
    kms = await startTestServer({ store: "mongodb", keys: "aws-kms", label: "rpc_resolve_kms" });
    token = await kms.token("dev-resolve-kms", "kms-user");
    client = connectGrpcClient(kms.baseUrl, token);
    await client.createSecret({ name: "stripe_api_key", value: STRIPE });
    await client.createSecret({ name: "db_url", value: DB_V1 });
    await client.putSecretValue({ name: "db_url", value: DB_V2 });
    await client.createSecret({ name: "unicode", value: UNICODE });
  });
  afterAll(async () => {
    await kms?.close();
  });

  it("resolves every form, a pinned old version included, with values opened through KMS", async () => {
    const res = await resolve(client, {
      headers: { Authorization: "Bearer {{ secrets.stripe_api_key }}" },
      args: ["$ secrets.db_url", { k: "secret://db_url@1" }, "$ secrets['unicode']", '$ secrets["stripe_api_key"]', "$ f'{secrets.db_url}?x=1'", "secret://db_url"],
      n: 3,
    });
    expect(res.resolved).toEqual({
      headers: { Authorization: `Bearer ${STRIPE}` },
      args: [DB_V2, { k: DB_V1 }, UNICODE, STRIPE, `${DB_V2}?x=1`, DB_V2],
      n: 3,
    });
    expect(res.names).toEqual(["db_url", "stripe_api_key", "unicode"]);
  });

  it("answers over Connect JSON, missing references listed", async () => {
    const { status, json } = await connectJson(kms.baseUrl, "ResolveReferences", { template: ["secret://db_url@1", "$ secrets.nope"], allowMissing: true }, token);
    expect(status).toBe(200);
    expect(json.resolved).toEqual([DB_V1, "$ secrets.nope"]);
    expect(json.missing).toEqual(["nope"]);
  });
});
