import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenVerifier, type TokenVerifier } from "../../src/auth/token-verifier.js";
import { UnauthenticatedError } from "../../src/errors.js";
import { waitUntil } from "../helpers/lifecycle.js";

// Verification against a remote JWKS (AUTH_JWKS_URL): a token signed by a published key
// verifies; tokens naming unknown kids refetch the set at most once per cooldown, however many
// come; a key published later is found once the cooldown has passed; no refusal quotes the token.

interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function signingKey(kid: string, alg = "EdDSA"): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** A token for agent-1 of dev-1, valid for 5 minutes; `kid` defaults to the key's. */
function tokenFrom(key: SigningKey, kid = key.kid): Promise<string> {
  return new SignJWT({ developer_id: "dev-1" })
    .setProtectedHeader({ alg: key.alg, kid })
    .setSubject("agent-1")
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(key.privateKey);
}

/** Serves `keys` as a JWKS on 127.0.0.1 and counts the fetches. */
class JwksServer {
  keys: JWK[] = [];
  fetches = 0;
  readonly #server = http.createServer((_req, res) => {
    this.fetches++;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: this.keys }));
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

async function refusal(verifier: TokenVerifier, token: string): Promise<UnauthenticatedError> {
  try {
    await verifier.verify(token);
  } catch (err) {
    expect(err).toBeInstanceOf(UnauthenticatedError);
    expect((err as UnauthenticatedError).code).toBe("ERR_UNAUTHENTICATED");
    expect((err as Error).message).not.toContain(token);
    return err as UnauthenticatedError;
  }
  throw new Error("expected the token to be refused");
}

describe("remote JWKS", () => {
  const jwks = new JwksServer();
  let url: string;
  beforeAll(async () => {
    url = await jwks.start();
  });
  afterAll(() => jwks.close());

  const verifierWithCooldown = (seconds: number) => createTokenVerifier({ jwksUrl: url, algorithms: ["EdDSA"], jwksCooldownSeconds: seconds }, { cache: false });

  it("verifies a token signed by a published key with one fetch; 200 unknown kids cost at most one more", async () => {
    const published = await signingKey("published-1");
    const unpublished = await signingKey("unpublished");
    jwks.keys = [published.jwk];
    jwks.fetches = 0;
    // A cooldown far longer than the test: every unknown kid below arrives within it.
    const verifier = await verifierWithCooldown(600);

    const who = await verifier.verify(await tokenFrom(published));
    expect({ tenant: who.tenant, subject: who.subject }).toEqual({ tenant: "dev-1", subject: "agent-1" });
    expect(jwks.fetches).toBe(1);

    const forged = await Promise.all(Array.from({ length: 200 }, (_, i) => tokenFrom(unpublished, `made-up-${i}`)));
    const outcomes = await Promise.allSettled(forged.map((token) => verifier.verify(token)));
    expect(outcomes.every((o) => o.status === "rejected")).toBe(true);
    for (const token of forged.slice(0, 20)) await refusal(verifier, token);
    expect(jwks.fetches).toBeLessThanOrEqual(2);

    // The published key still works, from the set already held.
    const fetchesBefore = jwks.fetches;
    expect((await verifier.verify(await tokenFrom(published))).subject).toBe("agent-1");
    expect(jwks.fetches).toBe(fetchesBefore);
  });

  it("finds a rotated-in key after the cooldown, with a bounded number of fetches; the retired key is refused", async () => {
    const oldKey = await signingKey("rotation-old");
    const newKey = await signingKey("rotation-new");
    jwks.keys = [oldKey.jwk];
    jwks.fetches = 0;
    const verifier = await verifierWithCooldown(1);
    expect((await verifier.verify(await tokenFrom(oldKey))).tenant).toBe("dev-1");
    const firstFetchAt = Date.now();
    expect(jwks.fetches).toBe(1);

    jwks.keys = [newKey.jwk];
    const rotated = await tokenFrom(newKey);
    await waitUntil(async () => {
      try {
        return (await verifier.verify(rotated)).subject === "agent-1";
      } catch (err) {
        expect(err).toBeInstanceOf(UnauthenticatedError);
        expect((err as Error).message).not.toContain(rotated);
        return false;
      }
    }, "the token signed by the new key verifies");
    // At most one fetch per cooldown (1 s) since the first, however often the unknown kid was tried.
    const cooldowns = Math.ceil((Date.now() - firstFetchAt) / 1000);
    expect(jwks.fetches).toBeGreaterThanOrEqual(2);
    expect(jwks.fetches).toBeLessThanOrEqual(1 + cooldowns + 1);

    // The set now held no longer has the old key.
    await refusal(verifier, await tokenFrom(oldKey));
  });

  it("refuses a token signed with an algorithm outside the allow-list, even by a published key", async () => {
    const rsa = await signingKey("rsa-1", "RS256");
    jwks.keys = [rsa.jwk];
    const verifier = await verifierWithCooldown(600);
    const error = await refusal(verifier, await tokenFrom(rsa));
    expect(error.message).toMatch(/algorithm/);
  });
});
