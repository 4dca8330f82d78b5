import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AwsKeyProvider } from "../../src/adapters/aws-kms/aws-key-provider.js";
import { LocalKeyProvider } from "../../src/adapters/local-kms/local-key-provider.js";
import { MemorySecretStore } from "../../src/adapters/memory/memory-secret-store.js";
import { MemoryIdempotencyStore } from "../../src/adapters/memory/memory-idempotency-store.js";
import { connectMongo } from "../../src/adapters/mongodb/connect.js";
import { createApp } from "../../src/app.js";
import { mintToken } from "../../src/auth/dev-token.js";
import { createTokenVerifier } from "../../src/auth/token-verifier.js";
import { systemClock } from "../../src/ports/clock.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import type { SecretStore } from "../../src/ports/secret-store.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { dropDatabase, freshDbName, kmsCredentials, services } from "../helpers/services.js";
import { startTcpProxy } from "../helpers/tcp-proxy.js";

// Backing services failing under a running server: the call answers UNAVAILABLE,
// the server keeps serving, and shutdown lets in-flight calls finish.

const jwtSecret = randomBytes(32).toString("base64url");

async function serve(store: SecretStore, keys: KeyProvider) {
  const app = createApp({
    store,
    idempotency: new MemoryIdempotencyStore(),
    keys,
    verifier: await createTokenVerifier({ hmacSecret: jwtSecret, algorithms: ["HS256"] }),
    clock: systemClock,
    logger: pino({ level: process.env.FAULTS_LOG ? "info" : "silent" }),
    maxRequestBytes: 65_536 * 2,
    pendingVersionLeaseMs: 30_000,
  });
  const server = await app.listen("127.0.0.1", 0);
  const client = connectGrpcClient(`http://127.0.0.1:${server.address.port}`, await mintToken(jwtSecret, { sub: "u", developer_id: "dev" }));
  return { app, server, client };
}

const codeOf = (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof ConnectError ? Code[e.code] : String(e)));
const localKeys = () => new LocalKeyProvider(new Map([["k", randomBytes(32)]]), "k");

describe("backing services going down", () => {
  it("MongoDB unreachable mid-flight answers UNAVAILABLE, and the server keeps serving", async () => {
    const proxy = await startTcpProxy(Number(new URL(services.mongoUri).port || 27017));
    const db = freshDbName("down");
    const mongo = await connectMongo({ uri: `mongodb://127.0.0.1:${proxy.port}/${db}`, defaultDb: db, serverSelectionTimeoutMS: 1_500 });
    const { server, client } = await serve(mongo.secrets, localKeys());
    try {
      await client.createSecret({ name: "before", value: "v" });
      proxy.cut();
      expect(await codeOf(client.getSecretValue({ name: "before" }))).toBe("Unavailable");
      expect(await codeOf(client.createSecret({ name: "during", value: "v" }))).toBe("Unavailable");
      // Health and reflection still answer; the process did not die.
      expect(server.address.port).toBeGreaterThan(0);
      expect(await codeOf(client.getSecret({ name: "1bad" }))).toBe("InvalidArgument");
    } finally {
      await server.close(500);
      await mongo.close();
      await proxy.close();
      await dropDatabase(db);
    }
  });

  it("KMS unreachable answers UNAVAILABLE and writes nothing", async () => {
    const closedPort = await startTcpProxy(1).then(async (p) => {
      await p.close();
      return p.port;
    });
    const store = new MemorySecretStore();
    const keys = new AwsKeyProvider({ keyId: services.kmsKeyId, region: services.region, endpoint: `http://127.0.0.1:${closedPort}`, credentials: kmsCredentials() });
    const { server, client } = await serve(store, keys);
    try {
      expect(await codeOf(client.createSecret({ name: "k", value: "v" }))).toBe("Unavailable");
      expect(await codeOf(client.getSecret({ name: "k" }))).toBe("NotFound");
    } finally {
      await server.close(500);
      await keys.close();
    }
  });
});

describe("graceful shutdown", () => {
  let release: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const inner = new MemorySecretStore();
  /** Names of the "slow..." calls that have reached the store (and wait at the gate). */
  const arrived = new Set<string>();
  // findSecret waits at the gate, so a call is in flight when shutdown starts.
  const slowStore: SecretStore = new Proxy(inner, {
    get(target, prop, receiver) {
      const member = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== "findSecret" || typeof member !== "function") return typeof member === "function" ? member.bind(target) : member;
      return async (...args: [string, string]) => {
        if (args[1].startsWith("slow")) {
          arrived.add(args[1]);
          await gate;
        }
        return (member as SecretStore["findSecret"]).apply(target, args);
      };
    },
  });
  let ctx: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    ctx = await serve(slowStore, localKeys());
  });
  afterAll(() => release());

  it("honours the caller's deadline and keeps serving", async () => {
    const err = await ctx.client.getSecret({ name: "slow" }, { timeoutMs: 100 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.DeadlineExceeded);
    expect(await codeOf(ctx.client.getSecret({ name: "absent" }))).toBe("NotFound");
  });

  it("finishes in-flight calls, reports NOT_SERVING, and refuses new connections", async () => {
    await ctx.client.createSecret({ name: "other", value: "v" });
    const inFlight = codeOf(ctx.client.getSecret({ name: "slow_in_flight" }));
    await waitUntil(() => arrived.has("slow_in_flight"), "the call is in flight in the server");
    const closing = ctx.server.close(10_000);
    expect(ctx.app.health.get("")).toBe("NOT_SERVING");
    release();
    expect(await inFlight).toBe("NotFound"); // answered, not cut off
    await closing;
    const fresh = connectGrpcClient(`http://127.0.0.1:${ctx.server.address.port}`, "t");
    expect(await codeOf(fresh.getSecret({ name: "other" }))).toBe("Unavailable");
  });
});
