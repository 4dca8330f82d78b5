import { describe, expect, it } from "vitest";
import { unavailable } from "../../src/adapters/mongodb/errors.js";
import { UnavailableError } from "../../src/errors.js";

describe("MongoDB adapter error mapping", () => {
  it("a socket error the driver lets through unwrapped (write after the server half-closed) is UNAVAILABLE", () => {
    const epipe = Object.assign(new Error("This socket has been ended by the other party"), { code: "EPIPE" });
    const mapped = unavailable(epipe);
    expect(mapped).toBeInstanceOf(UnavailableError);
    expect((mapped as Error).message).toBe("secret store unavailable (EPIPE)");
    expect(unavailable(Object.assign(new Error("reset"), { code: "ECONNRESET" }))).toBeInstanceOf(UnavailableError);
  });

  it("anything else stays as it is (a bug must not pass for an outage)", () => {
    const bug = new TypeError("x is undefined");
    expect(unavailable(bug)).toBe(bug);
    const other = Object.assign(new Error("no such file"), { code: "ENOENT" });
    expect(unavailable(other)).toBe(other);
  });
});
