import { SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SCOPES, type Identity } from "../../src/auth/identity.js";
import { TASK_TOKEN_ISSUER, generateTaskTokenKey, loadTaskTokenKeys, type TaskTokenKeys } from "../../src/auth/task-tokens.js";
import { createTokenVerifier, type TokenVerifier } from "../../src/auth/token-verifier.js";
import { UnauthenticatedError } from "../../src/errors.js";

// What the claims of a verified token grant: `scope` (absent = read+access+write, "" = nothing,
// unknown scopes ignored), `secrets` (absent = every name, [] = none, else name globs), and task
// tokens (issuer "secrets-service/task": only with the service's own EdDSA keys). A claim of the
// wrong shape refuses the whole token, naming the claim.

const hmacSecret = "identity-claims-test-secret-".padEnd(40, "x");
const encode = (s: string) => new TextEncoder().encode(s);

/** An HS256 token of agent-1 for dev_x, valid for 5 minutes, with `claims` added (they win). */
const hmacToken = (claims: Record<string, unknown> = {}, key = hmacSecret) =>
  new SignJWT({ developer_id: "dev_x", ...claims }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject("agent-1").setIssuedAt().setExpirationTime("5m").sign(encode(key));

const sorted = (scopes: ReadonlySet<string>) => [...scopes].sort();

/** The refusal of `token`: an UnauthenticatedError (fails the test when the token is accepted). */
async function refusal(verifier: TokenVerifier, token: string): Promise<UnauthenticatedError> {
  let identity: Identity | undefined;
  try {
    identity = await verifier.verify(token);
  } catch (err) {
    expect(err).toBeInstanceOf(UnauthenticatedError);
    const e = err as UnauthenticatedError;
    // One line, never quoting the token.
    expect(e.message).not.toMatch(/[\r\n]/);
    for (const part of token.split(".").filter((p) => p.length > 8)) expect(e.message).not.toContain(part);
    return e;
  }
  throw new Error(`expected the token to be refused, but it was accepted as ${JSON.stringify({ ...identity, scopes: [...identity.scopes] })}`);
}

describe("scope and secrets claims (HS256, no verification cache)", () => {
  let verifier: TokenVerifier;
  beforeAll(async () => {
    verifier = await createTokenVerifier({ hmacSecret, algorithms: ["HS256"] }, { cache: false });
  });

  it("no scope claim: the four default scopes, for the token's own tenant", async () => {
    const id = await verifier.verify(await hmacToken());
    expect(sorted(id.scopes)).toEqual(["secrets.access", "secrets.proxy", "secrets.read", "secrets.write"]);
    expect(sorted(id.scopes)).toEqual([...DEFAULT_SCOPES].sort());
    expect(id).toMatchObject({ subject: "agent-1", tenant: "dev_x" });
    expect(id.task).toBeUndefined();
  });

  it("a scope string grants the known scopes it names and ignores the others", async () => {
    const id = await verifier.verify(await hmacToken({ scope: "secrets.read secrets.admin other.scope" }));
    expect(sorted(id.scopes)).toEqual(["secrets.admin", "secrets.read"]);
  });

  it("extra whitespace between scopes is fine; a near-miss spelling is not a scope", async () => {
    const id = await verifier.verify(await hmacToken({ scope: "  secrets.write\tsecrets.delegate  Secrets.read secrets.read. " }));
    expect(sorted(id.scopes)).toEqual(["secrets.delegate", "secrets.write"]);
  });

  it('scope "" grants nothing (present but empty is not absent)', async () => {
    const id = await verifier.verify(await hmacToken({ scope: "" }));
    expect(id.scopes.size).toBe(0);
  });

  it.each([
    ["an array", ["secrets.read"]],
    ["an object", { "secrets.read": true }],
    ["a number", 5],
    ["null", null],
    ["a boolean", true],
  ])("scope as %s refuses the token, naming the claim", async (_label, scope) => {
    const err = await refusal(verifier, await hmacToken({ scope }));
    expect(err.message).toContain('"scope"');
  });

  it("a scope claim of 4096 characters is read; one of 4097 refuses the token", async () => {
    const at = (length: number) => `secrets.read ${"x".repeat(length - "secrets.read ".length)}`;
    expect(sorted((await verifier.verify(await hmacToken({ scope: at(4096) }))).scopes)).toEqual(["secrets.read"]);
    expect((await refusal(verifier, await hmacToken({ scope: at(4097) }))).message).toContain('"scope"');
  });

  it("up to 1000 globs are kept; 1001 refuse the token", async () => {
    const globs = (n: number) => Array.from({ length: n }, (_, i) => `g${i}_*`);
    expect((await verifier.verify(await hmacToken({ secrets: globs(1000) }))).secrets).toHaveLength(1000);
    expect((await refusal(verifier, await hmacToken({ secrets: globs(1001) }))).message).toContain('"secrets"');
  });

  it("no secrets claim: every name (secrets is undefined)", async () => {
    const id = await verifier.verify(await hmacToken());
    expect(id.secrets).toBeUndefined();
    expect(Object.hasOwn(id, "secrets")).toBe(false);
  });

  it("a list of globs is kept as given; [] means no name at all", async () => {
    expect((await verifier.verify(await hmacToken({ secrets: ["a*", "b?"] }))).secrets).toEqual(["a*", "b?"]);
    const none = await verifier.verify(await hmacToken({ secrets: [] }));
    expect(none.secrets).toEqual([]);
    expect(none.secrets).toBeDefined();
  });

  it("a glob of exactly 128 characters of the alphabet is accepted (the boundary)", async () => {
    const glob = `A_z9*?${"x".repeat(122)}`;
    expect(glob).toHaveLength(128);
    expect((await verifier.verify(await hmacToken({ secrets: [glob] }))).secrets).toEqual([glob]);
  });

  it.each([
    ["a string", "a*"],
    ["an object", { a: "*" }],
    ["null", null],
    ["an array with a non-string", ["a*", 1]],
    ["an array with null", [null]],
    ['a glob with "-"', ["stripe-live"]],
    ["a glob with a dot", ["stripe.live"]],
    ["an empty glob", [""]],
    ["a glob of 129 characters", ["x".repeat(129)]],
  ])("secrets as %s refuses the token, naming the claim", async (_label, secrets) => {
    const err = await refusal(verifier, await hmacToken({ secrets }));
    expect(err.message).toContain('"secrets"');
  });
});

describe("task tokens: only with the service's own keys", () => {
  let keys: TaskTokenKeys;
  let otherKeys: TaskTokenKeys;
  let withKeys: TokenVerifier;
  let withoutKeys: TokenVerifier;
  let taskToken: string;

  const taskClaims = () => {
    const now = Date.now();
    return {
      tokenId: "tt_claims_test_1",
      subject: "agent-1",
      tenant: "dev_x",
      scopes: ["secrets.read", "secrets.access"],
      secrets: ["stripe_*"],
      label: "nightly build",
      issuedAt: new Date(now),
      expireTime: new Date(now + 10 * 60_000),
    };
  };

  beforeAll(async () => {
    keys = await loadTaskTokenKeys(JSON.stringify({ keys: [await generateTaskTokenKey("svc-1")] }));
    otherKeys = await loadTaskTokenKeys(JSON.stringify({ keys: [await generateTaskTokenKey("svc-1")] }));
    withKeys = await createTokenVerifier({ hmacSecret, algorithms: ["HS256"] }, { cache: false, taskKeys: keys });
    withoutKeys = await createTokenVerifier({ hmacSecret, algorithms: ["HS256"] }, { cache: false });
    taskToken = await keys.sign(taskClaims());
  });

  it("a real task token verifies with the service's keys: identity.task = {id, label}, scopes and names from its claims", async () => {
    const id = await withKeys.verify(taskToken);
    expect(id.task).toEqual({ id: "tt_claims_test_1", label: "nightly build" });
    expect(id).toMatchObject({ subject: "agent-1", tenant: "dev_x", secrets: ["stripe_*"] });
    expect(sorted(id.scopes)).toEqual(["secrets.access", "secrets.read"]);
    expect(typeof id.exp).toBe("number");
  });

  it("a task token without a label gets label \"\"", async () => {
    const id = await withKeys.verify(await keys.sign({ ...taskClaims(), tokenId: "tt_no_label", label: "" }));
    expect(id.task).toEqual({ id: "tt_no_label", label: "" });
  });

  it("the same task token is refused by a verifier without task keys", async () => {
    await refusal(withoutKeys, taskToken);
  });

  it("a task token signed by another service's keys (same kid) is refused", async () => {
    await refusal(withKeys, await otherKeys.sign(taskClaims()));
  });

  it('a token with iss "secrets-service/task" signed with the external HMAC key is refused, with or without task keys', async () => {
    const forged = await new SignJWT({ developer_id: "dev_x", jti: "tt_forged", scope: "secrets.read secrets.admin" })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(TASK_TOKEN_ISSUER)
      .setSubject("agent-1")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(encode(hmacSecret));
    await refusal(withKeys, forged);
    await refusal(withoutKeys, forged);
    // The control: the same claims without that issuer are a fine external token.
    const external = await hmacToken({ jti: "tt_forged", scope: "secrets.read secrets.admin" });
    const id = await withKeys.verify(external);
    expect(id.task).toBeUndefined();
  });

  it("AUTH_ISSUER and AUTH_AUDIENCE apply to external tokens only: a task token still verifies", async () => {
    const strict = await createTokenVerifier(
      { hmacSecret, algorithms: ["HS256"], issuer: "https://idp.example", audience: "secrets-api" },
      { cache: false, taskKeys: keys },
    );
    expect((await strict.verify(taskToken)).task).toEqual({ id: "tt_claims_test_1", label: "nightly build" });
    // The control: the configuration is in force for an external token without them.
    const err = await refusal(strict, await hmacToken());
    expect(err.message).toMatch(/"iss"|"aud"/);
    const external = await new SignJWT({ developer_id: "dev_x" })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject("agent-1")
      .setIssuer("https://idp.example")
      .setAudience("secrets-api")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(encode(hmacSecret));
    expect((await strict.verify(external)).tenant).toBe("dev_x");
  });

  it("a task token with a malformed jti is refused, naming the claim", async () => {
    const err = await refusal(withKeys, await keys.sign({ ...taskClaims(), tokenId: "not-a-task-id" }));
    expect(err.message).toContain('"jti"');
  });
});
