import type { ServiceImpl } from "@connectrpc/connect";
import type { SecretsService as SecretsServiceDesc } from "../../gen/secrets/v1/secrets_pb.js";
import type { Proxy } from "../core/proxy-request.js";
import { FailedPreconditionError, InvalidArgumentError, UnauthenticatedError } from "../errors.js";
import { callKey } from "./call.js";
import { principalKey } from "./context.js";

// ProxyHttpRequest's handler: proto <-> domain, and the upstream call's facts onto the call's
// record, where the request pipeline puts them in the audit event.

export function proxyHandlers(proxy: Proxy | undefined): Pick<ServiceImpl<typeof SecretsServiceDesc>, "proxyHttpRequest"> {
  return {
    async proxyHttpRequest(req, ctx) {
      if (!proxy) throw new FailedPreconditionError("ProxyHttpRequest is not enabled on this server");
      const p = ctx.values.get(principalKey);
      if (!p) throw new UnauthenticatedError("not authenticated");
      const call = ctx.values.get(callKey);
      const timeoutMs = req.timeout ? Number(req.timeout.seconds) * 1000 + req.timeout.nanos / 1e6 : undefined;
      if (req.timeout && (req.timeout.seconds < 0n || req.timeout.nanos < 0)) throw new InvalidArgumentError("timeout", "must be positive");
      const result = await proxy.proxyHttpRequest(
        p,
        {
          method: req.method,
          url: req.url,
          headers: req.headers.map((h) => ({ name: h.name, value: h.value })),
          body: req.body,
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
          signal: ctx.signal,
        },
        (sent) => {
          if (call) call.httpCall = sent;
        },
      );
      return { status: result.status, headers: result.headers, body: result.body, names: result.names, truncated: result.truncated };
    },
  };
}
