import { randomBytes } from "node:crypto";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CreateSecretRequestSchema,
  CreateSecretResponseSchema,
  GetSecretValueRequestSchema,
  GetSecretValueResponseSchema,
} from "../../gen/secrets/v1/secrets_pb.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// The x-request-id response header, on every routed answer: the client's own id when it is
// printable ASCII of at most 128 characters, otherwise a new UUID; on success and on errors
// alike, for gRPC (initial metadata, as grpc-js reads it) and Connect JSON.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const uniqueName = () => `rid_${randomBytes(6).toString("hex")}`;

interface GrpcReply {
  /** The response's initial metadata (headers), as grpc-js hands it to the caller. */
  readonly header: grpc.Metadata | undefined;
  readonly error: grpc.ServiceError | undefined;
}

describe("x-request-id response header", () => {
  let server: TestServer;
  let token: string;
  let grpcClient: grpc.Client;

  beforeAll(async () => {
    server = await startTestServer({ label: "rid-header" });
    token = await server.token("rid-dev");
    grpcClient = new grpc.Client(server.target, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    grpcClient?.close();
    await server?.close();
  });

  /** One unary call with grpc-js, the messages encoded with the generated schemas. */
  function grpcCall<I extends DescMessage, O extends DescMessage>(
    method: string,
    input: I,
    output: O,
    request: MessageInitShape<I>,
    headers: { requestId?: string; token?: string },
  ): Promise<GrpcReply> {
    const metadata = new grpc.Metadata();
    if (headers.token !== undefined) metadata.set("authorization", `Bearer ${headers.token}`);
    if (headers.requestId !== undefined) metadata.set("x-request-id", headers.requestId);
    return new Promise((resolve) => {
      let header: grpc.Metadata | undefined;
      const call = grpcClient.makeUnaryRequest(
        `/secrets.v1.SecretsService/${method}`,
        (message: MessageInitShape<I>) => Buffer.from(toBinary(input, create(input, message))),
        (bytes: Buffer) => fromBinary(output, bytes),
        request,
        metadata,
        (error) => resolve({ header, error: error ?? undefined }),
      );
      call.on("metadata", (m: grpc.Metadata) => (header = m));
    });
  }
  const getOverGrpc = (name: string, headers: { requestId?: string; token?: string }) =>
    grpcCall("GetSecretValue", GetSecretValueRequestSchema, GetSecretValueResponseSchema, { name }, headers);
  const idOf = (reply: GrpcReply) => reply.header?.get("x-request-id");

  async function postJson(method: string, body: unknown, headers: Record<string, string>): Promise<Response> {
    const res = await fetch(`${server.baseUrl}/secrets.v1.SecretsService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    await res.arrayBuffer();
    return res;
  }
  const auth = () => ({ authorization: `Bearer ${token}` });

  describe("gRPC (grpc-js)", () => {
    it("echoes the client's id on success, as initial metadata", async () => {
      const name = uniqueName();
      const created = await grpcCall("CreateSecret", CreateSecretRequestSchema, CreateSecretResponseSchema, { name, value: "v" }, { token, requestId: "trace-7f3a/step 2" });
      expect(created.error).toBeUndefined();
      expect(idOf(created)).toEqual(["trace-7f3a/step 2"]);
      const read = await getOverGrpc(name, { token, requestId: "read-1" });
      expect(read.error).toBeUndefined();
      expect(idOf(read)).toEqual(["read-1"]);
    });

    it("echoes it on NOT_FOUND and UNAUTHENTICATED", async () => {
      const missing = await getOverGrpc(uniqueName(), { token, requestId: "missing-1" });
      expect(missing.error?.code).toBe(grpc.status.NOT_FOUND);
      expect(idOf(missing)).toEqual(["missing-1"]);
      const anonymous = await getOverGrpc(uniqueName(), { requestId: "anonymous-1" });
      expect(anonymous.error?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(idOf(anonymous)).toEqual(["anonymous-1"]);
    });

    it("generates a distinct UUID per call when none is sent, or one too long", async () => {
      const first = await getOverGrpc(uniqueName(), { token });
      const second = await getOverGrpc(uniqueName(), {});
      const long = await getOverGrpc(uniqueName(), { token, requestId: "r".repeat(200) });
      const ids = [first, second, long].map((r) => String(idOf(r)?.[0]));
      for (const id of ids) expect(id).toMatch(UUID);
      expect(new Set(ids).size).toBe(3);
    });
  });

  describe("Connect JSON (fetch)", () => {
    it("echoes the client's id on success", async () => {
      const name = uniqueName();
      const created = await postJson("CreateSecret", { name, value: "v" }, { ...auth(), "x-request-id": "create-json-1" });
      expect(created.status).toBe(200);
      expect(created.headers.get("x-request-id")).toBe("create-json-1");
      const read = await postJson("GetSecretValue", { name }, { ...auth(), "x-request-id": "a".repeat(128) });
      expect(read.status).toBe(200);
      expect(read.headers.get("x-request-id")).toBe("a".repeat(128));
    });

    it("echoes it on NOT_FOUND, UNAUTHENTICATED and an answer the edge gives before reading the body", async () => {
      const missing = await postJson("GetSecretValue", { name: uniqueName() }, { ...auth(), "x-request-id": "missing-json" });
      expect(missing.status).toBe(404);
      expect(missing.headers.get("x-request-id")).toBe("missing-json");
      const anonymous = await postJson("GetSecretValue", { name: uniqueName() }, { "x-request-id": "anonymous-json" });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get("x-request-id")).toBe("anonymous-json");
      // A declared size over the limit (256 KiB here) is refused by the edge itself.
      const tooLarge = await postJson("CreateSecret", JSON.stringify({ name: uniqueName(), value: "x".repeat(300_000) }), { ...auth(), "x-request-id": "large-json" });
      expect(tooLarge.status).toBe(429);
      expect(tooLarge.headers.get("x-request-id")).toBe("large-json");
    });

    it("generates a distinct UUID when none is sent, or one that is too long, has control characters or is not ASCII", async () => {
      const sent = [undefined, undefined, "r".repeat(129), "r".repeat(200), "tab\there", "café"];
      const ids: string[] = [];
      for (const requestId of sent) {
        const res = await postJson("GetSecretValue", { name: uniqueName() }, { ...auth(), ...(requestId !== undefined ? { "x-request-id": requestId } : {}) });
        expect(res.status).toBe(404);
        ids.push(String(res.headers.get("x-request-id")));
      }
      for (const id of ids) expect(id).toMatch(UUID);
      expect(new Set(ids).size).toBe(sent.length);
    });
  });
});
