// The one domain error taxonomy. Transport maps these to gRPC codes in one place
// (src/transport/errors.ts); nothing here knows about the wire.
// Messages never carry secret values or key material.

export type ErrorCode =
  | "ERR_INVALID_ARGUMENT"
  | "ERR_NOT_FOUND"
  | "ERR_ALREADY_EXISTS"
  | "ERR_ABORTED"
  | "ERR_FAILED_PRECONDITION"
  | "ERR_UNAUTHENTICATED"
  | "ERR_PERMISSION_DENIED"
  | "ERR_RESOURCE_EXHAUSTED"
  | "ERR_UNAVAILABLE"
  | "ERR_DATA_LOSS";

/** Longest stretch of request text an error message quotes. */
export const QUOTE_MAX_CHARS = 128;
/** Longest error message sent to a client. */
export const MESSAGE_MAX_CHARS = 512;

/** Request text as an error message may quote it: at most `max` characters, "…" marking a cut. */
export function clip(text: string, max = QUOTE_MAX_CHARS): string {
  if (text.length <= max) return text;
  // A code point is one or two code units: the first 2 * max units hold the first max points.
  const head = [...text.slice(0, max * 2)].slice(0, max).join("");
  return head.length === text.length ? text : `${head}…`;
}

/** A whole message, bounded: what no client-visible error may exceed. */
export function boundMessage(message: string): string {
  return clip(message, MESSAGE_MAX_CHARS);
}

export abstract class SecretsError extends Error {
  abstract readonly code: ErrorCode;
}

export class InvalidArgumentError extends SecretsError {
  readonly code = "ERR_INVALID_ARGUMENT" as const;
  /** The request field at fault, as named in the proto (e.g. "metadata", "page_size"). */
  readonly field: string;
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.field = field;
  }
}

export class NotFoundError extends SecretsError {
  readonly code = "ERR_NOT_FOUND" as const;
}

export class AlreadyExistsError extends SecretsError {
  readonly code = "ERR_ALREADY_EXISTS" as const;
}

/** A compare-and-set lost: stale etag or a concurrent writer. */
export class AbortedError extends SecretsError {
  readonly code = "ERR_ABORTED" as const;
}

export class FailedPreconditionError extends SecretsError {
  readonly code = "ERR_FAILED_PRECONDITION" as const;
}

export class UnauthenticatedError extends SecretsError {
  readonly code = "ERR_UNAUTHENTICATED" as const;
}

export class PermissionDeniedError extends SecretsError {
  readonly code = "ERR_PERMISSION_DENIED" as const;
}

export class ResourceExhaustedError extends SecretsError {
  readonly code = "ERR_RESOURCE_EXHAUSTED" as const;
}

/** A backing service (database, KMS) cannot be reached; the call may be retried. */
export class UnavailableError extends SecretsError {
  readonly code = "ERR_UNAVAILABLE" as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Stored ciphertext failed authentication. Says little on purpose. */
export class DataLossError extends SecretsError {
  readonly code = "ERR_DATA_LOSS" as const;
  constructor(message = "stored secret data failed integrity check", options?: { cause?: unknown }) {
    super(message, options);
  }
}
