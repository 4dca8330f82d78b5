import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { connectJson } from "../helpers/clients.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { connectErrorOf } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Task tokens over the real server: CreateTaskToken mints a short-lived EdDSA token no wider than
// its caller (scopes, name globs, expiry); the token works for exactly what it names; revocation
// and expiry refuse it (UNAUTHENTICATED); its calls are audited with its id and label.

type Secrets = Client<typeof SecretsService>;

function clientAs(baseUrl: string, token: string): Secrets {
  const transport = createGrpcTransport({
    baseUrl,
    interceptors: [
      (next) => (req) => {
        req.header.set("authorization", `Bearer ${token}`);
        return next(req);
      },
    ],
  });
  return createClient(SecretsService, transport);
}

/** The call's gRPC code: 0 (OK) when it succeeds. */
async function codeOf(call: Promise<unknown>): Promise<Code | 0> {
  try {
    await call;
    return 0;
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

const MINUTE = 60_000;

describe("task tokens", () => {
  let server: TestServer;
  let devToken: string;
  let dev: Secrets; // developer dev_t, subject alice, every default scope and name

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_task_tokens" });
    devToken = await server.token("dev_t", "alice");
    dev = clientAs(server.baseUrl, devToken);
    await dev.createSecret({ name: "stripe_x", value: "sk-stripe-x" });
    await dev.createSecret({ name: "stripe_live_1", value: "sk-stripe-live" });
    await dev.createSecret({ name: "openai_key", value: "sk-openai" });
    await dev.createSecret({ name: "stripe_other", value: "sk-stripe-other" });
  });

  afterAll(async () => {
    await server?.close();
  });

  describe("a token for secrets.access on stripe_*", () => {
    let minted: { token: string; tokenId: string; expireTime: Date };
    let task: Secrets;
    let before: number;
    let after: number;

    beforeAll(async () => {
      before = Date.now();
      const res = await dev.createTaskToken({ scopes: ["secrets.access"], secrets: ["stripe_*"], label: "ci-deploy #42" });
      after = Date.now();
      minted = { token: res.token, tokenId: res.tokenId, expireTime: timestampDate(res.expireTime!) };
      task = clientAs(server.baseUrl, minted.token);
    });

    it("the response has a token, a token_id and an expire_time 15 minutes ahead (ttl unset)", () => {
      expect(minted.token.split(".")).toHaveLength(3);
      expect(minted.tokenId).toMatch(/^tt_[A-Za-z0-9_-]+$/);
      const expire = minted.expireTime.getTime();
      // A generous window around now + 15 min (the exact value is not the point).
      expect(expire).toBeGreaterThan(before + 14 * MINUTE);
      expect(expire).toBeLessThan(after + 16 * MINUTE);
    });

    it("its payload: iss secrets-service/task, the caller's sub, developer_id, scope, secrets, jti = token_id; alg EdDSA", () => {
      const payload = decodeJwt(minted.token);
      expect(payload).toMatchObject({
        iss: "secrets-service/task",
        sub: "alice",
        developer_id: "dev_t",
        scope: "secrets.access",
        secrets: ["stripe_*"],
        jti: minted.tokenId,
        label: "ci-deploy #42",
      });
      expect(payload.exp).toBe(Math.floor(minted.expireTime.getTime() / 1000));
      expect(typeof payload.iat).toBe("number");
      const header = decodeProtectedHeader(minted.token);
      expect(header.alg).toBe("EdDSA");
      expect(header.kid).toEqual(expect.any(String));
      expect(header.typ).toBe("JWT");
    });

    it("works for its scope and names only", async () => {
      expect((await task.getSecretValue({ name: "stripe_x" })).value).toBe("sk-stripe-x");
      expect((await task.getSecretValue({ name: "stripe_live_1" })).value).toBe("sk-stripe-live");
      const outside = await connectErrorOf(task.getSecretValue({ name: "openai_key" }));
      expect(outside.code).toBe(Code.NotFound);
      expect(outside.rawMessage).not.toContain("sk-openai");
      const read = await connectErrorOf(task.getSecret({ name: "stripe_x" }));
      expect(read.code).toBe(Code.PermissionDenied);
      expect(read.rawMessage).toContain("secrets.read");
      const write = await connectErrorOf(task.putSecretValue({ name: "stripe_x", value: "overwritten" }));
      expect(write.code).toBe(Code.PermissionDenied);
      expect(write.rawMessage).toContain("secrets.write");
      expect((await connectErrorOf(task.listSecrets({}))).code).toBe(Code.PermissionDenied);
      // Nothing was written.
      expect((await dev.getSecretValue({ name: "stripe_x" })).value).toBe("sk-stripe-x");
      // Connect JSON too.
      const json = await connectJson(server.baseUrl, "GetSecretValue", { name: "stripe_x" }, minted.token);
      expect(json.json).toMatchObject({ value: "sk-stripe-x" });
    });

    it("a task token cannot mint another nor revoke (PERMISSION_DENIED)", async () => {
      const mint = await connectErrorOf(task.createTaskToken({ scopes: ["secrets.access"], secrets: ["stripe_x"] }));
      expect(mint.code).toBe(Code.PermissionDenied);
      const revokeOwn = await connectErrorOf(task.revokeTaskToken({ tokenId: minted.tokenId }));
      expect(revokeOwn.code).toBe(Code.PermissionDenied);
      // It still works: the refused revocation did nothing.
      expect((await task.getSecretValue({ name: "stripe_x" })).value).toBe("sk-stripe-x");
    });

    it("its calls are audited with its token_id and label, under the caller's sub and tenant", async () => {
      const events = (await dev.listAuditEvents({ pageSize: 1_000 })).events.filter((e) => e.tokenId === minted.tokenId);
      const summary = events.map((e) => [e.method, e.names.join(","), e.code]);
      expect(summary).toEqual(
        expect.arrayContaining([
          ["GetSecretValue", "stripe_x", 0],
          ["GetSecretValue", "openai_key", Code.NotFound],
          ["GetSecret", "stripe_x", Code.PermissionDenied],
          ["PutSecretValue", "stripe_x", Code.PermissionDenied],
        ]),
      );
      for (const e of events) expect(e).toMatchObject({ tokenLabel: "ci-deploy #42", principal: "alice", developerId: "dev_t", delegated: false });
      // Its refused attempts to mint and revoke are recorded as its own; the developer's successful mints carry no token id.
      expect(summary).toEqual(expect.arrayContaining([["RevokeTaskToken", "", Code.PermissionDenied]]));
      const mints = (await dev.listAuditEvents({ method: "CreateTaskToken", pageSize: 1_000 })).events;
      expect(mints.filter((e) => e.tokenId === minted.tokenId).map((e) => e.code)).toEqual([Code.PermissionDenied]);
      const own = mints.filter((e) => e.code === 0);
      expect(own.length).toBeGreaterThanOrEqual(1);
      for (const e of own) expect(e).toMatchObject({ tokenId: "", tokenLabel: "", principal: "alice" });
    });
  });

  describe("what may be minted", () => {
    it("a caller limited to stripe_* may narrow to stripe_live_* and stripe_?, never widen", async () => {
      const narrow = clientAs(server.baseUrl, await server.token("dev_t", "narrow", { secrets: ["stripe_*"] }));
      const ok = await narrow.createTaskToken({ scopes: ["secrets.access"], secrets: ["stripe_live_*", "stripe_?"] });
      expect(decodeJwt(ok.token).secrets).toEqual(["stripe_live_*", "stripe_?"]);
      const task = clientAs(server.baseUrl, ok.token);
      expect((await task.getSecretValue({ name: "stripe_live_1" })).value).toBe("sk-stripe-live");
      expect((await task.getSecretValue({ name: "stripe_x" })).value).toBe("sk-stripe-x"); // stripe_? matches one character
      expect((await connectErrorOf(task.getSecretValue({ name: "stripe_other" }))).code).toBe(Code.NotFound); // under stripe_*, not under the narrowed globs
      for (const glob of ["*", "openai_*", "stripe*", "s*"]) {
        const err = await connectErrorOf(narrow.createTaskToken({ scopes: ["secrets.access"], secrets: ["stripe_x", glob] }));
        expect(err.code, glob).toBe(Code.PermissionDenied);
        expect(err.rawMessage, glob).toContain(`"${glob}"`);
      }
    });

    it("a scope the caller lacks is PERMISSION_DENIED naming it", async () => {
      const accessOnly = clientAs(server.baseUrl, await server.token("dev_t", "reader", { scope: "secrets.access" }));
      for (const scope of ["secrets.read", "secrets.write"]) {
        const err = await connectErrorOf(accessOnly.createTaskToken({ scopes: ["secrets.access", scope], secrets: ["*"] }));
        expect(err.code, scope).toBe(Code.PermissionDenied);
        expect(err.rawMessage, scope).toContain(scope);
      }
      expect((await accessOnly.createTaskToken({ scopes: ["secrets.access"], secrets: ["*"] })).token).not.toBe("");
    });

    it("secrets.delegate and secrets.admin are never granted (INVALID_ARGUMENT), even to a caller holding them", async () => {
      const mighty = clientAs(server.baseUrl, await server.token("dev_t", "root", { scope: "secrets.read secrets.access secrets.write secrets.delegate secrets.admin" }));
      for (const scope of ["secrets.delegate", "secrets.admin"]) {
        const err = await connectErrorOf(mighty.createTaskToken({ scopes: ["secrets.read", scope], secrets: ["*"] }));
        expect(err.code, scope).toBe(Code.InvalidArgument);
        expect(err.rawMessage, scope).toContain("scopes");
        expect(err.rawMessage, scope).toContain(scope);
      }
    });

    it("malformed requests are INVALID_ARGUMENT naming the field", async () => {
      const cases: [label: string, request: Parameters<Secrets["createTaskToken"]>[0], field: string][] = [
        ["unknown scope", { scopes: ["secrets.everything"], secrets: ["*"] }, "scopes"],
        ["empty scopes", { scopes: [], secrets: ["*"] }, "scopes"],
        ["empty secrets", { scopes: ["secrets.access"], secrets: [] }, "secrets"],
        ["invalid glob a-b", { scopes: ["secrets.access"], secrets: ["a-b"] }, "secrets"],
        ["ttl 0", { scopes: ["secrets.access"], secrets: ["*"], ttl: { seconds: 0n, nanos: 0 } }, "ttl"],
        ["ttl negative", { scopes: ["secrets.access"], secrets: ["*"], ttl: { seconds: -60n, nanos: 0 } }, "ttl"],
        ["ttl 1 h + 1 s", { scopes: ["secrets.access"], secrets: ["*"], ttl: { seconds: 3_601n, nanos: 0 } }, "ttl"],
        ["ttl 1 h + 1 ns", { scopes: ["secrets.access"], secrets: ["*"], ttl: { seconds: 3_600n, nanos: 1 } }, "ttl"],
        ["label of 129 characters", { scopes: ["secrets.access"], secrets: ["*"], label: "l".repeat(129) }, "label"],
        ["label with a line break", { scopes: ["secrets.access"], secrets: ["*"], label: "a\nb" }, "label"],
      ];
      for (const [label, request, field] of cases) {
        const err = await connectErrorOf(dev.createTaskToken(request));
        expect(err.code, label).toBe(Code.InvalidArgument);
        expect(err.rawMessage, label).toMatch(new RegExp(`^${field}: `));
      }
      // The edges that are allowed: a label of 128 characters, ttl exactly 1 h.
      const edge = await dev.createTaskToken({ scopes: ["secrets.access"], secrets: ["*"], label: "l".repeat(128), ttl: { seconds: 3_600n, nanos: 0 } });
      expect(decodeJwt(edge.token).label).toBe("l".repeat(128));
    });

    it("Connect JSON: CreateTaskToken with ttl \"60s\"; ttl \"0s\" is 400 naming ttl", async () => {
      const before = Date.now();
      const ok = await connectJson(server.baseUrl, "CreateTaskToken", { scopes: ["secrets.access"], secrets: ["stripe_x"], ttl: "60s" }, devToken);
      expect(ok.status, JSON.stringify(ok.json)).toBe(200);
      expect(ok.json).toMatchObject({ token: expect.any(String), tokenId: expect.stringMatching(/^tt_/), expireTime: expect.any(String) });
      const expire = Date.parse(String(ok.json.expireTime));
      expect(expire).toBeGreaterThan(before + 50_000);
      expect(expire).toBeLessThan(Date.now() + 70_000);
      const bad = await connectJson(server.baseUrl, "CreateTaskToken", { scopes: ["secrets.access"], secrets: ["stripe_x"], ttl: "0s" }, devToken);
      expect(bad.status).toBe(400);
      expect(String(bad.json.message)).toMatch(/^ttl: /);
    });

    it("ttl 1 h from a caller whose token expires in 10 min: expire_time is the caller's exp, to the second", async () => {
      const shortLived = await server.token("dev_t", "alice", { expiresIn: "10m" });
      const callerExp = decodeJwt(shortLived).exp!;
      const res = await clientAs(server.baseUrl, shortLived).createTaskToken({ scopes: ["secrets.access"], secrets: ["stripe_x"], ttl: { seconds: 3_600n, nanos: 0 } });
      expect(Number(res.expireTime!.seconds)).toBe(callerExp);
      expect(decodeJwt(res.token).exp).toBe(callerExp);
    });
  });

  describe("RevokeTaskToken", () => {
    it("after a revocation the token is refused UNAUTHENTICATED; revoking twice is OK", async () => {
      const minted = await dev.createTaskToken({ scopes: ["secrets.access"], secrets: ["stripe_x"], label: "to-revoke" });
      const task = clientAs(server.baseUrl, minted.token);
      expect((await task.getSecretValue({ name: "stripe_x" })).value).toBe("sk-stripe-x");
      await dev.revokeTaskToken({ tokenId: minted.tokenId });
      await waitUntil(async () => (await codeOf(task.getSecretValue({ name: "stripe_x" }))) === Code.Unauthenticated, "the revoked task token is refused");
      const err = await connectErrorOf(task.getSecretValue({ name: "stripe_x" }));
      expect(err.code).toBe(Code.Unauthenticated);
      expect(err.rawMessage).toMatch(/revoked/);
      expect(err.rawMessage).not.toContain("sk-stripe-x");
      const json = await connectJson(server.baseUrl, "GetSecretValue", { name: "stripe_x" }, minted.token);
      expect(json.status).toBe(401);
      // Twice: OK, and still refused.
      await dev.revokeTaskToken({ tokenId: minted.tokenId });
      expect(await codeOf(task.getSecretValue({ name: "stripe_x" }))).toBe(Code.Unauthenticated);
      // Another subject of the same developer may revoke too (the tenant owns its tokens).
      const other = await dev.createTaskToken({ scopes: ["secrets.access"], secrets: ["stripe_x"] });
      await clientAs(server.baseUrl, await server.token("dev_t", "bob")).revokeTaskToken({ tokenId: other.tokenId });
      await waitUntil(async () => (await codeOf(clientAs(server.baseUrl, other.token).getSecretValue({ name: "stripe_x" }))) === Code.Unauthenticated, "the second revoked token is refused");
    });

    it("an unknown id is NOT_FOUND", async () => {
      for (const tokenId of ["tt_doesnotexist", "tt_AAAAAAAAAAAAAAAAAAAAAA", "not-a-token-id", ""]) {
        const err = await connectErrorOf(dev.revokeTaskToken({ tokenId }));
        expect(err.code, tokenId).toBe(Code.NotFound);
      }
    });

    it("another tenant's token id is NOT_FOUND, and that token still works", async () => {
      const otherDev = clientAs(server.baseUrl, await server.token("dev_other", "olga"));
      await otherDev.createSecret({ name: "stripe_x", value: "olga-stripe" });
      const theirs = await otherDev.createTaskToken({ scopes: ["secrets.access"], secrets: ["stripe_x"] });
      const err = await connectErrorOf(dev.revokeTaskToken({ tokenId: theirs.tokenId }));
      expect(err.code).toBe(Code.NotFound);
      expect(err.rawMessage).not.toContain("dev_other");
      expect((await clientAs(server.baseUrl, theirs.token).getSecretValue({ name: "stripe_x" })).value).toBe("olga-stripe");
    });
  });
});

describe("task token expiry (clock skew 0)", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_task_expiry", clockSkewSeconds: 0 });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("a token with ttl 2 s is refused UNAUTHENTICATED once it has expired, never before", async () => {
    const dev = clientAs(server.baseUrl, await server.token("dev_e", "erin"));
    await dev.createSecret({ name: "stripe_x", value: "sk-expiring" });
    const minted = await dev.createTaskToken({ scopes: ["secrets.access"], secrets: ["stripe_x"], ttl: { seconds: 2n, nanos: 0 } });
    const payload = decodeJwt(minted.token);
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(2);
    const expMs = payload.exp! * 1000;
    const task = clientAs(server.baseUrl, minted.token);

    // Before exp it works; a refusal may only come once exp has passed (jose: exp <= now is expired),
    // so the verdict does not depend on how fast this machine is.
    let sawRefusal = false;
    await waitUntil(async () => {
      const code = await codeOf(task.getSecretValue({ name: "stripe_x" }));
      if (code === 0) return false;
      expect(code).toBe(Code.Unauthenticated);
      expect(Date.now()).toBeGreaterThanOrEqual(expMs);
      sawRefusal = true;
      return true;
    }, "the task token is refused after its expiry");
    expect(sawRefusal).toBe(true);
    const err = await connectErrorOf(task.getSecretValue({ name: "stripe_x" }));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toMatch(/expired/);
  });
});
