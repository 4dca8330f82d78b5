import { execFile } from "node:child_process";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { homedir } from "node:os";
import path from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { file_grpc_reflection_v1_reflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_health_v1_health } from "../../gen/health/v1/health_pb.js";
import { file_secrets_v1_secrets } from "../../gen/secrets/v1/secrets_pb.js";
import { HealthState, healthRoutes } from "../../src/transport/health.js";
import { answerReflection, indexDescriptors } from "../../src/transport/reflection-index.js";
import { reflectionRoutes } from "../../src/transport/reflection.js";

const GRPCURL = process.env.GRPCURL ?? path.join(homedir(), ".cache/secrets-service/bin/grpcurl");
const NODE_MODULES = path.resolve(import.meta.dirname, "../../node_modules");
const LOADER_OPTIONS: protoLoader.Options = { enums: String, defaults: true, oneofs: true };

const reflectionDef = protoLoader.loadSync("grpc/reflection/v1alpha/reflection.proto", {
  ...LOADER_OPTIONS,
  includeDirs: [path.join(NODE_MODULES, "@grpc/reflection/build/proto")],
});
const healthDef = protoLoader.loadSync("health/v1/health.proto", {
  ...LOADER_OPTIONS,
  includeDirs: [path.join(NODE_MODULES, "grpc-health-check/proto")],
});

const served = [
  file_secrets_v1_secrets,
  file_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_grpc_reflection_v1alpha_reflection,
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function grpcurl(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(GRPCURL, ["-plaintext", "-max-time", "10", ...args], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

function methodOf(def: protoLoader.PackageDefinition, service: string, method: string) {
  const svc = def[service] as grpc.ServiceDefinition | undefined;
  const m = svc?.[method];
  if (m === undefined) throw new Error(`no ${service}/${method} in loaded protos`);
  return m;
}

async function waitFor(check: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("health and reflection over a real HTTP/2 server", () => {
  const state = new HealthState();
  const calledServices: string[] = [];
  const recordService: Interceptor = (next) => (req) => {
    calledServices.push(req.service.typeName);
    return next(req);
  };
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (r) => {
        healthRoutes(state)(r);
        reflectionRoutes(served)(r);
      },
      interceptors: [recordService],
    }),
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  const clients: grpc.Client[] = [];
  let address = "";

  const client = () => {
    const c = new grpc.Client(address, grpc.credentials.createInsecure());
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  });

  describe("grpcurl", () => {
    it("lists the served services and negotiates reflection v1", async () => {
      calledServices.length = 0;
      const run = await grpcurl(address, "list");
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      const services = run.stdout.trim().split("\n");
      expect(services).toEqual(
        expect.arrayContaining([
          "secrets.v1.SecretsService",
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection",
        ]),
      );
      expect(calledServices).toContain("grpc.reflection.v1.ServerReflection");
      expect(calledServices).not.toContain("grpc.reflection.v1alpha.ServerReflection");
    });

    it("describes a service and a message", async () => {
      const service = await grpcurl(address, "describe", "secrets.v1.SecretsService");
      expect(service.code, service.stderr).toBe(0);
      expect(service.stdout).toContain("secrets.v1.SecretsService is a service");
      expect(service.stdout).toMatch(/rpc CreateSecret \( \.secrets\.v1\.CreateSecretRequest \)/);

      const message = await grpcurl(address, "describe", "secrets.v1.Secret");
      expect(message.code, message.stderr).toBe(0);
      expect(message.stdout).toContain("secrets.v1.Secret is a message");
      expect(message.stdout).toContain("google.protobuf.Timestamp");
    });

    it("describes a method and a nested enum", async () => {
      const method = await grpcurl(address, "describe", "grpc.health.v1.Health.Watch");
      expect(method.code, method.stderr).toBe(0);
      expect(method.stdout).toContain("is a method");

      const nested = await grpcurl(address, "describe", "grpc.health.v1.HealthCheckResponse.ServingStatus");
      expect(nested.code, nested.stderr).toBe(0);
      expect(nested.stdout).toContain("SERVICE_UNKNOWN");
    });

    it("checks health: SERVING, then NOT_SERVING, and NotFound for unknown services", async () => {
      const check = (service: string) =>
        grpcurl("-d", JSON.stringify({ service }), address, "grpc.health.v1.Health/Check");

      const serving = await check("");
      expect(serving.code, serving.stderr).toBe(0);
      expect(JSON.parse(serving.stdout)).toEqual({ status: "SERVING" });

      state.setStatus("", "NOT_SERVING");
      try {
        const notServing = await check("");
        expect(JSON.parse(notServing.stdout)).toEqual({ status: "NOT_SERVING" });
      } finally {
        state.setStatus("", "SERVING");
      }

      const unknown = await check("no.such.Service");
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toContain("Code: NotFound");
    });

    it("lists health statuses", async () => {
      state.setStatus("secrets.v1.SecretsService", "SERVING");
      const run = await grpcurl(address, "grpc.health.v1.Health/List");
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout).statuses).toMatchObject({
        "": { status: "SERVING" },
        "secrets.v1.SecretsService": { status: "SERVING" },
      });
    });
  });

  describe("grpc-js client", () => {
    /** Sends all requests on one v1alpha stream and collects the answers in order. */
    function reflectV1alpha(requests: object[]): Promise<Record<string, any>[]> {
      const m = methodOf(reflectionDef, "grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo");
      const call = client().makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize);
      const answers: Record<string, any>[] = [];
      return new Promise((resolve, reject) => {
        call.on("data", (a: Record<string, any>) => answers.push(a));
        call.on("error", reject);
        call.on("end", () => resolve(answers));
        for (const r of requests) call.write(r);
        call.end();
      });
    }

    it("answers v1alpha list_services and file_containing_symbol", async () => {
      calledServices.length = 0;
      const [list, symbol, missing] = await reflectV1alpha([
        { listServices: "*" },
        { fileContainingSymbol: "secrets.v1.Secret" },
        { fileContainingSymbol: "secrets.v1.NoSuchThing" },
      ]);
      expect(calledServices).toEqual(["grpc.reflection.v1alpha.ServerReflection"]);

      expect(list?.messageResponse).toBe("listServicesResponse");
      const names = list?.listServicesResponse.service.map((s: { name: string }) => s.name);
      expect(names).toEqual([
        "secrets.v1.SecretsService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]);

      expect(symbol?.messageResponse).toBe("fileDescriptorResponse");
      expect(symbol?.originalRequest.fileContainingSymbol).toBe("secrets.v1.Secret");
      const files = (symbol?.fileDescriptorResponse.fileDescriptorProto as Buffer[]).map((b) =>
        fromBinary(FileDescriptorProtoSchema, b),
      );
      expect(files[0]?.name).toBe("secrets/v1/secrets.proto");
      expect(files[0]?.messageType.map((t) => t.name)).toContain("Secret");
      expect(files.map((f) => f.name)).toEqual(
        expect.arrayContaining(["google/protobuf/timestamp.proto", "google/protobuf/field_mask.proto"]),
      );

      expect(missing?.messageResponse).toBe("errorResponse");
      expect(missing?.errorResponse.errorCode).toBe(grpc.status.NOT_FOUND);
    });

    it("streams Watch: SERVING, then NOT_SERVING, and cleans up on cancel", async () => {
      const service = "watch.test.Service";
      state.setStatus(service, "SERVING");
      const m = methodOf(healthDef, "grpc.health.v1.Health", "Watch");
      const before = state.subscriberCount;
      const call = client().makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, {
        service,
      });
      const seen: string[] = [];
      call.on("data", (r: { status: string }) => seen.push(r.status));
      call.on("error", () => {}); // cancellation surfaces as CANCELLED here

      await waitFor(() => seen.length === 1);
      expect(seen).toEqual(["SERVING"]);
      state.setStatus(service, "NOT_SERVING");
      await waitFor(() => seen.length === 2);
      expect(seen).toEqual(["SERVING", "NOT_SERVING"]);

      call.cancel();
      await waitFor(() => state.subscriberCount === before);
    });

    it("Watch of an unknown service reports SERVICE_UNKNOWN and keeps watching", async () => {
      const service = "late.test.Service";
      const m = methodOf(healthDef, "grpc.health.v1.Health", "Watch");
      const call = client().makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, {
        service,
      });
      const seen: string[] = [];
      call.on("data", (r: { status: string }) => seen.push(r.status));
      call.on("error", () => {});

      await waitFor(() => seen.length === 1);
      expect(seen).toEqual(["SERVICE_UNKNOWN"]);
      state.setStatus(service, "SERVING");
      await waitFor(() => seen.length === 2);
      expect(seen).toEqual(["SERVICE_UNKNOWN", "SERVING"]);
      call.cancel();
    });
  });

  describe("shutdown", () => {
    it("setAllNotServing flips every service, ends Watch streams and ignores later setStatus", async () => {
      const service = "drain.test.Service";
      state.setStatus(service, "SERVING");
      const m = methodOf(healthDef, "grpc.health.v1.Health", "Watch");
      const call = client().makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, {
        service,
      });
      const seen: string[] = [];
      call.on("data", (r: { status: string }) => seen.push(r.status));
      const ended = new Promise<grpc.StatusObject>((resolve, reject) => {
        call.on("status", resolve);
        call.on("error", reject);
      });
      await waitFor(() => seen.length === 1);

      state.setAllNotServing();
      state.setStatus("", "SERVING");
      expect((await ended).code).toBe(grpc.status.OK);
      expect(seen).toEqual(["SERVING", "NOT_SERVING"]);
      await waitFor(() => state.subscriberCount === 0);

      const run = await grpcurl("-d", "{}", address, "grpc.health.v1.Health/Check");
      expect(JSON.parse(run.stdout)).toEqual({ status: "NOT_SERVING" });
      expect(state.entries().every(([, status]) => status === "NOT_SERVING")).toBe(true);
    });
  });
});

describe("reflection index", () => {
  const index = indexDescriptors(served);
  const fileFor = (symbol: string) => {
    const a = answerReflection(index, { case: "fileContainingSymbol", value: symbol });
    if (a.case !== "fileDescriptorResponse") return a.case;
    const first = a.value.fileDescriptorProto[0];
    return first && fromBinary(FileDescriptorProtoSchema, first).name;
  };

  it("finds the file of every kind of symbol", () => {
    expect(fileFor("secrets.v1.SecretsService")).toBe("secrets/v1/secrets.proto");
    expect(fileFor("secrets.v1.SecretsService.CreateSecret")).toBe("secrets/v1/secrets.proto");
    expect(fileFor("secrets.v1.Secret.name")).toBe("secrets/v1/secrets.proto");
    expect(fileFor(".secrets.v1.Secret")).toBe("secrets/v1/secrets.proto");
    expect(fileFor("grpc.health.v1.HealthListResponse.StatusesEntry")).toBe("health/v1/health.proto");
    expect(fileFor("grpc.health.v1.HealthCheckResponse.SERVING")).toBe("health/v1/health.proto");
    expect(fileFor("grpc.reflection.v1.ServerReflectionRequest.message_request")).toBe(
      "grpc/reflection/v1/reflection.proto",
    );
    expect(fileFor("google.protobuf.Timestamp")).toBe("google/protobuf/timestamp.proto");
    expect(fileFor("secrets.v1")).toBe("errorResponse");
  });

  it("serves files by name with their imports, and NOT_FOUND otherwise", () => {
    const hit = answerReflection(index, { case: "fileByFilename", value: "secrets/v1/secrets.proto" });
    // The file itself, then each of its imports once.
    expect(hit.case === "fileDescriptorResponse" && hit.value.fileDescriptorProto.length).toBe(1 + file_secrets_v1_secrets.dependencies.length);
    const miss = answerReflection(index, { case: "fileByFilename", value: "nope.proto" });
    expect(miss).toEqual({ case: "errorResponse", value: { errorCode: 5, errorMessage: "file not found: nope.proto" } });
  });

  it("answers extension queries", () => {
    expect(answerReflection(index, { case: "allExtensionNumbersOfType", value: "secrets.v1.Secret" })).toEqual({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "secrets.v1.Secret", extensionNumber: [] },
    });
    expect(answerReflection(index, { case: "allExtensionNumbersOfType", value: "no.Such" }).case).toBe(
      "errorResponse",
    );
    const ext = answerReflection(index, {
      case: "fileContainingExtension",
      value: { containingType: "secrets.v1.Secret", extensionNumber: 100 },
    });
    expect(ext.case === "errorResponse" && ext.value.errorCode).toBe(5);
    expect(answerReflection(index, { case: undefined }).case).toBe("errorResponse");
  });
});
