import { describe, expect, it } from "vitest";
import { GLOB_PATTERN, globCovers, isValidGlob, nameMatcher } from "../../src/ports/name-globs.js";

// A seeded generator: the property runs are the same on every run.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A reference matcher (a RegExp; fine for the short globs of these tests). */
const reference = (glob: string, name: string) => new RegExp(`^${glob.replaceAll("*", ".*").replaceAll("?", ".")}$`).test(name);

/** Every name over {a, b} up to `max` characters, the empty one included. */
function allNames(max: number): string[] {
  const names = [""];
  for (let length = 1, level = [""]; length <= max; length++) {
    level = level.flatMap((prefix) => [`${prefix}a`, `${prefix}b`]);
    names.push(...level);
  }
  return names;
}

describe("isValidGlob", () => {
  it.each([
    ["stripe_*", true],
    ["*", true],
    ["db_?", true],
    ["", false],
    ["stripe-*", false],
    ["a.b", false],
    ["[ab]", false],
    ["a\n", false],
  ])("%j -> %s", (glob, valid) => {
    expect(isValidGlob(glob)).toBe(valid);
    expect(GLOB_PATTERN.test(glob)).toBe(valid);
  });

  it("allows 128 characters, not 129", () => {
    expect(isValidGlob("A".repeat(128))).toBe(true);
    expect(isValidGlob("A".repeat(129))).toBe(false);
  });

  it("refuses what is not a string", () => {
    for (const value of [undefined, null, 1, ["a"], { $ne: null }]) expect(isValidGlob(value)).toBe(false);
  });
});

describe("nameMatcher", () => {
  it("matches every name without globs, none with an empty list", () => {
    expect(nameMatcher(undefined)("anything")).toBe(true);
    expect(nameMatcher([])("anything")).toBe(false);
  });

  it.each([
    ["stripe_*", "stripe_", true],
    ["stripe_*", "stripe_live_key", true],
    ["stripe_*", "stripe", false],
    ["stripe_*", "xstripe_a", false],
    ["db_?", "db_1", true],
    ["db_?", "db_", false],
    ["db_?", "db_12", false],
    ["*_key", "api_key", true],
    ["*_key", "api_keys", false],
    ["a*b*c", "abc", true],
    ["a*b*c", "aXbYc", true],
    ["a*b*c", "acb", false],
    ["exact", "exact", true],
    ["exact", "Exact", false],
    ["*", "", true],
    ["**", "x", true],
  ])("%s against %s -> %s", (glob, name, matched) => {
    expect(nameMatcher([glob])(name)).toBe(matched);
  });

  it("matches when any glob of the list does", () => {
    const match = nameMatcher(["db_*", "api_key"]);
    expect(match("db_main")).toBe(true);
    expect(match("api_key")).toBe(true);
    expect(match("api_keys")).toBe(false);
  });

  it("agrees with a reference matcher on random globs and every short name", () => {
    const random = prng(1);
    const names = allNames(6);
    for (let i = 0; i < 300; i++) {
      const glob = randomGlob(random);
      const match = nameMatcher([glob]);
      for (const name of names) expect(match(name), `${glob} against ${name}`).toBe(reference(glob, name));
    }
  });

  it("answers a pathological input right (the walk never backtracks exponentially)", () => {
    const glob = `${"a*".repeat(60)}b`;
    expect(nameMatcher([glob])("a".repeat(5_000))).toBe(false);
    expect(nameMatcher([glob])(`${"a".repeat(5_000)}b`)).toBe(true);
  });
});

describe("globCovers", () => {
  it.each([
    ["stripe_*", "stripe_live_*", true],
    ["stripe_*", "stripe_?", true],
    ["stripe_?", "stripe_?", true],
    ["stripe_?", "stripe_a", true],
    ["stripe_?", "stripe_*", false],
    ["stripe_live_*", "stripe_*", false],
    ["*", "*", true],
    ["*", "anything_at_all", true],
    ["*", "a?b*c", true],
    ["s?", "s*", false],
    ["s*", "s?", true],
    ["a*", "*a", false],
    ["*a", "a*", false],
    ["exact", "exact", true],
    ["exact", "exac?", false],
    ["exact", "exact_more", false],
    ["exac?", "exact", true],
    ["a*b", "a**b", true],
    ["a?c", "abc", true],
    ["?", "*", false],
  ])("%s covers %s -> %s", (caller, requested, covered) => {
    expect(globCovers(caller, requested)).toBe(covered);
  });

  it("is sound: whatever a covered glob matches, the covering one matches (random globs, every short name)", () => {
    const random = prng(7);
    const names = allNames(6);
    let covered = 0;
    for (let i = 0; i < 3_000; i++) {
      const caller = randomGlob(random);
      const requested = randomGlob(random);
      if (!globCovers(caller, requested)) continue;
      covered++;
      const byCaller = nameMatcher([caller]);
      const byRequested = nameMatcher([requested]);
      for (const name of names) {
        if (byRequested(name)) expect(byCaller(name), `${caller} covers ${requested}, yet not ${JSON.stringify(name)}`).toBe(true);
      }
    }
    // The property must not hold vacuously.
    expect(covered).toBeGreaterThan(100);
  });

  it("every glob covers itself", () => {
    const random = prng(3);
    for (let i = 0; i < 500; i++) {
      const glob = randomGlob(random);
      expect(globCovers(glob, glob), glob).toBe(true);
    }
  });

  it("answers a pathological input right", () => {
    const caller = `${"a*".repeat(60)}b`;
    expect(globCovers(caller, "a".repeat(5_000))).toBe(false);
    expect(globCovers(caller, `${"a".repeat(5_000)}b`)).toBe(true);
    expect(globCovers(caller, `${"a?".repeat(2_000)}*b`)).toBe(true);
    expect(globCovers(caller, `${"a?".repeat(2_000)}*`)).toBe(false);
  });
});

/** 1-5 characters over {a, b, *, ?}. */
function randomGlob(random: () => number): string {
  const alphabet = ["a", "b", "*", "?"];
  const length = 1 + Math.floor(random() * 5);
  return Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
}
