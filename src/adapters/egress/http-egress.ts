import { lookup as dnsLookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import type { Readable } from "node:stream";
import tls from "node:tls";
import zlib from "node:zlib";
import { PermissionDeniedError, UnavailableError } from "../../errors.js";
import type { Egress, EgressRequest, EgressResponse } from "../../ports/egress.js";
import { hostListMatches } from "../../ports/host-patterns.js";
import { requestHeaders, responseHeaders } from "./headers.js";
import { isPublicAddress } from "./public-address.js";

// ProxyHttpRequest's outbound calls over node:http and node:https. Where bytes may go is decided
// here: https (http only for PROXY_INSECURE_HOSTS), certificates verified, and the host resolved
// once: if any of its addresses is not public (and the host is not in PROXY_ALLOW_PRIVATE_HOSTS) the
// call is refused, else the socket connects to the address that was checked (the request's lookup
// answers it: no second DNS query, so a rebinding answer between check and connect goes nowhere).
// Redirects are never followed: node's client does not, and nothing here does. One deadline covers
// the call from name resolution to the last body byte; expiry and cancellation (request.signal) both
// end it with UnavailableError, and destroy the socket.

export interface Resolved {
  readonly address: string;
  readonly family: 4 | 6;
}

export interface HttpEgressOptions {
  /** host[:port] patterns that may resolve to non-public addresses. */
  readonly allowPrivateHosts: readonly string[];
  /** host[:port] patterns reached over plain http. */
  readonly insecureHosts: readonly string[];
  /** PEM trusted beside the system's roots. */
  readonly extraCa?: string | Buffer;
  /** Name resolution (tests); default: the system resolver, every address. */
  readonly lookup?: (hostname: string) => Promise<readonly Resolved[]>;
}

export interface HttpEgress extends Egress {
  /** Closes the kept-alive connections. */
  close(): void;
}

const BODYLESS = new Set(["GET", "HEAD"]);

export function createHttpEgress(options: HttpEgressOptions): HttpEgress {
  // One secure context for every connection: given as `ca`, the bundle would be parsed for each new
  // connection and written into the agent's pool key of every request (some 200 KB of PEM).
  const secureContext = options.extraCa ? tls.createSecureContext({ ca: [...tls.rootCertificates, String(options.extraCa)] }) : undefined;
  // Kept-alive connections: a call to an upstream seen before costs no new TCP and TLS handshake.
  const agents = {
    "http:": new http.Agent({ keepAlive: true, scheduling: "lifo" }),
    "https:": new https.Agent({ keepAlive: true, scheduling: "lifo", ...(secureContext ? { secureContext } : {}) }),
  };
  const resolve = options.lookup ?? (async (hostname: string) => (await dnsLookup(hostname, { all: true, verbatim: true })) as Resolved[]);

  async function destination(url: URL): Promise<Resolved> {
    if (url.protocol === "http:" && !hostListMatches(options.insecureHosts, url)) throw new PermissionDeniedError(`http://${url.host} is not allowed: use https`);
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new PermissionDeniedError(`scheme ${url.protocol} is not allowed`);
    const hostname = bareHost(url);
    const family = isIP(hostname);
    let answers: readonly Resolved[];
    if (family !== 0) answers = [{ address: hostname, family: family as 4 | 6 }];
    else {
      try {
        answers = await resolve(hostname);
      } catch (err) {
        throw new UnavailableError(`could not resolve ${url.hostname} (${errorCode(err)})`);
      }
    }
    if (answers.length === 0) throw new UnavailableError(`could not resolve ${url.hostname} (no address)`);
    const refused = hostListMatches(options.allowPrivateHosts, url) ? undefined : answers.find((a) => !isPublicAddress(a.address));
    if (refused) {
      // The address is not named: the caller must not learn what an internal name resolves to.
      throw new PermissionDeniedError(`${url.host} resolves to a private or reserved address; list it in PROXY_ALLOW_PRIVATE_HOSTS to allow it`);
    }
    return answers[0]!;
  }

  async function send(request: EgressRequest): Promise<EgressResponse> {
    const { url } = request;
    // One deadline for the whole call, name resolution included (a resolver that hangs is bounded too).
    const deadline = performance.now() + request.timeoutMs;
    const target = await withinCall(destination(url), request);
    const hostname = bareHost(url);
    // Answers only the checked address, whatever the socket asks for.
    const pinned: LookupFunction = (_name, opts, callback) => {
      if (opts.all) (callback as unknown as (err: null, addresses: Resolved[]) => void)(null, [target]);
      else callback(null, target.address, target.family);
    };
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of requestHeaders(request.headers)) {
      const key = name.toLowerCase();
      const held = headers[key];
      headers[key] = held === undefined ? value : [...(Array.isArray(held) ? held : [held]), value];
    }
    headers.host = url.host;
    headers["accept-encoding"] = "identity";
    const withBody = !(BODYLESS.has(request.method) && request.body.length === 0);
    if (withBody) headers["content-length"] = String(request.body.length);

    return new Promise<EgressResponse>((resolvePromise, reject) => {
      let settled = false;
      const finish = (err: Error | undefined, response?: EgressResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.signal?.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolvePromise(response!);
      };
      const module = url.protocol === "https:" ? https : http;
      const req = module.request({
        protocol: url.protocol,
        hostname,
        port: url.port === "" ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method: request.method,
        headers,
        agent: agents[url.protocol as "http:" | "https:"],
        lookup: pinned,
        // SNI takes no IP literal, and no trailing dot: "api.stripe.com." is sent as api.stripe.com (node's
        // certificate check drops the dot the same way).
        ...(url.protocol === "https:" && isIP(hostname) === 0 ? { servername: hostname.replace(/\.$/, "") } : {}),
      });
      const timer = setTimeout(() => {
        finish(timedOut(request));
        req.destroy();
      }, Math.max(0, deadline - performance.now()));
      const onAbort = () => {
        finish(cancelled());
        req.destroy();
      };
      if (request.signal?.aborted) return onAbort();
      request.signal?.addEventListener("abort", onAbort, { once: true });

      req.on("error", (err) => finish(new UnavailableError(`could not reach ${url.host} (${errorCode(err)})`)));
      req.on("response", (res) => {
        const remoteAddress = res.socket?.remoteAddress ?? target.address;
        const returned = responseHeaders(res.rawHeaders);
        const decoder = decoderFor(res.headers["content-encoding"]);
        const source: Readable = decoder ? res.pipe(decoder) : res;
        decoder?.on("error", (err) => finish(new UnavailableError(`upstream ${url.host} sent a body that does not decode (${errorCode(err)})`)));
        res.on("error", (err) => finish(new UnavailableError(`upstream ${url.host} broke off its answer (${errorCode(err)})`)));
        const chunks: Buffer[] = [];
        let size = 0;
        const done = (truncated: boolean) =>
          finish(undefined, {
            status: res.statusCode ?? 0,
            // A decoded body is not what content-encoding and content-length describe any more.
            headers: decoder ? returned.filter((h) => h.name !== "content-encoding" && h.name !== "content-length") : returned,
            body: Buffer.concat(chunks, size),
            truncated,
            remoteAddress,
          });
        source.on("data", (chunk: Buffer) => {
          if (settled) return;
          const room = request.maxResponseBytes - size;
          if (chunk.length > room) {
            chunks.push(chunk.subarray(0, room));
            size += room;
            done(true);
            res.destroy();
            decoder?.destroy();
            return;
          }
          chunks.push(chunk);
          size += chunk.length;
        });
        source.on("end", () => done(false));
      });
      req.end(withBody ? request.body : undefined);
    });
  }

  return {
    send,
    close() {
      agents["http:"].destroy();
      agents["https:"].destroy();
    },
  };
}

/** The call's cancellation: an UnavailableError (the RPC is gone; nobody reads a finer error). */
function cancelled(): UnavailableError {
  return new UnavailableError("the call was cancelled");
}

function timedOut(request: EgressRequest): UnavailableError {
  return new UnavailableError(`upstream ${request.url.host} did not answer within ${request.timeoutMs} ms`);
}

/** `work` bounded by the call's timeout and signal (the work itself, a DNS query, runs on unheard). */
function withinCall<T>(work: Promise<T>, request: EgressRequest): Promise<T> {
  if (request.signal?.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timedOut(request)), request.timeoutMs);
    const onAbort = () => reject(cancelled());
    request.signal?.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      request.signal?.removeEventListener("abort", onAbort);
    });
  });
}

/** URL.hostname keeps an IPv6 literal's brackets; sockets want them off. */
function bareHost(url: URL): string {
  const h = url.hostname;
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

/** A decoder for the encodings node's zlib knows; others come back as they are (the core cannot redact inside them). */
function decoderFor(encoding: string | undefined): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined {
  switch ((encoding ?? "").trim().toLowerCase()) {
    case "gzip":
    case "x-gzip":
      return zlib.createGunzip();
    case "deflate":
      return zlib.createInflate();
    case "br":
      return zlib.createBrotliDecompress();
    default:
      return undefined;
  }
}

/** An error's code only (ECONNREFUSED, CERT_HAS_EXPIRED...): never its message, which may quote the request. */
function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^[A-Z0-9_]{1,64}$/.test(code) ? code : "error";
}
