import { describe, expect, it } from "vitest";
import { hostListMatches, normalizeAllowedHosts, parseHostList, urlMatchesHostPattern } from "../../src/ports/host-patterns.js";

// Host patterns of allowed_hosts and the PROXY_*_HOSTS lists: the grammar, normalization, and which
// URLs match (port rules, wildcards, IP literals, trailing dots, look-alike hosts).

const matches = (pattern: string, url: string) => urlMatchesHostPattern(pattern, new URL(url));

describe("normalizeAllowedHosts", () => {
  it("lower-cases, removes duplicates and sorts", () => {
    expect(normalizeAllowedHosts("allowed_hosts", ["API.Stripe.com", "*.OpenAI.com", "api.stripe.com", "[::1]:8443", "10.0.0.1:80", "[0:0::1]:8443"])).toEqual([
      "*.openai.com",
      "10.0.0.1:80",
      "[::1]:8443",
      "api.stripe.com",
    ]);
  });

  it.each([
    "",
    "*",
    "*.com",
    "**.example.com",
    "a.*.example.com",
    "https://api.stripe.com",
    "api.stripe.com/v1",
    "user@api.stripe.com",
    "api.stripe.com:0",
    "api.stripe.com:65536",
    "api.stripe.com:08",
    "api.stripe.com:",
    "-bad.example.com",
    "bad-.example.com",
    "exa mple.com",
    "under_score.example.com",
    "1.2.3",
    "256.1.1.1",
    "*.10.0.0.1",
    "[::1",
    "[zz::1]",
    "::1",
    `${"a".repeat(64)}.com`,
    `${"a.".repeat(126)}com`,
    "\u212Aey.example.com",
    "bücher.example",
    "api.stripe.com ",
    "api.stripe.com.",
  ])("refuses %j, naming the element", (entry) => {
    expect(() => normalizeAllowedHosts("allowed_hosts", ["ok.example.com", entry])).toThrow(/^allowed_hosts\[1\]: ".*" is not a host pattern/);
  });

  it("at most 32", () => {
    const many = Array.from({ length: 33 }, (_, i) => `h${i}.example.com`);
    expect(() => normalizeAllowedHosts("allowed_hosts", many)).toThrow("allowed_hosts: at most 32 host patterns");
    expect(normalizeAllowedHosts("allowed_hosts", many.slice(0, 32))).toHaveLength(32);
  });
});

describe("urlMatchesHostPattern", () => {
  it("without a port: only the scheme's default port", () => {
    expect(matches("api.stripe.com", "https://api.stripe.com/v1")).toBe(true);
    expect(matches("api.stripe.com", "https://api.stripe.com:443/v1")).toBe(true);
    expect(matches("api.stripe.com", "https://api.stripe.com:8443/v1")).toBe(false);
    expect(matches("api.stripe.com", "http://api.stripe.com/")).toBe(true);
    expect(matches("api.stripe.com", "http://api.stripe.com:443/")).toBe(false);
  });

  it("with a port: only that port", () => {
    expect(matches("api.example.com:8443", "https://api.example.com:8443/")).toBe(true);
    expect(matches("api.example.com:8443", "https://api.example.com/")).toBe(false);
    expect(matches("api.example.com:443", "https://api.example.com/")).toBe(true);
  });

  it("a wildcard is any subdomain at any depth, never the domain itself or a look-alike", () => {
    expect(matches("*.openai.com", "https://api.openai.com/")).toBe(true);
    expect(matches("*.openai.com", "https://a.b.openai.com/")).toBe(true);
    expect(matches("*.openai.com", "https://openai.com/")).toBe(false);
    expect(matches("*.openai.com", "https://evilopenai.com/")).toBe(false);
    expect(matches("*.openai.com", "https://api.openai.com.evil.test/")).toBe(false);
  });

  it("exact names: case and a trailing dot do not matter; a look-alike does", () => {
    expect(matches("api.stripe.com", "https://API.STRIPE.COM/")).toBe(true);
    expect(matches("api.stripe.com", "https://api.stripe.com./")).toBe(true);
    expect(matches("*.openai.com", "https://api.openai.com./")).toBe(true);
    expect(matches("*.openai.com", "https://openai.com./")).toBe(false);
    expect(matches("api.stripe.com", "https://api.stripe.com../")).toBe(false);
    expect(matches("api.stripe.com", "https://api.stripe.com.evil.test/")).toBe(false);
    expect(matches("api.stripe.com", "https://xapi.stripe.com/")).toBe(false);
    expect(matches("stripe.com", "https://api.stripe.com/")).toBe(false);
  });

  it("IP literals, as URLs write them", () => {
    expect(matches("127.0.0.1:8443", "https://127.0.0.1:8443/")).toBe(true);
    expect(matches("[::1]:8443", "https://[::1]:8443/")).toBe(true);
    expect(matches("[0:0::1]:8443", "https://[::1]:8443/")).toBe(true);
    // A URL's other spellings of an IPv4 address are normalized by the URL parser first.
    expect(matches("127.0.0.1:8443", "https://0x7f.0.0.1:8443/")).toBe(true);
    expect(matches("127.0.0.1:8443", "https://127.0.0.2:8443/")).toBe(false);
  });

  it("what is not a pattern matches nothing", () => {
    expect(matches("*", "https://api.stripe.com/")).toBe(false);
    expect(matches("https://api.stripe.com", "https://api.stripe.com/")).toBe(false);
  });
});

describe("parseHostList", () => {
  it("comma-separated, spaces trimmed, empty entries ignored", () => {
    expect(parseHostList("PROXY_INSECURE_HOSTS", " 127.0.0.1:8080, ,localhost:9000,")).toEqual(["127.0.0.1:8080", "localhost:9000"]);
    expect(parseHostList("PROXY_INSECURE_HOSTS", "")).toEqual([]);
  });

  it("a bad entry names the variable", () => {
    expect(() => parseHostList("PROXY_ALLOW_PRIVATE_HOSTS", "ok.test, http://x")).toThrow(/^PROXY_ALLOW_PRIVATE_HOSTS: "http:\/\/x" is not a host pattern/);
  });

  it("hostListMatches: any entry", () => {
    const list = parseHostList("V", "a.test:1,*.b.test");
    expect(hostListMatches(list, new URL("https://a.test:1/"))).toBe(true);
    expect(hostListMatches(list, new URL("https://x.b.test/"))).toBe(true);
    expect(hostListMatches(list, new URL("https://a.test/"))).toBe(false);
    expect(hostListMatches([], new URL("https://a.test/"))).toBe(false);
  });
});
