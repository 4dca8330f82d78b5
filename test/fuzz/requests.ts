import { create, fromJson, toBinary, toJson, ScalarType, type DescField, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { REDACT_REQUEST_MAX_BYTES } from "../../src/transport/secrets-handlers.js";
import { grpcFrame, lengthDelimitedField, varint } from "../helpers/raw-http2.js";

// Requests as a hostile or careless client sends them, for every RPC of SecretsService: messages
// built from the request's schema with boundary and hostile values (binary, Connect JSON, gRPC-Web),
// random protobuf fields with invalid UTF-8, truncated and garbage frames, wrong content types,
// Connect JSON with the wrong types, unknown fields and deep nesting, and oversize bodies.

export const METHODS: readonly DescMethod[] = SecretsService.methods;

export type Kind = "schema" | "schema-json" | "schema-web" | "random-proto" | "bad-frame" | "content-type" | "json-types" | "deep" | "oversize";

export interface FuzzRequest {
  readonly kind: Kind;
  readonly method: string;
  readonly contentType: string;
  readonly body: Uint8Array;
  readonly headers: Record<string, string>;
  /** Which token the request carries: the fuzzing tenant's, none, or one with odd claims. */
  readonly token: "good" | "none" | number;
}

/** Names the fuzzing tenant's requests meet again and again, so writes, reads and deletes collide. */
const NAMES = ["fz_a", "fz_b", "fz_c", "Fz_D", "fz_e1"];

const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NAMES) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "", " ", "a", "x".repeat(128), "x".repeat(129), "x".repeat(5_000), "\u0000", "a\u0000b", "é", "😀", "\uffff", "\ud800",
      "../../etc/passwd", "$where", '{"$gt":""}', "$gt", "*", "?", "fz_*", "{{ secrets.fz_a }}", "$ secrets.fz_b",
      "secret://fz_a@1", "secret://fz_a@99999999999999999999", "\r\nx-injected: 1", "%00", "Bearer x", "https://127.0.0.1:1/",
      "http://[::1]/", "https://example.com/?k={{ secrets.fz_a }}", "GET", "CONNECT", "description", "metadata,value", "1e309",
    ),
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,30}$/) },
);

const int32 = fc.oneof(fc.constantFrom(0, 1, -1, 2, 100, 101, 1_000, 2_147_483_647, -2_147_483_648), fc.integer());
const int64 = fc.oneof(
  fc.constantFrom(0n, 1n, -1n, 2n, 3n, 9_007_199_254_740_993n, 9_223_372_036_854_775_807n, -9_223_372_036_854_775_808n),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
);

function scalarArb(type: ScalarType): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return hostileString;
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return fc.oneof(fc.uint8Array({ maxLength: 64 }), hostileString.map((s) => new TextEncoder().encode(s)));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return int64;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.double();
    default:
      return int32;
  }
}

function messageInitArb(schema: DescMessage, depth: number): fc.Arbitrary<Record<string, unknown>> {
  if (schema.typeName === "google.protobuf.Value") {
    return fc.jsonValue({ maxDepth: 4 }).map((v) => fromJson(ValueSchema, v as never) as unknown as Record<string, unknown>);
  }
  if (schema.typeName === "google.protobuf.Timestamp" || schema.typeName === "google.protobuf.Duration") {
    return fc.record({ seconds: fc.oneof(int64, fc.bigInt({ min: -1_000_000n, max: 10_000_000_000n })), nanos: int32 }, { requiredKeys: [] });
  }
  if (schema.typeName === "google.protobuf.FieldMask") {
    return fc.record({ paths: fc.array(fc.oneof(fc.constantFrom("description", "metadata", "value", "ttl", "expire_time", "max_versions", "allowed_hosts"), hostileString), { maxLength: 4 }) });
  }
  const entries: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of schema.fields) {
    const arb = fieldArb(field, depth);
    if (arb) entries[field.localName] = arb;
  }
  return fc.record(entries, { requiredKeys: [] });
}

function fieldArb(field: DescField, depth: number): fc.Arbitrary<unknown> | undefined {
  switch (field.fieldKind) {
    case "scalar":
      return scalarArb(field.scalar);
    case "enum":
      return fc.oneof(fc.constantFrom(...field.enum.values.map((v) => v.number)), int32);
    case "message":
      return depth > 3 ? undefined : messageInitArb(field.message, depth + 1);
    case "list":
      if (field.listKind === "scalar") return fc.array(scalarArb(field.scalar), { maxLength: 6 });
      if (field.listKind === "enum") return fc.array(int32, { maxLength: 4 });
      return depth > 3 ? undefined : fc.array(messageInitArb(field.message, depth + 1), { maxLength: 4 });
    case "map":
      return fc.dictionary(hostileString, field.mapKind === "scalar" ? scalarArb(field.scalar) : fc.constant(undefined), { maxKeys: 5 }).map((d) =>
        Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)),
      );
  }
}

/** A protobuf body of random fields: any number, any wire type, strings that are not UTF-8. */
const randomProto: fc.Arbitrary<Uint8Array> = fc
  .array(
    fc.oneof(
      fc.tuple(fc.integer({ min: 1, max: 20 }), fc.uint8Array({ maxLength: 40 })).map(([n, b]) => lengthDelimitedField(n, b)),
      fc.tuple(fc.integer({ min: 1, max: 20 }), fc.constantFrom(Uint8Array.from([0xff, 0xfe]), Uint8Array.from([0xc3, 0x28]), Uint8Array.from([0xed, 0xa0, 0x80])))
        .map(([n, b]) => lengthDelimitedField(n, b)),
      fc.tuple(fc.integer({ min: 1, max: 2 ** 29 - 1 }), fc.nat()).map(([n, v]) => Buffer.concat([varint(n << 3), varint(v)])),
      fc.tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 9 })).map(([n, wire, b]) => Buffer.concat([varint((n << 3) | wire), b])),
      fc.uint8Array({ minLength: 1, maxLength: 16 }),
    ),
    { maxLength: 8 },
  )
  .map((parts) => Buffer.concat(parts));

const connectTimeout = (method: DescMethod): Record<string, string> =>
  // A WatchSecrets that is accepted stays open: the deadline ends it (DEADLINE_EXCEEDED is an answer).
  method.methodKind === "server_streaming" ? { "grpc-timeout": "300m", "connect-timeout-ms": "300" } : {};

const tokenArb: fc.Arbitrary<FuzzRequest["token"]> = fc.oneof({ weight: 18, arbitrary: fc.constant("good" as const) }, { weight: 1, arbitrary: fc.constant("none" as const) }, { weight: 1, arbitrary: fc.nat({ max: 99 }) });

/** Extra headers a careless client adds: delegation to another tenant, odd request ids. */
const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 10, arbitrary: fc.constant<Record<string, string>>({}) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Record<string, string>>(
      { "x-developer-id": "canary" },
      { "x-developer-id": "" },
      { "x-request-id": "x".repeat(300) },
      { "x-request-id": "\u00e9" },
      { "grpc-timeout": "1n" },
      { "grpc-encoding": "gzip" },
    ),
  },
);

function schemaRequest(method: DescMethod): fc.Arbitrary<Omit<FuzzRequest, "token" | "headers"> & { headers?: Record<string, string> }> {
  const input = method.input;
  return fc.tuple(messageInitArb(input, 0), fc.constantFrom("binary", "json", "web")).map(([init, mode]) => {
    const message = create(input, init as never);
    if (mode === "json") {
      try {
        const json = JSON.stringify(toJson(input, message));
        const streaming = method.methodKind === "server_streaming";
        const body = new TextEncoder().encode(json);
        return { kind: "schema-json" as const, method: method.name, contentType: streaming ? "application/connect+json" : "application/json", body: streaming ? grpcFrame(body) : body };
      } catch {
        // A value JSON cannot carry (a Timestamp out of range): sent as binary instead.
      }
    }
    const frame = grpcFrame(toBinary(input, message));
    return mode === "web"
      ? { kind: "schema-web" as const, method: method.name, contentType: "application/grpc-web+proto", body: frame }
      : { kind: "schema" as const, method: method.name, contentType: "application/grpc", body: frame };
  });
}

const methodArb = fc.constantFrom(...METHODS);

/** JSON whose keys are the request's fields (and some unknown ones) with values of any type. */
function jsonTypes(method: DescMethod): fc.Arbitrary<Uint8Array> {
  const names = method.input.fields.flatMap((f) => [f.jsonName, f.name]);
  return fc
    .dictionary(names.length > 0 ? fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...names) }, { weight: 1, arbitrary: hostileString }) : hostileString, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 })
    .chain((doc) => fc.constantFrom(JSON.stringify(doc), JSON.stringify([doc]), JSON.stringify(doc).slice(0, -1), "null", "", "{", `{"name":"\\ud800"}`))
    .map((text) => new TextEncoder().encode(text));
}

function nested(depth: number): string {
  return `${'{"a":['.repeat(depth)}1${"]}".repeat(depth)}`;
}

export const requestArb: fc.Arbitrary<FuzzRequest> = fc
  .tuple(methodArb, tokenArb, extraHeaders)
  .chain(([method, token, headers]) => {
    const path = method.name;
    const base = { method: path, token, headers: { ...connectTimeout(method), ...headers } };
    return fc.oneof(
      { weight: 200, arbitrary: schemaRequest(method).map((r) => ({ ...base, ...r, headers: { ...base.headers } })) },
      { weight: 60, arbitrary: randomProto.map((b) => ({ ...base, kind: "random-proto" as const, contentType: "application/grpc", body: grpcFrame(b) })) },
      {
        weight: 40,
        arbitrary: fc
          .tuple(randomProto, fc.integer({ min: 0, max: 255 }), fc.integer({ min: -5, max: 5 }), fc.boolean())
          .map(([b, flags, lengthDelta, truncate]) => {
            const frame = grpcFrame(b, flags & 0x7f);
            frame.writeUInt32BE(Math.max(0, b.byteLength + lengthDelta), 1);
            return { ...base, kind: "bad-frame" as const, contentType: "application/grpc", body: truncate ? frame.subarray(0, Math.max(1, frame.byteLength - 3)) : frame };
          }),
      },
      {
        weight: 20,
        arbitrary: fc
          .tuple(fc.constantFrom("text/plain", "application/xml", "application/grpc+json", "application/json; charset=latin1", "application/x-www-form-urlencoded", "multipart/form-data", "application/grpc-web-text", ""), randomProto)
          .map(([contentType, b]) => ({ ...base, kind: "content-type" as const, contentType, body: b })),
      },
      { weight: 60, arbitrary: jsonTypes(method).map((b) => ({ ...base, kind: "json-types" as const, contentType: "application/json", body: b })) },
      {
        weight: 10,
        arbitrary: fc.integer({ min: 50, max: 2_000 }).map((depth) => ({
          ...base,
          kind: "deep" as const,
          contentType: "application/json",
          body: new TextEncoder().encode(method.name === "ResolveReferences" ? `{"template":${nested(depth)}}` : `{"name":${nested(depth)}}`),
        })),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom("application/grpc", "application/json").map((contentType) => {
          // Just over the server's request limit: 256 KiB, or RedactText's own.
          const big = Buffer.alloc(method.name === "RedactText" ? REDACT_REQUEST_MAX_BYTES + 10_000 : 270_000, 0x61);
          const streaming = method.methodKind === "server_streaming";
          if (contentType === "application/grpc") return { ...base, kind: "oversize" as const, contentType, body: grpcFrame(lengthDelimitedField(1, big)) };
          const json = Buffer.from(`{"name":"${big.toString()}"}`);
          // A streaming method takes Connect's enveloped JSON; a unary one plain JSON.
          return streaming
            ? { ...base, kind: "oversize" as const, contentType: "application/connect+json", body: grpcFrame(json) }
            : { ...base, kind: "oversize" as const, contentType, body: json };
        }),
      },
    );
  });
