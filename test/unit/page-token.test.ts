import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/errors.js";
import { decodePageToken, encodePageToken, pageSize, queryDigest } from "../../src/core/page-token.js";

describe("page tokens", () => {
  const digest = queryDigest(["secrets", "dev_a", "", []]);

  it("round-trip the cursor for the same query", () => {
    expect(decodePageToken(encodePageToken("api_key", digest), digest)).toBe("api_key");
    expect(decodePageToken("", digest)).toBeUndefined();
  });

  it.each([
    ["another tenant", queryDigest(["secrets", "dev_b", "", []])],
    ["another prefix", queryDigest(["secrets", "dev_a", "x", []])],
    ["another filter", queryDigest(["secrets", "dev_a", "", [["env", "prod"]]])],
  ])("refuse a token from %s", (_label, other) => {
    expect(() => decodePageToken(encodePageToken("api_key", digest), other)).toThrow(InvalidArgumentError);
  });

  it.each(["garbage!", "bm90IGpzb24", Buffer.from('{"after":1,"q":"x"}').toString("base64url")])("refuse a malformed token %s", (token) => {
    expect(() => decodePageToken(token, digest)).toThrow(/page_token/);
  });

  it("page_size: 0 means the default, above the maximum is coerced, negative is refused", () => {
    const limits = { default: 50, max: 1000 };
    expect(pageSize(0, limits)).toBe(50);
    expect(pageSize(7, limits)).toBe(7);
    expect(pageSize(5000, limits)).toBe(1000);
    expect(() => pageSize(-1, limits)).toThrow(/page_size/);
  });
});
