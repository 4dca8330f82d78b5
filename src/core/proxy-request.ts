import { clip, InvalidArgumentError, NotFoundError, PermissionDeniedError, ResourceExhaustedError, SecretsError } from "../errors.js";
import type { AuditHttpCall } from "../ports/audit-store.js";
import type { Egress, EgressHeader } from "../ports/egress.js";
import { urlMatchesHostPattern } from "../ports/host-patterns.js";
import type { Principal } from "./principal.js";
import { responseRedactor } from "./proxy-redaction.js";
import { planRequest } from "./proxy-substitution.js";
import { referenceKey, type SecretReference } from "./references.js";
import type { SecretValue } from "./reads.js";
import type { ValueReads } from "./resolve-references.js";

// ProxyHttpRequest: the agent names secrets, the service makes the HTTP call with their values in
// and hands back a redacted answer, so the agent never holds a value. Every secret the request
// references must list the destination among its allowed_hosts, else nothing is sent; where the
// bytes may go at all (address rules, TLS) is the egress adapter's part. Not an open proxy: a
// request that references no secret is refused.

export const PROXY_METHODS: ReadonlySet<string> = new Set(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]);
export const PROXY_DEFAULT_TIMEOUT_MS = 10_000;
export const PROXY_MAX_TIMEOUT_MS = 60_000;
export const PROXY_MAX_HEADERS = 100;
const URL_MAX_CHARS = 8192;
const HEADER_NAME_MAX_CHARS = 256;
const HEADER_VALUE_MAX_CHARS = 16_384;
/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What a header value may carry: no CR, LF or NUL (no header injection), nothing beyond a byte. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export interface ProxyDeps {
  /** The service's value reads: name globs, cache, last access apply as to GetSecretValue. */
  readonly reads: ValueReads;
  readonly egress: Egress;
  readonly maxResponseBytes: number;
  /** Calls in flight per tenant on this replica. */
  readonly maxConcurrency: number;
}

export interface ProxyInput {
  readonly method: string;
  readonly url: string;
  readonly headers: readonly EgressHeader[];
  readonly body: Uint8Array;
  /** Undefined: the default. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface ProxyResult {
  readonly status: number;
  readonly headers: EgressHeader[];
  readonly body: Uint8Array;
  /** Secrets injected, sorted. */
  readonly names: string[];
  readonly truncated: boolean;
}

export interface Proxy {
  /** `sent` is told of the upstream call once it was attempted, whatever its outcome (the audit event's). */
  proxyHttpRequest(p: Principal, input: ProxyInput, sent?: (call: AuditHttpCall) => void): Promise<ProxyResult>;
}

export function createProxy(deps: ProxyDeps): Proxy {
  const inFlight = new Map<string, number>();

  async function proxyHttpRequest(p: Principal, input: ProxyInput, sent?: (call: AuditHttpCall) => void): Promise<ProxyResult> {
    const method = checkMethod(input.method);
    const url = checkUrl(input.url);
    checkHeaders(input.headers);
    const timeoutMs = checkTimeout(input.timeoutMs);
    const plan = planRequest(url, input.headers, input.body);
    if (plan.references.length === 0) {
      throw new InvalidArgumentError("url", "the request references no secret: ProxyHttpRequest only makes calls that use one ({{ secrets.NAME }})");
    }

    const running = inFlight.get(p.tenant) ?? 0;
    if (running >= deps.maxConcurrency) {
      throw new ResourceExhaustedError(`${deps.maxConcurrency} proxied calls of this developer are in flight (PROXY_MAX_CONCURRENCY); retry later`);
    }
    inFlight.set(p.tenant, running + 1);
    try {
      const read = await readReferenced(deps.reads, p, plan.references);
      checkDestination(read, url);
      const values = new Map([...read].map(([key, v]) => [key, v.value]));
      const parts = plan.render(values);
      checkRenderedHeaders(parts.headers);

      const injected = [...read.values()].map((v) => ({ name: v.name, value: v.value }));
      const started = performance.now();
      const facts = { method, host: url.host, requestBytes: parts.body.length };
      let response;
      try {
        response = await deps.egress.send({
          method,
          url: parts.url,
          headers: parts.headers,
          body: parts.body,
          timeoutMs,
          maxResponseBytes: deps.maxResponseBytes,
          ...(input.signal ? { signal: input.signal } : {}),
        });
      } catch (err) {
        sent?.({ ...facts, status: 0, durationMs: elapsed(started), responseBytes: 0 });
        throw err;
      }
      sent?.({ ...facts, status: response.status, durationMs: elapsed(started), responseBytes: response.body.length });
      const redact = responseRedactor(injected);
      return {
        status: response.status,
        headers: redact.headers(response.headers),
        body: redact.body(response.body, response.truncated),
        names: [...new Set(injected.map((e) => e.name))].sort(),
        truncated: response.truncated,
      };
    } finally {
      const left = (inFlight.get(p.tenant) ?? 1) - 1;
      if (left === 0) inFlight.delete(p.tenant);
      else inFlight.set(p.tenant, left);
    }
  }

  return { proxyHttpRequest };
}

const elapsed = (started: number) => Math.max(0, Math.round(performance.now() - started));

function checkMethod(method: string): string {
  const upper = method.toUpperCase();
  if (!PROXY_METHODS.has(upper)) throw new InvalidArgumentError("method", `"${clip(method)}" is not one of ${[...PROXY_METHODS].join(", ")}`);
  return upper;
}

function checkUrl(text: string): URL {
  if (text.length > URL_MAX_CHARS) throw new InvalidArgumentError("url", `is longer than ${URL_MAX_CHARS} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError("url", "is not an absolute URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new InvalidArgumentError("url", `scheme ${clip(url.protocol)} is not https`);
  if (url.username || url.password) throw new InvalidArgumentError("url", "must not carry a user name or password; put credentials in a header");
  if (!url.hostname) throw new InvalidArgumentError("url", "has no host");
  return url;
}

function checkHeaders(headers: readonly EgressHeader[]): void {
  if (headers.length > PROXY_MAX_HEADERS) throw new InvalidArgumentError("headers", `at most ${PROXY_MAX_HEADERS} headers`);
  headers.forEach((h, i) => {
    if (h.name.length > HEADER_NAME_MAX_CHARS || !HEADER_NAME.test(h.name)) {
      throw new InvalidArgumentError(`headers[${i}].name`, `"${clip(h.name)}" is not a header name`);
    }
    if (h.value.length > HEADER_VALUE_MAX_CHARS) throw new InvalidArgumentError(`headers[${i}].value`, `is longer than ${HEADER_VALUE_MAX_CHARS} characters`);
    if (!HEADER_VALUE.test(h.value)) throw new InvalidArgumentError(`headers[${i}].value`, "holds a line break, NUL or a character beyond Latin-1");
  });
}

/** After substitution: a value may not smuggle a line break (or anything a header cannot carry) in. */
function checkRenderedHeaders(headers: readonly EgressHeader[]): void {
  headers.forEach((h, i) => {
    if (!HEADER_VALUE.test(h.value)) {
      throw new InvalidArgumentError(`headers[${i}].value`, "with the secret put in, holds a line break, NUL or a character beyond Latin-1");
    }
  });
}

function checkTimeout(timeoutMs: number | undefined): number {
  if (timeoutMs === undefined || timeoutMs === 0) return PROXY_DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new InvalidArgumentError("timeout", "must be positive");
  if (timeoutMs > PROXY_MAX_TIMEOUT_MS) throw new InvalidArgumentError("timeout", `must be at most ${PROXY_MAX_TIMEOUT_MS / 1000}s`);
  return Math.max(1, Math.round(timeoutMs));
}

/** Current values in one batch, pinned versions one read each; any that cannot be read fails the call. */
async function readReferenced(reads: ValueReads, p: Principal, references: readonly SecretReference[]): Promise<Map<string, SecretValue>> {
  const current = references.filter((r) => r.version === undefined);
  const pinned = references.filter((r) => r.version !== undefined);
  const [batch, pins] = await Promise.all([
    current.length ? reads.batchGetSecretValues(p, current.map((r) => r.name)) : undefined,
    Promise.all(pinned.map((r) => reads.getSecretValue(p, r.name, r.version!))),
  ]);
  const read = new Map<string, SecretValue>();
  if (batch) {
    const error = batch.errors[0]?.error;
    if (error) throw error instanceof SecretsError ? error : new NotFoundError("secret not found");
    for (const v of batch.values) read.set(v.name, v);
  }
  pinned.forEach((r, i) => read.set(referenceKey(r), pins[i]!));
  return read;
}

/** Every secret must allow the destination; the first that does not is named. */
function checkDestination(read: ReadonlyMap<string, SecretValue>, url: URL): void {
  for (const v of [...read.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const allowed = v.allowedHosts ?? [];
    if (!allowed.some((pattern) => urlMatchesHostPattern(pattern, url))) {
      throw new PermissionDeniedError(
        allowed.length === 0
          ? `secret "${v.name}" has no allowed_hosts: it is never sent anywhere`
          : `secret "${v.name}" may not be sent to ${url.host} (not among its allowed_hosts)`,
      );
    }
  }
}
