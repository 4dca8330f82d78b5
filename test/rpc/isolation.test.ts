import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { mintToken } from "../../src/auth/dev-token.js";
import { connectGrpcClient, connectJson } from "../helpers/clients.js";
import { connectErrorOf } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Tenancy over the real server and FerretDB: a developer's secrets are invisible to
// every other developer, and "someone else's" must look exactly like "absent".

type Secrets = Client<typeof SecretsService>;

/** A failure with the secret's name blanked out, so two names can be compared. */
async function failureShape(call: Promise<unknown>, name: string): Promise<{ code: Code; message: string }> {
  const err = await connectErrorOf(call);
  return { code: err.code, message: err.rawMessage.split(name).join("<name>") };
}

describe("developer isolation", () => {
  let server: TestServer;
  let alice: Secrets; // developer A
  let bob: Secrets; // developer B
  let aliceToken: string;
  let bobToken: string;
  let aliceEtag = "";

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_isolation" });
    aliceToken = await server.token("dev-a", "alice");
    bobToken = await server.token("dev-b", "bob");
    alice = connectGrpcClient(server.baseUrl, aliceToken);
    bob = connectGrpcClient(server.baseUrl, bobToken);
    const created = await alice.createSecret({
      name: "x",
      value: "alice-only",
      description: "A's secret",
      metadata: { owner: "alice" },
    });
    await alice.updateSecret({ name: "x", value: "alice-only-v2" });
    await alice.createSecret({ name: "xylophone", value: "a2", metadata: { owner: "alice" } });
    aliceEtag = (await alice.getSecret({ name: "x" })).secret?.etag ?? "";
    expect(aliceEtag).not.toBe(created.secret?.etag);
  });

  afterAll(async () => {
    await server?.close();
  });

  it("B cannot get, read values of, or update A's secret: NOT_FOUND shaped like an absent name", async () => {
    // "y" has never existed for anyone and has the same length as "x".
    const calls: [string, (name: string) => Promise<unknown>][] = [
      ["GetSecret", (name) => bob.getSecret({ name })],
      ["GetSecretValue latest", (name) => bob.getSecretValue({ name })],
      ["GetSecretValue v1", (name) => bob.getSecretValue({ name, version: 1n })],
      ["GetSecretValue v2", (name) => bob.getSecretValue({ name, version: 2n })],
      ["UpdateSecret value", (name) => bob.updateSecret({ name, value: "bob was here" })],
      ["UpdateSecret description", (name) => bob.updateSecret({ name, description: "bob was here" })],
      ["UpdateSecret with A's etag", (name) => bob.updateSecret({ name, updateMask: { paths: ["metadata"] }, etag: aliceEtag })],
    ];
    for (const [label, call] of calls) {
      const othersSecret = await failureShape(call("x"), "x");
      const absent = await failureShape(call("y"), "y");
      expect(othersSecret.code, label).toBe(Code.NotFound);
      expect(othersSecret, label).toEqual(absent);
      expect(othersSecret.message, label).not.toMatch(/alice|dev-a|exist|owner|permission|denied|tenant/i);
    }
    // A's own miss looks the same too.
    expect(await failureShape(alice.getSecret({ name: "y" }), "y")).toEqual(
      await failureShape(bob.getSecret({ name: "x" }), "x"),
    );
  });

  it("B's failed attempts changed nothing of A's", async () => {
    const secret = (await alice.getSecret({ name: "x" })).secret;
    expect(secret).toMatchObject({
      description: "A's secret",
      metadata: { owner: "alice" },
      latestVersion: 2n,
      updatedBy: "alice",
      etag: aliceEtag,
    });
    expect((await alice.getSecretValue({ name: "x" })).value).toBe("alice-only-v2");
  });

  it("B's listings never include A's secrets, whatever the prefix or filter", async () => {
    expect((await bob.listSecrets({})).secrets).toEqual([]);
    expect((await bob.listSecrets({ namePrefix: "x" })).secrets).toEqual([]);
    expect((await bob.listSecrets({ metadataFilter: { owner: "alice" } })).secrets).toEqual([]);
    expect((await bob.listSecrets({ namePrefix: "x", pageSize: 1000 })).nextPageToken).toBe("");
    const aliceNames = (await alice.listSecrets({ namePrefix: "x" })).secrets.map((s) => s.name);
    expect(aliceNames).toEqual(["x", "xylophone"]);
  });

  it("B cannot walk A's listing with A's page token", async () => {
    const page = await alice.listSecrets({ pageSize: 1 });
    expect(page.secrets.map((s) => s.name)).toEqual(["x"]);
    expect(page.nextPageToken).not.toBe("");
    const err = await connectErrorOf(bob.listSecrets({ pageSize: 1, pageToken: page.nextPageToken }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("page_token");
    expect(err.rawMessage).not.toContain("xylophone");
  });

  it("Connect JSON: B's read of A's secret and of an absent name answer the same 404 body", async () => {
    const others = await connectJson(server.baseUrl, "GetSecretValue", { name: "x" }, bobToken);
    const absent = await connectJson(server.baseUrl, "GetSecretValue", { name: "y" }, bobToken);
    expect(others.status).toBe(404);
    expect(absent.status).toBe(404);
    expect(others.json.code).toBe("not_found");
    expect(JSON.stringify(others.json).replaceAll('\\"x\\"', "N")).toBe(JSON.stringify(absent.json).replaceAll('\\"y\\"', "N"));
    expect(JSON.stringify(others.json)).not.toContain("alice-only");
  });

  it("B can create its own secret with A's name; each developer sees only its own", async () => {
    const mine = await bob.createSecret({ name: "x", value: "bob-only", metadata: { owner: "bob" } });
    expect(mine.secret).toMatchObject({ name: "x", latestVersion: 1n, createdBy: "bob", metadata: { owner: "bob" } });

    expect((await bob.getSecretValue({ name: "x" })).value).toBe("bob-only");
    expect((await alice.getSecretValue({ name: "x" })).value).toBe("alice-only-v2");
    // B's version 2 does not exist even though A's does.
    expect((await connectErrorOf(bob.getSecretValue({ name: "x", version: 2n }))).code).toBe(Code.NotFound);

    await bob.updateSecret({ name: "x", description: "B's own", etag: mine.secret?.etag ?? "" });
    expect((await alice.getSecret({ name: "x" })).secret).toMatchObject({ description: "A's secret", etag: aliceEtag });
    expect((await bob.listSecrets({})).secrets.map((s) => [s.name, s.description])).toEqual([["x", "B's own"]]);
    expect((await alice.listSecrets({ metadataFilter: { owner: "bob" } })).secrets).toEqual([]);

    // A's etag means nothing for B's secret of the same name.
    const err = await connectErrorOf(bob.updateSecret({ name: "x", value: "v", etag: aliceEtag }));
    expect(err.code).toBe(Code.Aborted);
    // Names are unique per developer, not globally: a second create by B is refused.
    expect((await connectErrorOf(bob.createSecret({ name: "x", value: "again" }))).code).toBe(Code.AlreadyExists);
  });

  describe("tenant = developer_id, principal = sub", () => {
    it("two subjects of one developer share secrets; created_by/updated_by record each subject", async () => {
      const carol = connectGrpcClient(server.baseUrl, await server.token("team-c", "carol"));
      const dave = connectGrpcClient(server.baseUrl, await server.token("team-c", "dave"));

      const created = await carol.createSecret({ name: "shared_key", value: "c1" });
      expect(created.secret).toMatchObject({ createdBy: "carol", updatedBy: "carol" });

      expect((await dave.getSecretValue({ name: "shared_key" })).value).toBe("c1");
      const updated = await dave.updateSecret({ name: "shared_key", value: "d2" });
      expect(updated.secret).toMatchObject({ createdBy: "carol", updatedBy: "dave", latestVersion: 2n });
      expect((await carol.getSecretValue({ name: "shared_key" })).value).toBe("d2");

      await carol.updateSecret({ name: "shared_key", description: "by carol" });
      expect((await dave.getSecret({ name: "shared_key" })).secret).toMatchObject({ createdBy: "carol", updatedBy: "carol" });
      expect((await dave.listSecrets({})).secrets.map((s) => s.name)).toEqual(["shared_key"]);
      // Another developer still sees nothing of team-c.
      expect((await connectErrorOf(bob.getSecret({ name: "shared_key" }))).code).toBe(Code.NotFound);
    });

    it("without developer_id the subject is the tenant", async () => {
      const solo = connectGrpcClient(server.baseUrl, await mintToken(server.jwtSecret, { sub: "solo" }));
      const created = await solo.createSecret({ name: "solo_key", value: "s" });
      expect(created.secret).toMatchObject({ createdBy: "solo" });
      // A token naming developer "solo" (another subject) reaches the same secrets.
      const helper = connectGrpcClient(server.baseUrl, await server.token("solo", "solo-helper"));
      expect((await helper.getSecretValue({ name: "solo_key" })).value).toBe("s");
      // A token whose sub is "solo" but developer_id is another developer does not.
      const elsewhere = connectGrpcClient(server.baseUrl, await server.token("dev-elsewhere", "solo"));
      expect((await connectErrorOf(elsewhere.getSecret({ name: "solo_key" }))).code).toBe(Code.NotFound);
    });
  });
});
