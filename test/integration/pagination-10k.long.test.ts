import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { sealValue } from "../../src/core/envelope.js";
import { compareNames } from "../../src/ports/list-query.js";
import type { SecretRecord } from "../../src/ports/secret-store.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// ListSecrets over 10,000 secrets on the real server and FerretDB, walked page by page
// while another client keeps creating secrets before and after the cursor: every secret
// that existed before the walk is listed exactly once, in strictly ascending name order.
//
// Seeding goes through the SecretStore port (insertVersion + insertSecret, each value
// really sealed), not the RPC: on FerretDB's SQLite backend a lookup by (tenant, name) scans
// the whole collection, so CreateSecret costs ~0.5 s at 10k secrets and 10,000 of them over
// the RPC take far longer than this file's budget (1,000 took ~56 s, growing quadratically).

const SEEDED = 10_000;
const DEV = "pager";
const OTHER_DEV = "someone_else";
const DECOYS = 100; // soft-deleted and other-tenant secrets interleaved with the seeded names

type Secrets = Client<typeof SecretsService>;

const seededName = (i: number) => `p_${String(i).padStart(5, "0")}`;
const byName = (a: string, b: string) => compareNames(a, b);

interface PageCall {
  readonly startedAt: number;
  /** The cursor the page was asked after ("" for the first page). */
  readonly after: string;
}

interface Walk {
  readonly names: string[];
  readonly pages: PageCall[];
  readonly pageSizes: number[];
}

interface Written {
  readonly name: string;
  readonly doneAt: number;
}

describe("ListSecrets over 10,000 secrets with a concurrent writer", () => {
  let server: TestServer;
  let client: Secrets;
  let seedMs = 0;

  beforeAll(async () => {
    server = await startTestServer({ store: "mongodb", keys: "local", label: "page10k" });
    client = connectGrpcClient(server.baseUrl, await server.token(DEV));
    const started = performance.now();
    await seed(server);
    seedMs = performance.now() - started;
  }, 120_000);

  afterAll(async () => {
    await server?.close();
  });

  it("walks with page_size 1000 and 333 see every seeded name once, ascending, while a writer inserts", async () => {
    const seeded = Array.from({ length: SEEDED }, (_, i) => seededName(i));
    const seededSet = new Set(seeded);
    // The writer places each new name relative to where the 1000-walk is: just before or after its
    // cursor, or before/after every seeded name. It is paced: on this backend every create scans the
    // collection, and the point is the race with the walks, not write throughput.
    let cursor = "";
    let walking = true;
    const written: Written[] = [];
    const writer = async (w: number) => {
      for (let k = 0; walking; k++) {
        const name = newName(w, k, cursor);
        await client.createSecret({ name, value: `written-during-walk-${w}-${k}` });
        written.push({ name, doneAt: performance.now() });
        await sleep(200);
      }
    };
    const walkStarted = performance.now();
    const writing = writer(0);
    let walks: Walk[];
    try {
      // Both walks at once, each one another concurrent reader for the other.
      walks = await Promise.all([walkAll(client, 1000, (last) => (cursor = last)), walkAll(client, 333, () => {})]);
    } finally {
      walking = false;
      await writing;
    }
    const walkMs = performance.now() - walkStarted;

    for (const [size, walk] of [1000, 333].map((s, i) => [s, walks[i]!] as const)) {
      const names = walk.names;
      // strictly ascending (so no duplicates at all), nothing foreign
      for (let i = 1; i < names.length; i++) expect(byName(names[i - 1]!, names[i]!), `page_size ${size} at ${i}`).toBeLessThan(0);
      const writtenNames = new Set(written.map((w) => w.name));
      expect(names.filter((n) => !seededSet.has(n) && !writtenNames.has(n)), `page_size ${size}`).toEqual([]);
      // every seeded name exactly once
      const listedSeeded = names.filter((n) => /^p_\d{5}$/.test(n));
      expect(listedSeeded.length, `page_size ${size}`).toBe(SEEDED);
      expect(listedSeeded).toEqual(seeded);
      // every page but the last is full
      expect(walk.pageSizes.slice(0, -1).every((n) => n === size), `page_size ${size}`).toBe(true);
      expect(walk.pageSizes.at(-1)!).toBeLessThanOrEqual(size);
      // A secret created (response received) before a page was asked for, with a name after that
      // page's cursor, cannot be skipped.
      const listed = new Set(names);
      for (const w of written) {
        const later = walk.pages.find((p) => p.startedAt > w.doneAt);
        if (later && (later.after === "" || byName(w.name, later.after) > 0)) {
          expect(listed.has(w.name), `${w.name} created before a page after ${later.after}`).toBe(true);
        }
      }
    }

    // The writer really raced the walk, on both sides of the cursor.
    const duringWalk = written.filter((w) => w.doneAt < walks[0]!.pages.at(-1)!.startedAt);
    expect(duringWalk.length).toBeGreaterThanOrEqual(4);
    expect(duringWalk.some((w) => w.name.startsWith("a_") || /_before$/.test(w.name))).toBe(true);
    expect(duringWalk.some((w) => w.name.startsWith("z_") || /_after$/.test(w.name))).toBe(true);

    // Everything the writer created exists and holds what it wrote.
    for (let i = 0; i < written.length; i += 100) {
      const batch = await client.batchGetSecretValues({ names: written.slice(i, i + 100).map((w) => w.name) });
      expect(batch.errors).toEqual([]);
      expect(batch.values.every((v) => v.value.startsWith("written-during-walk-"))).toBe(true);
    }

    console.info(
      `pagination-10k: seeded ${SEEDED} via the store in ${Math.round(seedMs)} ms; ` +
        `walks of ${walks[0]!.pages.length} and ${walks[1]!.pages.length} pages in ${Math.round(walkMs)} ms ` +
        `with ${written.length} concurrent creates (${duringWalk.length} while the 1000-walk ran)`,
    );
  }, 200_000);
});

async function walkAll(client: Secrets, pageSize: number, onPage: (last: string) => void): Promise<Walk> {
  const names: string[] = [];
  const pages: PageCall[] = [];
  const pageSizes: number[] = [];
  let token = "";
  do {
    pages.push({ startedAt: performance.now(), after: names.at(-1) ?? "" });
    const page = await client.listSecrets({ pageSize, pageToken: token });
    for (const s of page.secrets) names.push(s.name);
    pageSizes.push(page.secrets.length);
    onPage(names.at(-1) ?? "");
    token = page.nextPageToken;
    expect(pages.length, "runaway pagination").toBeLessThan(200);
  } while (token);
  return { names, pages, pageSizes };
}

/** Writer w's k-th name: cycles through before-all, just before the cursor, just after it, after-all. */
function newName(w: number, k: number, cursor: string): string {
  const at = /^p_(\d{5})/.exec(cursor);
  const position = at ? Number(at[1]) : 0;
  const tag = `w${w}_${k}`;
  switch (k % 4) {
    case 0:
      return `a_${tag}`;
    case 1:
      return `${seededName(Math.max(0, position - 1 - ((k * 7) % 50)))}_${tag}_before`;
    case 2:
      return `${seededName(Math.min(SEEDED - 1, position + 1 + ((k * 7) % 50)))}_${tag}_after`;
    default:
      return `z_${tag}`;
  }
}

/** 10,000 live secrets of DEV, plus decoys that must never be listed, straight through the store. */
async function seed(server: TestServer): Promise<void> {
  const { store } = server.fixture;
  const now = new Date();
  const insert = async (tenant: string, name: string, extra: Partial<SecretRecord> = {}) => {
    const id = `seed_${tenant}_${name}`;
    const sealed = await sealValue(server.keys, { developer: tenant, secret: name, version: 1 }, `seed-value-${name}`);
    await store.insertVersion({ secretId: id, version: 1, state: "enabled", createTime: now, createdBy: "seeder", writeId: "seed", keyId: sealed.keyId, sealed });
    await store.insertSecret({
      id,
      tenant,
      name,
      description: "",
      metadata: {},
      maxVersions: 100,
      latestVersion: 1,
      current: { version: 1, createTime: now, sealed },
      liveVersions: 1,
      createTime: now,
      updateTime: now,
      createdBy: "seeder",
      updatedBy: "seeder",
      etag: `etag-${name}`,
      revision: 1,
      ...extra,
    });
  };
  const jobs: (() => Promise<void>)[] = [];
  for (let i = 0; i < SEEDED; i++) jobs.push(() => insert(DEV, seededName(i)));
  for (let i = 0; i < DECOYS; i++) {
    const between = `${seededName(i * 97)}_decoy_${i}`;
    // Same name shape as DEV's, so only the tenant filter keeps them out.
    jobs.push(() => insert(OTHER_DEV, `${seededName(i * 97 + 1)}`));
    jobs.push(() => insert(DEV, `decoy_deleted_${i}`, { deleteTime: now, purgeTime: new Date(now.getTime() + 86_400_000) }));
    jobs.push(() => insert(DEV, between.replace("_decoy_", "_decoy_expired_"), { expireTime: new Date(now.getTime() - 1_000) }));
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < jobs.length) await jobs[next++]!();
    }),
  );
}
