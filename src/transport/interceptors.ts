import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { UnauthenticatedError } from "../errors.js";
import { principalKey } from "./context.js";
import { toConnectError } from "./errors.js";

/**
 * Outermost: one log line per call (method, code, duration, developer, name)
 * and the translation of every error to a ConnectError. Never logs a message
 * body: requests and responses may carry secret values.
 */
export function loggingInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const fields = () => ({
      method: `${req.service.typeName}/${req.method.name}`,
      developer: req.contextValues.get(principalKey)?.tenant,
      name: secretNameOf(req.stream ? undefined : req.message),
      durationMs: Math.round((performance.now() - started) * 10) / 10,
    });
    try {
      const res = await next(req);
      logger.info({ ...fields(), code: "ok" }, "call");
      return res;
    } catch (err) {
      const connectErr = toConnectError(err);
      const level = connectErr.code === Code.Internal || connectErr.code === Code.DataLoss ? "error" : "info";
      logger[level]({ ...fields(), code: Code[connectErr.code], ...(level === "error" ? { err: describeCause(err) } : {}) }, "call");
      throw connectErr;
    }
  };
}

/** Requires `authorization: Bearer <JWT>` on the services it guards and records the principal. */
export function authInterceptor(verifier: TokenVerifier, guarded: ReadonlySet<string>): Interceptor {
  return (next) => async (req) => {
    if (!guarded.has(req.service.typeName)) return next(req);
    const header = req.header.get("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) throw new UnauthenticatedError("missing bearer token in the authorization header");
    req.contextValues.set(principalKey, await verifier.verify(match[1]));
    return next(req);
  };
}

function secretNameOf(message: unknown): string | undefined {
  if (typeof message !== "object" || message === null || !("name" in message)) return undefined;
  const name = (message as { name: unknown }).name;
  return typeof name === "string" && name !== "" ? name.slice(0, 128) : undefined;
}

/** Error class and code only: messages of driver errors could quote data. */
function describeCause(err: unknown): { type: string; cause?: string } {
  const root = err instanceof ConnectError && err.cause !== undefined ? err.cause : err;
  const cause = root instanceof Error && root.cause instanceof Error ? root.cause.name : undefined;
  return { type: root instanceof Error ? root.name : typeof root, ...(cause ? { cause } : {}) };
}
