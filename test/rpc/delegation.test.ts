import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretsService, type AuditEvent } from "../../gen/secrets/v1/secrets_pb.js";
import { closeSession, connectSession, rawRequest } from "../helpers/raw-http2.js";
import { connectErrorOf } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Delegation over the real server: a secrets.delegate token chooses the tenant it acts for with
// the x-developer-id header; every other token sending the header is refused, and a task token
// minted by a delegate acts for the delegated tenant without the header (and can never delegate).

type Secrets = Client<typeof SecretsService>;

const HEADER = "x-developer-id";
const DELEGATE_SCOPES = "secrets.read secrets.access secrets.write secrets.delegate";

/** A gRPC client sending `authorization` and any extra headers on every call. */
function clientAs(baseUrl: string, token: string, headers: Record<string, string> = {}): Secrets {
  const transport = createGrpcTransport({
    baseUrl,
    interceptors: [
      (next) => (req) => {
        req.header.set("authorization", `Bearer ${token}`);
        for (const [name, value] of Object.entries(headers)) req.header.set(name, value);
        return next(req);
      },
    ],
  });
  return createClient(SecretsService, transport);
}

/** Connect JSON over fetch with extra headers; each [name, value] is appended, so a name given twice is sent twice. */
async function jsonCall(
  baseUrl: string,
  method: string,
  body: unknown,
  token: string,
  extra: [string, string][] = [],
): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers = new Headers({ "content-type": "application/json", authorization: `Bearer ${token}` });
  for (const [name, value] of extra) headers.append(name, value);
  const res = await fetch(`${baseUrl}/secrets.v1.SecretsService/${method}`, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe("delegation with x-developer-id", () => {
  let server: TestServer;
  let delegateToken: string;
  let aliceToken: string; // tenant_a's own token
  let alice: Secrets;
  let bob: Secrets; // tenant_b
  let platformOwn: Secrets; // a plain token of the delegate's own tenant
  let asTenantA: Secrets; // the delegate, acting for tenant_a
  let delegateBare: Secrets; // the delegate, without the header

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_delegation" });
    delegateToken = await server.token("platform", "agent-worker", { scope: DELEGATE_SCOPES });
    aliceToken = await server.token("tenant_a", "alice");
    alice = clientAs(server.baseUrl, aliceToken);
    bob = clientAs(server.baseUrl, await server.token("tenant_b", "bob"));
    platformOwn = clientAs(server.baseUrl, await server.token("platform", "platform-user"));
    asTenantA = clientAs(server.baseUrl, delegateToken, { [HEADER]: "tenant_a" });
    delegateBare = clientAs(server.baseUrl, delegateToken);
    await alice.createSecret({ name: "openai_key", value: "sk-openai-a" });
    await alice.createSecret({ name: "stripe_key", value: "sk-stripe-a" });
  });

  afterAll(async () => {
    await server?.close();
  });

  it("gRPC: the delegate creates and reads in tenant_a; tenant_a sees it, tenant_b does not; created_by is the delegate's sub", async () => {
    const created = await asTenantA.createSecret({ name: "deleg_grpc", value: "made-by-agent" });
    expect(created.secret).toMatchObject({ name: "deleg_grpc", createdBy: "agent-worker", updatedBy: "agent-worker" });
    expect((await asTenantA.getSecretValue({ name: "deleg_grpc" })).value).toBe("made-by-agent");
    // The delegate reads tenant_a's own secrets too.
    expect((await asTenantA.getSecretValue({ name: "openai_key" })).value).toBe("sk-openai-a");

    expect((await alice.getSecretValue({ name: "deleg_grpc" })).value).toBe("made-by-agent");
    expect((await alice.getSecret({ name: "deleg_grpc" })).secret).toMatchObject({ createdBy: "agent-worker" });
    expect((await connectErrorOf(bob.getSecret({ name: "deleg_grpc" }))).code).toBe(Code.NotFound);
    expect((await bob.listSecrets({})).secrets.map((s) => s.name)).not.toContain("deleg_grpc");

    // An update by the delegate records it as updated_by; tenant_a's own update records alice.
    await asTenantA.updateSecret({ name: "deleg_grpc", value: "v2-by-agent" });
    expect((await alice.getSecret({ name: "deleg_grpc" })).secret).toMatchObject({ createdBy: "agent-worker", updatedBy: "agent-worker", latestVersion: 2n });
  });

  it("Connect JSON: the delegate creates and reads in tenant_a with the header", async () => {
    const created = await jsonCall(server.baseUrl, "CreateSecret", { name: "deleg_json", value: "json-by-agent" }, delegateToken, [[HEADER, "tenant_a"]]);
    expect(created.status, JSON.stringify(created.json)).toBe(200);
    expect(created.json).toMatchObject({ secret: { name: "deleg_json", createdBy: "agent-worker" } });
    const read = await jsonCall(server.baseUrl, "GetSecretValue", { name: "deleg_json" }, delegateToken, [[HEADER, "tenant_a"]]);
    expect(read.json).toMatchObject({ name: "deleg_json", value: "json-by-agent" });
    expect((await alice.getSecretValue({ name: "deleg_json" })).value).toBe("json-by-agent");
    expect((await connectErrorOf(bob.getSecretValue({ name: "deleg_json" }))).code).toBe(Code.NotFound);
    // Without the header the same token reads its own tenant, where the secret does not exist.
    const bare = await jsonCall(server.baseUrl, "GetSecretValue", { name: "deleg_json" }, delegateToken);
    expect(bare.status).toBe(404);
    expect(bare.json.code).toBe("not_found");
  });

  it("without the header the delegate acts for its own tenant, platform", async () => {
    const created = await delegateBare.createSecret({ name: "platform_own", value: "platform-value" });
    expect(created.secret?.createdBy).toBe("agent-worker");
    expect((await platformOwn.getSecretValue({ name: "platform_own" })).value).toBe("platform-value");
    expect((await connectErrorOf(alice.getSecret({ name: "platform_own" }))).code).toBe(Code.NotFound);
    expect((await connectErrorOf(asTenantA.getSecret({ name: "platform_own" }))).code).toBe(Code.NotFound);
    // tenant_a's secrets are not in platform.
    expect((await connectErrorOf(delegateBare.getSecretValue({ name: "openai_key" }))).code).toBe(Code.NotFound);
    expect((await delegateBare.listSecrets({})).secrets.map((s) => s.name)).toEqual(["platform_own"]);
  });

  describe("an invalid header value is INVALID_ARGUMENT naming x-developer-id", () => {
    const invalid: [label: string, value: string][] = [
      ["a space", "a b"],
      ["empty", ""],
      ["129 characters", "a".repeat(129)],
      ["a comma (two headers joined)", "x,y"],
      ["a slash", "tenant_a/x"],
    ];

    it("over gRPC", async () => {
      for (const [label, value] of invalid) {
        const client = clientAs(server.baseUrl, delegateToken, { [HEADER]: value });
        const err = await connectErrorOf(client.getSecretValue({ name: "openai_key" }));
        expect(err.code, label).toBe(Code.InvalidArgument);
        expect(err.rawMessage, label).toContain(HEADER);
        expect(err.rawMessage, label).not.toContain("sk-openai-a");
      }
      // 128 characters is allowed (an empty tenant: NOT_FOUND, not INVALID_ARGUMENT).
      const longest = clientAs(server.baseUrl, delegateToken, { [HEADER]: "a".repeat(128) });
      expect((await connectErrorOf(longest.getSecretValue({ name: "openai_key" }))).code).toBe(Code.NotFound);
    });

    it("over Connect JSON", async () => {
      for (const [label, value] of invalid) {
        const res = await jsonCall(server.baseUrl, "GetSecretValue", { name: "openai_key" }, delegateToken, [[HEADER, value]]);
        expect(res.status, label).toBe(400);
        expect(res.json.code, label).toBe("invalid_argument");
        expect(String(res.json.message), label).toContain(HEADER);
      }
    });

    it("the header sent twice (fetch Headers.append) is refused, even when both name tenant_a", async () => {
      for (const second of ["tenant_b", "tenant_a"]) {
        const res = await jsonCall(server.baseUrl, "GetSecretValue", { name: "openai_key" }, delegateToken, [
          [HEADER, "tenant_a"],
          [HEADER, second],
        ]);
        expect(res.status, second).toBe(400);
        expect(res.json.code, second).toBe("invalid_argument");
        expect(String(res.json.message), second).toContain(HEADER);
        expect(JSON.stringify(res.json)).not.toContain("sk-openai-a");
      }
    });

    it("the header sent as two HTTP/2 header fields is refused", async () => {
      const session = await connectSession(server.baseUrl);
      try {
        for (const second of ["tenant_b", "tenant_a"]) {
          const reply = await rawRequest(session, {
            path: "/secrets.v1.SecretsService/GetSecretValue",
            contentType: "application/json",
            body: Buffer.from(JSON.stringify({ name: "openai_key" })),
            headers: { authorization: `Bearer ${delegateToken}`, [HEADER]: ["tenant_a", second] },
          });
          const json = JSON.parse(reply.body.toString("utf8")) as Record<string, unknown>;
          expect(reply.status, second).toBe(400);
          expect(json.code, second).toBe("invalid_argument");
          expect(String(json.message), second).toContain(HEADER);
          expect(reply.body.toString("utf8")).not.toContain("sk-openai-a");
        }
      } finally {
        await closeSession(session);
      }
    });
  });

  it("a token without secrets.delegate sending the header is PERMISSION_DENIED, even naming its own tenant", async () => {
    const explicit = await server.token("tenant_a", "alice", { scope: "secrets.read secrets.access secrets.write secrets.admin" });
    for (const [label, token] of [["default scopes", aliceToken], ["every scope but delegate", explicit]] as const) {
      for (const value of ["tenant_a", "tenant_b", "a b"]) {
        const err = await connectErrorOf(clientAs(server.baseUrl, token, { [HEADER]: value }).getSecretValue({ name: "openai_key" }));
        expect(err.code, `${label}, ${value}`).toBe(Code.PermissionDenied);
        expect(err.rawMessage, `${label}, ${value}`).toContain("secrets.delegate");
        expect(err.rawMessage).not.toContain("sk-openai-a");
      }
      const res = await jsonCall(server.baseUrl, "CreateSecret", { name: "planted", value: "x" }, token, [[HEADER, "tenant_a"]]);
      expect(res.status, label).toBe(403);
      expect(res.json.code, label).toBe("permission_denied");
    }
    // Nothing was planted.
    expect((await connectErrorOf(alice.getSecret({ name: "planted" }))).code).toBe(Code.NotFound);
  });

  it("the header is checked before the scope: a token lacking both is refused for the header", async () => {
    // Check order: authentication → delegation header → scope → fields → globs → lookup.
    const writeOnly = await server.token("tenant_a", "alice", { scope: "secrets.write" });
    const withHeader = await connectErrorOf(clientAs(server.baseUrl, writeOnly, { [HEADER]: "tenant_b" }).getSecret({ name: "openai_key" }));
    expect(withHeader.code).toBe(Code.PermissionDenied);
    expect(withHeader.rawMessage).toContain("secrets.delegate");
    // Without the header the same call is refused for its scope.
    const without = await connectErrorOf(clientAs(server.baseUrl, writeOnly).getSecret({ name: "openai_key" }));
    expect(without.code).toBe(Code.PermissionDenied);
    expect(without.rawMessage).toContain("needs scope secrets.read");
    // A delegate with a bad header value and no read scope: the header's INVALID_ARGUMENT comes first.
    const delegateNoRead = await server.token("platform", "agent-worker", { scope: "secrets.delegate" });
    const bad = await connectErrorOf(clientAs(server.baseUrl, delegateNoRead, { [HEADER]: "a b" }).getSecret({ name: "openai_key" }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.rawMessage).toMatch(/^x-developer-id/);
  });

  it("a delegate limited to stripe_* acting for tenant_a reads stripe_key but not openai_key (NOT_FOUND)", async () => {
    const narrow = await server.token("platform", "agent-worker", { scope: DELEGATE_SCOPES, secrets: ["stripe_*"] });
    const client = clientAs(server.baseUrl, narrow, { [HEADER]: "tenant_a" });
    expect((await client.getSecretValue({ name: "stripe_key" })).value).toBe("sk-stripe-a");
    const hidden = await connectErrorOf(client.getSecretValue({ name: "openai_key" }));
    expect(hidden.code).toBe(Code.NotFound);
    expect(hidden.rawMessage).not.toContain("sk-openai-a");
    expect((await connectErrorOf(client.getSecret({ name: "openai_key" }))).code).toBe(Code.NotFound);
    expect((await client.listSecrets({})).secrets.map((s) => s.name)).toEqual(["stripe_key"]);
    const json = await jsonCall(server.baseUrl, "GetSecretValue", { name: "openai_key" }, narrow, [[HEADER, "tenant_a"]]);
    expect(json.status).toBe(404);
  });

  it("audit events of delegated calls: principal = the delegate, developer_id = tenant_a, delegated = true", async () => {
    await asTenantA.getSecretValue({ name: "stripe_key" });
    await alice.getSecretValue({ name: "stripe_key" });
    const page = await alice.listAuditEvents({ name: "stripe_key", method: "GetSecretValue", pageSize: 1_000 });
    const byAgent = page.events.filter((e) => e.principal === "agent-worker");
    const byAlice = page.events.filter((e) => e.principal === "alice");
    expect(byAgent.length).toBeGreaterThanOrEqual(2); // this call, and the stripe_* delegate's
    for (const e of byAgent) expect(e).toMatchObject({ developerId: "tenant_a", delegated: true, code: 0, tokenId: "" });
    expect(byAlice.length).toBeGreaterThanOrEqual(1);
    for (const e of byAlice) expect(e).toMatchObject({ developerId: "tenant_a", delegated: false });

    // The creation by the delegate, over gRPC and over JSON.
    const created: AuditEvent[] = [];
    for (const name of ["deleg_grpc", "deleg_json"]) {
      created.push(...(await alice.listAuditEvents({ name, method: "CreateSecret" })).events);
    }
    expect(created.map((e) => [e.names[0], e.principal, e.developerId, e.delegated, e.code])).toEqual(
      expect.arrayContaining([
        ["deleg_grpc", "agent-worker", "tenant_a", true, 0],
        ["deleg_json", "agent-worker", "tenant_a", true, 0],
      ]),
    );
    // Recorded under tenant_a: the delegate's own tenant does not list them.
    expect((await platformOwn.listAuditEvents({ name: "deleg_grpc" })).events).toEqual([]);
    // The delegate's calls without the header are platform's, not delegated.
    const own = (await platformOwn.listAuditEvents({ name: "platform_own", method: "CreateSecret" })).events;
    expect(own.map((e) => [e.principal, e.developerId, e.delegated])).toEqual([["agent-worker", "platform", false]]);
  });

  describe("a task token minted by a delegate for tenant_a", () => {
    let task: { token: string; tokenId: string };

    beforeAll(async () => {
      const minted = await asTenantA.createTaskToken({ scopes: ["secrets.access", "secrets.read"], secrets: ["*"], label: "delegated-job" });
      task = { token: minted.token, tokenId: minted.tokenId };
    });

    it("acts for tenant_a without any header", async () => {
      expect(decodeJwt(task.token)).toMatchObject({ sub: "agent-worker", developer_id: "tenant_a", scope: "secrets.access secrets.read" });
      const client = clientAs(server.baseUrl, task.token);
      expect((await client.getSecretValue({ name: "openai_key" })).value).toBe("sk-openai-a");
      expect((await client.getSecretValue({ name: "deleg_grpc" })).value).toBe("v2-by-agent");
      expect((await connectErrorOf(client.getSecret({ name: "platform_own" }))).code).toBe(Code.NotFound);
      const json = await jsonCall(server.baseUrl, "GetSecretValue", { name: "stripe_key" }, task.token);
      expect(json.json).toMatchObject({ value: "sk-stripe-a" });
      // Its calls are audited as tenant_a's, with the token's id; not delegated (no header chose the tenant).
      const events = (await alice.listAuditEvents({ name: "openai_key", method: "GetSecretValue", pageSize: 1_000 })).events.filter((e) => e.tokenId === task.tokenId);
      expect(events.length).toBeGreaterThanOrEqual(1);
      for (const e of events) expect(e).toMatchObject({ principal: "agent-worker", developerId: "tenant_a", delegated: false, tokenLabel: "delegated-job" });
    });

    it("sending the header with it is PERMISSION_DENIED (a task token never holds secrets.delegate)", async () => {
      for (const value of ["tenant_a", "tenant_b", "platform"]) {
        const err = await connectErrorOf(clientAs(server.baseUrl, task.token, { [HEADER]: value }).getSecretValue({ name: "openai_key" }));
        expect(err.code, value).toBe(Code.PermissionDenied);
        expect(err.rawMessage).toContain("secrets.delegate");
        const res = await jsonCall(server.baseUrl, "GetSecretValue", { name: "openai_key" }, task.token, [[HEADER, value]]);
        expect(res.status, value).toBe(403);
        expect(res.json.code, value).toBe("permission_denied");
      }
    });

    it("a delegate cannot hand secrets.delegate to a task token", async () => {
      const err = await connectErrorOf(asTenantA.createTaskToken({ scopes: ["secrets.delegate"], secrets: ["*"] }));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toContain("scopes");
    });

    it("tenant_a's own token can revoke it; tenant_b's cannot see it", async () => {
      expect((await connectErrorOf(bob.revokeTaskToken({ tokenId: task.tokenId }))).code).toBe(Code.NotFound);
      expect((await clientAs(server.baseUrl, task.token).getSecretValue({ name: "stripe_key" })).value).toBe("sk-stripe-a");
      await alice.revokeTaskToken({ tokenId: task.tokenId });
      const err = await connectErrorOf(clientAs(server.baseUrl, task.token).getSecretValue({ name: "stripe_key" }));
      expect(err.code).toBe(Code.Unauthenticated);
    });
  });
});
