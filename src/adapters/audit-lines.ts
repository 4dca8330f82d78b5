import { pino } from "pino";
import type { AuditEvent } from "../ports/audit-store.js";

// The JSON-lines copy of the audit trail, for log shippers: one object a line, fields named as
// in the proto's AuditEvent. Writes are buffered (sonic-boom, asynchronous) because the copy is
// written after the event is durably stored in the database, which remains the record.

export interface AuditLines {
  write(event: AuditEvent): void;
  /** Writes what is buffered and closes the file (stdout stays open). */
  close(): Promise<void>;
}

/** `target` is "stdout" or a file path (appended to; created with mode 0600, its directories too). */
export function openAuditLines(target: string, onError: (err: Error) => void = () => {}): AuditLines {
  const stream =
    target === "stdout"
      ? pino.destination({ dest: 1, sync: false })
      : pino.destination({ dest: target, sync: false, append: true, mkdir: true, mode: 0o600 });
  // Without a listener an I/O error would end the process; the database copy is unaffected.
  // After one the copy stops, reported once (pino emits an error twice): a stream that failed
  // to open would otherwise buffer lines without bound.
  let failed = false;
  stream.on("error", (err: Error) => {
    if (failed) return;
    failed = true;
    onError(err);
  });
  let closing: Promise<void> | undefined;

  return {
    write(event) {
      if (closing || failed) return;
      stream.write(`${JSON.stringify(auditLine(event))}\n`);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        // A stream that never opened would wait for its file forever.
        if (failed) return resolve();
        stream.once("close", () => resolve());
        stream.once("error", () => resolve());
        stream.end();
      });
      return closing;
    },
  };
}

export function auditLine(e: AuditEvent): Record<string, unknown> {
  return {
    event_id: e.id,
    event_time: e.time.toISOString(),
    request_id: e.requestId,
    principal: e.principal,
    developer_id: e.tenant,
    delegated: e.delegated,
    token_id: e.tokenId,
    token_label: e.tokenLabel,
    method: e.method,
    names: e.names,
    versions: e.versions,
    code: e.code,
    peer_address: e.peerAddress,
    user_agent: e.userAgent,
    mtls_subject: e.mtlsSubject,
    ...(e.httpCall
      ? {
          http_call: {
            method: e.httpCall.method,
            host: e.httpCall.host,
            status: e.httpCall.status,
            duration_ms: e.httpCall.durationMs,
            request_bytes: e.httpCall.requestBytes,
            response_bytes: e.httpCall.responseBytes,
          },
        }
      : {}),
  };
}
