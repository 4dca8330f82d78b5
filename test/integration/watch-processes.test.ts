import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Client } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { mintToken } from "../../src/auth/dev-token.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { spawnServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { dropDatabase, freshDbName, mongoUriFor, services } from "../helpers/services.js";
import { brief, codeOf, collectWatch, type Watch } from "../helpers/watch.js";

// WatchSecrets across two real server processes (src/main.ts) sharing one FerretDB database, one
// Redis and its change channel, one master key and one token secret: a watcher on either process
// hears the writes committed on the other; a purge is announced once, by the process that removed the
// secret; a watcher loses its stream when its process dies, and a watch on the new process hears
// later writes; tenants stay apart across processes.
//
// Every watch waits for its first heartbeat before anything is written. "Nothing else arrived" is
// checked with a sentinel write made after the others have returned: a write returns once Redis has
// acknowledged its PUBLISH, and Redis delivers messages in the order it took them, so the sentinel's
// event reaches every watcher after theirs, whichever process committed them.

type Secrets = Client<typeof SecretsService>;

const TEST_TIMEOUT_MS = 300_000;
const WAIT_MS = 60_000;
const CALL = { timeoutMs: 60_000 };
const SENTINEL = "zz_sentinel_";
/**
 * How connect-node ends a stream whose server process died: Node resets the streams of a session whose
 * socket closed with CANCEL (Canceled), a reset socket is ECONNRESET (Aborted), a refused one
 * Unavailable, and a torn HTTP/2 frame Internal. Never a status the server chose (OK, UNAUTHENTICATED...).
 */
const LOST_CODES = ["Canceled", "Aborted", "Unavailable", "Internal"];


let db: string | undefined;
let jwtSecret: string;
let env: Record<string, string>;
let raw: RawDb | undefined;
const procs: ServerProcess[] = [];
let a: ServerProcess;
let b: ServerProcess;
const watches: Watch[] = [];
let sentinels = 0;

const token = (developer: string, scope?: string) => mintToken(jwtSecret, { sub: `${developer}-user`, developer_id: developer, ...(scope ? { scope } : {}) });
const clientOn = async (proc: ServerProcess, developer: string, scope?: string) => connectGrpcClient(proc.baseUrl, await token(developer, scope));

function watchOn(client: Secrets, names: string[] = []): Watch {
  const w = collectWatch((signal) => client.watchSecrets({ names }, { signal }), WAIT_MS);
  watches.push(w);
  return w;
}

/** A watch that has had its first heartbeat. */
async function live(client: Secrets, names: string[] = []): Promise<Watch> {
  const w = watchOn(client, names);
  await w.until((x) => x.events.length > 0, "the first message");
  expect(brief(w.events[0]!)).toBe("HEARTBEAT  0");
  return w;
}

/** Writes a sentinel with `writer` and waits for it on every watch; returns each watch's events but the sentinels'. */
async function settle(writer: Secrets, ...ws: Watch[]): Promise<string[][]> {
  const name = `${SENTINEL}${++sentinels}`;
  await writer.createSecret({ name, value: "s" }, CALL);
  const mark = `CREATED ${name} 1`;
  return Promise.all(
    ws.map(async (w) => {
      await w.until((x) => x.named().includes(mark), `the sentinel ${name} arrives`);
      expect(w.named().at(-1)).toBe(mark);
      return w.named().filter((e) => !e.split(" ")[1]!.startsWith(SENTINEL));
    }),
  );
}

beforeAll(async () => {
  db = freshDbName("watch_processes");
  jwtSecret = randomBytes(32).toString("base64url");
  env = {
    PORT: "0",
    STORE: "mongodb",
    MONGODB_URI: mongoUriFor(db),
    KEY_PROVIDER: "local",
    LOCAL_MASTER_KEY: randomBytes(32).toString("base64"),
    AUTH_JWT_SECRET: jwtSecret,
    REDIS_URL: services.redisUrl,
    // A channel of this file's own: other test files' processes publish on theirs.
    CHANGE_CHANNEL: `sc:changes:test:${randomBytes(6).toString("hex")}`,
    WATCH_HEARTBEAT_SECONDS: "1",
    // The background sweeper stays out of the way: purges here come from the calls the tests make.
    SWEEP_INTERVAL_MS: "3600000",
    LOG_LEVEL: "info",
  };
  const started = await Promise.allSettled([0, 1].map(async () => {
    const proc = await spawnServerProcess(env);
    procs.push(proc);
    return proc;
  }));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  [a, b] = started.map((r) => (r as PromiseFulfilledResult<ServerProcess>).value) as [ServerProcess, ServerProcess];
  raw = await openRawDb(db);
}, TEST_TIMEOUT_MS);

afterEach(async () => {
  await Promise.all(watches.splice(0).map((w) => w.stop()));
});

afterAll(async () => {
  for (const [i, proc] of procs.entries()) {
    const file = path.join(tmpdir(), `watch-processes-${i}-${process.pid}.log`);
    await writeFile(file, proc.output()).catch(() => {});
  }
  await Promise.allSettled(procs.map((p) => p.kill()));
  await raw?.close();
  if (db) await dropDatabase(db);
}, 120_000);

describe("WatchSecrets across two processes", () => {
  it(
    "a watcher on B hears writes committed on A, and one on A hears writes committed on B",
    async () => {
      const onA = await clientOn(a, "wp-cross");
      const onB = await clientOn(b, "wp-cross");
      const watchA = await live(onA);
      const watchB = await live(onB);
      await onA.createSecret({ name: "cross_a", value: "1" }, CALL);
      await onA.putSecretValue({ name: "cross_a", value: "2" }, CALL);
      await onA.disableSecretVersion({ name: "cross_a", version: 1n }, CALL);
      await onA.deleteSecret({ name: "cross_a" }, CALL);
      const [aSawA, bSawA] = await settle(onA, watchA, watchB);
      const fromA = ["CREATED cross_a 1", "VERSION_ADDED cross_a 2", "VERSION_STATE_CHANGED cross_a 1", "DELETED cross_a 2"];
      expect(bSawA).toEqual(fromA);
      expect(aSawA).toEqual(fromA);

      await onB.restoreSecret({ name: "cross_a" }, CALL);
      await onB.updateSecret({ name: "cross_a", description: "from B", updateMask: { paths: ["description"] } }, CALL);
      await onB.createSecret({ name: "cross_b", value: "b" }, CALL);
      const [aSawB, bSawB] = await settle(onB, watchA, watchB);
      const fromB = ["RESTORED cross_a 2", "UPDATED cross_a 2", "CREATED cross_b 1"];
      expect(aSawB).toEqual([...fromA, ...fromB]);
      expect(bSawB).toEqual([...fromA, ...fromB]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "PURGED is delivered once, on A and on B, when A force-deletes",
    async () => {
      const onA = await clientOn(a, "wp-force");
      const onB = await clientOn(b, "wp-force");
      const watchA = await live(onA);
      const watchB = await live(onB);
      await onA.createSecret({ name: "purge_forced", value: "f" }, CALL);
      await onA.putSecretValue({ name: "purge_forced", value: "f2" }, CALL);
      await onA.deleteSecret({ name: "purge_forced", force: true }, CALL);
      // Maintenance on B afterwards finds nothing of it left to purge.
      await (await clientOn(b, "wp-operator", "secrets.admin")).runMaintenance({}, CALL);
      for (const seen of await settle(onB, watchA, watchB)) {
        expect(seen.filter((e) => e.startsWith("PURGED"))).toEqual(["PURGED purge_forced 2"]);
        expect(seen.slice(0, 2)).toEqual(["CREATED purge_forced 1", "VERSION_ADDED purge_forced 2"]);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "PURGED is delivered once for each secret when the sweepers of A and B remove them at the same time",
    async () => {
      const onA = await clientOn(a, "wp-sweep");
      const onB = await clientOn(b, "wp-sweep");
      const watchA = await live(onA);
      const watchB = await live(onB);
      const names = Array.from({ length: 20 }, (_, i) => `purge_swept_${i}`);
      for (const name of names) {
        await onA.createSecret({ name, value: "s" }, CALL);
        await onA.deleteSecret({ name, recoveryWindowDays: 1 }, CALL);
      }
      // The recovery window is a day at least: its end is moved into the past.
      const moved = await raw!.db.collection("secrets").updateMany({ tenant: "wp-sweep", name: { $in: names } }, { $set: { purgeTime: new Date(Date.now() - 1_000) } });
      expect(moved.modifiedCount).toBe(names.length);
      const [adminA, adminB] = await Promise.all([clientOn(a, "wp-operator", "secrets.admin"), clientOn(b, "wp-operator", "secrets.admin")]);
      await Promise.all([adminA.runMaintenance({}, CALL), adminB.runMaintenance({}, CALL), adminA.runMaintenance({}, CALL), adminB.runMaintenance({}, CALL)]);
      for (const name of names) expect(await raw!.db.collection("secrets").countDocuments({ tenant: "wp-sweep", name }), name).toBe(0);
      for (const seen of await settle(onA, watchA, watchB)) {
        const purges = seen.filter((e) => e.startsWith("PURGED"));
        expect(purges.sort()).toEqual(names.map((n) => `PURGED ${n} 1`).sort());
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "tenants stay apart across processes: a watcher on B never hears another tenant's writes on A",
    async () => {
      const xOnA = await clientOn(a, "wp-tenant-x");
      const yOnA = await clientOn(a, "wp-tenant-y");
      const xOnB = await clientOn(b, "wp-tenant-x");
      const watchX = await live(xOnB);
      const watchXNamed = await live(xOnB, ["same_name"]);
      await yOnA.createSecret({ name: "same_name", value: "y" }, CALL);
      await yOnA.putSecretValue({ name: "same_name", value: "y2" }, CALL);
      await yOnA.deleteSecret({ name: "same_name" }, CALL);
      await xOnA.createSecret({ name: "same_name", value: "x" }, CALL);
      const [seen] = await settle(xOnA, watchX);
      expect(seen).toEqual(["CREATED same_name 1"]);
      expect(watchXNamed.named()).toEqual(["CREATED same_name 1"]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "restarting B: its watcher's stream ends; a watch on the new B hears later writes on A",
    async () => {
      const onA = await clientOn(a, "wp-restart");
      const old = await live(await clientOn(b, "wp-restart"));
      await onA.createSecret({ name: "restart_a", value: "1" }, CALL);
      await old.until((x) => x.named().includes("CREATED restart_a 1"), "the event before the restart");

      await b.kill();
      await old.until((x) => x.ended, "the old stream ends");
      expect(LOST_CODES, String(old.error)).toContain(codeOf(old.error));
      const before = old.events.length;

      b = await spawnServerProcess(env);
      procs.push(b);
      const onNewB = await clientOn(b, "wp-restart");
      const fresh = await live(onNewB);
      await onA.putSecretValue({ name: "restart_a", value: "2" }, CALL);
      await onA.createSecret({ name: "restart_b", value: "b" }, CALL);
      const [seen] = await settle(onA, fresh);
      expect(seen).toEqual(["VERSION_ADDED restart_a 2", "CREATED restart_b 1"]);
      expect(old.events).toHaveLength(before);
      // The new B's own writes reach A's watchers too.
      const onAWatch = await live(onA);
      await onNewB.putSecretValue({ name: "restart_a", value: "3" }, CALL);
      const [aSaw] = await settle(onNewB, onAWatch);
      expect(aSaw).toEqual(["VERSION_ADDED restart_a 3"]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "SIGTERM on B: its watches end with UNAVAILABLE (watch again elsewhere) and B exits cleanly; A keeps serving",
    async () => {
      const old = await live(await clientOn(b, "wp-term"));
      const exitCode = await b.terminate();
      await old.until((x) => x.ended, "the stream ends on shutdown");
      expect(codeOf(old.error)).toBe("Unavailable");
      expect(String(old.error)).toContain("shutting down");
      expect(exitCode).toBe(0);
      b = await spawnServerProcess(env);
      procs.push(b);
      const onA = await clientOn(a, "wp-term");
      const fresh = await live(await clientOn(b, "wp-term"));
      await onA.createSecret({ name: "term_a", value: "1" }, CALL);
      const [seen] = await settle(onA, fresh);
      expect(seen).toEqual(["CREATED term_a 1"]);
    },
    TEST_TIMEOUT_MS,
  );
});
