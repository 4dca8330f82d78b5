import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevTokenClaims } from "../../src/auth/dev-token.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { waitUntil, type Secrets } from "../helpers/lifecycle.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { expectCode } from "../helpers/rpc-failures.js";
import { spawnServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { kmsCredentials, mongoUriFor, services } from "../helpers/services.js";

// RedactText over the real server and FerretDB: raw and encoded occurrences become
// `[REDACTED:NAME]`; overlaps, containment and shared values; every enabled version and only those
// (the per-tenant redactor cache dropped on each change, on this replica and, through the change
// feed, on another); short values only when named; names, globs and scope; the 4 MiB text limit
// of its own route; and an audit event that names the matches and holds none of the text.

const MiB = 1024 * 1024;
const CALL = { timeoutMs: 120_000 };

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_redact" });
});

afterAll(async () => {
  await server?.close();
});

/** A tenant of its own for each test: its secrets (names [] means all of them) are the test's alone. */
const freshTenant = (label: string) => `dev_redact_${label}_${randomBytes(3).toString("hex")}`;
const clientOf = async (tenant: string, extra?: Partial<DevTokenClaims>, subject?: string): Promise<Secrets> =>
  connectGrpcClient(server.baseUrl, await server.token(tenant, subject, extra));
const marker = (name: string) => `[REDACTED:${name}]`;
const unique = (prefix: string) => `${prefix}-${randomBytes(8).toString("hex")}`;

async function redact(client: Secrets, text: string, names: string[] = []): Promise<{ text: string; matched: string[] }> {
  const res = await client.redactText({ text, names }, CALL);
  return { text: res.text, matched: res.matchedNames };
}

describe("occurrences and encodings", () => {
  // 13 UTF-8 bytes (not a multiple of 3: base64 is padded), "/" in its base64 (URL-safe differs),
  // bytes outside the unreserved set whose hex has letters (upper and lower case differ) and a space
  // (form encoding differs). The encodings are written out by hand, not computed like the server does.
  const VALUE = "Ab?>~ é/+0pq";
  const FORMS: Record<string, string> = {
    raw: VALUE,
    "base64 padded": "QWI/Pn4gw6kvKzBwcQ==",
    "base64 unpadded": "QWI/Pn4gw6kvKzBwcQ",
    "URL-safe base64 padded": "QWI_Pn4gw6kvKzBwcQ==",
    "URL-safe base64 unpadded": "QWI_Pn4gw6kvKzBwcQ",
    "percent-encoded, upper-case hex": "Ab%3F%3E~%20%C3%A9%2F%2B0pq",
    "percent-encoded, lower-case hex": "Ab%3f%3e~%20%c3%a9%2f%2b0pq",
    "form-encoded, upper-case hex": "Ab%3F%3E~+%C3%A9%2F%2B0pq",
    "form-encoded, lower-case hex": "Ab%3f%3e~+%c3%a9%2f%2b0pq",
  };
  let tenant: string;
  let client: Secrets;

  beforeAll(async () => {
    tenant = freshTenant("forms");
    client = await clientOf(tenant);
    await client.createSecret({ name: "api_key", value: VALUE });
  });

  it("the hand-written encodings decode to the value and are all different", () => {
    expect(Buffer.from(FORMS["base64 padded"]!, "base64").toString("utf8")).toBe(VALUE);
    expect(Buffer.from(FORMS["URL-safe base64 unpadded"]!, "base64url").toString("utf8")).toBe(VALUE);
    expect(decodeURIComponent(FORMS["percent-encoded, lower-case hex"]!)).toBe(VALUE);
    expect(decodeURIComponent(FORMS["form-encoded, upper-case hex"]!.replaceAll("+", " "))).toBe(VALUE);
    expect(new Set(Object.values(FORMS)).size).toBe(Object.keys(FORMS).length);
  });

  for (const [form, encoded] of Object.entries(FORMS)) {
    it(`the ${form} value is replaced, with names [] and with the name given`, async () => {
      const text = `curl -H 'x: ${encoded}' done`;
      const expected = { text: `curl -H 'x: ${marker("api_key")}' done`, matched: ["api_key"] };
      expect(await redact(client, text)).toEqual(expected);
      expect(await redact(client, text, ["api_key"])).toEqual(expected);
    });
  }

  it("every occurrence of every form in one text, also touching one another and at both ends", async () => {
    const parts = Object.values(FORMS);
    const text = `${parts.join(" | ")}\n${VALUE}${VALUE}\n${parts.join("\t")}`;
    const m = marker("api_key");
    const expected = `${parts.map(() => m).join(" | ")}\n${m}${m}\n${parts.map(() => m).join("\t")}`;
    expect(await redact(client, text)).toEqual({ text: expected, matched: ["api_key"] });
  });

  it("a text without any secret comes back unchanged, with matched_names empty", async () => {
    const text = "nothing to see here: Ab?>~ e/+0pq (almost), QWI/Pn4gw6kvKzBw, é ✓ \u0000 \u{1F600}";
    expect(await redact(client, text)).toEqual({ text, matched: [] });
    expect(await redact(client, "")).toEqual({ text: "", matched: [] });
  });

  it("matched_names are distinct and sorted, whatever the order of the occurrences", async () => {
    const t = freshTenant("sorted");
    const c = await clientOf(t);
    const values = { zz_last: unique("zzvalue"), aa_first: unique("aavalue"), mm_mid: unique("mmvalue"), unused_one: unique("unused") };
    for (const [name, value] of Object.entries(values)) await c.createSecret({ name, value });
    const text = `1 ${values.zz_last} 2 ${values.aa_first} 3 ${values.zz_last} 4 ${values.mm_mid} 5 ${values.aa_first}`;
    const res = await redact(c, text);
    expect(res.matched).toEqual(["aa_first", "mm_mid", "zz_last"]);
    expect(res.text).toBe(`1 ${marker("zz_last")} 2 ${marker("aa_first")} 3 ${marker("zz_last")} 4 ${marker("mm_mid")} 5 ${marker("aa_first")}`);
  });
});

describe("overlaps, containment and shared values", () => {
  let client: Secrets;

  beforeAll(async () => {
    client = await clientOf(freshTenant("overlap"));
    await client.createSecret({ name: "zeta_first", value: "ALPHA-BRAVO-1234" });
    await client.createSecret({ name: "alpha_second", value: "1234-CHARLIE-XYZ" });
    await client.createSecret({ name: "aaa_inner", value: "CORE-VALUE-77" });
    await client.createSecret({ name: "outer_secret", value: "prefix-CORE-VALUE-77-suffix" });
    await client.createSecret({ name: "m_shared", value: "SAME-VALUE-TWICE" });
    await client.createSecret({ name: "k_shared", value: "SAME-VALUE-TWICE" });
  });

  it("two overlapping values make one run: one marker per secret, in order of first occurrence", async () => {
    const text = "x ALPHA-BRAVO-1234-CHARLIE-XYZ y";
    const expected = { text: `x ${marker("zeta_first")}${marker("alpha_second")} y`, matched: ["alpha_second", "zeta_first"] };
    expect(await redact(client, text)).toEqual(expected);
    expect(await redact(client, text, ["alpha_second", "zeta_first"])).toEqual(expected);
    // The other way round in the text: the order of the markers follows.
    expect(await redact(client, "x 1234-CHARLIE-XYZ then ALPHA-BRAVO-1234 y")).toEqual({
      text: `x ${marker("alpha_second")} then ${marker("zeta_first")} y`,
      matched: ["alpha_second", "zeta_first"],
    });
  });

  it("a value inside a longer secret's value: only the longer one's marker where the longer occurs", async () => {
    expect(await redact(client, "a prefix-CORE-VALUE-77-suffix b")).toEqual({ text: `a ${marker("outer_secret")} b`, matched: ["outer_secret"] });
    // The inner value alone is still its own secret.
    expect(await redact(client, "a CORE-VALUE-77 b prefix-CORE-VALUE-77-suffix")).toEqual({
      text: `a ${marker("aaa_inner")} b ${marker("outer_secret")}`,
      matched: ["aaa_inner", "outer_secret"],
    });
  });

  it("a value two secrets share is labelled with the smallest name", async () => {
    expect(await redact(client, "v=SAME-VALUE-TWICE;")).toEqual({ text: `v=${marker("k_shared")};`, matched: ["k_shared"] });
    expect(await redact(client, "v=SAME-VALUE-TWICE;", ["m_shared", "k_shared"])).toEqual({ text: `v=${marker("k_shared")};`, matched: ["k_shared"] });
    // Named alone, the other one labels it.
    expect(await redact(client, "v=SAME-VALUE-TWICE;", ["m_shared"])).toEqual({ text: `v=${marker("m_shared")};`, matched: ["m_shared"] });
  });
});

describe("every enabled version, and only those (the redactor cache follows each change)", () => {
  it("PutSecretValue: old and new redacted; disabled: old left; enabled again: redacted; destroyed: left", async () => {
    const client = await clientOf(freshTenant("versions"));
    const v1 = unique("first-value");
    const v2 = unique("second-value");
    const v3 = unique("third-value");
    const text = `one=${v1} two=${v2} three=${v3}`;
    // Each step is checked with names [] and with the name given (two cached redactors per tenant).
    const check = async (expected: string) => {
      for (const names of [[], ["rotating"]]) expect(await redact(client, text, names), `names ${JSON.stringify(names)}`).toEqual({ text: expected, matched: ["rotating"] });
    };
    const m = marker("rotating");

    await client.createSecret({ name: "rotating", value: v1 });
    await check(`one=${m} two=${v2} three=${v3}`);
    await client.putSecretValue({ name: "rotating", value: v2 });
    await check(`one=${m} two=${m} three=${v3}`);
    await client.updateSecret({ name: "rotating", value: v3 });
    await check(`one=${m} two=${m} three=${m}`);
    await client.disableSecretVersion({ name: "rotating", version: 1n });
    await check(`one=${v1} two=${m} three=${m}`);
    await client.enableSecretVersion({ name: "rotating", version: 1n });
    await check(`one=${m} two=${m} three=${m}`);
    await client.disableSecretVersion({ name: "rotating", version: 2n });
    await check(`one=${m} two=${v2} three=${m}`);
    await client.destroySecretVersion({ name: "rotating", version: 1n });
    await check(`one=${v1} two=${v2} three=${m}`);
    // The latest version disabled too: nothing enabled is left, and nothing is redacted.
    await client.disableSecretVersion({ name: "rotating", version: 3n });
    for (const names of [[], ["rotating"]]) expect(await redact(client, text, names)).toEqual({ text, matched: [] });
  });

  it("a secret created, soft-deleted and restored after a redactor was kept: the change is seen at once", async () => {
    const client = await clientOf(freshTenant("created"));
    await client.createSecret({ name: "early", value: unique("early-value") });
    const late = unique("late-value");
    const text = `late=${late}`;
    expect(await redact(client, text)).toEqual({ text, matched: [] });
    await client.createSecret({ name: "late", value: late });
    expect(await redact(client, text)).toEqual({ text: `late=${marker("late")}`, matched: ["late"] });
    await client.deleteSecret({ name: "late" });
    expect(await redact(client, text)).toEqual({ text, matched: [] });
    await client.restoreSecret({ name: "late" });
    expect(await redact(client, text)).toEqual({ text: `late=${marker("late")}`, matched: ["late"] });
  });
});

describe("short values", () => {
  let client: Secrets;

  beforeAll(async () => {
    client = await clientOf(freshTenant("short"));
    await client.createSecret({ name: "short", value: "Zq5#x" });
    // 7 code points in 14 UTF-8 bytes, and 4 code points in 8 UTF-16 units: both short.
    await client.createSecret({ name: "short_accents", value: "ééééééé" });
    await client.createSecret({ name: "short_emoji", value: "\u{1F511}\u{1F512}\u{1F513}\u{1F510}" });
    // 8 code points: not short.
    await client.createSecret({ name: "eight", value: "8chars!!" });
  });

  const text = "a Zq5#x b ééééééé c \u{1F511}\u{1F512}\u{1F513}\u{1F510} d 8chars!!";

  it("with names [] a value of fewer than 8 code points is left alone; one of 8 is redacted", async () => {
    expect(await redact(client, text)).toEqual({ text: text.replace("8chars!!", marker("eight")), matched: ["eight"] });
  });

  it("named explicitly, a short value is redacted (raw and encoded)", async () => {
    expect(await redact(client, `${text} e WnE1I3g= f Zq5%23x`, ["short"])).toEqual({
      text: `a ${marker("short")} b ééééééé c \u{1F511}\u{1F512}\u{1F513}\u{1F510} d 8chars!! e ${marker("short")} f ${marker("short")}`,
      matched: ["short"],
    });
    expect(await redact(client, text, ["short_accents", "short_emoji"])).toEqual({
      text: `a Zq5#x b ${marker("short_accents")} c ${marker("short_emoji")} d 8chars!!`,
      matched: ["short_accents", "short_emoji"],
    });
  });
});

describe("names", () => {
  let tenant: string;
  let client: Secrets;

  beforeAll(async () => {
    tenant = freshTenant("names");
    client = await clientOf(tenant);
    await client.createSecret({ name: "known", value: unique("known-value") });
    await client.createSecret({ name: "deleted_one", value: unique("deleted-value") });
    await client.deleteSecret({ name: "deleted_one" });
  });

  it("unknown names are NOT_FOUND, listing every unknown name (and not the known one)", async () => {
    const err = await expectNotFound(client.redactText({ text: "t", names: ["nope_b", "known", "nope_a"] }));
    expect(err).toContain("nope_a");
    expect(err).toContain("nope_b");
    expect(err).not.toContain("known");
  });

  it("another tenant's secret name is NOT_FOUND", async () => {
    const other = await clientOf(freshTenant("names_other"));
    const value = unique("theirs");
    await other.createSecret({ name: "theirs", value });
    expect(await expectNotFound(client.redactText({ text: value, names: ["theirs"] }))).toContain("theirs");
  });

  it("a soft-deleted secret's name is NOT_FOUND", async () => {
    expect(await expectNotFound(client.redactText({ text: "t", names: ["deleted_one"] }))).toContain("deleted_one");
  });

  it("names [] covers all 30 of the tenant's secrets but never another tenant's values", async () => {
    const own = freshTenant("all30");
    const c = await clientOf(own);
    const values = Array.from({ length: 30 }, (_, i) => ({ name: `many_${String(i).padStart(2, "0")}`, value: unique(`many-${i}`) }));
    for (const { name, value } of values) await c.createSecret({ name, value });
    const other = await clientOf(freshTenant("all30_other"));
    const foreign = unique("foreign-value");
    await other.createSecret({ name: "many_00", value: foreign });
    await other.createSecret({ name: "foreign_only", value: unique("foreign-only") });

    const text = [...values.map((v) => `${v.name}: ${v.value}`), `foreign: ${foreign}`].join("\n");
    const res = await redact(c, text);
    expect(res.matched).toEqual(values.map((v) => v.name));
    expect(res.text).toBe([...values.map((v) => `${v.name}: ${marker(v.name)}`), `foreign: ${foreign}`].join("\n"));
    // And from the other side: only its own value (its many_00), none of this tenant's.
    const theirs = await redact(other, text);
    expect(theirs.matched).toEqual(["many_00"]);
    expect(theirs.text).toBe(text.replace(foreign, marker("many_00")));
  });

  async function expectNotFound(call: Promise<unknown>): Promise<string> {
    try {
      await call;
    } catch (err) {
      const e = ConnectError.from(err);
      expect(e.code, e.rawMessage).toBe(Code.NotFound);
      return e.rawMessage;
    }
    throw new Error("expected NOT_FOUND, but the call succeeded");
  }
});

describe("token globs and scope", () => {
  let tenant: string;
  let owner: Secrets;
  const stripe = unique("stripe-value");
  const db = unique("db-value");

  beforeAll(async () => {
    tenant = freshTenant("globs");
    owner = await clientOf(tenant);
    await owner.createSecret({ name: "stripe_key", value: stripe });
    await owner.createSecret({ name: "db_password", value: db });
  });

  it("a token limited to stripe_*: names [] redacts stripe_key's value and leaves db_password's in the text", async () => {
    const agent = await clientOf(tenant, { secrets: ["stripe_*"] }, "stripe-agent");
    const text = `stripe=${stripe} db=${db}`;
    expect(await redact(agent, text)).toEqual({ text: `stripe=${marker("stripe_key")} db=${db}`, matched: ["stripe_key"] });
    expect(await redact(agent, text, ["stripe_key"])).toEqual({ text: `stripe=${marker("stripe_key")} db=${db}`, matched: ["stripe_key"] });
    // The owner's token covers both.
    expect((await redact(owner, text)).matched).toEqual(["db_password", "stripe_key"]);
  });

  it("a token limited to stripe_* naming db_password is NOT_FOUND", async () => {
    const agent = await clientOf(tenant, { secrets: ["stripe_*"] }, "stripe-agent");
    await expectCode(agent.redactText({ text: db, names: ["db_password"] }), Code.NotFound, /db_password/);
    await expectCode(agent.redactText({ text: db, names: ["stripe_key", "db_password"] }), Code.NotFound, /db_password/);
  });

  it("a token with scope secrets.read alone is PERMISSION_DENIED, naming secrets.access", async () => {
    const reader = await clientOf(tenant, { scope: "secrets.read" }, "reader");
    await expectCode(reader.redactText({ text: stripe, names: [] }), Code.PermissionDenied, /secrets\.access/);
    // The same token reads metadata: the refusal is about the scope, not the token.
    expect((await reader.getSecret({ name: "stripe_key" })).secret?.name).toBe("stripe_key");
  });
});

describe("sizes", () => {
  let client: Secrets;
  const value = unique("size-value");

  beforeAll(async () => {
    client = await clientOf(freshTenant("sizes"));
    await client.createSecret({ name: "sized", value });
  });

  it("a 3 MiB text is accepted (RedactText's own limit), while CreateSecret over 256 KiB is RESOURCE_EXHAUSTED", async () => {
    const filler = "lorem ipsum dolor sit amet ".repeat(Math.ceil((1.5 * MiB) / 27)).slice(0, 1.5 * MiB - value.length);
    const text = `${value}${filler}${value}${filler}${value}`;
    expect(Buffer.byteLength(text)).toBe(3 * MiB + value.length);
    const res = await redact(client, text);
    expect(res.matched).toEqual(["sized"]);
    expect(res.text).toBe(`${marker("sized")}${filler}${marker("sized")}${filler}${marker("sized")}`);

    await expectCode(client.createSecret({ name: "too_big", value: "v", description: "d".repeat(300 * 1024) }, CALL), Code.ResourceExhausted);
  });

  it("exactly 4 MiB of UTF-8 is accepted; 4 MiB + 1 byte (fewer UTF-16 units) is RESOURCE_EXHAUSTED", async () => {
    const fourMiB = "é".repeat(2 * MiB);
    expect(Buffer.byteLength(fourMiB)).toBe(4 * MiB);
    const ok = await client.redactText({ text: fourMiB, names: [] }, CALL);
    expect(ok.matchedNames).toEqual([]);
    expect(ok.text.length).toBe(fourMiB.length);

    const over = `${fourMiB}a`;
    expect(Buffer.byteLength(over)).toBe(4 * MiB + 1);
    await expectCode(client.redactText({ text: over, names: [] }, CALL), Code.ResourceExhausted);
    await expectCode(client.redactText({ text: over, names: ["sized"] }, CALL), Code.ResourceExhausted);
  });

  it("a response much larger than the request: many short named values become long markers", async () => {
    const c = await clientOf(freshTenant("large_response"));
    const secrets = Array.from({ length: 100 }, (_, i) => ({ name: `s${String(i).padStart(2, "0")}_${"x".repeat(110)}`, value: `Q${String(i).padStart(2, "0")}` }));
    for (const s of secrets) await c.createSecret({ name: s.name, value: s.value });
    const count = 20_000;
    const picks = Array.from({ length: count }, (_, k) => secrets[(k * 7) % secrets.length]!);
    const text = picks.map((s) => s.value).join(" ");
    const res = await c.redactText({ text, names: secrets.map((s) => s.name) }, CALL);
    const expected = picks.map((s) => marker(s.name)).join(" ");
    expect(Buffer.byteLength(expected)).toBeGreaterThan(20 * Buffer.byteLength(text));
    expect(res.text === expected, "the redacted text").toBe(true);
    expect(res.matchedNames).toEqual(secrets.map((s) => s.name));
    // With names [] these 3-character values are left alone.
    expect((await c.redactText({ text, names: [] }, CALL)).text === text).toBe(true);
  });
});

describe("audit", () => {
  it("one event per call: the matched names and code 0 (the names asked for and code 5 on NOT_FOUND), none of the text", async () => {
    const tenant = freshTenant("audit");
    const client = await clientOf(tenant, undefined, "auditor");
    const value = unique("audit-value");
    await client.createSecret({ name: "audit_key", value });
    await client.createSecret({ name: "audit_other", value: unique("audit-other") });
    const prose = `PRIVATE-PROSE-${randomBytes(6).toString("hex")}`;
    const text = `${prose} leaked ${value} and ${Buffer.from(value).toString("base64")}`;

    const res = await redact(client, text);
    expect(res.matched).toEqual(["audit_key"]);
    await expectCode(client.redactText({ text: `${prose} again`, names: ["audit_key", "missing_name"] }), Code.NotFound);

    const raw: RawDb = await openRawDb(server.fixture.db!);
    try {
      const events = raw.db.collection("audit_events");
      const query = { tenant, method: "RedactText" };
      await waitUntil(async () => (await events.countDocuments(query)) >= 2, "both RedactText events are stored");
      const docs = await events.find(query).sort({ time: 1, _id: 1 }).toArray();
      expect(docs.map((d) => ({ names: d.names, code: d.code, principal: d.principal }))).toEqual([
        { names: ["audit_key"], code: 0, principal: "auditor" },
        { names: ["audit_key", "missing_name"], code: Code.NotFound, principal: "auditor" },
      ]);
      const stored = JSON.stringify(docs);
      for (const piece of [prose, value, Buffer.from(value).toString("base64"), "leaked"]) expect(stored).not.toContain(piece);
    } finally {
      await raw.close();
    }
    for (const piece of [prose, value]) expect(server.logLines.filter((l) => l.includes(piece))).toEqual([]);
  });
});

describe("two replicas sharing one database and one change channel", () => {
  // A is this process's test server; B a real server process (src/main.ts) on A's database and
  // change channel. Both use the KMS emulator, so B opens what A sealed.
  let a: TestServer;
  let b: ServerProcess | undefined;

  beforeAll(async () => {
    a = await startTestServer({ store: "mongodb", keys: "aws-kms", label: "rpc_redact_replicas" });
    const credentials = kmsCredentials();
    b = await spawnServerProcess({
      PORT: "0",
      STORE: "mongodb",
      MONGODB_URI: mongoUriFor(a.fixture.db!),
      KEY_PROVIDER: "aws-kms",
      KMS_KEY_ID: services.kmsKeyId,
      KMS_ENDPOINT: services.kmsEndpoint,
      AWS_REGION: services.region,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AUTH_JWT_SECRET: a.jwtSecret,
      TASK_TOKEN_KEYS: a.taskTokenJwks,
      REDIS_URL: services.redisUrl,
      CHANGE_CHANNEL: a.changeChannel!,
      LOG_LEVEL: "info",
    });
  }, 300_000);

  afterAll(async () => {
    await b?.kill();
    await a?.close();
  });

  it("a new value put on A is redacted on B, and a version disabled on A stops being redacted on B", async () => {
    const token = await a.token(freshTenant("replicas"));
    const onA = connectGrpcClient(a.baseUrl, token);
    const onB = connectGrpcClient(b!.baseUrl, token);
    const v1 = unique("replica-old");
    const v2 = unique("replica-new");
    const text = `old=${v1} new=${v2}`;
    const m = marker("shared_key");
    await onA.createSecret({ name: "shared_key", value: v1 });

    // B builds (and keeps) its redactor.
    for (const names of [[], ["shared_key"]]) expect(await redact(onB, text, names)).toEqual({ text: `old=${m} new=${v2}`, matched: ["shared_key"] });

    // A secret created on A (one version): B's kept redactor for names [] is dropped.
    const late = unique("replica-late");
    expect(await redact(onB, `late=${late}`)).toEqual({ text: `late=${late}`, matched: [] });
    await onA.createSecret({ name: "late_key", value: late });
    await waitUntil(async () => (await redact(onB, `late=${late}`)).text === `late=${marker("late_key")}`, "B redacts a secret created on A", 60_000);

    await onA.putSecretValue({ name: "shared_key", value: v2 });
    for (const names of [[], ["shared_key"]]) {
      await waitUntil(async () => (await redact(onB, text, names)).text === `old=${m} new=${m}`, `B redacts the new value (names ${JSON.stringify(names)})`, 60_000);
    }
    await onA.disableSecretVersion({ name: "shared_key", version: 1n });
    for (const names of [[], ["shared_key"]]) {
      await waitUntil(async () => (await redact(onB, text, names)).text === `old=${v1} new=${m}`, `B leaves the disabled value (names ${JSON.stringify(names)})`, 60_000);
    }
    // Once seen, it stays so: B does not go back to a redactor built before the change.
    expect(await redact(onB, text)).toEqual({ text: `old=${v1} new=${m}`, matched: ["shared_key"] });
  }, 300_000);
});
