import http from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type GenerateKeyPairResult } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenVerifier } from "../../src/auth/token-verifier.js";
import { UnauthenticatedError } from "../../src/errors.js";

// Asymmetric keys: EdDSA/RS256 by PEM and by a JWKS endpoint (on loopback), with the allow-list enforced.

const sign = (key: GenerateKeyPairResult["privateKey"], alg: string, claims: Record<string, unknown> = { developer_id: "dev_x" }, kid?: string) =>
  new SignJWT(claims).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).setSubject("agent-1").setIssuer("https://issuer.test").setAudience("secrets").setExpirationTime("5m").sign(key);

describe("token verification with public keys", () => {
  let ed: GenerateKeyPairResult;
  let rsa: GenerateKeyPairResult;
  let jwks: http.Server;
  let jwksUrl: string;

  beforeAll(async () => {
    ed = await generateKeyPair("EdDSA", { extractable: true });
    rsa = await generateKeyPair("RS256", { extractable: true });
    const keys = [{ ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256" }];
    jwks = http.createServer((_req, res) => res.setHeader("content-type", "application/json").end(JSON.stringify({ keys })));
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => jwks.close(() => resolve())));

  it("verifies EdDSA with a PEM public key, and checks issuer and audience", async () => {
    const verifier = await createTokenVerifier({
      publicKeyPem: await exportSPKI(ed.publicKey),
      algorithms: ["EdDSA"],
      issuer: "https://issuer.test",
      audience: "secrets",
    });
    await expect(verifier.verify(await sign(ed.privateKey, "EdDSA"))).resolves.toEqual({ tenant: "dev_x", subject: "agent-1" });
    const strict = await createTokenVerifier({ publicKeyPem: await exportSPKI(ed.publicKey), algorithms: ["EdDSA"], audience: "other" });
    await expect(strict.verify(await sign(ed.privateKey, "EdDSA"))).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it("verifies RS256 through a JWKS endpoint and refuses algorithms outside the allow-list", async () => {
    const verifier = await createTokenVerifier({ jwksUrl, algorithms: ["RS256"] });
    await expect(verifier.verify(await sign(rsa.privateKey, "RS256", { developer_id: "dev_y" }, "rsa-1"))).resolves.toEqual({ tenant: "dev_y", subject: "agent-1" });
    const edOnly = await createTokenVerifier({ jwksUrl, algorithms: ["EdDSA"] });
    await expect(edOnly.verify(await sign(rsa.privateKey, "RS256", {}, "rsa-1"))).rejects.toThrow(/algorithm is not allowed|invalid token/);
  });

  it("uses sub as the developer when there is no developer_id", async () => {
    const verifier = await createTokenVerifier({ jwksUrl, algorithms: ["RS256"] });
    await expect(verifier.verify(await sign(rsa.privateKey, "RS256", {}, "rsa-1"))).resolves.toEqual({ tenant: "agent-1", subject: "agent-1" });
  });
});
