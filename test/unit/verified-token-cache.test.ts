import { SignJWT } from "jose";
import type { Scope } from "../../src/auth/identity.js";
import { describe, expect, it } from "vitest";
import { createTokenVerifier } from "../../src/auth/token-verifier.js";
import { withVerifiedTokenCache, type VerifiedToken } from "../../src/auth/verified-token-cache.js";
import { UnauthenticatedError } from "../../src/errors.js";

// The clock is injected: expiry and the age cap are tested by moving it, never by sleeping.

const hmacSecret = "k".repeat(32);
const signed = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(hmacSecret));

function fakeClock(startMs = Date.UTC(2030, 0, 1)) {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    seconds: () => Math.floor(nowMs / 1000),
    advance: (seconds: number) => {
      nowMs += seconds * 1000;
    },
  };
}

/** A stand-in verification that counts its calls and answers what it is told. */
function countingVerify(answer: (token: string) => VerifiedToken | Error) {
  const calls: string[] = [];
  const verifyAt = async (token: string) => {
    calls.push(token);
    const result = answer(token);
    if (result instanceof Error) throw result;
    return result;
  };
  return { verifyAt, calls };
}

const identity = { tenant: "dev_a", subject: "agent-1", scopes: new Set<Scope>(["secrets.read"]) };

async function messageOf(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => new Error("accepted"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnauthenticatedError);
  return (err as Error).message;
}

describe("verified token cache", () => {
  it("verifies a repeated token once, and each distinct token once", async () => {
    const clock = fakeClock();
    const { verifyAt, calls } = countingVerify(() => ({ identity, exp: clock.seconds() + 3600 }));
    const verify = withVerifiedTokenCache(verifyAt, { skewSeconds: 60, now: clock.now });
    for (let i = 0; i < 5; i++) await expect(verify("token-a", clock.now())).resolves.toEqual(identity);
    await verify("token-b", clock.now());
    await verify("token-a", clock.now());
    expect(calls).toEqual(["token-a", "token-b"]);
  });

  it("does not remember refusals", async () => {
    const clock = fakeClock();
    let refuse = true;
    const { verifyAt, calls } = countingVerify(() => (refuse ? new UnauthenticatedError("invalid token") : { identity, exp: clock.seconds() + 60 }));
    const verify = withVerifiedTokenCache(verifyAt, { skewSeconds: 60, now: clock.now });
    expect(await messageOf(verify("t", clock.now()))).toBe("invalid token");
    expect(await messageOf(verify("t", clock.now()))).toBe("invalid token");
    refuse = false;
    await expect(verify("t", clock.now())).resolves.toEqual(identity);
    expect(calls).toHaveLength(3);
  });

  it("reuses a verification for at most maxAgeSeconds, with or without exp", async () => {
    for (const exp of [undefined, Math.floor(Date.UTC(2030, 0, 1) / 1000) + 24 * 3600]) {
      const clock = fakeClock();
      const { verifyAt, calls } = countingVerify(() => ({ identity, exp }));
      const verify = withVerifiedTokenCache(verifyAt, { skewSeconds: 60, maxAgeSeconds: 300, now: clock.now });
      await verify("t", clock.now());
      clock.advance(299);
      await verify("t", clock.now());
      expect(calls, `exp ${exp}`).toHaveLength(1);
      clock.advance(1);
      await verify("t", clock.now());
      expect(calls, `exp ${exp}`).toHaveLength(2);
    }
  });

  it("keeps at most maxEntries tokens, dropping the least recently used", async () => {
    const clock = fakeClock();
    const { verifyAt, calls } = countingVerify(() => ({ identity, exp: clock.seconds() + 3600 }));
    const verify = withVerifiedTokenCache(verifyAt, { skewSeconds: 60, maxEntries: 2, now: clock.now });
    for (const token of ["a", "b", "a", "c", "a", "b"]) await verify(token, clock.now());
    // "b" was evicted by "c" ("a" had been used more recently); "a" stayed.
    expect(calls).toEqual(["a", "b", "c", "b"]);
  });

  it("shares one frozen identity, so no call can change what the next one sees", async () => {
    const clock = fakeClock();
    const { verifyAt } = countingVerify(() => ({ identity: { tenant: "dev_a", subject: "s", scopes: new Set<Scope>() }, exp: clock.seconds() + 3600 }));
    const verify = withVerifiedTokenCache(verifyAt, { skewSeconds: 60, now: clock.now });
    const first = await verify("t", clock.now());
    expect(Object.isFrozen(first)).toBe(true);
    expect(() => Object.assign(first, { tenant: "dev_b" })).toThrow(TypeError);
    await expect(verify("t", clock.now())).resolves.toMatchObject({ tenant: "dev_a", subject: "s" });
  });
});

describe("token verifier with its cache", () => {
  const config = { hmacSecret, algorithms: ["HS256"] };

  it.each([60, 0])("refuses a remembered token once its exp passes (skew %i s), with the message of a fresh verification", async (clockSkewSeconds) => {
    const clock = fakeClock();
    const cached = await createTokenVerifier({ ...config, clockSkewSeconds }, { now: clock.now });
    const uncached = await createTokenVerifier({ ...config, clockSkewSeconds }, { now: clock.now, cache: false });
    const exp = clock.seconds() + 120;
    const token = await signed({ sub: "agent", developer_id: "dev_a", iat: clock.seconds(), exp });
    await expect(cached.verify(token)).resolves.toMatchObject({ tenant: "dev_a", subject: "agent" });

    clock.advance(exp - clock.seconds() + clockSkewSeconds - 1);
    await expect(cached.verify(token)).resolves.toMatchObject({ tenant: "dev_a", subject: "agent" });
    await expect(uncached.verify(token)).resolves.toBeDefined();

    clock.advance(1);
    expect(await messageOf(cached.verify(token))).toBe("token expired");
    expect(await messageOf(uncached.verify(token))).toBe("token expired");
    expect(await messageOf(cached.verify(token))).toBe("token expired");
  });

  it("does not remember a token refused for an nbf in the future, and accepts it once nbf is reached", async () => {
    const clock = fakeClock();
    const verifier = await createTokenVerifier({ ...config, clockSkewSeconds: 0 }, { now: clock.now });
    const token = await signed({ sub: "agent", nbf: clock.seconds() + 30, exp: clock.seconds() + 600 });
    expect(await messageOf(verifier.verify(token))).toBe('token is not valid yet (claim "nbf")');
    clock.advance(30);
    await expect(verifier.verify(token)).resolves.toMatchObject({ tenant: "agent", subject: "agent" });
  });

  it("re-checks nbf on a hit if the clock steps back", async () => {
    const clock = fakeClock();
    const verifier = await createTokenVerifier({ ...config, clockSkewSeconds: 0 }, { now: clock.now });
    const token = await signed({ sub: "agent", nbf: clock.seconds(), exp: clock.seconds() + 600 });
    await expect(verifier.verify(token)).resolves.toBeDefined();
    clock.advance(-10);
    expect(await messageOf(verifier.verify(token))).toBe('token is not valid yet (claim "nbf")');
  });

  it("caches a dev-mode token without exp, and still refuses tampered tokens", async () => {
    const clock = fakeClock();
    const verifier = await createTokenVerifier({ ...config, requireExpiry: false }, { now: clock.now });
    const token = await signed({ sub: "agent", iat: clock.seconds() });
    await expect(verifier.verify(token)).resolves.toMatchObject({ tenant: "agent", subject: "agent" });
    clock.advance(3600);
    await expect(verifier.verify(token)).resolves.toMatchObject({ tenant: "agent", subject: "agent" });
    const [header, payload, signature = ""] = token.split(".");
    const forged = `${header}.${payload}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    expect(await messageOf(verifier.verify(forged))).toBe("invalid token");
  });
});
