import type * as http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeSession, connectSession, grpcFrame, lengthDelimitedField, rawRequest, type RawReply } from "../helpers/raw-http2.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Hostile input to the RPCs of the access work (CreateTaskToken, RevokeTaskToken, ListAuditEvents,
// RunMaintenance), as an outsider sends it: garbage frames, invalid UTF-8, arrays and objects where
// strings go, oversize and over-long fields. Each answers INVALID_ARGUMENT (or RESOURCE_EXHAUSTED),
// never quotes more than a bounded piece of the input, the server keeps serving, and no task token
// record is written.

const SERVICE = "/secrets.v1.SecretsService";
const METHODS = ["CreateTaskToken", "RevokeTaskToken", "ListAuditEvents", "RunMaintenance"] as const;
const INVALID_UTF8 = Buffer.from([0x6b, 0xff, 0xfe]);

describe("hostile input to the access RPCs", () => {
  let server: TestServer;
  let session: http2.ClientHttp2Session;
  let token: string;
  let raw: RawDb;
  const grpc = (method: string, body: Uint8Array) =>
    rawRequest(session, { path: `${SERVICE}/${method}`, contentType: "application/grpc", body: grpcFrame(body), headers: { authorization: `Bearer ${token}` } });
  const json = async (method: string, body: string) => {
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
});
