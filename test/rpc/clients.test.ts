import { Code, ConnectError } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectGrpcClient, connectJson } from "../helpers/clients.js";
import { grpcJsSecretsClient, type GrpcJsSecretsClient } from "../helpers/grpc-js-client.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// One scenario, three independent client stacks against the real server over FerretDB:
// connect's gRPC transport (generated code), @grpc/grpc-js (the .proto loaded at run
// time) and Connect JSON over HTTP/1.1 fetch. Each client works as its own developer.

/** A secret as every client can see it. */
interface SecretView {
  name: string;
  description: string;
  metadata: Record<string, string>;
  latestVersion: number;
  createdBy: string;
  updatedBy: string;
  etag: string;
  createMs: number;
  updateMs: number;
}

interface ValueView {
  name: string;
  version: number;
  value: string;
}

interface ListRequest {
  pageSize?: number;
  pageToken?: string;
  namePrefix?: string;
  metadataFilter?: Record<string, string>;
}

interface UpdateRequest {
  name: string;
  updateMask?: string[];
  description?: string;
  metadata?: Record<string, string>;
  value?: string;
  etag?: string;
}

/** Status names as the Connect protocol spells them. */
type StatusName = "invalid_argument" | "not_found" | "already_exists" | "aborted" | "unauthenticated";

interface SecretsApi {
  create(req: { name: string; value: string; description?: string; metadata?: Record<string, string> }): Promise<SecretView>;
  get(name: string): Promise<SecretView>;
  getValue(name: string, version?: number): Promise<ValueView>;
  list(req: ListRequest): Promise<{ secrets: SecretView[]; nextPageToken: string }>;
  update(req: UpdateRequest): Promise<SecretView>;
  /** The same call without a token. */
  getUnauthenticated(name: string): Promise<unknown>;
  /** Asserts the call fails with `status` as this client surfaces it; returns the message. */
  expectFailure(call: Promise<unknown>, status: StatusName): Promise<string>;
}

const GRPC_CODES: Record<StatusName, number> = {
  invalid_argument: 3,
  not_found: 5,
  already_exists: 6,
  aborted: 10,
  unauthenticated: 16,
};

// Connect protocol: HTTP status for each code.
const HTTP_STATUS: Record<StatusName, number> = {
  invalid_argument: 400,
  not_found: 404,
  already_exists: 409,
  aborted: 409,
  unauthenticated: 401,
};

async function rejection(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

function connectApi(server: TestServer, token: string): SecretsApi {
  const client = connectGrpcClient(server.baseUrl, token);
  type Msg = Awaited<ReturnType<typeof client.getSecret>>["secret"];
  const view = (s: Msg): SecretView => {
    if (!s) throw new Error("response has no secret");
    return {
      name: s.name,
      description: s.description,
      metadata: { ...s.metadata },
      latestVersion: Number(s.latestVersion),
      createdBy: s.createdBy,
      updatedBy: s.updatedBy,
      etag: s.etag,
      createMs: s.createTime ? timestampDate(s.createTime).getTime() : NaN,
      updateMs: s.updateTime ? timestampDate(s.updateTime).getTime() : NaN,
    };
  };
  return {
    create: async (req) => view((await client.createSecret(req)).secret),
    get: async (name) => view((await client.getSecret({ name })).secret),
    async getValue(name, version = 0) {
      const res = await client.getSecretValue({ name, version: BigInt(version) });
      return { name: res.name, version: Number(res.version), value: res.value };
    },
    async list(req) {
      const res = await client.listSecrets(req);
      return { secrets: res.secrets.map(view), nextPageToken: res.nextPageToken };
    },
    async update({ updateMask, ...rest }) {
      const req = { ...rest, ...(updateMask ? { updateMask: { paths: updateMask } } : {}) };
      return view((await client.updateSecret(req)).secret);
    },
    getUnauthenticated: (name) => connectGrpcClient(server.baseUrl, "").getSecret({ name }),
    async expectFailure(call, status) {
      const err = await rejection(call);
      expect(err).toBeInstanceOf(ConnectError);
      const code = (err as ConnectError).code;
      expect(Code[code]).toBe(status.replace(/(^|_)(\w)/g, (_, _sep, c: string) => c.toUpperCase()));
      expect(code).toBe(GRPC_CODES[status]);
      return (err as ConnectError).rawMessage;
    },
  };
}

function grpcJsApi(server: TestServer, client: GrpcJsSecretsClient, token: string): SecretsApi {
  const view = (s: any): SecretView => ({
    name: s.name,
    description: s.description,
    metadata: { ...s.metadata },
    latestVersion: Number(s.latestVersion),
    createdBy: s.createdBy,
    updatedBy: s.updatedBy,
    etag: s.etag,
    createMs: Number(s.createTime.seconds) * 1000 + Math.floor(s.createTime.nanos / 1e6),
    updateMs: Number(s.updateTime.seconds) * 1000 + Math.floor(s.updateTime.nanos / 1e6),
  });
  return {
    create: async (req) => view((await client.call("CreateSecret", req, token)).secret),
    get: async (name) => view((await client.call("GetSecret", { name }, token)).secret),
    async getValue(name, version = 0) {
      const res = await client.call("GetSecretValue", { name, version: String(version) }, token);
      return { name: res.name, version: Number(res.version), value: res.value };
    },
    async list(req) {
      const res = await client.call("ListSecrets", req, token);
      return { secrets: res.secrets.map(view), nextPageToken: res.nextPageToken };
    },
    async update({ updateMask, ...rest }) {
      const req = { ...rest, ...(updateMask ? { updateMask: { paths: updateMask } } : {}) };
      return view((await client.call("UpdateSecret", req, token)).secret);
    },
    getUnauthenticated: (name) => client.call("GetSecret", { name }),
    async expectFailure(call, status) {
      const err = (await rejection(call)) as grpc.ServiceError;
      expect(err.code).toBe(GRPC_CODES[status]);
      expect(grpc.status[err.code]).toBe(status.toUpperCase());
      expect(typeof err.details).toBe("string");
      return err.details;
    },
  };
}

class JsonCallError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(`HTTP ${status}: ${JSON.stringify(body)}`);
  }
}

function connectJsonApi(server: TestServer, token: string): SecretsApi {
  const call = async (method: string, body: unknown, authenticated = true) => {
    const res = await connectJson(server.baseUrl, method, body, authenticated ? token : undefined);
    if (res.status !== 200) throw new JsonCallError(res.status, res.json);
    return res.json as any;
  };
  // Connect JSON is proto3 JSON: defaults are omitted, int64 is a string, timestamps RFC 3339.
  const view = (s: any): SecretView => ({
    name: s.name,
    description: s.description ?? "",
    metadata: { ...(s.metadata ?? {}) },
    latestVersion: Number(s.latestVersion ?? 0),
    createdBy: s.createdBy ?? "",
    updatedBy: s.updatedBy ?? "",
    etag: s.etag ?? "",
    createMs: Date.parse(s.createTime),
    updateMs: Date.parse(s.updateTime),
  });
  return {
    create: async (req) => view((await call("CreateSecret", req)).secret),
    get: async (name) => view((await call("GetSecret", { name })).secret),
    async getValue(name, version = 0) {
      const res = await call("GetSecretValue", { name, version: String(version) });
      return { name: res.name, version: Number(res.version), value: res.value };
    },
    async list(req) {
      const res = await call("ListSecrets", req);
      return { secrets: (res.secrets ?? []).map(view), nextPageToken: res.nextPageToken ?? "" };
    },
    async update({ updateMask, ...rest }) {
      // FieldMask in JSON is one comma-separated string of lowerCamelCase paths.
      const req = { ...rest, ...(updateMask ? { updateMask: updateMask.join(",") } : {}) };
      return view((await call("UpdateSecret", req)).secret);
    },
    getUnauthenticated: (name) => call("GetSecret", { name }, false),
    async expectFailure(pending, status) {
      const err = await rejection(pending);
      expect(err).toBeInstanceOf(JsonCallError);
      const { status: http, body } = err as JsonCallError;
      expect(http).toBe(HTTP_STATUS[status]);
      expect(body.code).toBe(status);
      expect(typeof body.message).toBe("string");
      return body.message as string;
    },
  };
}

describe("the same scenario through three independent clients", () => {
  let server: TestServer;
  let grpcJs: GrpcJsSecretsClient;
  const apis = new Map<string, SecretsApi>();
  const subjects = new Map<string, string>();

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_clients" });
    grpcJs = grpcJsSecretsClient(server.target);
    for (const [label, make] of [
      ["connect-grpc", (t: string) => connectApi(server, t)],
      ["grpc-js", (t: string) => grpcJsApi(server, grpcJs, t)],
      ["connect-json", (t: string) => connectJsonApi(server, t)],
    ] as const) {
      const subject = `${label}-agent`;
      subjects.set(label, subject);
      apis.set(label, make(await server.token(`dev-${label}`, subject)));
    }
  });

  afterAll(async () => {
    grpcJs?.close();
    await server?.close();
  });

  const api = (label: string): SecretsApi => {
    const a = apis.get(label);
    if (!a) throw new Error(`no client ${label}`);
    return a;
  };

  describe.each(["connect-grpc", "grpc-js", "connect-json"])("%s", (label) => {
    it("create → get → value → new version → old and new values → list → update with etag → stale etag", async () => {
      const c = api(label);
      const subject = subjects.get(label);
      const v1 = "pässwörd-🔑-v1";
      const v2 = "second value, v2";

      const created = await c.create({
        name: "api_key",
        value: v1,
        description: "the payment API key",
        metadata: { env: "prod", team: "payments" },
      });
      expect(created).toMatchObject({
        name: "api_key",
        description: "the payment API key",
        metadata: { env: "prod", team: "payments" },
        latestVersion: 1,
        createdBy: subject,
        updatedBy: subject,
      });
      expect(created.etag).not.toBe("");
      expect(created.createMs).toBe(created.updateMs);

      const got = await c.get("api_key");
      expect(got).toEqual(created);

      expect(await c.getValue("api_key")).toEqual({ name: "api_key", version: 1, value: v1 });

      const updated = await c.update({ name: "api_key", value: v2 });
      expect(updated.latestVersion).toBe(2);
      expect(updated.etag).not.toBe(created.etag);
      expect(updated.description).toBe("the payment API key");
      expect(updated.metadata).toEqual({ env: "prod", team: "payments" });
      expect(updated.updateMs).toBeGreaterThanOrEqual(created.updateMs);
      expect(updated.createMs).toBe(created.createMs);

      expect(await c.getValue("api_key", 1)).toEqual({ name: "api_key", version: 1, value: v1 });
      expect(await c.getValue("api_key", 2)).toEqual({ name: "api_key", version: 2, value: v2 });
      expect(await c.getValue("api_key")).toEqual({ name: "api_key", version: 2, value: v2 });

      await c.create({ name: "api_other", value: "o", metadata: { env: "dev", team: "payments" } });
      await c.create({ name: "db_password", value: "d", metadata: { env: "prod" } });
      const names = async (req: ListRequest) => (await c.list(req)).secrets.map((s) => s.name);
      expect(await names({})).toEqual(["api_key", "api_other", "db_password"]);
      expect(await names({ namePrefix: "api" })).toEqual(["api_key", "api_other"]);
      expect(await names({ metadataFilter: { env: "prod" } })).toEqual(["api_key", "db_password"]);
      expect(await names({ metadataFilter: { env: "prod", team: "payments" } })).toEqual(["api_key"]);
      expect(await names({ namePrefix: "db", metadataFilter: { team: "payments" } })).toEqual([]);
      const listed = (await c.list({ namePrefix: "api_key" })).secrets[0];
      expect(listed).toEqual(updated);

      const described = await c.update({
        name: "api_key",
        updateMask: ["description"],
        description: "rotated monthly",
        etag: updated.etag,
      });
      expect(described).toMatchObject({ description: "rotated monthly", latestVersion: 2, metadata: { env: "prod", team: "payments" } });
      expect(described.etag).not.toBe(updated.etag);

      const message = await c.expectFailure(
        c.update({ name: "api_key", updateMask: ["description"], description: "lost update", etag: updated.etag }),
        "aborted",
      );
      expect(message).toMatch(/etag/);
      expect(await c.get("api_key")).toEqual(described);
      const stale = c.update({ name: "api_key", value: "v3 must not land", etag: created.etag });
      await c.expectFailure(stale, "aborted");
      expect(await c.getValue("api_key")).toEqual({ name: "api_key", version: 2, value: v2 });
    });

    it("surfaces NOT_FOUND, ALREADY_EXISTS, INVALID_ARGUMENT and UNAUTHENTICATED as this client's errors", async () => {
      const c = api(label);
      const missing = await c.expectFailure(c.get("never_created"), "not_found");
      expect(missing).toContain("never_created");
      await c.expectFailure(c.getValue("never_created"), "not_found");
      await c.expectFailure(c.update({ name: "never_created", value: "x" }), "not_found");

      await c.create({ name: "dup", value: "first" });
      await c.expectFailure(c.create({ name: "dup", value: "second" }), "already_exists");
      expect((await c.getValue("dup")).value).toBe("first");

      const invalid = await c.expectFailure(c.create({ name: "9lives", value: "x" }), "invalid_argument");
      expect(invalid).toMatch(/^name\b/);
      const badVersion = await c.expectFailure(c.getValue("dup", -1), "invalid_argument");
      expect(badVersion).toMatch(/version/);
      const beyond = await c.expectFailure(c.getValue("dup", 7), "not_found");
      expect(beyond).toContain("dup");

      await c.expectFailure(c.getUnauthenticated("dup"), "unauthenticated");
    });
  });

  it("the three clients see one another's writes for the same developer", async () => {
    const token = await server.token("dev-shared", "shared-agent");
    const viaConnect = connectApi(server, token);
    const viaGrpcJs = grpcJsApi(server, grpcJs, token);
    const viaJson = connectJsonApi(server, token);

    const created = await viaGrpcJs.create({ name: "shared", value: "from grpc-js", metadata: { k: "v" } });
    expect(await viaConnect.get("shared")).toEqual(created);
    expect(await viaJson.get("shared")).toEqual(created);

    const updated = await viaJson.update({ name: "shared", value: "from json", etag: created.etag });
    expect((await viaConnect.getValue("shared")).value).toBe("from json");
    expect((await viaGrpcJs.getValue("shared", 1)).value).toBe("from grpc-js");

    await viaConnect.update({ name: "shared", updateMask: ["metadata"], metadata: {}, etag: updated.etag });
    const cleared = await viaGrpcJs.get("shared");
    expect(cleared.metadata).toEqual({});
    expect(cleared.latestVersion).toBe(2);
    await viaJson.expectFailure(viaJson.update({ name: "shared", value: "late", etag: updated.etag }), "aborted");
  });

  it("one log line per call from every client, none carrying a value", async () => {
    const calls = server.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "call");
    expect(calls.length).toBeGreaterThan(60);
    // api_key, api_other, db_password, dup; then the refused second dup and 9lives.
    const creates = calls.filter((l) => l.method === "secrets.v1.SecretsService/CreateSecret" && l.developer === "dev-grpc-js");
    expect(creates.map((l) => l.code)).toEqual(["ok", "ok", "ok", "ok", "AlreadyExists", "InvalidArgument"]);
    expect(calls.some((l) => l.code === "NotFound" && l.developer === "dev-connect-json")).toBe(true);
    for (const value of ["pässwörd", "second value, v2", "from grpc-js", "from json", "crown"]) {
      expect(server.logLines.filter((l) => l.includes(value))).toEqual([]);
    }
  });
});
