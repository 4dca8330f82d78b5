import type * as http2 from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CreateSecretRequestSchema,
  GetSecretValueRequestSchema,
  GetSecretValueResponseSchema,
  ListSecretsRequestSchema,
  ListSecretsResponseSchema,
} from "../../gen/secrets/v1/secrets_pb.js";
import { closeSession, connectSession, grpcFrame, lengthDelimitedField, rawRequest, type RawReply } from "../helpers/raw-http2.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Malformed input as an outsider sends it, on raw HTTP/2 streams and plain fetch: every
// malformed request gets INVALID_ARGUMENT (HTTP 400 for Connect) naming what is wrong,
// nothing is stored, every rejected call gets its log line, and values that are valid
// read back byte for byte.

const SERVICE = "/secrets.v1.SecretsService";
const GARBAGE: [label: string, bytes: number[]][] = [
  ["three 0xff bytes", [0xff, 0xff, 0xff]],
  ["a length running past the end", [0x0a, 0x7f, 0x61]],
  ["an invalid wire type", [0x0f, 0x01]],
  ["a varint that never ends", [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  ["field number 0", [0x02, 0x01, 0x61]],
];
const INVALID_UTF8 = Buffer.from([0x6b, 0x65, 0x79, 0xff, 0xfe]); // "key" + two bytes no UTF-8 text holds

describe("malformed requests at the edge", () => {
  let server: TestServer;
  let session: http2.ClientHttp2Session;
  let token: string;
  const grpc = (method: string, body: Uint8Array, contentType = "application/grpc") =>
    rawRequest(session, { path: `${SERVICE}/${method}`, contentType, body, headers: { authorization: `Bearer ${token}` } });
  const fetchRaw = (method: string, body: Uint8Array | string, contentType: string) =>
    fetch(`${server.baseUrl}${SERVICE}/${method}`, {
      method: "POST",
      headers: { "content-type": contentType, authorization: `Bearer ${token}` },
      body: typeof body === "string" ? body : Buffer.from(body),
    });
  const listNames = async () => {
    const reply = await grpc("ListSecrets", grpcFrame(toBinary(ListSecretsRequestSchema, create(ListSecretsRequestSchema, {}))));
    expect(reply.grpcStatus).toBe(0);
    return fromBinary(ListSecretsResponseSchema, reply.body.subarray(5)).secrets.map((s) => s.name);
  };
  const expectInvalid = (reply: RawReply, message: RegExp) => {
    expect(reply.grpcStatus, reply.grpcMessage).toBe(3);
    expect(reply.grpcMessage).toMatch(message);
    expect(reply.rstCode).toBe(0);
  };

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_malformed" });
    session = await connectSession(server.baseUrl);
    token = await server.token("dev_malformed");
  });
  afterAll(async () => {
    if (session) await closeSession(session);
    await server?.close();
  });

  it("garbage protobuf in a gRPC frame answers INVALID_ARGUMENT naming the message type, on every method tried", async () => {
    for (const [label, bytes] of GARBAGE) {
      for (const [method, type] of [
        ["CreateSecret", "secrets.v1.CreateSecretRequest"],
        ["GetSecretValue", "secrets.v1.GetSecretValueRequest"],
        ["BatchGetSecretValues", "secrets.v1.BatchGetSecretValuesRequest"],
      ] as const) {
        const reply = await grpc(method, grpcFrame(Uint8Array.from(bytes)));
        expect(reply.grpcStatus, `${label} to ${method}: ${reply.grpcMessage}`).toBe(3);
        expect(reply.grpcMessage).toBe(`request is not a valid ${type} message`);
      }
    }
    const health = await rawRequest(session, { path: "/grpc.health.v1.Health/Check", contentType: "application/grpc", body: grpcFrame(Uint8Array.from([0xff, 0xff])) });
    expectInvalid(health, /^request is not a valid grpc\.health\.v1\.HealthCheckRequest message$/);
  });

  it("garbage protobuf in a gRPC-Web frame answers INVALID_ARGUMENT, over HTTP/2 and over HTTP/1.1", async () => {
    const reply = await grpc("GetSecretValue", grpcFrame(Uint8Array.from([0xff, 0xff, 0xff])), "application/grpc-web+proto");
    expect(reply.status).toBe(200);
    expectInvalid(reply, /^request is not a valid secrets\.v1\.GetSecretValueRequest message$/);

    const res = await fetchRaw("GetSecretValue", grpcFrame(Uint8Array.from([0xff, 0xff, 0xff])), "application/grpc-web+proto");
    const body = Buffer.from(await res.arrayBuffer());
    const trailer = body.subarray(5).toString("utf8");
    expect(body[0]).toBe(0x80);
    expect(trailer).toMatch(/grpc-status: ?3/);
    expect(decodeURIComponent(trailer)).toContain("request is not a valid secrets.v1.GetSecretValueRequest message");
  });

  it("invalid UTF-8 in a proto string field answers INVALID_ARGUMENT and stores nothing", async () => {
    const inValue = Buffer.concat([lengthDelimitedField(1, Buffer.from("utf8_probe")), lengthDelimitedField(2, INVALID_UTF8)]);
    expectInvalid(await grpc("CreateSecret", grpcFrame(inValue)), /^request is not a valid secrets\.v1\.CreateSecretRequest message$/);
    const inName = Buffer.concat([lengthDelimitedField(1, INVALID_UTF8), lengthDelimitedField(2, Buffer.from("v"))]);
    expectInvalid(await grpc("CreateSecret", grpcFrame(inName)), /CreateSecretRequest/);
    const inMetadataKey = Buffer.concat([
      lengthDelimitedField(1, Buffer.from("utf8_probe")),
      lengthDelimitedField(2, Buffer.from("v")),
      lengthDelimitedField(4, Buffer.concat([lengthDelimitedField(1, INVALID_UTF8), lengthDelimitedField(2, Buffer.from("x"))])),
    ]);
    expectInvalid(await grpc("CreateSecret", grpcFrame(inMetadataKey)), /CreateSecretRequest/);
    expect(await listNames()).not.toContain("utf8_probe");
  });

  it("Connect unary with application/proto and a body that is no message answers HTTP 400 invalid_argument", async () => {
    const res = await fetchRaw("GetSecretValue", Uint8Array.from([0xff, 0xff, 0xff]), "application/proto");
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: "invalid_argument", message: "request is not a valid secrets.v1.GetSecretValueRequest message" });
    const overH2 = await rawRequest(session, {
      path: `${SERVICE}/CreateSecret`,
      contentType: "application/proto",
      body: Buffer.concat([lengthDelimitedField(1, Buffer.from("proto_probe")), lengthDelimitedField(2, INVALID_UTF8)]),
      headers: { authorization: `Bearer ${token}` },
    });
    expect(overH2.status).toBe(400);
    expect(JSON.parse(overH2.body.toString("utf8"))).toMatchObject({ code: "invalid_argument" });
    expect(await listNames()).not.toContain("proto_probe");
  });

  it("Connect JSON whose body is not well-formed UTF-8 answers INVALID_ARGUMENT and stores nothing", async () => {
    const body = Buffer.concat([Buffer.from('{"name":"json_utf8_probe","value":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const res = await fetchRaw("CreateSecret", body, "application/json");
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: "invalid_argument", message: "request body is not valid UTF-8" });
    // A lone surrogate half encoded as UTF-8 bytes (CESU style) is not UTF-8 either.
    const cesu = Buffer.concat([Buffer.from('{"name":"json_utf8_probe","value":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    expect((await fetchRaw("CreateSecret", cesu, "application/json")).status).toBe(400);
    expect(await listNames()).not.toContain("json_utf8_probe");
    // The same name with a valid body is stored as sent.
    const ok = await fetchRaw("CreateSecret", JSON.stringify({ name: "json_utf8_probe", value: "\ufffd\ufffd" }), "application/json");
    expect(ok.status).toBe(200);
    expect(await listNames()).toContain("json_utf8_probe");
  });

  it("values read back byte for byte, whichever encoding wrote and read them", async () => {
    const values = [
      "\ufffd\ufffd", // U+FFFD sent as such is text, not damage
      "\ufeffstarts with a byte-order mark",
      "nul\u0000inside",
      "emoji 🔑 and 𝄞 outside the BMP",
      "e\u0301 combining, \u200b zero width",
      "x".repeat(65_536),
    ];
    for (const [i, value] of values.entries()) {
      const viaJson = `bytes_json_${i}`;
      expect((await fetchRaw("CreateSecret", JSON.stringify({ name: viaJson, value }), "application/json")).status).toBe(200);
      const read = await grpc("GetSecretValue", grpcFrame(toBinary(GetSecretValueRequestSchema, create(GetSecretValueRequestSchema, { name: viaJson }))));
      expect(read.grpcStatus, read.grpcMessage).toBe(0);
      expect(Buffer.from(fromBinary(GetSecretValueResponseSchema, read.body.subarray(5)).value, "utf8").equals(Buffer.from(value, "utf8"))).toBe(true);

      const viaProto = `bytes_proto_${i}`;
      const created = await grpc("CreateSecret", grpcFrame(toBinary(CreateSecretRequestSchema, create(CreateSecretRequestSchema, { name: viaProto, value }))));
      expect(created.grpcStatus, created.grpcMessage).toBe(0);
      const res = await fetchRaw("GetSecretValue", JSON.stringify({ name: viaProto }), "application/json");
      const raw = Buffer.from(await res.arrayBuffer());
      expect(Buffer.from((JSON.parse(raw.toString("utf8")) as { value: string }).value, "utf8").equals(Buffer.from(value, "utf8"))).toBe(true);
    }
  });

  it("unknown JSON fields answer INVALID_ARGUMENT naming the field, and change nothing", async () => {
    await fetchRaw("CreateSecret", JSON.stringify({ name: "typo_probe", value: "v1", description: "before" }), "application/json");
    const typo = await fetchRaw("UpdateSecret", JSON.stringify({ name: "typo_probe", update_mask: "description", descripton: "after" }), "application/json");
    expect(typo.status).toBe(400);
    const body = (await typo.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toContain('"descripton"');
    const versions = await fetchRaw("ListSecretVersions", JSON.stringify({ name: "typo_probe", max_version: 3 }), "application/json");
    expect(versions.status).toBe(400);
    expect(((await versions.json()) as { message: string }).message).toContain('"max_version"');
    const got = await fetchRaw("GetSecret", JSON.stringify({ name: "typo_probe" }), "application/json");
    expect(((await got.json()) as { secret: { description: string } }).secret.description).toBe("before");
    // A huge unknown key is named, not echoed at length.
    const huge = await fetchRaw("GetSecret", JSON.stringify({ name: "typo_probe", ["k".repeat(100_000)]: 1 }), "application/json");
    expect(huge.status).toBe(400);
    expect(((await huge.json()) as { message: string }).message.length).toBeLessThanOrEqual(513);
  });

  it("an error quoting input cuts it at a character boundary, never inside a surrogate pair", async () => {
    const key = `k${"🔑".repeat(100)}`; // not a valid key; cutting it by UTF-16 units would split a pair
    const reply = await grpc("CreateSecret", grpcFrame(toBinary(CreateSecretRequestSchema, create(CreateSecretRequestSchema, { name: "quoted_probe", value: "v", metadata: { [key]: "x" } }))));
    expect(reply.grpcStatus, reply.grpcMessage).toBe(3);
    expect(reply.grpcMessage!.isWellFormed()).toBe(true);
    expect(reply.grpcMessage).toContain("metadata: key");
    expect(reply.grpcMessage!.length).toBeLessThan(400);
    const json = await fetchRaw("UpdateSecret", JSON.stringify({ name: "quoted_probe", update_mask: `d${"𝄞".repeat(100)}` }), "application/json");
    const text = Buffer.from(await json.arrayBuffer()).toString("utf8");
    expect(json.status).toBe(400);
    expect(text).not.toContain("\ufffd");
    expect((JSON.parse(text) as { message: string }).message.isWellFormed()).toBe(true);
  });

  it("binary requests keep ignoring unknown fields, as protobuf's rules say", async () => {
    await fetchRaw("CreateSecret", JSON.stringify({ name: "unknown_field_probe", value: "kept" }), "application/json");
    const known = toBinary(GetSecretValueRequestSchema, create(GetSecretValueRequestSchema, { name: "unknown_field_probe" }));
    const reply = await grpc("GetSecretValue", grpcFrame(Buffer.concat([known, lengthDelimitedField(99, Buffer.from("from a newer client"))])));
    expect(reply.grpcStatus, reply.grpcMessage).toBe(0);
    expect(fromBinary(GetSecretValueResponseSchema, reply.body.subarray(5)).value).toBe("kept");
  });

  it("every rejected call gets its one log line, with its code, and the server keeps serving", async () => {
    const count = () => server.logLines.filter((l) => l.includes('"method":"secrets.v1.SecretsService/RestoreSecret"') && l.includes('"code":"InvalidArgument"')).length;
    const before = count();
    for (let i = 0; i < 5; i++) await grpc("RestoreSecret", grpcFrame(Uint8Array.from([0xff, 0xff, 0xff])));
    for (let i = 0; i < 3; i++) await fetchRaw("RestoreSecret", Buffer.from([0x7b, 0xff, 0x7d]), "application/json");
    // The line is written when the response is done; wait for it, not for a fixed time.
    while (count() < before + 8) await sleep(10);
    await sleep(50);
    expect(count()).toBe(before + 8);
    expect(await listNames()).toContain("json_utf8_probe");
  });
});
