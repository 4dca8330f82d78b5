import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { clip } from "../errors.js";
import { callKey } from "./call.js";
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
    // A streaming request is parsed as the handler reads it, after this point: connect's INTERNAL for
    // bytes that are no valid message is, as for a unary call at the edge, INVALID_ARGUMENT.
    if (req.stream) req = { ...req, message: parsedOrInvalid(req.message, req.method.input.typeName) };
    try {
      const res = await next(req);
      return res.stream ? mapStreamErrors(res) : res;
    } catch (err) {
      throw toConnectError(err);
    }
  };
}

async function* parsedOrInvalid<T>(messages: AsyncIterable<T>, typeName: string): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.Internal) throw new ConnectError(`request is not a valid ${typeName} message`, Code.InvalidArgument);
    throw err;
  }
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
