import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createCachingReader, type CachingReader, type CachingReaderOptions } from "../../src/client/index.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { waitUntil } from "../helpers/lifecycle.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { startTcpProxy } from "../helpers/tcp-proxy.js";

// The caching reader against the real server (FerretDB, Redis) over gRPC: its cache follows the
// writes WatchSecrets reports, and it falls back to the server when the stream is lost or refused.

describe("caching reader over WatchSecrets", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", label: "rpc_caching_reader" });
  });
  afterAll(async () => {
    await server?.close();
  });

  const readers: CachingReader[] = [];
  afterEach(async () => {
    await Promise.all(readers.splice(0).map((r) => r.close()));
  });

  async function open(developer: string, options: CachingReaderOptions = {}, baseUrl = server.baseUrl, token?: string) {
    const client = connectGrpcClient(baseUrl, token ?? (await server.token(developer)));
    const errors: unknown[] = [];
    const reader = createCachingReader(client, { reconnectDelayMs: { min: 20, max: 200 }, onError: (e) => errors.push(e), ...options });
    readers.push(reader);
    return { client, reader, errors };
  }

  // Each test writes only after ready(): from then on every write is reported, so waiting for its
  // invalidation leaves no event in flight that could drop an entry behind the test's back.

  it("serves repeated reads from the cache once ready", async () => {
    const { client, reader } = await open("cr-hits");
    await reader.ready();
    await client.createSecret({ name: "cr_hit", value: "v1" });
    await waitUntil(() => reader.stats().invalidations === 1, "the create is reported");
    expect(await reader.getValue("cr_hit")).toBe("v1");
    expect(await reader.getValue("cr_hit")).toBe("v1");
    expect(reader.stats()).toMatchObject({ hits: 1, misses: 1, invalidations: 1, reconnects: 0 });
  });

  it("drops a name's entries when the server reports a write, a version state change and a delete", async () => {
    const { client, reader } = await open("cr-events");
    await reader.ready();
    await client.createSecret({ name: "cr_event", value: "v1" });
    await waitUntil(() => reader.stats().invalidations === 1, "the create is reported");
    expect(await reader.getValue("cr_event")).toBe("v1");
    expect(await reader.getValue("cr_event", 1)).toBe("v1");
    expect(await reader.getValue("cr_event")).toBe("v1");
    expect(reader.stats()).toMatchObject({ hits: 1, misses: 2 });

    await client.putSecretValue({ name: "cr_event", value: "v2" });
    await waitUntil(() => reader.stats().invalidations === 2, "the new version is reported");
    // Told of the write: the very next read has it.
    expect(await reader.getValue("cr_event")).toBe("v2");

    expect(await reader.getValue("cr_event", 1)).toBe("v1");
    await client.disableSecretVersion({ name: "cr_event", version: 1n });
    await waitUntil(() => reader.stats().invalidations === 3, "the state change is reported");
    await expect(reader.getValue("cr_event", 1)).rejects.toMatchObject({ code: Code.FailedPrecondition });

    expect(await reader.getValue("cr_event")).toBe("v2");
    await client.deleteSecret({ name: "cr_event" });
    await waitUntil(() => reader.stats().invalidations === 4, "the delete is reported");
    await expect(reader.getValue("cr_event")).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("never serves a value older than a write it was told of, under concurrent reads and writes", async () => {
    const { client, reader } = await open("cr-race");
    await reader.ready();
    await client.createSecret({ name: "cr_race", value: "0" });
    await waitUntil(() => reader.stats().invalidations === 1, "the create is reported");
    for (let i = 1; i <= 20; i++) {
      const reads = Array.from({ length: 5 }, () => reader.getValue("cr_race"));
      await client.putSecretValue({ name: "cr_race", value: String(i) });
      // Reads racing the write may see either side of it, nothing older.
      for (const value of await Promise.all(reads)) expect([String(i - 1), String(i)]).toContain(value);
      await waitUntil(() => reader.stats().invalidations === i + 1, `write ${i} is reported`);
      expect(await reader.getValue("cr_race")).toBe(String(i));
      expect(await reader.getValue("cr_race")).toBe(String(i));
    }
    expect(reader.stats().hits).toBeGreaterThanOrEqual(20);
  });

  it("bypasses the cache while the connection is down and uses it again after reconnecting", async () => {
    const proxy = await startTcpProxy(server.server.address.port);
    try {
      const { reader, errors } = await open("cr-drop", {}, `http://127.0.0.1:${proxy.port}`);
      const direct = connectGrpcClient(server.baseUrl, await server.token("cr-drop"));
      await direct.createSecret({ name: "cr_drop", value: "v1" });
      await reader.ready();
      expect(await reader.getValue("cr_drop")).toBe("v1");
      proxy.cut();
      await waitUntil(() => errors.length > 0, "the lost stream is reported");
      // Written while the reader cannot hear of it: after the reconnect it must read it from the server.
      await direct.putSecretValue({ name: "cr_drop", value: "v2" });
      proxy.heal();
      await reader.ready();
      expect(await reader.getValue("cr_drop")).toBe("v2");
      expect(reader.stats().reconnects).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });

  it("ends the watch for good on PERMISSION_DENIED and keeps reading from the server", async () => {
    const writer = connectGrpcClient(server.baseUrl, await server.token("cr-denied"));
    await writer.createSecret({ name: "cr_denied", value: "v1" });
    const { reader, errors } = await open("cr-denied", {}, server.baseUrl, await server.token("cr-denied", undefined, { scope: "secrets.access" }));
    await expect(reader.ready()).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect(errors.map((e) => ConnectError.from(e).code)).toEqual([Code.PermissionDenied]);
    expect(await reader.getValue("cr_denied")).toBe("v1");
    expect(await reader.getValue("cr_denied")).toBe("v1");
    expect(reader.stats()).toMatchObject({ hits: 0, misses: 2, reconnects: 0 });
  });

  it("ends the watch for good when its token expires (UNAUTHENTICATED)", async () => {
    const { reader, errors } = await open("cr-expiry", {}, server.baseUrl, await server.token("cr-expiry", undefined, { expiresIn: "3s" }));
    await reader.ready();
    await waitUntil(() => errors.length > 0, "the stream ends", 30_000);
    expect(ConnectError.from(errors[0]).code).toBe(Code.Unauthenticated);
    await expect(reader.ready()).rejects.toMatchObject({ code: Code.Unauthenticated });
  });
});
