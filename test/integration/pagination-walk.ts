import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { sealValue, versionBinding } from "../../src/core/envelope.js";
import { compareNames } from "../../src/ports/list-query.js";
import type { SecretRecord } from "../../src/ports/secret-store.js";
import { connectGrpcClient } from "../helpers/clients.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// ListSecrets walked page by page on the real server and FerretDB while another client keeps
// creating secrets before and after the cursor: every secret that existed before the walk is listed
// exactly once, in strictly ascending name order, and a secret created after the cursor before a
// page was asked for is not skipped. Shared by pagination.test.ts (the CI size) and
// pagination-10k.long.test.ts (`npm run test:long`).
//
// Seeding goes through the SecretStore port (insertVersion + insertSecret, each value really
// sealed), not the RPC: on FerretDB's SQLite backend a lookup by (tenant, name) scans the whole
// collection, so CreateSecret gets slower with every secret (1,000 over the RPC took ~56 s).
//
// The race is made sure of, not hoped for: before each page of the first walk the test waits until
// the writer has answered one more create (the writer itself never waits for the walk), so the
// writer lands on both sides of the cursor during the walk however fast or slow the machine is.

export const DEV = "pager";
const OTHER_DEV = "someone_else";
const DECOYS = 100; // soft-deleted, expired and other-tenant secrets interleaved with the seeded names

type Secrets = Client<typeof SecretsService>;

export const seededName = (i: number) => `p_${String(i).padStart(5, "0")}`;
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

export interface WalkReport {
  readonly pages: readonly number[];
  readonly written: number;
  readonly writtenDuringWalk: number;
  readonly walkMs: number;
}

/** `seeded` live secrets of DEV, plus decoys that must never be listed, straight through the store. */
export async function seed(server: TestServer, seeded: number): Promise<void> {
  const { store } = server.fixture;
  const now = new Date();
  const insert = async (tenant: string, name: string, extra: Partial<SecretRecord> = {}) => {
    const id = `seed_${tenant}_${name}`;
    const sealed = await sealValue(server.keys, versionBinding(tenant, { id, name }, 1), `seed-value-${name}`);
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
  const step = Math.floor(seeded / DECOYS);
  expect(step, "too few seeded secrets to interleave the decoys").toBeGreaterThanOrEqual(2);
  const jobs: (() => Promise<void>)[] = [];
  for (let i = 0; i < seeded; i++) jobs.push(() => insert(DEV, seededName(i)));
  for (let i = 0; i < DECOYS; i++) {
    const between = `${seededName(i * step)}_decoy_${i}`;
    // Same name shape as DEV's, so only the tenant filter keeps them out.
    jobs.push(() => insert(OTHER_DEV, seededName(i * step + 1)));
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

/**
 * Two walks at once (page sizes `pageSizes[0]` and `[1]`, each a concurrent reader for the other)
 * while a writer creates secrets around the first walk's cursor; checks every property.
 */
export async function walkUnderWriter(server: TestServer, seeded: number, pageSizes: readonly [number, number]): Promise<WalkReport> {
  const client = connectGrpcClient(server.baseUrl, await server.token(DEV));
  const seededNames = Array.from({ length: seeded }, (_, i) => seededName(i));
  const seededSet = new Set(seededNames);
  // The writer places each new name relative to where the first walk is: just before or after its
  // cursor, or before/after every seeded name. It is paced lightly: on this backend every create
  // scans the collection, and the point is the race with the walks, not write throughput.
  let cursor = "";
  let walking = true;
  const written: Written[] = [];
  let writerFailed: unknown;
  const writer = async () => {
    try {
      for (let k = 0; walking; k++) {
        const name = newName(seeded, k, cursor);
        await client.createSecret({ name, value: `written-during-walk-${k}` });
        written.push({ name, doneAt: performance.now() });
        await sleep(100);
      }
    } catch (err) {
      writerFailed = err;
    }
  };
  /** Resolves once the writer has answered more creates than `count` (or has failed). */
  const writerPassed = async (count: number) => {
    while (written.length <= count && writerFailed === undefined) await sleep(5);
  };

  const walkStarted = performance.now();
  const writing = writer();
  let walks: Walk[];
  try {
    walks = await Promise.all([
      walkAll(client, pageSizes[0], seeded, (last) => (cursor = last), writerPassed, () => written.length),
      walkAll(client, pageSizes[1], seeded, () => {}),
    ]);
  } finally {
    walking = false;
    await writing;
  }
  const walkMs = performance.now() - walkStarted;
  expect(writerFailed).toBeUndefined();

  const writtenNames = new Set(written.map((w) => w.name));
  for (const [i, walk] of walks.entries()) {
    const size = pageSizes[i]!;
    const names = walk.names;
    // strictly ascending (so no duplicates at all), nothing foreign
    for (let n = 1; n < names.length; n++) expect(byName(names[n - 1]!, names[n]!), `page_size ${size} at ${n}`).toBeLessThan(0);
    expect(names.filter((n) => !seededSet.has(n) && !writtenNames.has(n)), `page_size ${size}`).toEqual([]);
    // every seeded name exactly once
    const listedSeeded = names.filter((n) => /^p_\d{5}$/.test(n));
    expect(listedSeeded.length, `page_size ${size}`).toBe(seeded);
    expect(listedSeeded).toEqual(seededNames);
    // many pages, every one but the last full
    expect(walk.pages.length, `page_size ${size}`).toBeGreaterThanOrEqual(Math.floor(seeded / size));
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

  // The writer really raced the first walk, on both sides of the cursor.
  const lastPageAt = walks[0]!.pages.at(-1)!.startedAt;
  const duringWalk = written.filter((w) => w.doneAt < lastPageAt);
  expect(duringWalk.length).toBeGreaterThanOrEqual(Math.min(walks[0]!.pages.length - 1, 4));
  expect(duringWalk.some((w) => /_before$/.test(w.name)), "a create just before the cursor during the walk").toBe(true);
  expect(duringWalk.some((w) => /_after$/.test(w.name)), "a create just after the cursor during the walk").toBe(true);

  // Everything the writer created exists and holds what it wrote.
  for (let i = 0; i < written.length; i += 100) {
    const batch = await client.batchGetSecretValues({ names: written.slice(i, i + 100).map((w) => w.name) });
    expect(batch.errors).toEqual([]);
    expect(batch.values.map((v) => v.name).sort()).toEqual(written.slice(i, i + 100).map((w) => w.name).sort());
    expect(batch.values.every((v) => v.value.startsWith("written-during-walk-"))).toBe(true);
  }
  return { pages: walks.map((w) => w.pages.length), written: written.length, writtenDuringWalk: duringWalk.length, walkMs };
}

/**
 * Follows next_page_token to the end. With `beforePage`, each page after the first waits until the
 * writer has answered one more create than it had when the previous page was asked for.
 */
async function walkAll(
  client: Secrets,
  pageSize: number,
  seeded: number,
  onPage: (last: string) => void,
  beforePage?: (count: number) => Promise<void>,
  writes?: () => number,
): Promise<Walk> {
  const names: string[] = [];
  const pages: PageCall[] = [];
  const pageSizes: number[] = [];
  const runaway = 2 * Math.ceil(seeded / pageSize) + 10;
  let token = "";
  let writesBefore = writes?.() ?? 0;
  do {
    if (beforePage && pages.length > 0) await beforePage(writesBefore);
    writesBefore = writes?.() ?? 0;
    pages.push({ startedAt: performance.now(), after: names.at(-1) ?? "" });
    const page = await client.listSecrets({ pageSize, pageToken: token });
    for (const s of page.secrets) names.push(s.name);
    pageSizes.push(page.secrets.length);
    onPage(names.at(-1) ?? "");
    token = page.nextPageToken;
    expect(pages.length, "runaway pagination").toBeLessThan(runaway);
  } while (token);
  return { names, pages, pageSizes };
}

/** The writer's k-th name: cycles through before-all, just before the cursor, just after it, after-all. */
function newName(seeded: number, k: number, cursor: string): string {
  const at = /^p_(\d{5})/.exec(cursor);
  const position = at ? Number(at[1]) : 0;
  const tag = `w_${k}`;
  switch (k % 4) {
    case 0:
      return `a_${tag}`;
    case 1:
      return `${seededName(Math.max(0, position - 1 - ((k * 7) % 50)))}_${tag}_before`;
    case 2:
      return `${seededName(Math.min(seeded - 1, position + 1 + ((k * 7) % 50)))}_${tag}_after`;
    default:
      return `z_${tag}`;
  }
}

/** The whole pagination suite at one size: seed through the store, then two walks under a writer. */
export function describeWalk(options: { seeded: number; pageSizes: readonly [number, number]; label: string; timeoutMs: number }): void {
  const { seeded, pageSizes, label, timeoutMs } = options;
  describe(`ListSecrets over ${seeded.toLocaleString("en")} secrets with a concurrent writer`, () => {
    let server: TestServer;
    let seedMs = 0;

    beforeAll(async () => {
      server = await startTestServer({ store: "mongodb", keys: "local", label });
      const started = performance.now();
      await seed(server, seeded);
      seedMs = performance.now() - started;
    }, timeoutMs);

    afterAll(async () => {
      await server?.close();
    });

    it(`walks with page_size ${pageSizes.join(" and ")} see every seeded name once, ascending, while a writer inserts`, async () => {
      const r = await walkUnderWriter(server, seeded, pageSizes);
      console.info(
        `${label}: seeded ${seeded} via the store in ${Math.round(seedMs)} ms; walks of ${r.pages.join(" and ")} pages ` +
          `in ${Math.round(r.walkMs)} ms with ${r.written} concurrent creates (${r.writtenDuringWalk} during the first walk)`,
      );
    }, timeoutMs);
  });
}
