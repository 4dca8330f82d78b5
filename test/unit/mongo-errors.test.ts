import { MongoServerError, MongoWriteConcernError } from "mongodb";
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

  it("a primary stepping down, a server shutting down or a write concern not met (failover) is UNAVAILABLE", () => {
    for (const [code, codeName] of [[10107, "NotWritablePrimary"], [189, "PrimarySteppedDown"], [91, "ShutdownInProgress"], [11602, "InterruptedDueToReplStateChange"]] as const) {
      expect(unavailable(new MongoServerError({ message: codeName, code, codeName })), codeName).toBeInstanceOf(UnavailableError);
    }
    const labelled = new MongoServerError({ message: "retry me", code: 262, errorLabels: ["RetryableWriteError"] });
    expect(unavailable(labelled)).toBeInstanceOf(UnavailableError);
    const concern = new MongoWriteConcernError({ ok: 1, writeConcernError: { code: 64, errmsg: "waiting for replication timed out" } } as never);
    expect(unavailable(concern)).toBeInstanceOf(UnavailableError);
    // A duplicate key or a bad query is no outage.
    const duplicate = new MongoServerError({ message: "E11000 duplicate key", code: 11000 });
    expect(unavailable(duplicate)).toBe(duplicate);
    const badQuery = new MongoServerError({ message: "unknown operator: $foo", code: 2, codeName: "BadValue" });
    expect(unavailable(badQuery)).toBe(badQuery);
  });

  it("anything else stays as it is (a bug must not pass for an outage)", () => {
    const bug = new TypeError("x is undefined");
    expect(unavailable(bug)).toBe(bug);
    const other = Object.assign(new Error("no such file"), { code: "ENOENT" });
    expect(unavailable(other)).toBe(other);
  });
});
