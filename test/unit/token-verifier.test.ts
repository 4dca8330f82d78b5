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
    await expect(verifier.verify(await sign(ed.privateKey, "EdDSA"))).resolves.toMatchObject({ tenant: "dev_x", subject: "agent-1" });
    const strict = await createTokenVerifier({ publicKeyPem: await exportSPKI(ed.publicKey), algorithms: ["EdDSA"], audience: "other" });
    await expect(strict.verify(await sign(ed.privateKey, "EdDSA"))).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it("verifies RS256 through a JWKS endpoint and refuses algorithms outside the allow-list", async () => {
    const verifier = await createTokenVerifier({ jwksUrl, algorithms: ["RS256"] });
    await expect(verifier.verify(await sign(rsa.privateKey, "RS256", { developer_id: "dev_y" }, "rsa-1"))).resolves.toMatchObject({ tenant: "dev_y", subject: "agent-1" });
    const edOnly = await createTokenVerifier({ jwksUrl, algorithms: ["EdDSA"] });
    await expect(edOnly.verify(await sign(rsa.privateKey, "RS256", {}, "rsa-1"))).rejects.toThrow(/algorithm is not allowed|invalid token/);
  });

  it("uses sub as the developer when there is no developer_id", async () => {
    const verifier = await createTokenVerifier({ jwksUrl, algorithms: ["RS256"] });
    await expect(verifier.verify(await sign(rsa.privateKey, "RS256", {}, "rsa-1"))).resolves.toMatchObject({ tenant: "agent-1", subject: "agent-1" });
  });
});

// Claims and the time policy, with an HS256 secret (the signature is valid in every case here).

const hmacSecret = "s".repeat(32);
const nowSeconds = () => Math.floor(Date.now() / 1000);
const HOUR = 3600;

const signed = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(hmacSecret));

/** The one-line reason a token is refused for; fails when it is accepted. */
async function refusal(verifier: { verify(token: string): Promise<unknown> }, token: string): Promise<string> {
  const err = await verifier.verify(token).then(
    () => new Error("accepted"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnauthenticatedError);
  const message = (err as Error).message;
  expect(message).not.toContain(token);
  expect(message).not.toContain(token.split(".")[1]);
  expect(message).not.toMatch(/\n/);
  return message;
}

describe("token claims", () => {
  const oneHour = () => ({ iat: nowSeconds(), exp: nowSeconds() + HOUR });

  it.each<[string, Record<string, unknown>, string]>([
    ["sub as an array", { sub: ["tenant_a"] }, "sub"],
    ["sub as an object", { sub: { $ne: null } }, "sub"],
    ["sub as a number", { sub: 7 }, "sub"],
    ["empty sub", { sub: "" }, "sub"],
    ["sub of 129 characters", { sub: "a".repeat(129) }, "sub"],
    ["sub with a space", { sub: "tenant a" }, "sub"],
    ["sub with a slash", { sub: "tenant/a" }, "sub"],
    ["developer_id as an object", { sub: "agent", developer_id: { $ne: null } }, "developer_id"],
    ["developer_id as an array", { sub: "agent", developer_id: ["x"] }, "developer_id"],
    ["empty developer_id (no fallback to sub)", { sub: "agent", developer_id: "" }, "developer_id"],
    ["developer_id null (no fallback to sub)", { sub: "agent", developer_id: null }, "developer_id"],
    ["developer_id with a slash", { sub: "agent", developer_id: "dev/a" }, "developer_id"],
  ])("refuses %s", async (_label, claims, claim) => {
    const verifier = await createTokenVerifier({ hmacSecret, algorithms: ["HS256"] });
    expect(await refusal(verifier, await signed({ ...oneHour(), ...claims }))).toBe(`token claim "${claim}" is not a valid principal`);
  });

  it("refuses a token without sub", async () => {
    const verifier = await createTokenVerifier({ hmacSecret, algorithms: ["HS256"] });
    expect(await refusal(verifier, await signed(oneHour()))).toBe('token has no "sub" claim');
  });

  it("accepts principal ids at the limits of the rule, and refuses one character beyond", async () => {
    const verifier = await createTokenVerifier({ hmacSecret, algorithms: ["HS256"] });
    const longest = "a".repeat(128);
    expect(await refusal(verifier, await signed({ ...oneHour(), sub: "agent", developer_id: `${longest}a` }))).toBe('token claim "developer_id" is not a valid principal');
    expect(await refusal(verifier, await signed({ ...oneHour(), sub: "agent", developer_id: "org:team|dev-1#" }))).toBe('token claim "developer_id" is not a valid principal');
    await expect(verifier.verify(await signed({ ...oneHour(), sub: longest }))).resolves.toMatchObject({ tenant: longest, subject: longest });
    await expect(verifier.verify(await signed({ ...oneHour(), sub: "a.b@c:d|e-f_G9", developer_id: "org:team|dev-1" }))).resolves.toMatchObject({
      tenant: "org:team|dev-1",
      subject: "a.b@c:d|e-f_G9",
    });
  });

  it.each<[string, unknown]>([
    ["a numeric string", String(nowSeconds() + HOUR)],
    ["an array", [nowSeconds() + HOUR]],
    ["an object", { $gt: 0 }],
    ["a boolean", true],
    ["null", null],
  ])("refuses exp, iat or nbf given as %s", async (_label, odd) => {
    const verifier = await createTokenVerifier({ hmacSecret, algorithms: ["HS256"], requireExpiry: false, maxTokenLifetimeSeconds: 0 });
    for (const claim of ["exp", "iat", "nbf"]) {
      const token = await signed({ sub: "agent", ...oneHour(), [claim]: odd });
      expect(await refusal(verifier, token), claim).toBe(`token claim "${claim}" must be a number`);
    }
  });
});

describe("token time policy", () => {
  const verifierWith = (options: { requireExpiry?: boolean; maxTokenLifetimeSeconds?: number; clockSkewSeconds?: number } = {}) =>
    createTokenVerifier({ hmacSecret, algorithms: ["HS256"], ...options });

  it("requires exp by default, and accepts a token without it when told (dev mode)", async () => {
    const token = await signed({ sub: "agent", iat: nowSeconds() });
    expect(await refusal(await verifierWith(), token)).toBe('token has no "exp" claim');
    expect(await refusal(await verifierWith({ requireExpiry: true }), token)).toBe('token has no "exp" claim');
    await expect((await verifierWith({ requireExpiry: false })).verify(token)).resolves.toMatchObject({ tenant: "agent", subject: "agent" });
  });

  it("refuses iat or nbf beyond the clock skew in the future, and accepts them within it", async () => {
    const verifier = await verifierWith();
    const exp = nowSeconds() + 2 * HOUR;
    expect(await refusal(verifier, await signed({ sub: "agent", exp, iat: nowSeconds() + 600 }))).toBe('token claim "iat" lies in the future');
    expect(await refusal(verifier, await signed({ sub: "agent", exp, nbf: nowSeconds() + 600 }))).toBe('token is not valid yet (claim "nbf")');
    // Default skew 60 s: an issuer whose clock runs 20 s ahead is fine.
    await expect(verifier.verify(await signed({ sub: "agent", exp, iat: nowSeconds() + 20, nbf: nowSeconds() + 20 }))).resolves.toBeDefined();
    const strict = await verifierWith({ clockSkewSeconds: 0 });
    expect(await refusal(strict, await signed({ sub: "agent", exp, iat: nowSeconds() + 30 }))).toBe('token claim "iat" lies in the future');
  });

  it("applies the skew to exp too", async () => {
    const justExpired = await signed({ sub: "agent", exp: nowSeconds() - 20 });
    await expect((await verifierWith()).verify(justExpired)).resolves.toBeDefined();
    expect(await refusal(await verifierWith({ clockSkewSeconds: 0 }), justExpired)).toBe("token expired");
    expect(await refusal(await verifierWith(), await signed({ sub: "agent", exp: nowSeconds() - 600 }))).toBe("token expired");
  });

  it("refuses a lifetime (exp - iat) over the maximum, 24 h by default", async () => {
    const iat = nowSeconds() - 10;
    const verifier = await verifierWith();
    await expect(verifier.verify(await signed({ sub: "agent", iat, exp: iat + 24 * HOUR }))).resolves.toBeDefined();
    expect(await refusal(verifier, await signed({ sub: "agent", iat, exp: iat + 24 * HOUR + 1 }))).toBe("token lifetime exceeds the allowed maximum");
    // An old iat with a far exp is long-lived even if little of it is left.
    expect(await refusal(verifier, await signed({ sub: "agent", iat: iat - 30 * HOUR, exp: nowSeconds() + HOUR }))).toBe("token lifetime exceeds the allowed maximum");
    const hourly = await verifierWith({ maxTokenLifetimeSeconds: HOUR });
    expect(await refusal(hourly, await signed({ sub: "agent", iat, exp: iat + 2 * HOUR }))).toBe("token lifetime exceeds the allowed maximum");
  });

  it("without iat, bounds exp - now (with the skew)", async () => {
    const verifier = await verifierWith();
    await expect(verifier.verify(await signed({ sub: "agent", exp: nowSeconds() + 23 * HOUR }))).resolves.toBeDefined();
    expect(await refusal(verifier, await signed({ sub: "agent", exp: nowSeconds() + 25 * HOUR }))).toBe("token lifetime exceeds the allowed maximum");
  });

  it("a maximum lifetime of 0 is unlimited", async () => {
    const verifier = await verifierWith({ maxTokenLifetimeSeconds: 0 });
    const iat = nowSeconds();
    await expect(verifier.verify(await signed({ sub: "agent", iat, exp: iat + 10 * 365 * 24 * HOUR }))).resolves.toBeDefined();
    await expect(verifier.verify(await signed({ sub: "agent", exp: nowSeconds() + 10 * 365 * 24 * HOUR }))).resolves.toBeDefined();
    // Unlimited lifetime still needs an exp outside dev mode.
    expect(await refusal(verifier, await signed({ sub: "agent", iat }))).toBe('token has no "exp" claim');
  });
});
