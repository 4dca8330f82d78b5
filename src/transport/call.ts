import { type ConnectError, createContextKey } from "@connectrpc/connect";

/**
 * What the edge and the interceptors learn about one call; the edge writes the call's
 * one log line from it when the response is done. Never holds a message body.
 */
export interface CallRecord {
  /** "secrets.v1.SecretsService/GetSecretValue" (or the request path, truncated, for unknown paths). */
  readonly method: string;
  /** The fully-qualified request message type ("secrets.v1.GetSecretValueRequest"). */
  readonly inputType: string;
  /** `authorization` header lines as received (duplicates are not merged by Node). */
  readonly authorizationHeaders: number;
  /** An answer decided at the edge before the body is read; the request gate raises it. */
  rejection?: ConnectError;
  /** The handler context's signal (set by the request gate): aborted with the call's error, if any. */
  signal?: AbortSignal;
  /** Set once the request message was parsed and the interceptors run. */
  parsed: boolean;
  developer?: string;
  /** The secret name of the request, truncated. */
  name?: string;
}

/** The call's record, set by the edge for every request it routes. */
export const callKey = createContextKey<CallRecord | undefined>(undefined, { description: "call record" });
