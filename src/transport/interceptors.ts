import type { Interceptor, StreamResponse } from "@connectrpc/connect";
import type { TokenVerifier } from "../auth/token-verifier.js";
import { clip, UnauthenticatedError } from "../errors.js";
import { callKey } from "./call.js";
import { principalKey } from "./context.js";
import { toConnectError } from "./errors.js";

/**
 * Outermost interceptor: marks the call as parsed (it reached the handlers), notes the
 * secret name for the call's log line, and translates every error to a ConnectError.
 * The edge writes the log line (transport/edge.ts).
 */
export function errorInterceptor(): Interceptor {
  return (next) => async (req) => {
    const call = req.contextValues.get(callKey);
    if (call) {
      call.parsed = true;
      const name = req.stream ? undefined : secretNameOf(req.message);
      if (name) call.name = name;
    }
    try {
      const res = await next(req);
      return res.stream ? mapStreamErrors(res) : res;
    } catch (err) {
      throw toConnectError(err);
    }
  };
}

/** Requires exactly one `authorization: Bearer <JWT>` on the services it guards and records the principal. */
export function authInterceptor(verifier: TokenVerifier, guarded: ReadonlySet<string>): Interceptor {
  return (next) => async (req) => {
    if (!guarded.has(req.service.typeName)) return next(req);
    const call = req.contextValues.get(callKey);
    // Node keeps only the first of repeated authorization headers; the edge counted them.
    if (call && call.authorizationHeaders > 1) throw new UnauthenticatedError("more than one authorization header");
    const header = req.header.get("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) throw new UnauthenticatedError("missing bearer token in the authorization header");
    const principal = await verifier.verify(match[1]);
    req.contextValues.set(principalKey, principal);
    if (call) call.developer = principal.tenant;
    return next(req);
  };
}

function mapStreamErrors<O extends StreamResponse>(res: O): O {
  const source = res.message;
  async function* mapped() {
    try {
      yield* source;
    } catch (err) {
      throw toConnectError(err);
    }
  }
  return { ...res, message: mapped() };
}

function secretNameOf(message: unknown): string | undefined {
  if (typeof message !== "object" || message === null || !("name" in message)) return undefined;
  const name = (message as { name: unknown }).name;
  return typeof name === "string" && name !== "" ? clip(name) : undefined;
}
