import { SignJWT, decodeProtectedHeader, errors as joseErrors, importJWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { TASK_TOKEN_ISSUER, generateTaskTokenKey, loadTaskTokenKeys, type TaskTokenClaims } from "../../src/auth/task-tokens.js";

const issuedAt = new Date("2026-01-01T00:00:00.000Z");
const during = { currentDate: new Date("2026-01-01T00:05:00.000Z"), clockTolerance: 30 };
const claims: TaskTokenClaims = {
  tokenId: "tt_abc",
  subject: "agent-1",
  tenant: "dev_a",
  scopes: ["secrets.read", "secrets.access"],
  secrets: ["stripe_*", "db_password"],
  label: "nightly build",
  issuedAt,
  expireTime: new Date("2026-01-01T00:15:00.900Z"),
};
const jwks = (...keys: unknown[]) => JSON.stringify({ keys });

describe("task token keys", () => {
  let k1: Record<string, unknown>;
  let k2: Record<string, unknown>;
  beforeAll(async () => {
    k1 = await generateTaskTokenKey("k1");
    k2 = await generateTaskTokenKey("k2");
  });

  it("signs EdDSA tokens with the claims, and verifies them", async () => {
    const keys = await loadTaskTokenKeys(jwks(k1));
    const token = await keys.sign(claims);
    expect(decodeProtectedHeader(token)).toEqual({ alg: "EdDSA", kid: "k1", typ: "JWT" });
    expect(await keys.verify(token, during)).toEqual({
      iss: TASK_TOKEN_ISSUER,
      sub: "agent-1",
      developer_id: "dev_a",
      scope: "secrets.read secrets.access",
      secrets: ["stripe_*", "db_password"],
      label: "nightly build",
      jti: "tt_abc",
      iat: Math.floor(issuedAt.getTime() / 1000),
      // Rounded down, so the token never outlives its record.
      exp: Math.floor(claims.expireTime.getTime() / 1000),
    });
  });

  it("leaves out an empty label", async () => {
    const keys = await loadTaskTokenKeys(jwks(k1));
    const payload = await keys.verify(await keys.sign({ ...claims, label: "" }), during);
    expect(payload).not.toHaveProperty("label");
  });

  it("refuses an expired token (jose's error, for the caller to map)", async () => {
    const keys = await loadTaskTokenKeys(jwks(k1));
    const token = await keys.sign(claims);
    await expect(keys.verify(token, { currentDate: new Date("2026-01-01T01:00:00Z"), clockTolerance: 30 })).rejects.toBeInstanceOf(joseErrors.JWTExpired);
  });

  it("refuses a token signed by another key under a known kid", async () => {
    const keys = await loadTaskTokenKeys(jwks(k1));
    const impostor = await loadTaskTokenKeys(jwks({ ...k2, kid: "k1" }));
    await expect(keys.verify(await impostor.sign(claims), during)).rejects.toBeInstanceOf(joseErrors.JWSSignatureVerificationFailed);
  });

  it("refuses a token signed by a key not in the set", async () => {
    const keys = await loadTaskTokenKeys(jwks(k1));
    const other = await loadTaskTokenKeys(jwks(k2));
    await expect(keys.verify(await other.sign(claims), during)).rejects.toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
  });

  it("refuses a token without kid, of another issuer, or of another algorithm", async () => {
    const keys = await loadTaskTokenKeys(jwks(k1));
    const privateKey = await importJWK({ kty: "OKP", crv: "Ed25519", x: k1.x as string, d: k1.d as string }, "EdDSA");
    const base = () =>
      new SignJWT({ developer_id: "dev_a" }).setSubject("agent-1").setJti("tt_x").setIssuedAt(issuedAt).setExpirationTime(claims.expireTime);
    const noKid = await base().setProtectedHeader({ alg: "EdDSA", typ: "JWT" }).setIssuer(TASK_TOKEN_ISSUER).sign(privateKey);
    await expect(keys.verify(noKid, during)).rejects.toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    const otherIssuer = await base().setProtectedHeader({ alg: "EdDSA", kid: "k1", typ: "JWT" }).setIssuer("someone-else").sign(privateKey);
    await expect(keys.verify(otherIssuer, during)).rejects.toBeInstanceOf(joseErrors.JWTClaimValidationFailed);
    const hmac = await base()
      .setProtectedHeader({ alg: "HS256", kid: "k1", typ: "JWT" })
      .setIssuer(TASK_TOKEN_ISSUER)
      .sign(new TextEncoder().encode(k1.x as string));
    await expect(keys.verify(hmac, during)).rejects.toBeInstanceOf(joseErrors.JOSEAlgNotAllowed);
  });

  it("rotates: every key verifies, the last signs unless another is named; a dropped key's tokens are refused", async () => {
    const before = await loadTaskTokenKeys(jwks(k1));
    const oldToken = await before.sign(claims);
    const during2 = await loadTaskTokenKeys(jwks(k1, k2));
    const newToken = await during2.sign(claims);
    expect(decodeProtectedHeader(newToken).kid).toBe("k2");
    expect((await during2.verify(oldToken, during)).jti).toBe("tt_abc");
    expect((await during2.verify(newToken, during)).jti).toBe("tt_abc");
    expect(decodeProtectedHeader(await (await loadTaskTokenKeys(jwks(k1, k2), "k1")).sign(claims)).kid).toBe("k1");
    const after = await loadTaskTokenKeys(jwks(k2));
    expect((await after.verify(newToken, during)).jti).toBe("tt_abc");
    await expect(after.verify(oldToken, during)).rejects.toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
  });

  it("keeps a retired key without its private part for verifying only", async () => {
    const oldToken = await (await loadTaskTokenKeys(jwks(k1))).sign(claims);
    const { d: _dropped, ...retired } = k1;
    const keys = await loadTaskTokenKeys(jwks(retired, k2));
    expect((await keys.verify(oldToken, during)).jti).toBe("tt_abc");
    await expect(loadTaskTokenKeys(jwks(k2, retired))).rejects.toThrow('task token keys: the active key "k1" has no private part "d"');
  });

  it("publishes the public keys only", async () => {
    const keys = await loadTaskTokenKeys(jwks(k1, k2));
    expect(keys.publicJwks()).toEqual({
      keys: [
        { kty: "OKP", crv: "Ed25519", x: k1.x, kid: "k1", alg: "EdDSA", use: "sig" },
        { kty: "OKP", crv: "Ed25519", x: k2.x, kid: "k2", alg: "EdDSA", use: "sig" },
      ],
    });
    expect(JSON.stringify(keys.publicJwks())).not.toContain('"d"');
  });

  it("generates private keys with a random kid unless one is given", async () => {
    const a = await generateTaskTokenKey();
    const b = await generateTaskTokenKey();
    expect(Object.keys(a).sort()).toEqual(["crv", "d", "kid", "kty", "x"]);
    expect(a).toMatchObject({ kty: "OKP", crv: "Ed25519" });
    expect(a.kid).not.toBe(b.kid);
    expect(a.d).not.toBe(b.d);
    await expect(generateTaskTokenKey("bad kid")).rejects.toThrow(/kid/);
  });

  it("refuses bad key sets with one line that quotes no key material", async () => {
    const { x: _x, ...noX } = k1;
    const { kid: _kid, ...noKid } = k1;
    const cases: [text: string, message: string, activeKid?: string][] = [
      [`{"keys": [{"d": "${k1.d as string}"`, "task token keys: not valid JSON"],
      ["[]", 'task token keys: expected a JWKS: {"keys": [...]}'],
      ['{"keys": {}}', 'task token keys: expected a JWKS: {"keys": [...]}'],
      ['{"keys": []}', "task token keys: no keys"],
      [jwks({ kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA", d: "AAAA", kid: "e1" }), 'task token keys: key 1 is not an Ed25519 key (kty "OKP", crv "Ed25519")'],
      [jwks(k1, { kty: "OKP", crv: "X25519", x: k2.x, d: k2.d, kid: "x1" }), 'task token keys: key 2 is not an Ed25519 key (kty "OKP", crv "Ed25519")'],
      [jwks({ kty: "oct", k: "c2VjcmV0", kid: "h1" }), 'task token keys: key 1 is not an Ed25519 key (kty "OKP", crv "Ed25519")'],
      [jwks({ ...k1, alg: "ES256" }), 'task token keys: key 1 has an alg other than "EdDSA"'],
      [jwks({ ...k1, use: "enc" }), 'task token keys: key 1 has a use other than "sig"'],
      [jwks(noKid), "task token keys: key 1 has no kid"],
      [jwks({ ...k1, kid: "" }), "task token keys: key 1: a kid is 1-128 characters of A-Z a-z 0-9 _ . : -"],
      [jwks({ ...k1, kid: 7 }), "task token keys: key 1: a kid is 1-128 characters of A-Z a-z 0-9 _ . : -"],
      [jwks(k1, { ...k2, kid: "k1" }), 'task token keys: duplicate kid "k1"'],
      [jwks(noX), 'task token keys: key "k1" has no public part "x"'],
      [jwks({ ...k1, x: k2.x }), 'task token keys: key "k1" is not a valid Ed25519 key'],
      [jwks({ ...k1, d: "c2hvcnQ" }), 'task token keys: key "k1" is not a valid Ed25519 key'],
      [jwks(k1, k2), 'task token keys: no key has the active kid "k3"', "k3"],
    ];
    for (const [text, message, activeKid] of cases) {
      const err = await loadTaskTokenKeys(text, activeKid).then(
        () => new Error("loaded"),
        (e: unknown) => e as Error,
      );
      expect(err.message, text).toBe(message);
      for (const material of [k1.d, k2.d, k1.x, k2.x] as string[]) expect(err.message).not.toContain(material);
    }
  });
});
