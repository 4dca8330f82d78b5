import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expectArgumentRefused } from "./refused-argument.js";
import type { CacheConnectionEvent, CacheKey, CacheRead, SecretCache } from "../../src/ports/secret-cache.js";
import { waitUntil } from "../helpers/lifecycle.js";

// One exercise suite for every SecretCache implementation. Each test uses fresh tenants, so files
// that share one Redis server never see each other's keys.

export interface CacheFixture {
  readonly cache: SecretCache;
  dispose(): Promise<void>;
}

const LONG_TTL_MS = 60_000;
const SHORT_TTL_MS = 200;

const freshTenant = () => `t-${randomBytes(6).toString("hex")}`;

/** The watch events of a cache, as they arrive. */
export function recordEvents(cache: SecretCache): { events: CacheConnectionEvent[]; stop: () => void } {
  const events: CacheConnectionEvent[] = [];
  const stop = cache.watch((event) => events.push(event));
  return { events, stop };
}

/** Waits until the cache says it is connected (to an instance other than `previous`, when given), and returns the instance. */
export async function readyInstance(cache: SecretCache, previous?: string): Promise<string> {
  const { events, stop } = recordEvents(cache);
  const instance = () => {
    const last = events.at(-1);
    return last?.state === "ready" && last.instance !== previous ? last.instance : undefined;
  };
  try {
    await waitUntil(() => instance() !== undefined, "the cache is ready");
    return instance()!;
  } finally {
    stop();
  }
}

/** The bytes of an entry as a plain Uint8Array (adapters may return Buffers), for toEqual. */
const plain = (read: CacheRead | undefined) => (read?.entry === undefined ? undefined : new Uint8Array(read.entry));

export function secretCacheContract(kind: string, open: () => Promise<CacheFixture>): void {
  describe(`SecretCache contract: ${kind}`, () => {
    let fixture: CacheFixture;
    let cache: SecretCache;
    let key: CacheKey;
    beforeEach(async () => {
      fixture = await open();
      cache = fixture.cache;
      key = { tenant: freshTenant(), name: "api_key" };
    });
    afterEach(async () => fixture.dispose());

    const readOne = async (k: CacheKey, slot?: string) => (await cache.read([{ key: k, slot }]))[0];

    it("reads an absent generation as '' and an absent entry as none", async () => {
      expect(await cache.read([{ key }, { key, slot: "v1" }])).toEqual([{ generation: "" }, { generation: "" }]);
      expect(await cache.read([])).toEqual([]);
    });

    it("reads back the generation last set, with or without an entry", async () => {
      await cache.setGeneration(key, "g1", LONG_TTL_MS);
      expect(await readOne(key)).toEqual({ generation: "g1" });
      await cache.setGeneration(key, "g2", LONG_TTL_MS);
      await cache.write(key, "v1", Uint8Array.of(1, 2, 3), LONG_TTL_MS);
      const read = await readOne(key, "v1");
      expect(read?.generation).toBe("g2");
      expect(plain(read)).toEqual(Uint8Array.of(1, 2, 3));
    });

    it("returns entries byte for byte: zero bytes, invalid UTF-8, empty, 64 KiB", async () => {
      const values = {
        zeros: new Uint8Array(32),
        invalidUtf8: Uint8Array.of(0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0x00, 0xf8),
        empty: new Uint8Array(0),
        large: new Uint8Array(randomBytes(64 * 1024)),
      };
      for (const [slot, bytes] of Object.entries(values)) await cache.write(key, slot, bytes, LONG_TTL_MS);
      for (const [slot, bytes] of Object.entries(values)) expect(plain(await readOne(key, slot)), slot).toEqual(bytes);
    });

    it("keeps its own copy of an entry: changing the written or the read bytes changes nothing stored", async () => {
      const written = Uint8Array.of(7, 7, 7);
      await cache.write(key, "v1", written, LONG_TTL_MS);
      written.fill(0);
      const first = await readOne(key, "v1");
      first?.entry?.fill(9);
      expect(plain(await readOne(key, "v1"))).toEqual(Uint8Array.of(7, 7, 7));
    });

    it("expires entries and generations after their TTL, and keeps them until then", async () => {
      const other = { tenant: key.tenant, name: "other_key" };
      await cache.setGeneration(key, "short", SHORT_TTL_MS);
      await cache.write(key, "v1", Uint8Array.of(1), SHORT_TTL_MS);
      await cache.setGeneration(other, "long", LONG_TTL_MS);
      await cache.write(other, "v1", Uint8Array.of(2), LONG_TTL_MS);
      expect(await readOne(other, "v1")).toMatchObject({ generation: "long" });
      await waitUntil(async () => (await readOne(key))?.generation === "", "the generation expires");
      await waitUntil(async () => (await readOne(key, "v1"))?.entry === undefined, "the entry expires");
      const kept = await readOne(other, "v1");
      expect(kept?.generation).toBe("long");
      expect(plain(kept)).toEqual(Uint8Array.of(2));
    });

    it("answers many lookups in order, mixing token-only and entry lookups", async () => {
      const keys = Array.from({ length: 10 }, (_, i) => ({ tenant: key.tenant, name: `secret_${i}` }));
      for (const [i, k] of keys.entries()) {
        await cache.setGeneration(k, `gen-${i}`, LONG_TTL_MS);
        await cache.write(k, "v1", Uint8Array.of(i, 1), LONG_TTL_MS);
        await cache.write(k, "v2", Uint8Array.of(i, 2), LONG_TTL_MS);
      }
      const lookups = keys.flatMap((k) => [{ key: k, slot: "v2" }, { key: k }, { key: k, slot: "v1" }, { key: k, slot: "v3" }]).reverse();
      const reads = await cache.read(lookups);
      expect(reads).toHaveLength(lookups.length);
      for (const [i, lookup] of lookups.entries()) {
        const n = Number(lookup.key.name.slice("secret_".length));
        const expected = { v1: Uint8Array.of(n, 1), v2: Uint8Array.of(n, 2) }[lookup.slot ?? ""];
        expect(reads[i]?.generation, `lookup ${i}`).toBe(`gen-${n}`);
        expect(plain(reads[i]), `lookup ${i}`).toEqual(expected);
      }
    });

    it("keeps the secrets of two tenants with the same name apart (tenants may hold '|' and ':')", async () => {
      const tenants = [freshTenant(), `${freshTenant()}|x`, `${freshTenant()}:a.b@c`];
      for (const [i, tenant] of tenants.entries()) {
        await cache.setGeneration({ tenant, name: key.name }, `gen-${i}`, LONG_TTL_MS);
        await cache.write({ tenant, name: key.name }, "v1", Uint8Array.of(i), LONG_TTL_MS);
      }
      const reads = await cache.read(tenants.map((tenant) => ({ key: { tenant, name: key.name }, slot: "v1" })));
      expect(reads.map((r) => r.generation)).toEqual(["gen-0", "gen-1", "gen-2"]);
      expect(reads.map(plain)).toEqual([Uint8Array.of(0), Uint8Array.of(1), Uint8Array.of(2)]);
      expect(await readOne({ tenant: tenants[0]!, name: "other" }, "v1")).toEqual({ generation: "" });
    });

    it("refuses a non-string, a brace or a control character in a key, and bad values, with InvalidArgumentError, storing nothing", async () => {
      const planted = { tenant: freshTenant(), name: "planted" };
      const keyPart = (usual: string) => [[usual], { $ne: null }, `${usual}{x}`, `${usual}}`, `{${usual}`, `${usual}\n`, `${usual}\u0000`];
      const value = (usual: unknown) => [[usual], { $ne: null }];
      type Case = [argument: string, bads: unknown[], call: (bad: never) => Promise<unknown>];
      // The compiler checks that no method is left out.
      const cases: Record<Exclude<keyof SecretCache, "watch" | "close">, Case[]> = {
        read: [
          ["key.tenant", keyPart(planted.tenant), (bad) => cache.read([{ key: { ...planted, tenant: bad } }])],
          ["key.name", [...keyPart(planted.name), "a|b"], (bad) => cache.read([{ key: { ...planted, name: bad }, slot: "v1" }])],
          ["slot", keyPart("v1"), (bad) => cache.read([{ key: planted }, { key: planted, slot: bad }])],
          ["lookups", [{ $ne: null }, "lookups"], (bad) => cache.read(bad)],
        ],
        write: [
          ["key.tenant", keyPart(planted.tenant), (bad) => cache.write({ ...planted, tenant: bad }, "v1", Uint8Array.of(1), LONG_TTL_MS)],
          ["key.name", [...keyPart(planted.name), "a|b"], (bad) => cache.write({ ...planted, name: bad }, "v1", Uint8Array.of(1), LONG_TTL_MS)],
          ["slot", keyPart("v1"), (bad) => cache.write(planted, bad, Uint8Array.of(1), LONG_TTL_MS)],
          ["entry", [...value(1), "bytes"], (bad) => cache.write(planted, "v1", bad, LONG_TTL_MS)],
          ["ttlMs", [...value(LONG_TTL_MS), 0, -1, 1.5, "60000"], (bad) => cache.write(planted, "v1", Uint8Array.of(1), bad)],
        ],
        setGeneration: [
          ["key.tenant", keyPart(planted.tenant), (bad) => cache.setGeneration({ ...planted, tenant: bad }, "g", LONG_TTL_MS)],
          ["key.name", [...keyPart(planted.name), "a|b"], (bad) => cache.setGeneration({ ...planted, name: bad }, "g", LONG_TTL_MS)],
          ["generation", [...value("g"), ""], (bad) => cache.setGeneration(planted, bad, LONG_TTL_MS)],
          ["ttlMs", [...value(LONG_TTL_MS), 0, "60000"], (bad) => cache.setGeneration(planted, "g", bad)],
        ],
      };
      for (const [method, calls] of Object.entries(cases)) {
        for (const [argument, bads, call] of calls) {
          for (const bad of bads) await expectArgumentRefused(`${method}(${argument} = ${JSON.stringify(bad)})`, argument, () => call(bad as never));
        }
      }
      expect(await readOne(planted, "v1")).toEqual({ generation: "" });
    });

    it("tells each watcher it is ready, naming a stable server instance, until unsubscribed", async () => {
      const instance = await readyInstance(cache);
      expect(instance).not.toBe("");
      expect(await readyInstance(cache)).toBe(instance);
      const watcher = recordEvents(cache);
      watcher.stop();
      await readyInstance(cache); // a later watcher's ready event has been delivered by now
      expect(watcher.events).toEqual([]);
    });
  });
}
