import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { clip } from "../errors.js";
import type { CallRecord } from "./call.js";

type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface CallLogger {
  call(call: CallRecord, res: NodeResponse, started: number): void;
  unrouted(path: string, status: number, started: number): void;
  failure(call: CallRecord, err: unknown): void;
}

/** Told of every finished call, with the code its log line has (and its record); unrouted calls as method "unknown". */
export type CallObserver = (method: string, code: string, seconds: number, call?: CallRecord) => void;

/** One line per call: method, code, duration, developer, name; never a message body. */
export function callLogger(logger: Logger, onCall?: CallObserver): CallLogger {
  const ms = (started: number) => Math.round((performance.now() - started) * 10) / 10;
  const seconds = (started: number) => (performance.now() - started) / 1000;
  return {
    call(call, res, started) {
      const reason: unknown = call.signal?.reason;
      const code = reason instanceof ConnectError ? Code[reason.code] : !res.writableFinished ? "Canceled" : call.signal ? "ok" : codeOfStatus(res.statusCode);
      const severe = reason instanceof ConnectError && (reason.code === Code.Internal || reason.code === Code.DataLoss || reason.code === Code.Unknown);
      const fields = {
        method: call.method,
        code,
        durationMs: ms(started),
        ...(call.developer ? { developer: call.developer } : {}),
        ...(call.name ? { name: call.name } : {}),
        ...(severe ? { err: describeCause(reason) } : {}),
      };
      if (severe) logger.error(fields, "call");
      else logger.info(fields, "call");
      onCall?.(call.method, code, seconds(started), call);
    },
    unrouted(path, status, started) {
      const code = codeOfStatus(status);
      logger.info({ path: clip(path), code, status, durationMs: ms(started) }, "call");
      onCall?.("unknown", code, seconds(started));
    },
    failure(call, err) {
      logger.debug({ method: call.method, err: describeCause(err) }, "response not written");
    },
  };
}

/** Answers connect gives by HTTP status alone (unknown path, media type, method): what a gRPC client reads from them. */
function codeOfStatus(status: number): string {
  return [404, 405, 415, 505].includes(status) ? "Unimplemented" : "Unknown";
}

/** Error class and code only: messages of driver errors could quote data. */
function describeCause(err: unknown): { type: string; cause?: string } {
  const root = err instanceof ConnectError && err.cause !== undefined ? err.cause : err;
  const cause = root instanceof Error && root.cause instanceof Error ? root.cause.name : undefined;
  return { type: root instanceof Error ? root.name : typeof root, ...(cause ? { cause } : {}) };
}
