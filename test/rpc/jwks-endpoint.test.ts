import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT, importJWK, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateTaskTokenKey } from "../../src/auth/task-tokens.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// The service's public task token keys at /.well-known/jwks.json on the metrics port: what another
// service needs to verify a task token on its own, and never any private part of a key.

const ISSUER = "secrets-service/task";

async function fetchJwks(server: TestServer): Promise<{ res: Response; jwks: JSONWebKeySet }> {
  const res = await fetch(jwksUrl(server));
  return { res, jwks: (await res.json()) as JSONWebKeySet };
}

function jwksUrl(server: TestServer): string {
  return new URL("/.well-known/jwks.json", server.metrics!.url).toString();
}

function expectPublicOnly(jwks: JSONWebKeySet): void {
  expect(jwks.keys.length).toBeGreaterThanOrEqual(1);
  for (const key of jwks.keys) {
    expect(key).toMatchObject({ kty: "OKP", crv: "Ed25519", kid: expect.any(String), x: expect.any(String) });
    expect(key).not.toHaveProperty("d");
    expect(Buffer.from(key.x!, "base64url")).toHaveLength(32);
  }
}

describe("GET /.well-known/jwks.json", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_jwks", metrics: true });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("answers 200 application/jwk-set+json with the public Ed25519 keys only", async () => {
    const { res, jwks } = await fetchJwks(server);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/jwk-set\+json/);
    expectPublicOnly(jwks);
    // The private JWKS the server was given: its d appears nowhere in the published document.
    const privateKeys = (JSON.parse(server.taskTokenJwks) as { keys: { d: string; x: string; kid: string }[] }).keys;
    const text = JSON.stringify(jwks);
    for (const k of privateKeys) expect(text).not.toContain(k.d);
    expect(jwks.keys.map((k) => [k.kid, k.x])).toEqual(privateKeys.map((k) => [k.kid, k.x]));
  });

  it("a task token minted by the server verifies with createLocalJWKSet over the document", async () => {
    const dev = connectGrpcClient(server.baseUrl, await server.token("dev_j", "jay"));
    const minted = await dev.createTaskToken({ scopes: ["secrets.access"], secrets: ["stripe_*"], label: "verify-elsewhere" });
    const { jwks } = await fetchJwks(server);
    const keySet = createLocalJWKSet(jwks);
    const { payload, protectedHeader } = await jwtVerify(minted.token, keySet, { issuer: ISSUER, algorithms: ["EdDSA"] });
    expect(protectedHeader.alg).toBe("EdDSA");
    expect(jwks.keys.map((k) => k.kid)).toContain(protectedHeader.kid);
    expect(payload).toMatchObject({ sub: "jay", developer_id: "dev_j", scope: "secrets.access", secrets: ["stripe_*"], jti: minted.tokenId });

    // The control: a token of the same shape signed by a key the service does not hold does not verify.
    const stranger = await generateTaskTokenKey(String(protectedHeader.kid));
    const forged = await new SignJWT(payload)
      .setProtectedHeader({ alg: "EdDSA", kid: String(protectedHeader.kid), typ: "JWT" })
      .sign(await importJWK(stranger as Parameters<typeof importJWK>[0], "EdDSA"));
    expect(decodeProtectedHeader(forged).kid).toBe(protectedHeader.kid);
    await expect(jwtVerify(forged, keySet, { issuer: ISSUER, algorithms: ["EdDSA"] })).rejects.toThrow(/signature/i);
  });

  it("POST is 405; /metrics still works", async () => {
    const post = await fetch(jwksUrl(server), { method: "POST", body: "{}" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toContain("GET");
    const metrics = await fetch(server.metrics!.url);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await metrics.text()).toMatch(/^# HELP /m);
    // An unknown path next to them is 404.
    expect((await fetch(new URL("/.well-known/openid-configuration", server.metrics!.url))).status).toBe(404);
  });
});

describe("JWKS during a key rotation", () => {
  let server: TestServer;
  let retiredKid: string;
  let activeKid: string;

  beforeAll(async () => {
    // A retired key kept only to verify (no d) and the active one, as after a rotation.
    const retired = await generateTaskTokenKey("tt-retired");
    const active = await generateTaskTokenKey("tt-active");
    retiredKid = String(retired.kid);
    activeKid = String(active.kid);
    const { d: _dropped, ...retiredPublic } = retired;
    server = await startTestServer({
      store: "mongodb",
      keys: "local",
      label: "rpc_jwks_rotation",
      metrics: true,
      taskTokenJwks: JSON.stringify({ keys: [retiredPublic, active] }),
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("publishes every key, none with d; new tokens are signed by the active one", async () => {
    const { res, jwks } = await fetchJwks(server);
    expect(res.status).toBe(200);
    expectPublicOnly(jwks);
    expect(jwks.keys.map((k) => k.kid)).toEqual([retiredKid, activeKid]);
    const dev = connectGrpcClient(server.baseUrl, await server.token("dev_r", "rita"));
    const minted = await dev.createTaskToken({ scopes: ["secrets.read"], secrets: ["*"] });
    const { protectedHeader } = await jwtVerify(minted.token, createLocalJWKSet(jwks), { issuer: ISSUER, algorithms: ["EdDSA"] });
    expect(protectedHeader.kid).toBe(activeKid);
  });
});
