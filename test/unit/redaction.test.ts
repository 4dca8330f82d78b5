import { describe, expect, it } from "vitest";
import { buildRedactor, encodedForms, REDACT_TEXT_MAX_BYTES, type RedactionEntry } from "../../src/core/redaction.js";

const none = { explicitNames: new Set<string>() };
const redact = (entries: RedactionEntry[], text: string, options = none) => buildRedactor(entries, options).redact(text);

describe("redaction", () => {
  const value = "s3cr3t/value+with?chars~ok";
  const utf8 = Buffer.from(value, "utf8");
  const std = utf8.toString("base64");
  const url = utf8.toString("base64url");

  it("redacts the raw value", () => {
    expect(redact([{ name: "api", value }], `token=${value};`)).toEqual({ text: "token=[REDACTED:api];", matchedNames: ["api"] });
  });

  it.each([
    ["standard, padded", std],
    ["standard, unpadded", std.replace(/=+$/, "")],
    ["URL-safe, unpadded", url],
    ["URL-safe, padded", url + "=".repeat((4 - (url.length % 4)) % 4)],
  ])("redacts base64 %s", (_label, encoded) => {
    // The value was chosen so that both forms differ and carry padding.
    expect(std).toMatch(/[+/]/);
    expect(std).toMatch(/=$/);
    expect(redact([{ name: "api", value }], `a ${encoded} b`).text).toBe("a [REDACTED:api] b");
  });

  it("redacts the padding with the base64 form, not only the unpadded prefix", () => {
    expect(redact([{ name: "api", value }], `${std}!`).text).toBe("[REDACTED:api]!");
  });

  it.each([
    ["percent, upper hex", "s3cr3t%2Fvalue%2Bwith%3Fchars~ok"],
    ["percent, lower hex", "s3cr3t%2fvalue%2bwith%3fchars~ok"],
  ])("redacts %s", (_label, encoded) => {
    expect(redact([{ name: "api", value }], `?q=${encoded}&x`).text).toBe("?q=[REDACTED:api]&x");
  });

  it("redacts the form encoding: space as +, other bytes as %XX", () => {
    const spaced = "open sesame, please";
    expect(redact([{ name: "door", value: spaced }], "p=open+sesame%2C+please&").text).toBe("p=[REDACTED:door]&");
    expect(redact([{ name: "door", value: spaced }], "p=open+sesame%2c+please&").text).toBe("p=[REDACTED:door]&");
    expect(redact([{ name: "door", value: spaced }], "p=open%20sesame%2C%20please&").text).toBe("p=[REDACTED:door]&");
  });

  it("encodes the UTF-8 bytes of a non-ASCII value", () => {
    const accented = "pässwörd-ключ";
    const bytes = Buffer.from(accented, "utf8");
    const entries = [{ name: "intl", value: accented }];
    expect(redact(entries, `x${accented}x`).text).toBe("x[REDACTED:intl]x");
    expect(redact(entries, `x${bytes.toString("base64")}x`).text).toBe("x[REDACTED:intl]x");
    expect(redact(entries, `x${encodeURIComponent(accented)}x`).text).toBe("x[REDACTED:intl]x");
    expect(redact(entries, `x${encodeURIComponent(accented).toLowerCase()}x`).text).toBe("x[REDACTED:intl]x");
    expect(encodedForms(accented)).toContain("p%C3%A4ssw%C3%B6rd-%D0%BA%D0%BB%D1%8E%D1%87");
  });

  it("finds a value followed by a combining mark or a joiner", () => {
    expect(redact([{ name: "api", value }], `${value}\u0301 ${value}\u200d😀`).text).toBe("[REDACTED:api]\u0301 [REDACTED:api]\u200d😀");
  });

  it("replaces overlapping occurrences by one run, one marker per secret in order of first occurrence", () => {
    const entries = [
      { name: "b", value: "12345678WXYZ" },
      { name: "a", value: "WXYZabcdefgh" },
    ];
    expect(redact(entries, "<12345678WXYZabcdefgh>")).toEqual({ text: "<[REDACTED:b][REDACTED:a]>", matchedNames: ["a", "b"] });
  });

  it("gives one marker per secret in a run, even when the secret occurs twice in it", () => {
    const entries = [
      { name: "a", value: "abababab" },
      { name: "z", value: "babazzzzzz" },
    ];
    // "ababababab" holds "abababab" twice (overlapping); "babazzzzzz" overlaps the second.
    expect(redact(entries, "-abababababazzzzzz-").text).toBe("-[REDACTED:a][REDACTED:z]-");
  });

  it("drops an occurrence inside a longer one", () => {
    const entries = [
      { name: "inner", value: "abcdefgh12" },
      { name: "outer", value: "xxabcdefgh12yy" },
    ];
    expect(redact(entries, "1 xxabcdefgh12yy 2")).toEqual({ text: "1 [REDACTED:outer] 2", matchedNames: ["outer"] });
    expect(redact(entries, "1 abcdefgh12 2")).toEqual({ text: "1 [REDACTED:inner] 2", matchedNames: ["inner"] });
  });

  it("drops occurrences inside a longer one even when many patterns end at the same place", () => {
    const entries = Array.from({ length: 50 }, (_, i) => ({ name: `n${String(i).padStart(2, "0")}`, value: "a".repeat(8 + i) }));
    // Only "a" × 57 survives (three overlapping occurrences, one run); every shorter one lies inside.
    expect(redact(entries, "a".repeat(59))).toEqual({ text: "[REDACTED:n49]", matchedNames: ["n49"] });
  });

  it("labels a value several secrets share with the smallest name", () => {
    const entries = [
      { name: "zeta", value: "shared-value-123" },
      { name: "alpha", value: "shared-value-123" },
      { name: "mid", value: "shared-value-123" },
    ];
    expect(redact(entries, "[shared-value-123]")).toEqual({ text: "[[REDACTED:alpha]]", matchedNames: ["alpha"] });
  });

  it("redacts values shorter than 8 code points only when their secret is named explicitly", () => {
    const entries = [
      { name: "pin", value: "1234567" },
      { name: "long", value: "12345678" },
    ];
    expect(redact(entries, "pin 1234567;")).toEqual({ text: "pin 1234567;", matchedNames: [] });
    expect(redact(entries, "pin 1234567;", { explicitNames: new Set(["pin"]) }).text).toBe("pin [REDACTED:pin];");
    expect(redact(entries, "pin 12345678;").text).toBe("pin [REDACTED:long];");
    // A short value named explicitly is redacted in its encoded forms too.
    expect(redact(entries, `b ${Buffer.from("1234567").toString("base64")}`, { explicitNames: new Set(["pin"]) }).text).toBe("b [REDACTED:pin]");
  });

  it("counts code points, not UTF-16 units", () => {
    const emoji = "😀😁😂🤣😃😄😅";
    expect(emoji.length).toBe(14);
    expect(redact([{ name: "e", value: emoji }], `x${emoji}x`).text).toBe(`x${emoji}x`);
    expect(redact([{ name: "e", value: emoji }], `x${emoji}x`, { explicitNames: new Set(["e"]) }).text).toBe("x[REDACTED:e]x");
    const eight = `${emoji}😆`;
    expect(redact([{ name: "e", value: eight }], `x${eight}x`).text).toBe("x[REDACTED:e]x");
  });

  it("redacts every version's value, every occurrence, and sorts matchedNames", () => {
    const entries = [
      { name: "zz", value: "zz-version-one" },
      { name: "zz", value: "zz-version-two" },
      { name: "aa", value: "aa-only-version" },
      { name: "mm", value: "mm-never-present" },
    ];
    const text = "zz-version-two aa-only-version zz-version-one zz-version-two";
    expect(redact(entries, text)).toEqual({
      text: "[REDACTED:zz] [REDACTED:aa] [REDACTED:zz] [REDACTED:zz]",
      matchedNames: ["aa", "zz"],
    });
  });

  it("keeps touching occurrences as separate runs", () => {
    const entries = [{ name: "k", value: "keyvalue" }];
    expect(redact(entries, "keyvaluekeyvalue").text).toBe("[REDACTED:k][REDACTED:k]");
  });

  it("returns a text with no match unchanged, and an empty text as is", () => {
    const redactor = buildRedactor([{ name: "api", value }], none);
    const text = "nothing to see here, s3cr3t/valu but not all of it";
    expect(redactor.redact(text)).toEqual({ text, matchedNames: [] });
    expect(redactor.redact("")).toEqual({ text: "", matchedNames: [] });
    expect(buildRedactor([], none).redact(text)).toEqual({ text, matchedNames: [] });
  });

  it("never takes an empty value as a pattern", () => {
    expect(redact([{ name: "empty", value: "" }], "abc", { explicitNames: new Set(["empty"]) })).toEqual({ text: "abc", matchedNames: [] });
  });

  it("is reusable: one redactor, many texts", () => {
    const redactor = buildRedactor([{ name: "api", value }], none);
    expect(redactor.redact(value).text).toBe("[REDACTED:api]");
    expect(redactor.redact(`${value}${value}`).text).toBe("[REDACTED:api][REDACTED:api]");
    expect(redactor.redact("plain").text).toBe("plain");
  });

  it("handles a text of 4 MiB", () => {
    const redactor = buildRedactor([{ name: "api", value }], none);
    const text = `${"a".repeat(REDACT_TEXT_MAX_BYTES - value.length - 1)} ${value}`;
    expect(redactor.redact(text).text.endsWith(" [REDACTED:api]")).toBe(true);
  });

  it("follows the failure link out of a state with many children (a dense row)", () => {
    // "q" gets 20 children, above the threshold for a dense row; none of them is "z".
    const entries = [..."abcdefghijklmnopqrst"].map((c) => ({ name: `q${c}`, value: `q${c}-long-enough` }));
    entries.push({ name: "z", value: "zzzzzzzz" });
    expect(redact(entries, "qzzzzzzzz").text).toBe("q[REDACTED:z]");
    expect(redact(entries, "qqa-long-enoughq").text).toBe("q[REDACTED:qa]q");
  });

  // Two alphabets: two letters (deep overlaps, long failure chains), and sixteen letters with a
  // shared prefix (states with many children, which have dense rows), with "x" in the texts only.
  it.each([
    { alphabet: "ab", prefix: "", secrets: 5, length: 60, pieces: false },
    { alphabet: "abcdefghijklmnop", prefix: "ab", secrets: 40, length: 120, pieces: true },
  ])("agrees with a brute-force reference on random texts over $alphabet", ({ alphabet, prefix, secrets, length, pieces }) => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pick = (letters: string, n: number) => Array.from({ length: n }, () => letters[random(letters.length)]).join("");
    for (let round = 0; round < 200; round++) {
      const entries = Array.from({ length: 1 + random(secrets) }, (_, i) => ({ name: `s${i}`, value: prefix + pick(alphabet, 8 + random(4)) }));
      let text = "";
      while (text.length < random(length)) {
        const value = entries[random(entries.length)]!.value;
        text += pieces && random(2) === 0 ? value.slice(random(4), value.length - random(4)) : pick(`${alphabet}x`, 1 + random(8));
      }
      expect(redact(entries, text).text, JSON.stringify({ entries, text })).toBe(bruteForce(entries, text));
    }
  });
});

/** The rules applied literally to raw values, quadratic and obviously right. */
function bruteForce(entries: RedactionEntry[], text: string): string {
  const occurrences: { start: number; end: number; name: string }[] = [];
  for (const { name, value } of entries) {
    for (let i = text.indexOf(value); i >= 0; i = text.indexOf(value, i + 1)) occurrences.push({ start: i, end: i + value.length, name });
  }
  const kept = occurrences
    .filter((o) => !occurrences.some((p) => p.start <= o.start && o.end <= p.end && p.end - p.start > o.end - o.start))
    .filter((o) => !occurrences.some((p) => p.start === o.start && p.end === o.end && p.name < o.name))
    .sort((x, y) => x.start - y.start);
  let out = "";
  let copied = 0;
  for (let k = 0; k < kept.length; ) {
    out += text.slice(copied, kept[k]!.start);
    let end = kept[k]!.end;
    const names: string[] = [];
    for (; k < kept.length && kept[k]!.start < end; k++) {
      end = Math.max(end, kept[k]!.end);
      if (!names.includes(kept[k]!.name)) names.push(kept[k]!.name);
    }
    out += names.map((name) => `[REDACTED:${name}]`).join("");
    copied = end;
  }
  return out + text.slice(copied);
}
