import { describe, expect, it } from "vitest";
import type { Identity, Scope } from "../../src/auth/identity.js";
import { TASK_TOKEN_DEFAULT_TTL_MS, TASK_TOKEN_MAX_TTL_MS, planTaskToken, type TaskTokenRequest } from "../../src/auth/task-token-policy.js";
import { FailedPreconditionError, InvalidArgumentError, PermissionDeniedError } from "../../src/errors.js";

const now = new Date("2026-01-01T00:00:00.000Z");
const nowSeconds = now.getTime() / 1000;
const caller = (fields: Partial<Omit<Identity, "scopes">> & { scopes?: Scope[] } = {}): Identity => ({
  subject: "agent-1",
  tenant: "dev_a",
  exp: nowSeconds + 12 * 3600,
  ...fields,
  scopes: new Set(fields.scopes ?? ["secrets.read", "secrets.access", "secrets.write"]),
});
const request = (fields: Partial<TaskTokenRequest> = {}): TaskTokenRequest => ({
  secrets: ["stripe_*"],
  scopes: ["secrets.access"],
  label: "nightly build",
  ...fields,
});

/** The error planTaskToken throws, checked for its class and, for InvalidArgumentError, its field. */
function refusal(plan: () => unknown): Error {
  try {
    plan();
  } catch (err) {
    return err as Error;
  }
  throw new Error("planned, not refused");
}

describe("planTaskToken", () => {
  it("plans a record for the given tenant and the caller's subject, with the default ttl", () => {
    const record = planTaskToken(caller(), "dev_b", request(), now);
    expect(record).toEqual({
      id: expect.stringMatching(/^tt_[A-Za-z0-9_-]{22}$/),
      tenant: "dev_b",
      subject: "agent-1",
      label: "nightly build",
      scopes: ["secrets.access"],
      secrets: ["stripe_*"],
      createTime: now,
      expireTime: new Date(now.getTime() + TASK_TOKEN_DEFAULT_TTL_MS),
    });
    expect(record.id).not.toBe(planTaskToken(caller(), "dev_b", request(), now).id);
  });

  it("removes duplicate scopes and globs, keeping their order", () => {
    const record = planTaskToken(caller(), "dev_a", request({ scopes: ["secrets.read", "secrets.access", "secrets.read"], secrets: ["b_*", "a", "b_*"] }), now);
    expect(record.scopes).toEqual(["secrets.read", "secrets.access"]);
    expect(record.secrets).toEqual(["b_*", "a"]);
  });

  it("takes a ttl up to an hour, and ends with the calling token when that ends first", () => {
    expect(planTaskToken(caller(), "dev_a", request({ ttlMs: 1 }), now).expireTime).toEqual(new Date(now.getTime() + 1));
    expect(planTaskToken(caller(), "dev_a", request({ ttlMs: TASK_TOKEN_MAX_TTL_MS }), now).expireTime).toEqual(new Date(now.getTime() + TASK_TOKEN_MAX_TTL_MS));
    const short = caller({ exp: nowSeconds + 60 });
    expect(planTaskToken(short, "dev_a", request({ ttlMs: TASK_TOKEN_MAX_TTL_MS }), now).expireTime).toEqual(new Date(now.getTime() + 60_000));
    // Dev mode: a caller without exp.
    const { exp: _exp, ...dev } = caller();
    expect(planTaskToken(dev, "dev_a", request(), now).expireTime).toEqual(new Date(now.getTime() + TASK_TOKEN_DEFAULT_TTL_MS));
  });

  it("refuses a caller whose token has expired or expires now", () => {
    for (const exp of [nowSeconds, nowSeconds - 1]) {
      expect(refusal(() => planTaskToken(caller({ exp }), "dev_a", request(), now))).toEqual(new FailedPreconditionError("the calling token expires too soon"));
    }
  });

  it("refuses a task token as the caller", () => {
    const task = caller({ task: { id: "tt_x", label: "" } });
    expect(refusal(() => planTaskToken(task, "dev_a", request(), now))).toEqual(new PermissionDeniedError("a task token cannot mint another task token"));
  });

  it.each<[string, Partial<TaskTokenRequest>, string, RegExp]>([
    ["no scopes", { scopes: [] }, "scopes", /must name at least one scope/],
    ["an unknown scope", { scopes: ["secrets.access", "secrets.everything"] }, "scopes", /secrets\.everything/],
    ["secrets.delegate", { scopes: ["secrets.delegate"] }, "scopes", /secrets\.delegate is never granted to a task token/],
    ["secrets.admin", { scopes: ["secrets.read", "secrets.admin"] }, "scopes", /secrets\.admin is never granted to a task token/],
    ["no secrets", { secrets: [] }, "secrets", /at least one/],
    ["an empty glob", { secrets: [""] }, "secrets", /not a glob/],
    ["a glob with other characters", { secrets: ["stripe-*"] }, "secrets", /"stripe-\*" is not a glob/],
    ["a glob that is too long", { secrets: ["a".repeat(129)] }, "secrets", /not a glob/],
    ["a zero ttl", { ttlMs: 0 }, "ttl", /at most 60 minutes/],
    ["a negative ttl", { ttlMs: -1 }, "ttl", /at most 60 minutes/],
    ["a ttl over an hour", { ttlMs: TASK_TOKEN_MAX_TTL_MS + 1 }, "ttl", /at most 60 minutes/],
    ["a ttl that is not a number", { ttlMs: Number.NaN }, "ttl", /at most 60 minutes/],
    ["a label of 129 characters", { label: "x".repeat(129) }, "label", /at most 128 characters/],
    ["a label with a newline", { label: "build\nforged log line" }, "label", /control characters/],
    ["a label with a NUL", { label: "a\u0000b" }, "label", /control characters/],
    ["a label with a line separator", { label: "a\u2028b" }, "label", /control characters/],
  ])("refuses %s as InvalidArgumentError on its field", (_, fields, field, message) => {
    const err = refusal(() => planTaskToken(caller(), "dev_a", request(fields), now));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).field).toBe(field);
    expect(err.message).toMatch(message);
  });

  it("allows a label of 128 characters, counted as characters, and an empty one", () => {
    expect(planTaskToken(caller(), "dev_a", request({ label: "😀".repeat(128) }), now).label).toBe("😀".repeat(128));
    expect(planTaskToken(caller(), "dev_a", request({ label: "" }), now).label).toBe("");
  });

  it("quotes a long glob clipped", () => {
    const err = refusal(() => planTaskToken(caller(), "dev_a", request({ secrets: ["-".repeat(10_000)] }), now));
    expect(err.message.length).toBeLessThan(300);
  });

  it("refuses a scope the caller lacks, naming it", () => {
    const reader = caller({ scopes: ["secrets.read"] });
    const err = refusal(() => planTaskToken(reader, "dev_a", request({ scopes: ["secrets.read", "secrets.write"] }), now));
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect(err.message).toContain("secrets.write");
  });

  it("grants only globs that one of the caller's globs covers", () => {
    const limited = caller({ secrets: ["stripe_*", "db_?"] });
    expect(planTaskToken(limited, "dev_a", request({ secrets: ["stripe_live_*", "db_1", "db_?"] }), now).secrets).toEqual(["stripe_live_*", "db_1", "db_?"]);
    for (const glob of ["*", "db_*", "stripe", "other"]) {
      const err = refusal(() => planTaskToken(limited, "dev_a", request({ secrets: ["stripe_a", glob] }), now));
      expect(err, glob).toBeInstanceOf(PermissionDeniedError);
      expect(err.message).toContain(`"${glob}"`);
    }
    // No secrets claim: every name.
    expect(planTaskToken(caller(), "dev_a", request({ secrets: ["*"] }), now).secrets).toEqual(["*"]);
    // An empty claim: no name.
    expect(refusal(() => planTaskToken(caller({ secrets: [] }), "dev_a", request({ secrets: ["a"] }), now))).toBeInstanceOf(PermissionDeniedError);
  });

  it("checks the request's shape before the caller's rights", () => {
    // An unknown scope is a bad request even when the caller could not have had it anyway.
    const reader = caller({ scopes: ["secrets.read"] });
    const err = refusal(() => planTaskToken(reader, "dev_a", request({ scopes: ["secrets.write", "nope"] }), now));
    expect(err).toBeInstanceOf(InvalidArgumentError);
  });
});
