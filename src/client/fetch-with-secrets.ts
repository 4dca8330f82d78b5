import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import type { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";

// fetch() for agent workers whose calls need a secret: the request goes to the service's
// ProxyHttpRequest with `{{ secrets.NAME }}` references in header values, the query or a JSON, form or
// text body; the service makes the call with the values in and answers redacted, so the worker (and
// its LLM transcript) never holds a value. Same shape as fetch: (url, init) -> Promise<Response>.
//
// Differences from fetch, by design: a redirect comes back as it is (3xx), never followed; the body
// must be given whole (string, bytes, URLSearchParams, Blob); the service's error (PERMISSION_DENIED
// for a host outside a secret's allowed_hosts, UNAVAILABLE for an upstream that does not answer)
// rejects the promise as a ConnectError, as a network error rejects fetch's.

export type ProxyClient = Pick<Client<typeof SecretsService>, "proxyHttpRequest">;

export interface FetchWithSecretsInit extends Omit<RequestInit, "body"> {
  readonly body?: string | Uint8Array | ArrayBuffer | URLSearchParams | Blob | null;
  /** The upstream call's timeout (the service's default is 10 s, at most 60 s). */
  readonly timeoutMs?: number;
}

/** The Response of a proxied call, with the names the service put in and whether the body was cut. */
export interface ProxiedResponse extends Response {
  readonly secretNames: readonly string[];
  readonly truncated: boolean;
}

export type FetchWithSecrets = (url: string | URL, init?: FetchWithSecretsInit) => Promise<ProxiedResponse>;

/** Statuses whose Response may carry no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

export function createFetchWithSecrets(client: ProxyClient): FetchWithSecrets {
  return async (url, init = {}) => {
    const headers = new Headers(init.headers);
    const body = await bodyBytes(init.body, headers);
    const res = await client.proxyHttpRequest(
      {
        method: (init.method ?? "GET").toUpperCase(),
        url: String(url),
        headers: [...headers].map(([name, value]) => ({ name, value })),
        body,
        ...(init.timeoutMs !== undefined ? { timeout: durationFromMs(init.timeoutMs) } : {}),
      },
      { ...(init.signal ? { signal: init.signal } : {}) },
    );
    const responseHeaders = new Headers();
    for (const h of res.headers) responseHeaders.append(h.name, h.value);
    const response = new Response(NULL_BODY.has(res.status) ? null : res.body, { status: res.status, headers: responseHeaders });
    return Object.assign(response, { secretNames: res.names, truncated: res.truncated });
  };
}

/** The body's bytes; like fetch, a string is text/plain and URLSearchParams a form unless a content-type is given. */
async function bodyBytes(body: FetchWithSecretsInit["body"], headers: Headers): Promise<Uint8Array> {
  if (body === undefined || body === null) return new Uint8Array();
  const defaultType = (type: string) => {
    if (!headers.has("content-type")) headers.set("content-type", type);
  };
  if (typeof body === "string") {
    defaultType("text/plain;charset=UTF-8");
    return new TextEncoder().encode(body);
  }
  if (body instanceof URLSearchParams) {
    defaultType("application/x-www-form-urlencoded;charset=UTF-8");
    return new TextEncoder().encode(body.toString());
  }
  if (body instanceof Blob) {
    if (body.type) defaultType(body.type);
    return new Uint8Array(await body.arrayBuffer());
  }
  return body instanceof ArrayBuffer ? new Uint8Array(body) : body;
}
