import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, type CallOptions } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { mintToken } from "../../src/auth/dev-token.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { openRawDb } from "../helpers/raw-db.js";
import { expectCode } from "../helpers/rpc-failures.js";
import { spawnServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { dropDatabase, freshDbName, mongoUriFor } from "../helpers/services.js";

// The audit trail of the real process (src/main.ts, STORE=mongodb on FerretDB): with AUDIT_LOG,
// every event stored in audit_events is also one JSON line of the file, fields named as in the
// proto, written out by a clean SIGTERM, and neither the file nor the process output holds a
// value or a token. With AUDIT=off the process warns, serves, records nothing, and
// ListAuditEvents answers FAILED_PRECONDITION.

/** The fields of a JSON line: the proto's AuditEvent field names. */
const LINE_FIELDS = [
  "code",
  "delegated",
  "developer_id",
  "event_id",
  "event_time",
  "method",
  "mtls_subject",
  "names",
  "peer_address",
  "principal",
  "request_id",
  "token_id",
  "token_label",
  "user_agent",
  "versions",
];

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fresh database, a temp folder, and the env of a MongoDB-backed process over them. */
function processEnv(extra: Record<string, string>): { env: Record<string, string>; db: string; dir: string; jwtSecret: string } {
  const db = freshDbName("audit_proc");
  const dir = mkdtempSync(path.join(tmpdir(), "audit-proc-"));
  cleanups.push(() => dropDatabase(db), () => rmSync(dir, { recursive: true, force: true }));
  const jwtSecret = randomBytes(32).toString("base64url");
  return {
    db,
    dir,
    jwtSecret,
    env: {
      STORE: "mongodb",
      MONGODB_URI: mongoUriFor(db),
      KEY_PROVIDER: "local",
      LOCAL_MASTER_KEY: randomBytes(32).toString("base64"),
      AUTH_JWT_SECRET: jwtSecret,
      HOST: "127.0.0.1",
      PORT: "0",
      CACHE_TTL_SECONDS: "0",
      SWEEP_INTERVAL_MS: "3600000",
      LOG_LEVEL: "info",
      ...extra,
    },
  };
}

async function start(env: Record<string, string>): Promise<ServerProcess> {
  const proc = await spawnServerProcess(env);
  cleanups.push(() => proc.kill());
  return proc;
}

const withId = (requestId: string): CallOptions => ({ headers: { "x-request-id": requestId } });
const rid = (label: string) => `proc-${label}-${randomBytes(5).toString("hex")}`;

describe("the audit trail of the service process", () => {
  it("AUDIT_LOG: one JSON line per call with the proto's field names, the same events as audit_events, no value or token", async () => {
    const { env, db, dir, jwtSecret } = processEnv({});
    const file = path.join(dir, "logs", "audit.jsonl");
    const proc = await start({ ...env, AUDIT_LOG: file });
    const token = await mintToken(jwtSecret, { sub: "proc-user", developer_id: "proc-dev" });
    const readerToken = await mintToken(jwtSecret, { sub: "proc-reader", developer_id: "proc-dev", scope: "secrets.read" });
    const client = connectGrpcClient(proc.baseUrl, token);
    const reader = connectGrpcClient(proc.baseUrl, readerToken);
    const secretValue = `VALUE-proc-${randomBytes(8).toString("hex")}`;
    const description = `BODY-proc-${randomBytes(8).toString("hex")}`;

    const ids = { create: rid("create"), read: rid("read"), missing: rid("missing"), denied: rid("denied") };
    await client.createSecret({ name: "proc_key", value: secretValue, description }, withId(ids.create));
    expect((await client.getSecretValue({ name: "proc_key" }, withId(ids.read))).value).toBe(secretValue);
    await expectCode(client.getSecretValue({ name: "nosuch" }, withId(ids.missing)), Code.NotFound);
    await expectCode(reader.getSecretValue({ name: "proc_key" }, withId(ids.denied)), Code.PermissionDenied);

    expect(await proc.terminate()).toBe(0);
    expect(proc.output()).toContain('"stopped"');

    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, "utf8");
    const lines = text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(Object.keys(line).sort()).toEqual(LINE_FIELDS);
    const byRequest = new Map(lines.map((l) => [l.request_id, l]));
    expect(byRequest.get(ids.create)).toMatchObject({ method: "CreateSecret", code: 0, principal: "proc-user", developer_id: "proc-dev", delegated: false, names: ["proc_key"], versions: [1], token_id: "", token_label: "" });
    expect(byRequest.get(ids.read)).toMatchObject({ method: "GetSecretValue", code: 0, names: ["proc_key"], versions: [1] });
    expect(byRequest.get(ids.missing)).toMatchObject({ method: "GetSecretValue", code: Code.NotFound, names: ["nosuch"], versions: [0] });
    expect(byRequest.get(ids.denied)).toMatchObject({ method: "GetSecretValue", code: Code.PermissionDenied, principal: "proc-reader", developer_id: "proc-dev" });
    for (const line of lines) {
      expect(line.peer_address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(line.user_agent).toMatch(/^connect-es\//);
      expect(new Date(String(line.event_time)).toISOString()).toBe(line.event_time);
    }

    // The same events as the database holds, field for field.
    const raw = await openRawDb(db);
    try {
      const stored = await raw.db.collection("audit_events").find({}).toArray();
      expect(stored.map((d) => String(d._id)).sort()).toEqual(lines.map((l) => String(l.event_id)).sort());
      for (const d of stored) {
        expect(lines.find((l) => l.event_id === d._id)).toEqual({
          event_id: d._id,
          event_time: (d.time as Date).toISOString(),
          request_id: d.requestId,
          principal: d.principal,
          developer_id: d.tenant,
          delegated: d.delegated,
          token_id: d.tokenId,
          token_label: d.tokenLabel,
          method: d.method,
          names: d.names,
          versions: (d.versions as unknown[]).map(Number),
          code: d.code,
          peer_address: d.peerAddress,
          user_agent: d.userAgent,
          mtls_subject: d.mtlsSubject,
        });
      }
    } finally {
      await raw.close();
    }

    for (const secret of [secretValue, description, token, readerToken, token.split(".")[2]!, readerToken.split(".")[2]!, jwtSecret, env.LOCAL_MASTER_KEY!]) {
      expect(text.includes(secret), "the audit file holds a secret").toBe(false);
      expect(proc.output().includes(secret), "the process output holds a secret").toBe(false);
    }
  });

  it("AUDIT=off: warns at start, serves, records nothing, and ListAuditEvents is FAILED_PRECONDITION", async () => {
    const { env, db, dir, jwtSecret } = processEnv({ AUDIT: "off" });
    const file = path.join(dir, "audit.jsonl");
    const proc = await start({ ...env, AUDIT_LOG: file });
    const warning = proc
      .output()
      .split("\n")
      .filter((l) => l.includes("audit trail off"))
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(warning).toHaveLength(1);
    expect(warning[0]!.level).toBe(40);
    const listening = proc.output().split("\n").find((l) => l.includes('"listening"'));
    expect(JSON.parse(listening!)).toMatchObject({ audit: "off" });

    const client = connectGrpcClient(proc.baseUrl, await mintToken(jwtSecret, { sub: "off-user", developer_id: "off-dev" }));
    await client.createSecret({ name: "off_key", value: "off-value" });
    expect((await client.getSecretValue({ name: "off_key" })).value).toBe("off-value");
    await expectCode(client.getSecretValue({ name: "nosuch" }), Code.NotFound);
    await expectCode(client.listAuditEvents({}), Code.FailedPrecondition, /audit/i);

    const raw = await openRawDb(db);
    try {
      expect(await raw.db.collection("secrets").countDocuments()).toBe(1);
      expect(await raw.db.collection("audit_events").countDocuments()).toBe(0);
    } finally {
      await raw.close();
    }
    expect(await proc.terminate()).toBe(0);
    expect(existsSync(file)).toBe(false);
  });
});
