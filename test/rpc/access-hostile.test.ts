import type * as http2 from "node:http2";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretEventType } from "../../gen/secrets/v1/secrets_pb.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { closeSession, connectSession, grpcFrame, lengthDelimitedField, rawRequest, varint, type RawReply } from "../helpers/raw-http2.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { connectErrorOf } from "../helpers/rpc-failures.js";
import { startHttpUpstream, type Upstream } from "../helpers/https-upstream.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Hostile input to the RPCs of the access work (CreateTaskToken, RevokeTaskToken, ListAuditEvents,
// RunMaintenance, RewrapKeys) and to the agent RPCs (ResolveReferences, RedactText, WatchSecrets), as an
// outsider sends it: garbage frames, invalid UTF-8, arrays and objects where strings go, oversize
// and over-long fields. Each answers INVALID_ARGUMENT (or RESOURCE_EXHAUSTED), never quotes more
// than a bounded piece of the input, the server keeps serving, and no task token record is written.

const SERVICE = "/secrets.v1.SecretsService";
const METHODS = ["CreateTaskToken", "RevokeTaskToken", "ListAuditEvents", "RunMaintenance", "RewrapKeys"] as const;
const INVALID_UTF8 = Buffer.from([0x6b, 0xff, 0xfe]);
const AGENT_METHODS = ["ResolveReferences", "RedactText", "WatchSecrets"] as const;

/** A varint protobuf field (wire type 0). */
const varintField = (fieldNumber: number, n: number) => Buffer.concat([varint(fieldNumber << 3), varint(n)]);
/** google.protobuf.Value fields: null_value 1, number_value 2, string_value 3, struct_value 5, list_value 6. */
const nullValue = () => varintField(1, 0);

/** A Connect streaming envelope: flags, 4-byte big-endian length, bytes. */
function envelope(data: Uint8Array, flags = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(flags, 0);
  prefix.writeUInt32BE(data.byteLength, 1);
  return Buffer.concat([prefix, data]);
}

/** The envelopes of a Connect streaming body: the messages, and the end-of-stream error if any. */
function parseEnvelopes(body: Buffer): { messages: unknown[]; end?: { error?: { code?: string; message?: string } } } {
  const messages: unknown[] = [];
  let end: { error?: { code?: string; message?: string } } | undefined;
  for (let at = 0; at + 5 <= body.length; ) {
    const flags = body.readUInt8(at);
    const length = body.readUInt32BE(at + 1);
    const data = body.subarray(at + 5, at + 5 + length);
    // The end-of-stream message is JSON whatever the codec; a message is returned as it came.
    if (flags & 0x02) end = JSON.parse(data.toString("utf8")) as typeof end;
    else messages.push(data);
    at += 5 + length;
  }
  return { messages, ...(end ? { end } : {}) };
}

describe("hostile input to the access RPCs", () => {
  let server: TestServer;
  let session: http2.ClientHttp2Session;
  let token: string;
  let raw: RawDb;
  const grpc = (method: string, body: Uint8Array) =>
    rawRequest(session, { path: `${SERVICE}/${method}`, contentType: "application/grpc", body: grpcFrame(body), headers: { authorization: `Bearer ${token}` } });
  const json = async (method: string, body: string | Uint8Array) => {
    const res = await fetch(`${server.baseUrl}${SERVICE}/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body,
    });
    return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
  };
  const taskTokens = () => raw.db.collection("task_tokens").countDocuments();
  const expectInvalid = (reply: RawReply, label: string) => {
    expect(reply.grpcStatus, `${label}: ${reply.grpcMessage}`).toBe(3);
    expect(reply.rstCode, label).toBe(0);
    expect((reply.grpcMessage ?? "").length, label).toBeLessThanOrEqual(600);
  };

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_access_hostile", cache: false });
    session = await connectSession(server.baseUrl);
    token = await server.token("dev_hostile", "hostile", { scope: "secrets.read secrets.access secrets.write secrets.admin" });
    raw = await openRawDb(server.fixture.db!);
  });
  afterAll(async () => {
    await raw?.close();
    closeSession(session);
    await server?.close();
  });

  it("garbage protobuf answers INVALID_ARGUMENT naming the message type on each of them", async () => {
    for (const method of METHODS) {
      for (const bytes of [[0xff, 0xff, 0xff], [0x0a, 0x7f, 0x61], [0x0f, 0x01]]) {
        const reply = await grpc(method, Uint8Array.from(bytes));
        expectInvalid(reply, `${method} ${bytes}`);
        expect(reply.grpcMessage).toBe(`request is not a valid secrets.v1.${method}Request message`);
      }
    }
    expect(await taskTokens()).toBe(0);
  });

  it("invalid UTF-8 in a string field answers INVALID_ARGUMENT and stores nothing", async () => {
    const cases: [string, Buffer][] = [
      ["CreateTaskToken secrets", Buffer.concat([lengthDelimitedField(1, INVALID_UTF8), lengthDelimitedField(2, Buffer.from("secrets.read"))])],
      ["CreateTaskToken scopes", Buffer.concat([lengthDelimitedField(1, Buffer.from("a*")), lengthDelimitedField(2, INVALID_UTF8)])],
      ["CreateTaskToken label", Buffer.concat([lengthDelimitedField(1, Buffer.from("a*")), lengthDelimitedField(2, Buffer.from("secrets.read")), lengthDelimitedField(4, INVALID_UTF8)])],
      ["RevokeTaskToken token_id", lengthDelimitedField(1, INVALID_UTF8)],
      ["ListAuditEvents page_token", lengthDelimitedField(2, INVALID_UTF8)],
      ["ListAuditEvents name", lengthDelimitedField(3, INVALID_UTF8)],
      ["ListAuditEvents method", lengthDelimitedField(4, INVALID_UTF8)],
      ["RewrapKeys to_key", lengthDelimitedField(1, INVALID_UTF8)],
      ["RewrapKeys page_token", Buffer.concat([lengthDelimitedField(1, Buffer.from("k1")), lengthDelimitedField(2, INVALID_UTF8)])],
    ];
    for (const [label, body] of cases) expectInvalid(await grpc(label.split(" ")[0]!, body), label);
    expect(await taskTokens()).toBe(0);
  });

  it("arrays, objects and numbers where strings go are refused by the JSON mapping, naming the field", async () => {
    const cases: [string, string, RegExp][] = [
      ["CreateTaskToken", '{"secrets":"a*","scopes":["secrets.read"]}', /secrets/],
      ["CreateTaskToken", '{"secrets":[{"$ne":null}],"scopes":["secrets.read"]}', /secrets/],
      ["CreateTaskToken", '{"secrets":["a*"],"scopes":["secrets.read"],"label":{"$gt":""}}', /label/],
      ["CreateTaskToken", '{"secrets":["a*"],"scopes":["secrets.read"],"ttl":{"seconds":60}}', /ttl|Duration/],
      ["RevokeTaskToken", '{"tokenId":{"$ne":null}}', /token_?[iI]d/],
      ["RevokeTaskToken", '{"tokenId":["tt_x"]}', /token_?[iI]d/],
      ["ListAuditEvents", '{"name":["x"]}', /name/],
      ["ListAuditEvents", '{"code":"5x"}', /code/],
      ["ListAuditEvents", '{"startTime":{"$gte":0}}', /start_?[tT]ime|Timestamp/],
      ["RunMaintenance", '{"purge":true}', /purge/],
      ["RewrapKeys", '{"toKey":["k1"]}', /to_?[kK]ey/],
      ["RewrapKeys", '{"toKey":{"$ne":null}}', /to_?[kK]ey/],
      ["RewrapKeys", '{"toKey":"k1","pageSize":"many"}', /page_?[sS]ize/],
      ["RewrapKeys", '{"toKey":"k1","rateLimit":1e20}', /rate_?[lL]imit/],
    ];
    for (const [method, body, field] of cases) {
      const res = await json(method, body);
      expect(res.status, `${method} ${body}`).toBe(400);
      expect(res.body.code, `${method} ${body}`).toBe("invalid_argument");
      expect(res.body.message, `${method} ${body}`).toMatch(field);
    }
    expect(await taskTokens()).toBe(0);
  });

  it("over-long and out-of-range fields answer INVALID_ARGUMENT naming the field, quoting at most a bounded piece", async () => {
    const long = "a".repeat(100_000);
    const cases: [string, string, RegExp][] = [
      ["CreateTaskToken", JSON.stringify({ secrets: ["a*"], scopes: ["secrets.read"], label: long }), /^label: /],
      ["CreateTaskToken", JSON.stringify({ secrets: [long], scopes: ["secrets.read"] }), /^secrets: /],
      ["CreateTaskToken", JSON.stringify({ secrets: ["a*"], scopes: [long] }), /^scopes: /],
      ["CreateTaskToken", JSON.stringify({ secrets: ["a*"], scopes: ["secrets.read"], ttl: "-5s" }), /^ttl: /],
      ["ListAuditEvents", JSON.stringify({ name: long }), /^name: /],
      ["ListAuditEvents", JSON.stringify({ method: long }), /^method: /],
      ["ListAuditEvents", JSON.stringify({ code: 99 }), /^code: /],
      ["ListAuditEvents", JSON.stringify({ pageToken: long }), /^page_token: /],
      ["ListAuditEvents", JSON.stringify({ startTime: "2026-01-02T00:00:00Z", endTime: "2026-01-01T00:00:00Z" }), /^end_time: /],
      ["RewrapKeys", JSON.stringify({ toKey: long }), /^to_key: /],
      ["RewrapKeys", JSON.stringify({ toKey: "k\u0000" }), /^to_key: /],
      ["RewrapKeys", JSON.stringify({}), /^to_key: /],
      ["RewrapKeys", JSON.stringify({ toKey: "k1", pageToken: long }), /^page_token: /],
      ["RewrapKeys", JSON.stringify({ toKey: "k1", pageSize: 1001 }), /^page_size: /],
      ["RewrapKeys", JSON.stringify({ toKey: "k1", pageSize: -1 }), /^page_size: /],
      ["RewrapKeys", JSON.stringify({ toKey: "k1", rateLimit: 1001 }), /^rate_limit: /],
    ];
    for (const [method, body, field] of cases) {
      const res = await json(method, body);
      expect(res.status, `${method} ${field}`).toBe(400);
      expect(res.body.message, `${method} ${field}`).toMatch(field);
      expect(res.body.message!.length, `${method} ${field}`).toBeLessThanOrEqual(600);
    }
    // An unknown token id of any length is NOT_FOUND, quoting at most 128 characters of it.
    const revoke = await json("RevokeTaskToken", JSON.stringify({ tokenId: long }));
    expect(revoke.status).toBe(404);
    expect(revoke.body.message!.length).toBeLessThan(200);
    expect(await taskTokens()).toBe(0);
  });

  it("a request over the size limit answers RESOURCE_EXHAUSTED, and the server keeps serving", async () => {
    const huge = JSON.stringify({ secrets: ["a*"], scopes: ["secrets.read"], label: "x".repeat(1_000_000) });
    const res = await json("CreateTaskToken", huge);
    expect(res.status).toBe(429);
    expect(res.body.code).toBe("resource_exhausted");
    const ok = await json("CreateTaskToken", JSON.stringify({ secrets: ["a*"], scopes: ["secrets.read"], label: "fine" }));
    expect(ok.status).toBe(200);
    expect(await taskTokens()).toBe(1);
  });

  describe("the agent RPCs", () => {
    const SECRET = "agent_secret";
    const VALUE = "agent-secret-value-1";
    /** WatchSecrets over the Connect protocol, as curl sends a server-streaming call: one enveloped message (JSON unless told). */
    const watchJson = async (body: Buffer | string, contentType = "application/connect+json") => {
      const res = await fetch(`${server.baseUrl}${SERVICE}/WatchSecrets`, {
        method: "POST",
        headers: { "content-type": contentType, authorization: `Bearer ${token}` },
        body: envelope(typeof body === "string" ? Buffer.from(body) : body),
      });
      const bytes = Buffer.from(await res.arrayBuffer());
      return { status: res.status, contentType: res.headers.get("content-type"), ...parseEnvelopes(bytes) };
    };
    const expectWatchRefused = (reply: Awaited<ReturnType<typeof watchJson>>, code: string, label: string) => {
      expect([label, reply.messages]).toEqual([label, []]);
      expect(reply.end?.error?.code, `${label}: ${reply.end?.error?.message}`).toBe(code);
      expect((reply.end?.error?.message ?? "").length, label).toBeLessThanOrEqual(600);
    };

    /** Each agent RPC still answers a good request. */
    const stillServing = async () => {
      const c = connectGrpcClient(server.baseUrl, token);
      const resolved = await c.resolveReferences({ template: fromJson(ValueSchema, { k: `$ secrets.${SECRET}` }) });
      expect(toJson(ValueSchema, resolved.resolved!)).toEqual({ k: VALUE });
      expect((await c.redactText({ text: `x ${VALUE} y`, names: [SECRET] })).text).toBe(`x [REDACTED:${SECRET}] y`);
      const abort = new AbortController();
      let first: unknown;
      try {
        for await (const m of c.watchSecrets({ names: [SECRET] }, { signal: abort.signal })) {
          first = m.event?.type;
          break;
        }
      } finally {
        abort.abort();
      }
      expect(first, "the watch's first message").toBe(SecretEventType.HEARTBEAT);
    };

    beforeAll(async () => {
      await connectGrpcClient(server.baseUrl, token).createSecret({ name: SECRET, value: VALUE });
    });

    it("garbage protobuf answers INVALID_ARGUMENT naming the message type on each of them, a stream as it opens", async () => {
      for (const method of AGENT_METHODS) {
        for (const bytes of [[0xff, 0xff, 0xff], [0x0a, 0x7f, 0x61], [0x0f, 0x01]]) {
          const reply = await grpc(method, Uint8Array.from(bytes));
          expectInvalid(reply, `${method} ${bytes}`);
          expect(reply.grpcMessage).toBe(`request is not a valid secrets.v1.${method}Request message`);
        }
      }
      // The stream over the Connect protocol, binary.
      for (const bytes of [[0xff, 0xff, 0xff], [0x0a, 0x7f, 0x61], [0x0f, 0x01]]) {
        const reply = await watchJson(Buffer.from(bytes), "application/connect+proto");
        expectWatchRefused(reply, "invalid_argument", `connect+proto ${bytes}`);
        expect(reply.end?.error?.message).toBe("request is not a valid secrets.v1.WatchSecretsRequest message");
      }
      await stillServing();
    });

    it("invalid UTF-8 in the text, in names and in template strings and keys answers INVALID_ARGUMENT", async () => {
      const template = (value: Buffer) => lengthDelimitedField(1, value);
      const cases: [string, Buffer][] = [
        ["RedactText text", lengthDelimitedField(1, INVALID_UTF8)],
        ["RedactText text (after a valid prefix)", lengthDelimitedField(1, Buffer.concat([Buffer.from(`${VALUE} `), INVALID_UTF8]))],
        ["RedactText names", Buffer.concat([lengthDelimitedField(1, Buffer.from(VALUE)), lengthDelimitedField(2, INVALID_UTF8)])],
        ["WatchSecrets names", lengthDelimitedField(1, INVALID_UTF8)],
        ["WatchSecrets names (second)", Buffer.concat([lengthDelimitedField(1, Buffer.from(SECRET)), lengthDelimitedField(1, INVALID_UTF8)])],
        ["ResolveReferences string", template(lengthDelimitedField(3, INVALID_UTF8))],
        ["ResolveReferences reference", template(lengthDelimitedField(3, Buffer.concat([Buffer.from("$ secrets."), INVALID_UTF8])))],
        // {"<invalid>": null}: a Struct's map entry with an invalid key.
        ["ResolveReferences key", template(lengthDelimitedField(5, lengthDelimitedField(1, Buffer.concat([lengthDelimitedField(1, INVALID_UTF8), lengthDelimitedField(2, nullValue())]))))],
      ];
      for (const [label, body] of cases) expectInvalid(await grpc(label.split(" ")[0]!, body), label);
      // Over JSON: raw invalid bytes, and lone surrogates (valid JSON escapes, not Unicode text).
      const rawBytes = (before: string, after: string) => Buffer.concat([Buffer.from(before), INVALID_UTF8, Buffer.from(after)]);
      for (const [label, method, body, field] of [
        // The body is decoded strictly as a whole, before any field.
        ["text bytes", "RedactText", rawBytes('{"text":"', '"}'), /^request body is not valid UTF-8$/],
        ["names bytes", "RedactText", rawBytes('{"text":"x","names":["', '"]}'), /^request body is not valid UTF-8$/],
        ["template bytes", "ResolveReferences", rawBytes('{"template":{"k":"$ secrets.', '"}}'), /^request body is not valid UTF-8$/],
        ["text surrogate", "RedactText", JSON.stringify({ text: `a\ud800 ${VALUE} \udfff` }), /text/],
        ["names surrogate", "RedactText", JSON.stringify({ text: "x", names: ["\ud800"] }), /names/],
      ] as const) {
        const res = await json(method, body);
        expect([label, res.status, res.body.code]).toEqual([label, 400, "invalid_argument"]);
        expect(res.body.message, label).toMatch(field);
      }
      // A template's strings are JSON values the JSON mapping does not check: one that holds no
      // reference is left as it is, lone surrogate and all; one shaped like a reference is no name.
      const passed = await json("ResolveReferences", JSON.stringify({ template: { k: "\udc00", r: "$ secrets.a\udc00" } }));
      expect([passed.status, passed.body]).toEqual([200, { resolved: { k: "\udc00", r: "$ secrets.a\udc00" } }]);
      for (const [body, message] of [
        [rawBytes('{"names":["', '"]}'), /UTF-8/],
        [Buffer.from(JSON.stringify({ names: ["\ud800"] })), /names/],
      ] as const) {
        const reply = await watchJson(body);
        expectWatchRefused(reply, "invalid_argument", body.toString("latin1"));
        expect(reply.end?.error?.message).toMatch(message);
      }
      await stillServing();
    });

    it("a template that is not JSON (a Value without a kind, NaN) or is absent answers INVALID_ARGUMENT naming template", async () => {
      const nan = Buffer.alloc(8);
      nan.writeDoubleLE(Number.NaN);
      const infinity = Buffer.alloc(8);
      infinity.writeDoubleLE(Number.POSITIVE_INFINITY);
      const cases: [string, Buffer][] = [
        ["absent", Buffer.alloc(0)],
        ["no kind", lengthDelimitedField(1, Buffer.alloc(0))],
        ["NaN", lengthDelimitedField(1, Buffer.concat([Buffer.from([(2 << 3) | 1]), nan]))],
        ["Infinity in a list", lengthDelimitedField(1, lengthDelimitedField(6, lengthDelimitedField(1, Buffer.concat([Buffer.from([(2 << 3) | 1]), infinity]))))],
      ];
      for (const [label, body] of cases) {
        const reply = await grpc("ResolveReferences", body);
        expectInvalid(reply, label);
        expect(reply.grpcMessage, label).toMatch(/^template: /);
      }
      await stillServing();
    });

    it("a template nested far too deep answers INVALID_ARGUMENT, in binary and in JSON", async () => {
      // 33 levels, just over the limit, and 20,000 (a hostile depth that must not exhaust a stack).
      for (const depth of [33, 20_000]) {
        let value: Buffer = nullValue();
        for (let i = 1; i < depth; i++) value = lengthDelimitedField(6, lengthDelimitedField(1, value));
        const reply = await grpc("ResolveReferences", lengthDelimitedField(1, value));
        expectInvalid(reply, `binary depth ${depth}`);
        if (depth === 33) expect(reply.grpcMessage).toBe("template: is nested deeper than 32 levels");
        const res = await json("ResolveReferences", `{"template":${"[".repeat(depth - 1)}null${"]".repeat(depth - 1)}}`);
        expect([depth, res.status, res.body.code], res.body.message).toEqual([depth, 400, "invalid_argument"]);
        expect(res.body.message!.length).toBeLessThanOrEqual(600);
      }
      await stillServing();
    });

    it("arrays, objects and numbers where strings go are refused by the JSON mapping, naming the field", async () => {
      const cases: [string, string, RegExp][] = [
        ["RedactText", '{"text":["x"]}', /text/],
        ["RedactText", '{"text":{"$ne":null}}', /text/],
        ["RedactText", '{"text":5}', /text/],
        ["RedactText", '{"text":"x","names":"agent_secret"}', /names/],
        ["RedactText", '{"text":"x","names":[{"$ne":null}]}', /names/],
        ["RedactText", '{"text":"x","names":[["agent_secret"]]}', /names/],
        ["RedactText", '{"text":"x","names":[7]}', /names/],
        ["ResolveReferences", '{"template":"x","allowMissing":"yes"}', /allow_?[mM]issing/],
        ["ResolveReferences", '{"template":"x","allowMissing":{"$ne":null}}', /allow_?[mM]issing/],
        ["ResolveReferences", '{"template":"x","names":["agent_secret"]}', /names/],
      ];
      for (const [method, body, field] of cases) {
        const res = await json(method, body);
        expect([method, body, res.status, res.body.code]).toEqual([method, body, 400, "invalid_argument"]);
        expect(res.body.message, `${method} ${body}`).toMatch(field);
      }
      // A server stream over Connect JSON: refused in the end-of-stream message, before any message.
      for (const [body, field] of [
        ['{"names":"agent_secret"}', /names/],
        ['{"names":[{"$ne":null}]}', /names/],
        ['{"names":[["agent_secret"]]}', /names/],
        ['{"names":[1]}', /names/],
        ['{"names":[], "tenant":"other"}', /tenant/],
        ["{", /./],
      ] as const) {
        const reply = await watchJson(body);
        expectWatchRefused(reply, "invalid_argument", body);
        expect(reply.end?.error?.message, body).toMatch(field);
      }
      await stillServing();
    });

    it("over-long and malformed names, too many names and too many references answer INVALID_ARGUMENT, quoting at most a bounded piece", async () => {
      const long = "a".repeat(100_000);
      const many = Array.from({ length: 101 }, (_, i) => `n${i}`);
      const cases: [string, string, RegExp][] = [
        ["RedactText", JSON.stringify({ text: "x", names: [long] }), /^names: /],
        ["RedactText", JSON.stringify({ text: "x", names: ["1bad"] }), /^names: /],
        ["RedactText", JSON.stringify({ text: "x", names: many }), /^names: /],
        ["ResolveReferences", JSON.stringify({ template: Object.fromEntries(many.map((n) => [n, `$ secrets.${n}`])) }), /^template: /],
        ["ResolveReferences", JSON.stringify({ template: many.map((n) => `{{ secrets.${n} }}`).join(" ") }), /^template: /],
      ];
      for (const [method, body, field] of cases) {
        const res = await json(method, body);
        expect([method, body.slice(0, 60), res.status, res.body.code]).toEqual([method, body.slice(0, 60), 400, "invalid_argument"]);
        expect(res.body.message).toMatch(field);
        expect(res.body.message!.length).toBeLessThanOrEqual(600);
      }
      for (const names of [[long], ["1bad"], many, [SECRET, ""]]) {
        const reply = await watchJson(JSON.stringify({ names }));
        expectWatchRefused(reply, "invalid_argument", `WatchSecrets ${String(names[0]).slice(0, 20)} (${names.length})`);
        expect(reply.end?.error?.message).toMatch(/^names: /);
        // The same over gRPC.
        const err = await connectErrorOf(
          (async () => {
            for await (const _ of connectGrpcClient(server.baseUrl, token).watchSecrets({ names })) return;
          })(),
        );
        expect([err.code, err.rawMessage]).toEqual([Code.InvalidArgument, reply.end?.error?.message]);
      }
      // Unknown names, as long as names may be: NOT_FOUND, naming them all within a bounded message.
      const unknown = await json("RedactText", JSON.stringify({ text: "x", names: Array.from({ length: 100 }, (_, i) => `u${i}${"b".repeat(125)}`) }));
      expect([unknown.status, unknown.body.code]).toEqual([404, "not_found"]);
      expect(unknown.body.message!.length).toBeLessThanOrEqual(600);
      await stillServing();
    });

    it("oversize: RESOURCE_EXHAUSTED at the request limit (RedactText's own, larger, limit too) and at the template's and the text's own limits", async () => {
      // Over the general request limit (256 KiB here).
      const template = await json("ResolveReferences", JSON.stringify({ template: "x".repeat(300_000) }));
      expect([template.status, template.body.code]).toEqual([429, "resource_exhausted"]);
      // A stream's refusal is its end-of-stream message (HTTP 200 in the Connect streaming protocol), and gRPC's status.
      const names = Array.from({ length: 100 }, (_, i) => `n${i}_${"x".repeat(3_000)}`);
      const watch = await watchJson(JSON.stringify({ names }));
      expect(watch.status).toBe(200);
      expectWatchRefused(watch, "resource_exhausted", "WatchSecrets over the limit");
      const watchGrpc = await connectErrorOf(
        (async () => {
          for await (const _ of connectGrpcClient(server.baseUrl, token).watchSecrets({ names })) return;
        })(),
      );
      expect(watchGrpc.code, watchGrpc.rawMessage).toBe(Code.ResourceExhausted);
      // The template's own limit: 200,000 control characters are 200 kB in binary and 1.2 MB as JSON.
      const err = await connectErrorOf(connectGrpcClient(server.baseUrl, token).resolveReferences({ template: fromJson(ValueSchema, "\u0001".repeat(200_000)) }));
      expect([err.code, err.rawMessage]).toEqual([Code.ResourceExhausted, "template is larger than 1048576 bytes"]);
      // RedactText takes up to 4 MiB of text, beyond the general limit; one byte more is its own refusal; far more, the edge's.
      const within = `${"y".repeat(3_000_000)} ${VALUE}`;
      const ok = await json("RedactText", JSON.stringify({ text: within, names: [SECRET] }));
      expect([ok.status, (ok.body as { text?: string }).text?.endsWith(` [REDACTED:${SECRET}]`)]).toEqual([200, true]);
      const over = await json("RedactText", JSON.stringify({ text: "z".repeat(4 * 1024 * 1024 + 1) }));
      expect([over.status, over.body.code, over.body.message]).toEqual([429, "resource_exhausted", "text is larger than 4194304 bytes"]);
      const far = await json("RedactText", JSON.stringify({ text: "z".repeat(6 * 1024 * 1024) }));
      expect([far.status, far.body.code]).toEqual([429, "resource_exhausted"]);
      await stillServing();
    });
  });
});

// ProxyHttpRequest and allowed_hosts, as an outsider sends them: nothing reaches the upstream, the
// secret is unchanged, and the server keeps serving.
describe("hostile input to ProxyHttpRequest and allowed_hosts", () => {
  let server: TestServer;
  let upstream: Upstream;
  let session: http2.ClientHttp2Session;
  let token: string;
  const NAME = "proxy_secret";
  const grpc = (method: string, body: Uint8Array) =>
    rawRequest(session, { path: `${SERVICE}/${method}`, contentType: "application/grpc", body: grpcFrame(body), headers: { authorization: `Bearer ${token}` } });
  const json = async (method: string, body: string) => {
    const res = await fetch(`${server.baseUrl}${SERVICE}/${method}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body });
    return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
  };
  /** The secret as stored, without its last access time (the proxied calls that succeed read it). */
  const secretNow = async () => {
    const { lastAccessTime: _read, ...rest } = (await connectGrpcClient(server.baseUrl, token).getSecret({ name: NAME })).secret!;
    return rest;
  };
  const str = (s: string) => Buffer.from(s);
  const header = (name: Uint8Array, value: Uint8Array) => lengthDelimitedField(3, Buffer.concat([lengthDelimitedField(1, name), lengthDelimitedField(2, value)]));
  let before: Awaited<ReturnType<typeof secretNow>>;

  beforeAll(async () => {
    upstream = await startHttpUpstream();
    const host = `127.0.0.1:${upstream.port}`;
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_proxy_hostile", cache: false, proxy: { allowPrivateHosts: [host], insecureHosts: [host] } });
    session = await connectSession(server.baseUrl);
    token = await server.token("dev_proxy_hostile", "hostile");
    await connectGrpcClient(server.baseUrl, token).createSecret({ name: NAME, value: "proxy-secret-value-1", allowedHosts: [host] });
    before = await secretNow();
  });
  afterAll(async () => {
    closeSession(session);
    await server?.close();
    await upstream?.close();
  });

  const unchanged = async () => {
    expect(upstream.received).toEqual([]);
    expect(await secretNow()).toEqual(before);
    const ok = await connectGrpcClient(server.baseUrl, token).proxyHttpRequest({ method: "GET", url: upstream.url(`/ok?k={{ secrets.${NAME} }}`) });
    expect(ok.status).toBe(200);
    upstream.received.length = 0;
  };

  it("garbage protobuf and invalid UTF-8 answer INVALID_ARGUMENT", async () => {
    for (const bytes of [[0xff, 0xff, 0xff], [0x0a, 0x7f, 0x61], [0x0f, 0x01], [0x1a, 0x05, 0x0a, 0x7f]]) {
      const reply = await grpc("ProxyHttpRequest", Uint8Array.from(bytes));
      expect([reply.grpcStatus, reply.grpcMessage]).toEqual([3, "request is not a valid secrets.v1.ProxyHttpRequestRequest message"]);
    }
    const url = str(`${upstream.url("/")}?k={{ secrets.${NAME} }}`);
    const cases: [string, Buffer][] = [
      ["method", Buffer.concat([lengthDelimitedField(1, INVALID_UTF8), lengthDelimitedField(2, url)])],
      ["url", Buffer.concat([lengthDelimitedField(1, str("GET")), lengthDelimitedField(2, INVALID_UTF8)])],
      ["header name", Buffer.concat([lengthDelimitedField(1, str("GET")), lengthDelimitedField(2, url), header(INVALID_UTF8, str("v"))])],
      ["header value", Buffer.concat([lengthDelimitedField(1, str("GET")), lengthDelimitedField(2, url), header(str("x"), INVALID_UTF8)])],
    ];
    for (const [label, body] of cases) {
      const reply = await grpc("ProxyHttpRequest", body);
      expect(reply.grpcStatus, `${label}: ${reply.grpcMessage}`).toBe(3);
    }
    // allowed_hosts of CreateSecret (field 9) and UpdateSecret (field 10).
    const create = await grpc("CreateSecret", Buffer.concat([lengthDelimitedField(1, str("hostile_new")), lengthDelimitedField(2, str("v")), lengthDelimitedField(9, INVALID_UTF8)]));
    const update = await grpc("UpdateSecret", Buffer.concat([lengthDelimitedField(1, str(NAME)), lengthDelimitedField(10, INVALID_UTF8)]));
    expect([create.grpcStatus, update.grpcStatus]).toEqual([3, 3]);
    await unchanged();
  });

  it("arrays, objects and numbers where strings go are refused by the JSON mapping, naming the field", async () => {
    const url = upstream.url(`/?k={{ secrets.${NAME} }}`);
    const cases: [string, unknown, RegExp][] = [
      ["ProxyHttpRequest", { method: "GET", url: [url] }, /url/],
      ["ProxyHttpRequest", { method: { $ne: null }, url }, /method/],
      ["ProxyHttpRequest", { method: "GET", url, headers: { authorization: "x" } }, /headers/],
      ["ProxyHttpRequest", { method: "GET", url, headers: [{ name: "x", value: { $gt: "" } }] }, /value/],
      ["ProxyHttpRequest", { method: "POST", url, body: 12 }, /body/],
      ["ProxyHttpRequest", { method: "POST", url, body: "not base64!" }, /body/],
      ["ProxyHttpRequest", { method: "GET", url, timeout: { seconds: 1 } }, /timeout|Duration/],
      ["CreateSecret", { name: "hostile_new", value: "v", allowedHosts: "api.example.com" }, /allowed_?[hH]osts/],
      ["UpdateSecret", { name: NAME, allowedHosts: [{ $ne: null }] }, /allowed_?[hH]osts/],
    ];
    for (const [method, body, field] of cases) {
      const res = await json(method, JSON.stringify(body));
      expect(res.status, `${method} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body.code).toBe("invalid_argument");
      expect(res.body.message).toMatch(field);
    }
    await unchanged();
  });

  it("over-long fields name the field and quote at most a bounded piece; an oversize request is RESOURCE_EXHAUSTED", async () => {
    const long = "a".repeat(100_000);
    const url = upstream.url(`/?k={{ secrets.${NAME} }}`);
    const cases: [unknown, RegExp][] = [
      [{ method: "GET", url: `${url}&x=${long}` }, /^url: is longer than 8192 characters$/],
      [{ method: long, url }, /^method: "a+\S{1,3}" is not one of/],
      [{ method: "GET", url, headers: [{ name: long, value: "v" }] }, /^headers\[0\]\.name: /],
      [{ method: "GET", url, headers: [{ name: "x", value: long }] }, /^headers\[0\]\.value: is longer than 16384 characters$/],
    ];
    for (const [body, message] of cases) {
      const res = await json("ProxyHttpRequest", JSON.stringify(body));
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(message);
      expect(res.body.message!.length).toBeLessThanOrEqual(600);
    }
    const allowed = await json("UpdateSecret", JSON.stringify({ name: NAME, allowedHosts: [long] }));
    expect([allowed.status, allowed.body.message!.length <= 600, allowed.body.message!.startsWith("allowed_hosts[0]: ")]).toEqual([400, true, true]);
    const huge = await json("ProxyHttpRequest", JSON.stringify({ method: "POST", url, body: Buffer.alloc(400_000).toString("base64") }));
    expect([huge.status, huge.body.code]).toEqual([429, "resource_exhausted"]);
    await unchanged();
  });
});
