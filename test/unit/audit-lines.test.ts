import { fstatSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLines } from "../../src/adapters/audit-lines.js";
import type { AuditEvent } from "../../src/ports/audit-store.js";

const event: AuditEvent = {
  id: "00mjw3bq800000abcdefghij",
  time: new Date("2026-01-02T03:04:05.678Z"),
  requestId: "req-1",
  principal: "agent-7",
  tenant: "dev-1",
  delegated: true,
  tokenId: "tok-1",
  tokenLabel: "nightly",
  method: "BatchGetSecretValues",
  names: ["a", "b"],
  versions: [3, 0],
  code: 5,
  peerAddress: "127.0.0.1:5000",
  userAgent: "grpc-node/1.14",
  mtlsSubject: "CN=agent",
};

describe("audit lines", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "audit-lines-"));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("appends one JSON object a line, fields named as in the proto, to a file created with mode 0600", async () => {
    const path = join(dir, "nested", "deeper", "audit.jsonl");
    const lines = openAuditLines(path);
    lines.write(event);
    lines.write({ ...event, id: "second", names: [], versions: [] });
    await lines.close();
    const text = await readFile(path, "utf8");
    const [first, second, ...rest] = text.split("\n");
    expect(rest).toEqual([""]);
    expect(JSON.parse(first!)).toEqual({
      event_id: event.id,
      event_time: "2026-01-02T03:04:05.678Z",
      request_id: "req-1",
      principal: "agent-7",
      developer_id: "dev-1",
      delegated: true,
      token_id: "tok-1",
      token_label: "nightly",
      method: "BatchGetSecretValues",
      names: ["a", "b"],
      versions: [3, 0],
      code: 5,
      peer_address: "127.0.0.1:5000",
      user_agent: "grpc-node/1.14",
      mtls_subject: "CN=agent",
    });
    expect(JSON.parse(second!)).toMatchObject({ event_id: "second", names: [], versions: [] });
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    // A second copy appends; writes after close are dropped, and closing twice is fine.
    const again = openAuditLines(path);
    again.write({ ...event, id: "third" });
    await again.close();
    again.write({ ...event, id: "dropped" });
    await again.close();
    const ids = (await readFile(path, "utf8")).trim().split("\n").map((l) => (JSON.parse(l) as { event_id: string }).event_id);
    expect(ids).toEqual([event.id, "second", "third"]);
  });

  it("reports a file it cannot open instead of crashing, drops its lines, and still closes", async () => {
    const plain = join(dir, "plain");
    await writeFile(plain, "");
    const errors: Error[] = [];
    let reported!: () => void;
    const failure = new Promise<void>((resolve) => (reported = resolve));
    const lines = openAuditLines(join(plain, "x.jsonl"), (e) => {
      errors.push(e);
      reported();
    });
    lines.write(event);
    await failure;
    lines.write(event);
    await lines.close();
    expect(errors).toHaveLength(1);
    // Closed before the failure is known: close waits for it instead of for a file that never opens.
    const early = openAuditLines(join(plain, "y.jsonl"), (e) => errors.push(e));
    await early.close();
    expect(errors).toHaveLength(2);
  });

  it("closes a stdout copy without closing stdout", async () => {
    const lines = openAuditLines("stdout");
    await lines.close();
    expect(() => fstatSync(1)).not.toThrow();
  });
});
