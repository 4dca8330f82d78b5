import {
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from "mongodb";
import { UnavailableError } from "../../errors.js";

const DUPLICATE_KEY = 11000;

export function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

export async function guard<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw unavailable(err);
  }
}

/** True when inserted, false when the _id (or a unique key) was taken. */
export async function insertUnique(insert: () => Promise<unknown>): Promise<boolean> {
  try {
    await insert();
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw unavailable(err);
  }
}

/** Socket errors the driver can let through unwrapped (e.g. a write after the server half-closed: EPIPE). */
const SOCKET_CODES = new Set(["EPIPE", "ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "ETIMEDOUT", "ENOTCONN", "EHOSTUNREACH", "ENETUNREACH"]);

const socketCode = (err: unknown): string | undefined => {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return code !== undefined && SOCKET_CODES.has(code) ? code : undefined;
};

/**
 * Server codes of a replica set changing primaries or a server going away (MongoDB's error_codes.yml):
 * the operation may succeed when retried on the new primary.
 */
const TRANSIENT_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  64, // WriteConcernFailed
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

const transient = (err: unknown): err is MongoError =>
  err instanceof MongoError &&
  ((typeof err.code === "number" && TRANSIENT_CODES.has(err.code)) || err.hasErrorLabel("RetryableWriteError") || err.hasErrorLabel("TransientTransactionError"));

/** Connection-level failures (and failovers) become UnavailableError; anything else is a bug and stays as it is. */
export function unavailable(err: unknown): unknown {
  const down =
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoNotConnectedError ||
    err instanceof MongoTopologyClosedError ||
    transient(err);
  if (down) return new UnavailableError(`secret store unavailable (${err.name})`, { cause: err });
  const code = socketCode(err);
  return code ? new UnavailableError(`secret store unavailable (${code})`, { cause: err }) : err;
}
