import { randomUUID } from "node:crypto";
import { Code, ConnectError, createClient, type CallOptions, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { createCachingReader, type CachingReader, type CachingReaderOptions } from "./caching-reader.js";
import { createFetchWithSecrets, type FetchWithSecrets } from "./fetch-with-secrets.js";

// The SDK's entry point: a typed SecretsService client over connect's gRPC transport (HTTP/2), with the
// bearer token on every call, a default deadline, and retries of UNAVAILABLE for the calls that are safe
// to repeat. CreateSecret and PutSecretValue get a request_id when the caller gave none, so the server
// answers a repeat with the first outcome instead of writing twice: that makes them safe to retry too.

export interface SecretsClientTls {
  /** PEM of the CA(s) that sign the server's certificate; absent: the system's. */
  readonly ca?: string | Buffer;
  /** Client certificate and key (PEM), for a server that asks for mTLS. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** The name to check the server's certificate against, when it differs from the address's host. */
  readonly serverName?: string;
}

export interface SecretsClientRetry {
  /** Attempts in all, the first one included. Default 4; 1 turns retries off. */
  readonly maxAttempts?: number;
  /** Backoff before retry n is random in [0, min(max, initial * 2^(n-1))] ms. Default 100 - 2,000 ms. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

export interface SecretsClientOptions {
  /** "host:port" (TLS unless `plaintext`), or a URL: http://host:port (h2c) or https://host:port. */
  readonly address: string;
  /** A bearer token, or a function giving the current one (called for every call, so it may rotate). */
  readonly token?: string | (() => string | Promise<string>);
  /** TLS settings (implies https for a bare host:port); `true` = TLS with the system's CAs. */
  readonly tls?: SecretsClientTls | boolean;
  /** Plain HTTP/2 without TLS, for a bare host:port (a dev server). Default: false for a bare address. */
  readonly plaintext?: boolean;
  /** Deadline of each unary call without its own `timeoutMs`. Default 10,000 ms; 0 = none. Streams have none. */
  readonly timeoutMs?: number;
  readonly retry?: SecretsClientRetry;
  /** Sent as user-agent. */
  readonly userAgent?: string;
  /** More interceptors, run inside the SDK's (after the token is set, once per attempt). */
  readonly interceptors?: readonly Interceptor[];
}

export type SecretsClient = Client<typeof SecretsService> & {
  /** A reader answering repeated value reads from a local cache kept right by WatchSecrets. */
  cachingReader(options?: CachingReaderOptions): CachingReader;
  /** fetch() through ProxyHttpRequest: `{{ secrets.NAME }}` references filled in by the service. */
  readonly fetchWithSecrets: FetchWithSecrets;
  /** The base URL the client talks to. */
  readonly baseUrl: string;
};

/** Unary methods that read only, or write idempotently (by request_id; RewrapKeys by design): UNAVAILABLE is retried. */
export const RETRIED_METHODS: ReadonlySet<string> = new Set([
  "GetSecret",
  "GetSecretValue",
  "ListSecrets",
  "ListSecretVersions",
  "BatchGetSecretValues",
  "ListAuditEvents",
  "ResolveReferences",
  "RedactText",
  "CreateSecret",
  "PutSecretValue",
  "RewrapKeys",
]);

const DEFAULT_TIMEOUT_MS = 10_000;

export function createSecretsClient(options: SecretsClientOptions): SecretsClient {
  const baseUrl = baseUrlOf(options);
  const tls = typeof options.tls === "object" ? options.tls : undefined;
  const transport = createGrpcTransport({
    baseUrl,
    nodeOptions: {
      ...(tls?.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls?.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls?.key !== undefined ? { key: tls.key } : {}),
      ...(tls?.serverName !== undefined ? { servername: tls.serverName } : {}),
    },
    interceptors: [retryInterceptor(options.retry ?? {}), requestIdInterceptor(), headerInterceptor(options), ...(options.interceptors ?? [])],
  });
  const client = withUnaryDeadline(createClient(SecretsService, transport), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  return Object.assign(client, {
    cachingReader: (readerOptions?: CachingReaderOptions) => createCachingReader(client, readerOptions),
    fetchWithSecrets: createFetchWithSecrets(client),
    baseUrl,
  });
}

export function baseUrlOf(options: Pick<SecretsClientOptions, "address" | "tls" | "plaintext">): string {
  const address = options.address.trim();
  if (/^https?:\/\//i.test(address)) {
    if (options.plaintext && /^https:/i.test(address)) throw new Error(`address ${address}: https:// and plaintext contradict each other`);
    return address.replace(/\/+$/, "");
  }
  if (!/^[^\s/]+:\d{1,5}$/.test(address)) throw new Error(`address "${address}": expected host:port or http(s)://host:port`);
  if (options.plaintext && options.tls) throw new Error("tls and plaintext contradict each other");
  return `${options.plaintext ? "http" : "https"}://${address}`;
}

/**
 * The default deadline, on unary calls only: a transport-wide default would also end WatchSecrets
 * streams, which are meant to stay open. A call's own `timeoutMs` wins.
 */
function withUnaryDeadline(client: Client<typeof SecretsService>, timeoutMs: number): Client<typeof SecretsService> {
  if (timeoutMs <= 0) return client;
  const wrapped: Record<string, unknown> = { ...client };
  for (const method of SecretsService.methods) {
    if (method.methodKind !== "unary") continue;
    const call = client[method.localName as keyof typeof client] as (req: unknown, opts?: CallOptions) => unknown;
    wrapped[method.localName] = (req: unknown, opts?: CallOptions) => call(req, { timeoutMs, ...opts });
  }
  return wrapped as Client<typeof SecretsService>;
}

function headerInterceptor(options: SecretsClientOptions): Interceptor {
  return (next) => async (req) => {
    const token = typeof options.token === "function" ? await options.token() : options.token;
    if (token) req.header.set("authorization", `Bearer ${token}`);
    if (options.userAgent) req.header.set("user-agent", options.userAgent);
    return next(req);
  };
}

/** One request_id per logical CreateSecret / PutSecretValue call, the same on every retry. */
function requestIdInterceptor(): Interceptor {
  return (next) => (req) => {
    if (!req.stream && (req.method.name === "CreateSecret" || req.method.name === "PutSecretValue")) {
      const message = req.message as unknown as { requestId: string };
      if (!message.requestId) message.requestId = randomUUID();
    }
    return next(req);
  };
}

function retryInterceptor(retry: SecretsClientRetry): Interceptor {
  const maxAttempts = Math.max(1, retry.maxAttempts ?? 4);
  const initial = retry.initialDelayMs ?? 100;
  const max = retry.maxDelayMs ?? 2_000;
  return (next) => async (req) => {
    if (req.stream || !RETRIED_METHODS.has(req.method.name)) return next(req);
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req);
      } catch (err) {
        const retriable = ConnectError.from(err).code === Code.Unavailable && !req.signal.aborted;
        if (!retriable || attempt >= maxAttempts) throw err;
        await sleep(Math.random() * Math.min(max, initial * 2 ** (attempt - 1)), req.signal);
      }
    }
  };
}

/** Resolves after `ms`, or rejects with the signal's reason (the deadline) when it fires first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(ConnectError.from(signal.reason ?? new ConnectError("the call was cancelled", Code.Canceled)));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
