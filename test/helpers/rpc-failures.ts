import { ConnectError } from "@connectrpc/connect";

/** The ConnectError a call fails with; fails the test when the call succeeds. */
export async function connectErrorOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail, but it succeeded");
}
