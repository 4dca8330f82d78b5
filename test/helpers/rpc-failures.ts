import { type Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";

/** The ConnectError a call fails with; fails the test when the call succeeds. */
export async function connectErrorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** Asserts the call fails with `code` (and, if given, a message matching `message`). */
export async function expectCode(call: Promise<unknown>, code: Code, message?: RegExp): Promise<void> {
  const err = await connectErrorOf(call);
  expect(err.code, err.rawMessage).toBe(code);
  if (message) expect(err.rawMessage).toMatch(message);
}
