import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { grpcErrorOf, grpcJsSecretsClient, type GrpcJsSecretsClient } from "../helpers/grpc-js-client.js";
import { connectErrorOf } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Identity over the real server: `authorization: Bearer <JWT>`, HS256 only.
// Every bad credential answers UNAUTHENTICATED on every protocol and changes nothing.

const now = () => Math.floor(Date.now() / 1000);
const encode = (secret: string) => new TextEncoder().encode(secret);

/** A SecretsService client that sends `authorization` exactly as given (or not at all). */
function clientWithHeader(baseUrl: string, authorization: string | undefined): Client<typeof SecretsService> {
  const transport = createGrpcTransport({
    baseUrl,
    interceptors: [
      (next) => (req) => {
        if (authorization !== undefined) req.header.set("authorization", authorization);
        return next(req);
      },
    ],
  });
  return createClient(SecretsService, transport);
}

async function jsonCall(baseUrl: string, method: string, body: unknown, authorization: string | undefined) {
  const res = await fetch(`${baseUrl}/secrets.v1.SecretsService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(authorization !== undefined ? { authorization } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe("authentication", () => {
  let server: TestServer;
  let grpcJs: GrpcJsSecretsClient;
  const badHeaders: [label: string, header: string | undefined][] = [];
  const usedTokens: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_auth" });
    grpcJs = grpcJsSecretsClient(server.target);
    const secret = encode(server.jwtSecret);
    const claims = { developer_id: "dev-victim" };
    const sign = (jwt: SignJWT, key = secret, alg = "HS256") => jwt.setProtectedHeader({ alg, typ: "JWT" }).sign(key);

    const valid = await server.token("dev-victim", "victim");
    const [header, , signature] = valid.split(".");
    const forgedPayload = Buffer.from(JSON.stringify({ sub: "mallory", developer_id: "dev-victim", exp: now() + 3600 })).toString("base64url");
    const tokens: [string, string][] = [
      ["expired", await sign(new SignJWT(claims).setSubject("victim").setIssuedAt(now() - 7200).setExpirationTime(now() - 3600))],
      ["not yet valid (nbf in an hour)", await sign(new SignJWT(claims).setSubject("victim").setNotBefore(now() + 3600).setExpirationTime(now() + 7200))],
      ["signed with another secret", await sign(new SignJWT(claims).setSubject("victim").setExpirationTime("1h"), encode("not-the-server-secret"))],
      ['alg "none" (unsecured)', new UnsecuredJWT(claims).setSubject("victim").setExpirationTime("1h").encode()],
      ["HS512 with the right secret (algorithm not allowed)", await sign(new SignJWT(claims).setSubject("victim").setExpirationTime("1h"), secret, "HS512")],
      ["payload swapped under a valid signature", `${header}.${forgedPayload}.${signature}`],
      ["no sub claim", await sign(new SignJWT(claims).setExpirationTime("1h"))],
      ["not a JWT", "not.a.jwt"],
      ["signature stripped", `${header}.${valid.split(".")[1]}.`],
    ];
    usedTokens.push(valid, ...tokens.map(([, t]) => t));
    badHeaders.push(
      ["missing header", undefined],
      ["empty header", ""],
      ["Bearer without token", "Bearer "],
      ["another scheme", `Basic ${Buffer.from("victim:pw").toString("base64")}`],
      ["token without the Bearer scheme", valid],
      ["two tokens", `Bearer ${valid} ${valid}`],
      ...tokens.map(([label, token]) => [`Bearer token: ${label}`, `Bearer ${token}`] as [string, string]),
    );
  });

  afterAll(async () => {
    grpcJs?.close();
    await server?.close();
  });

  it("a valid token works on every protocol (the control case)", async () => {
    const token = await server.token("dev-victim", "victim");
    const created = await clientWithHeader(server.baseUrl, `Bearer ${token}`).createSecret({ name: "guarded", value: "crown jewels" });
    expect(created.secret?.createdBy).toBe("victim");
    const viaJson = await jsonCall(server.baseUrl, "GetSecret", { name: "guarded" }, `Bearer ${token}`);
    expect(viaJson.status).toBe(200);
    const viaGrpcJs = await grpcJs.call("GetSecretValue", { name: "guarded" }, token);
    expect(viaGrpcJs.value).toBe("crown jewels");
    // The scheme name is case-insensitive (RFC 9110 §11.1).
    const lower = await clientWithHeader(server.baseUrl, `bearer ${token}`).getSecret({ name: "guarded" });
    expect(lower.secret?.name).toBe("guarded");
  });

  it("every bad credential answers UNAUTHENTICATED over connect's gRPC transport, for every method", async () => {
    expect(badHeaders.length).toBeGreaterThan(10);
    for (const [label, header] of badHeaders) {
      const client = clientWithHeader(server.baseUrl, header);
      // Each call's refusal is taken at once (connectErrorOf), so none is ever an unhandled rejection.
      const refusals = [
        client.createSecret({ name: "planted", value: "x" }),
        client.getSecret({ name: "guarded" }),
        client.getSecretValue({ name: "guarded" }),
        client.listSecrets({}),
        client.updateSecret({ name: "guarded", value: "overwritten" }),
      ].map((call) => connectErrorOf(call));
      for (const refusal of refusals) {
        const err = await refusal;
        expect(err.code, label).toBe(Code.Unauthenticated);
        expect(err.rawMessage, label).not.toContain("crown jewels");
      }
    }
  });

  it("every bad credential answers HTTP 401 unauthenticated over Connect JSON", async () => {
    for (const [label, header] of badHeaders) {
      const res = await jsonCall(server.baseUrl, "GetSecretValue", { name: "guarded" }, header);
      expect(res.status, label).toBe(401);
      expect(res.json.code, label).toBe("unauthenticated");
      expect(JSON.stringify(res.json), label).not.toContain("crown jewels");
    }
  });

  it("grpc-js sees status 16 without a token and with a forged one", async () => {
    const missing = await grpcErrorOf(grpcJs.call("GetSecretValue", { name: "guarded" }));
    expect(missing.code).toBe(16);
    const forged = await grpcErrorOf(grpcJs.call("GetSecretValue", { name: "guarded" }, new UnsecuredJWT({ developer_id: "dev-victim" }).setSubject("x").encode()));
    expect(forged.code).toBe(16);
  });

  it("an expired token is told apart in the message, without echoing the token", async () => {
    const expired = await new SignJWT({ developer_id: "dev-victim" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("victim")
      .setExpirationTime(now() - 60)
      .sign(encode(server.jwtSecret));
    const err = await connectErrorOf(clientWithHeader(server.baseUrl, `Bearer ${expired}`).getSecret({ name: "guarded" }));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toMatch(/expired/);
    expect(err.rawMessage).not.toContain(expired);
  });

  describe("claims that are not plain principal ids", () => {
    // Validly signed tokens whose sub or developer_id would act as another tenant or as a query operator.
    const cases: [label: string, claims: Record<string, unknown>, claim: "sub" | "developer_id"][] = [
      ['sub ["tenant_a"]', { sub: ["tenant_a"] }, "sub"],
      ['sub {"$ne": null}', { sub: { $ne: null } }, "sub"],
      ['developer_id {"$ne": null}', { sub: "mallory", developer_id: { $ne: null } }, "developer_id"],
      ['developer_id ["x"]', { sub: "mallory", developer_id: ["x"] }, "developer_id"],
      ['developer_id ["tenant_a"]', { sub: "mallory", developer_id: ["tenant_a"] }, "developer_id"],
      ["empty sub", { sub: "" }, "sub"],
      ["sub of 129 characters", { sub: "a".repeat(129) }, "sub"],
      ["sub with a space", { sub: "tenant a" }, "sub"],
      ['sub with a "/"', { sub: "tenant_a/x" }, "sub"],
    ];
    const oddTokens: [label: string, token: string, reason: string][] = [];

    beforeAll(async () => {
      // Two tenants' secrets that no such token may see.
      for (const tenant of ["tenant_a", "tenant_b"]) {
        const client = clientWithHeader(server.baseUrl, `Bearer ${await server.token(tenant, tenant)}`);
        await client.createSecret({ name: "seeded", value: `value of ${tenant}` });
      }
      for (const [label, claims, claim] of cases) {
        const token = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime("1h").sign(encode(server.jwtSecret));
        oddTokens.push([label, token, `token claim "${claim}" is not a valid principal`]);
      }
      usedTokens.push(...oddTokens.map(([, t]) => t));
    });

    it("answer UNAUTHENTICATED with a one-line reason over connect's gRPC transport, listing nothing", async () => {
      for (const [label, token, reason] of oddTokens) {
        const client = clientWithHeader(server.baseUrl, `Bearer ${token}`);
        const calls = [
          () => client.listSecrets({}),
          () => client.listSecrets({ showDeleted: true }),
          () => client.getSecretValue({ name: "seeded" }),
          () => client.batchGetSecretValues({ names: ["seeded"] }),
          () => client.createSecret({ name: "planted", value: "x" }),
        ];
        for (const call of calls) {
          const err = await connectErrorOf(call());
          expect(err.code, label).toBe(Code.Unauthenticated);
          expect(err.rawMessage, label).toBe(reason);
        }
      }
      // Both tenants' secrets are as they were, each visible only to its owner.
      for (const tenant of ["tenant_a", "tenant_b"]) {
        const client = clientWithHeader(server.baseUrl, `Bearer ${await server.token(tenant, tenant)}`);
        const listed = await client.listSecrets({ showDeleted: true });
        expect(listed.secrets.map((s) => s.name)).toEqual(["seeded"]);
        expect((await client.getSecretValue({ name: "seeded" })).value).toBe(`value of ${tenant}`);
      }
    });

    it("answer HTTP 401 with the same reason over Connect JSON, listing nothing", async () => {
      for (const [label, token, reason] of oddTokens) {
        for (const [method, body] of [["ListSecrets", {}], ["ListSecrets", { showDeleted: true }], ["GetSecretValue", { name: "seeded" }]] as const) {
          const res = await jsonCall(server.baseUrl, method, body, `Bearer ${token}`);
          expect(res.status, label).toBe(401);
          expect(res.json, label).toEqual({ code: "unauthenticated", message: reason });
        }
      }
    });
  });

  describe("token times", () => {
    const sign = (claims: Record<string, unknown>) => new SignJWT({ developer_id: "dev-victim", sub: "victim", ...claims }).setProtectedHeader({ alg: "HS256" }).sign(encode(server.jwtSecret));
    const refusals: [label: string, claims: () => Record<string, unknown>, reason: string][] = [
      ["no exp", () => ({ iat: now() }), 'token has no "exp" claim'],
      ["no exp and no iat", () => ({}), 'token has no "exp" claim'],
      ["iat 10 minutes in the future", () => ({ iat: now() + 600, exp: now() + 3600 }), 'token claim "iat" lies in the future'],
      ["nbf 10 minutes in the future", () => ({ iat: now(), nbf: now() + 600, exp: now() + 3600 }), 'token is not valid yet (claim "nbf")'],
      ["exp - iat of 25 h (over the 24 h maximum)", () => ({ iat: now(), exp: now() + 25 * 3600 }), "token lifetime exceeds the allowed maximum"],
      ["iat 30 h ago, exp in an hour", () => ({ iat: now() - 30 * 3600, exp: now() + 3600 }), "token lifetime exceeds the allowed maximum"],
      ["no iat, exp in 25 h", () => ({ exp: now() + 25 * 3600 }), "token lifetime exceeds the allowed maximum"],
      ["exp as a string", () => ({ iat: now(), exp: String(now() + 3600) }), 'token claim "exp" must be a number'],
      ["iat as an object", () => ({ iat: { $gt: 0 }, exp: now() + 3600 }), 'token claim "iat" must be a number'],
      ["nbf as an array", () => ({ iat: now(), nbf: [now()], exp: now() + 3600 }), 'token claim "nbf" must be a number'],
    ];

    it("refuses each with UNAUTHENTICATED and a one-line reason that never holds the token, on gRPC and Connect JSON; a normal 1 h token works", async () => {
      for (const [label, claims, reason] of refusals) {
        const token = await sign(claims());
        usedTokens.push(token);
        const err = await connectErrorOf(clientWithHeader(server.baseUrl, `Bearer ${token}`).getSecretValue({ name: "guarded" }));
        expect(err.code, label).toBe(Code.Unauthenticated);
        expect(err.rawMessage, label).toBe(reason);
        const res = await jsonCall(server.baseUrl, "ListSecrets", {}, `Bearer ${token}`);
        expect(res.status, label).toBe(401);
        expect(res.json, label).toEqual({ code: "unauthenticated", message: reason });
        for (const text of [err.rawMessage, JSON.stringify(res.json)]) {
          expect(text, label).not.toContain(token.split(".")[1]);
          expect(text, label).not.toContain(token.split(".")[2]);
        }
      }
      // The control: normal one-hour tokens, with iat and without, work on both protocols.
      for (const claims of [{ iat: now(), exp: now() + 3600 }, { exp: now() + 3600 }, { iat: now(), nbf: now(), exp: now() + 3600 }]) {
        const token = await sign(claims);
        usedTokens.push(token);
        expect((await clientWithHeader(server.baseUrl, `Bearer ${token}`).getSecretValue({ name: "guarded" })).value).toBe("crown jewels");
        const res = await jsonCall(server.baseUrl, "GetSecretValue", { name: "guarded" }, `Bearer ${token}`);
        expect(res.status).toBe(200);
        expect(res.json.value).toBe("crown jewels");
      }
    });
  });

  it("nothing was created or changed by the rejected calls, and no token reached the log", async () => {
    const token = await server.token("dev-victim", "victim");
    const client = clientWithHeader(server.baseUrl, `Bearer ${token}`);
    expect((await client.listSecrets({})).secrets.map((s) => s.name)).toEqual(["guarded"]);
    const value = await client.getSecretValue({ name: "guarded" });
    expect(value).toMatchObject({ version: 1n, value: "crown jewels" });
    expect((await client.getSecret({ name: "guarded" })).secret?.updatedBy).toBe("victim");

    expect(server.logLines.length).toBeGreaterThan(0);
    const unauthenticated = server.logLines.filter((l) => l.includes('"code":"Unauthenticated"'));
    expect(unauthenticated.length).toBeGreaterThan(50);
    for (const t of [...usedTokens, token]) {
      const signature = t.split(".")[2];
      for (const line of server.logLines) {
        expect(line).not.toContain(t);
        if (signature) expect(line).not.toContain(signature);
      }
    }
  });

  it("health checks need no token", async () => {
    const res = await fetch(`${server.baseUrl}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "SERVING" });
  });
});
