import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { services } from "../helpers/services.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// The service as an operator meets it: grpcurl over cleartext HTTP/2, schema from
// server reflection (no .proto files given), against the real server and FerretDB.
// (grpcurl's JSON reader wants a FieldMask as {"paths": [...]}, not the proto3 JSON string.)

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

// grpcurl exits with 64 + the gRPC status code when the call fails.
const EXIT_STATUS_OFFSET = 64;

describe("grpcurl against the real server", () => {
  let server: TestServer;
  let token = "";

  const grpcurl = (...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(services.grpcurl, ["-plaintext", "-max-time", "20", ...args], (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
        resolve({ code, stdout, stderr });
      });
    });

  /** Calls a SecretsService method with a JSON body, authenticated unless told otherwise. */
  const call = (method: string, body: object, auth: string | null = `Bearer ${token}`) =>
    grpcurl(
      ...(auth !== null ? ["-H", `authorization: ${auth}`] : []),
      "-d",
      JSON.stringify(body),
      server.target,
      `secrets.v1.SecretsService/${method}`,
    );

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_grpcurl" });
    token = await server.token("dev-grpcurl", "operator");
  });

  afterAll(async () => {
    await server?.close();
  });

  it("CreateSecret then GetSecretValue returns the value", async () => {
    const created = await call("CreateSecret", {
      name: "openai_key",
      value: "sk-test-ünïcode-🔑",
      description: "made with grpcurl",
      metadata: { env: "prod" },
    });
    expect(created.code, created.stderr).toBe(0);
    const secret = JSON.parse(created.stdout).secret;
    expect(secret).toMatchObject({
      name: "openai_key",
      description: "made with grpcurl",
      metadata: { env: "prod" },
      latestVersion: "1",
      createdBy: "operator",
    });
    expect(created.stdout).not.toContain("sk-test");

    const value = await call("GetSecretValue", { name: "openai_key" });
    expect(value.code, value.stderr).toBe(0);
    expect(JSON.parse(value.stdout)).toMatchObject({ name: "openai_key", version: "1", value: "sk-test-ünïcode-🔑" });
  });

  it("UpdateSecret with a field mask and ListSecrets with a filter", async () => {
    const updated = await call("UpdateSecret", { name: "openai_key", updateMask: { paths: ["value", "description"] }, value: "sk-v2", description: "rotated" });
    expect(updated.code, updated.stderr).toBe(0);
    expect(JSON.parse(updated.stdout).secret).toMatchObject({ latestVersion: "2", description: "rotated", metadata: { env: "prod" } });

    const v1 = await call("GetSecretValue", { name: "openai_key", version: 1 });
    expect(JSON.parse(v1.stdout).value).toBe("sk-test-ünïcode-🔑");

    await call("CreateSecret", { name: "staging_key", value: "s", metadata: { env: "staging" } });
    const listed = await call("ListSecrets", { metadataFilter: { env: "prod" } });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).secrets.map((s: { name: string }) => s.name)).toEqual(["openai_key"]);
  });

  it("without a token the exit code and message show Unauthenticated", async () => {
    const run = await call("GetSecretValue", { name: "openai_key" }, null);
    expect(run.code).toBe(EXIT_STATUS_OFFSET + 16);
    expect(run.stderr).toContain("Code: Unauthenticated");
    expect(run.stdout).not.toContain("sk-");

    const forged = await call("CreateSecret", { name: "planted", value: "x" }, "Bearer not.a.jwt");
    expect(forged.code).toBe(EXIT_STATUS_OFFSET + 16);
    expect(forged.stderr).toContain("Code: Unauthenticated");
  });

  it("other failures carry their codes: NotFound, AlreadyExists, InvalidArgument", async () => {
    const missing = await call("GetSecret", { name: "nope" });
    expect(missing.code).toBe(EXIT_STATUS_OFFSET + 5);
    expect(missing.stderr).toContain("Code: NotFound");

    const duplicate = await call("CreateSecret", { name: "openai_key", value: "again" });
    expect(duplicate.code).toBe(EXIT_STATUS_OFFSET + 6);
    expect(duplicate.stderr).toContain("Code: AlreadyExists");

    const invalid = await call("CreateSecret", { name: "bad-name", value: "x" });
    expect(invalid.code).toBe(EXIT_STATUS_OFFSET + 3);
    expect(invalid.stderr).toContain("Code: InvalidArgument");
    expect(invalid.stderr).toMatch(/Message: name\b/);
  });

  it("describes secrets.v1.SecretsService.CreateSecret without a token", async () => {
    const run = await grpcurl(server.target, "describe", "secrets.v1.SecretsService.CreateSecret");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("secrets.v1.SecretsService.CreateSecret is a method");
    expect(run.stdout).toMatch(/rpc CreateSecret \( \.secrets\.v1\.CreateSecretRequest \) returns \( \.secrets\.v1\.CreateSecretResponse \)/);

    const request = await grpcurl(server.target, "describe", "secrets.v1.UpdateSecretRequest");
    expect(request.code, request.stderr).toBe(0);
    expect(request.stdout).toContain(".google.protobuf.FieldMask update_mask");
    expect(request.stdout).toMatch(/optional string value = 5/);
  });
});
