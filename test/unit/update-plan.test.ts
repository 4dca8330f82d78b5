import { describe, expect, it } from "vitest";
import { planUpdate } from "../../src/core/update-plan.js";

const input = (over: Partial<Parameters<typeof planUpdate>[0]>) => ({ updateMask: [], description: "", metadata: {}, ...over });

describe("UpdateSecret field mask", () => {
  it("with an empty mask updates the fields that carry something", () => {
    expect(planUpdate(input({ value: "v" }))).toEqual({ patch: {}, value: "v" });
    expect(planUpdate(input({ description: "d" }))).toEqual({ patch: { description: "d" } });
    expect(planUpdate(input({ metadata: { a: "1" }, value: "v" }))).toEqual({ patch: { metadata: { a: "1" } }, value: "v" });
  });

  it("clears description and metadata only when named in the mask", () => {
    expect(planUpdate(input({ updateMask: ["description", "metadata"] }))).toEqual({ patch: { description: "", metadata: {} } });
  });

  it("ignores fields not named in a non-empty mask", () => {
    expect(planUpdate(input({ updateMask: ["description"], description: "d", value: "v", metadata: { a: "1" } }))).toEqual({
      patch: { description: "d" },
    });
  });

  it.each([
    ["nothing to update", input({}), /update_mask/],
    ["an unknown path", input({ updateMask: ["name"] }), /update_mask/],
    ["value named but absent", input({ updateMask: ["value"] }), /value/],
    ["an empty value", input({ value: "" }), /value/],
    ["a bad metadata key", input({ metadata: { "1x": "v" } }), /metadata/],
    ["a ttl beyond the calendar", input({ ttlMs: 1e16 }), /ttl: is too large/],
    ["both expire_time and ttl", input({ ttlMs: 1000, expireTime: new Date(Date.now() + 5000) }), /ttl/],
    ["an expire_time in the past", input({ expireTime: new Date(0) }), /expire_time/],
  ])("refuses %s", (_label, bad, field) => {
    expect(() => planUpdate(bad)).toThrow(field);
  });
});
