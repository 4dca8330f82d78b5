import { Code, ConnectError } from "@connectrpc/connect";
import type { ErrorCode } from "../errors.js";
import { boundMessage, SecretsError } from "../errors.js";

// The one place domain errors become gRPC/Connect statuses.

const CODES: Record<ErrorCode, Code> = {
  ERR_INVALID_ARGUMENT: Code.InvalidArgument,
  ERR_NOT_FOUND: Code.NotFound,
  ERR_ALREADY_EXISTS: Code.AlreadyExists,
  ERR_ABORTED: Code.Aborted,
  ERR_FAILED_PRECONDITION: Code.FailedPrecondition,
  ERR_UNAUTHENTICATED: Code.Unauthenticated,
  ERR_PERMISSION_DENIED: Code.PermissionDenied,
  ERR_RESOURCE_EXHAUSTED: Code.ResourceExhausted,
  ERR_UNAVAILABLE: Code.Unavailable,
  ERR_DATA_LOSS: Code.DataLoss,
};

/** Maps any thrown value to a ConnectError with a bounded message. Unknown errors become INTERNAL with no detail. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) {
    const message = boundMessage(err.rawMessage);
    return message === err.rawMessage ? err : new ConnectError(message, err.code, err.metadata, undefined, err.cause);
  }
  if (err instanceof SecretsError) return new ConnectError(boundMessage(err.message), CODES[err.code], undefined, undefined, err);
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

/** The numeric gRPC status code of a domain error (for per-item errors in batch responses). */
export function grpcCodeOf(err: SecretsError): number {
  return CODES[err.code];
}
