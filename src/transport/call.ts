import { type ConnectError, createContextKey } from "@connectrpc/connect";
import type { AuditHttpCall } from "../ports/audit-store.js";

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
  /** x-request-id as sent (printable ASCII, at most 128 characters), else generated; echoed in the response header. */
  requestId: string;
  /** The client's address and port ("127.0.0.1:53122"). */
  readonly peerAddress: string;
  readonly userAgent: string;
  /** Subject of the verified client certificate (mutual TLS); "" without one. */
  readonly mtlsSubject: string;
  /** Set by the request pipeline once the call's audit event is handled; the edge records the others. */
  audited?: boolean;
  developer?: string;
  /** The secret name of the request, truncated. */
  name?: string;
  /** ProxyHttpRequest: the upstream call, once it went to the egress (for the audit event). */
  httpCall?: AuditHttpCall;
}

/** The call's record, set by the edge for every request it routes. */
export const callKey = createContextKey<CallRecord | undefined>(undefined, { description: "call record" });
