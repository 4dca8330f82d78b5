import { randomUUID, type X509Certificate } from "node:crypto";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { constants as http2constants } from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, createConnectRouter, createContextValues, type ConnectRouter, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { JsonReadOptions } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { boundMessage, clip } from "../errors.js";
import { type CallRecord, callKey } from "./call.js";
import { callLogger, type CallObserver } from "./call-log.js";
import { clampTimeouts } from "./timeouts.js";

// The edge: every request passes here before connect-node's protocol handlers and
// leaves here after them. It is the one place that
//   - decides what the body may not even be read for (a declared size over the limit),
//   - clamps client deadlines, so no timer overflows,
//   - gives malformed requests the right code: connect answers INTERNAL for a request
//     that is not a valid protobuf message (and quotes input at any length), before any
//     interceptor runs; such an answer is replaced by INVALID_ARGUMENT, encoded by connect
//     itself for the call's protocol (the request gate raises it on a second pass),
//   - reads what is left of a rejected request's body (bounded), so the client's writes
//     complete and the connection stays usable: Node's HTTP/2 client keeps counting the
//     queued data of a stream the server reset against its session memory, and after
//     ~10 MB refuses new streams with ENHANCE_YOUR_CALM (or stalls),
//   - resets an HTTP/2 request whose message trickles in slower than the request timeout,
//   - writes the call's one log line when the response is done, whatever ended it.

export interface EdgeOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly interceptors: Interceptor[];
  /** Larger request messages answer RESOURCE_EXHAUSTED. */
  readonly maxRequestBytes: number;
  /** Paths whose requests may be larger (their routes set the same readMaxBytes). */
  readonly requestLimits?: ReadonlyMap<string, number>;
  /** Client deadlines beyond this are shortened to it. */
  readonly maxDeadlineMs: number;
  /** An HTTP/2 request whose single message has not fully arrived within this is reset (HTTP/1.1: Node's requestTimeout). */
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
  readonly onCall?: CallObserver;
}

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Bytes of a rejected request's body read and discarded before answering; beyond, the stream is reset. */
const DRAIN_MAX_BYTES = 8 * 1024 * 1024;
const DRAIN_MAX_MS = 5_000;
/** gRPC's 5-byte message prefix: a declared body may exceed the message limit by this much. */
const ENVELOPE_BYTES = 5;

// connect passes jsonOptions on to its JSON serialization, which also takes the text decoder.
const strictJson: Partial<JsonReadOptions> & { textDecoder: { decode(input?: Uint8Array): string } } = {
  ignoreUnknownFields: false,
  textDecoder: strictUtf8Decoder(),
};

export function createEdge(options: EdgeOptions): (req: NodeRequest, res: NodeResponse) => void {
  const router = createConnectRouter({
    interceptors: options.interceptors,
    readMaxBytes: options.maxRequestBytes,
    acceptCompression: [compressionGzip, compressionBrotli],
    // Answers are small and mostly random bytes (values): below this, gzip costs more CPU than it
    // saves on the wire (a 20-name ResolveReferences answer spent 9% of its CPU in zlib at 1 KiB).
    compressMinBytes: 32 * 1024,
    // The proto3 JSON mapping rejects unknown fields; a body must be well-formed UTF-8.
    jsonOptions: strictJson,
    requestGate,
  });
  options.routes(router);
  const handlers = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, h]));
  const log = callLogger(options.logger, options.onCall);

  return (req, res) => {
    const started = performance.now();
    const path = (req.url ?? "").split("?", 1)[0] ?? "";
    const handler = handlers.get(path);
    if (!handler) {
      res.once("close", () => log.unrouted(path, res.statusCode, started));
      endWithStatus(res, 404);
      return;
    }
    const call: CallRecord = {
      method: `${handler.service.typeName}/${handler.method.name}`,
      inputType: handler.method.input.typeName,
      authorizationHeaders: countHeader(req.rawHeaders, "authorization"),
      parsed: false,
      ...callFacts(req),
    };
    // Before connect writes the head, so every answer carries it: gRPC initial metadata, Connect and
    // gRPC-Web response headers, and the edge's own early answers.
    res.setHeader("x-request-id", call.requestId);
    const declared = Number(req.headers["content-length"] ?? NaN);
    const limit = options.requestLimits?.get(path) ?? options.maxRequestBytes;
    if (declared > limit + ENVELOPE_BYTES) {
      call.rejection = new ConnectError(`request of ${declared} bytes is larger than the limit of ${limit} bytes`, Code.ResourceExhausted);
    }
    res.once("close", () => log.call(call, res, started));
    if (handler.method.methodKind === "unary" || handler.method.methodKind === "server_streaming") resetIfSlow(req, options.requestTimeoutMs);
    serve(handler, call, req, res, options.maxDeadlineMs, limit).catch((err: unknown) => {
      // The client went away while the response was written, or the request had no authority.
      log.failure(call, err);
      if (!res.headersSent) endWithStatus(res, 400);
      else res.destroy();
    });
  };
}

async function serve(handler: UniversalHandler, call: CallRecord, req: NodeRequest, res: NodeResponse, maxDeadlineMs: number, limit: number): Promise<void> {
  let ureq = universalRequestFromNodeRequest(req, res, undefined, createContextValues().set(callKey, call));
  clampTimeouts(ureq.header, maxDeadlineMs);
  if (handler.method.methodKind === "server_streaming" && !call.rejection) ureq = await withOneEnvelope(ureq, call, limit);
  let ures: UniversalServerResponse = await handler(ureq);
  const replacement = normalizedRejection(call);
  if (replacement) {
    call.rejection = replacement;
    discard(ures);
    ures = await handler(withoutBody(ureq));
  }
  if (failed(call) && !req.complete) await drain(req, Number(req.headers["content-length"] ?? 0));
  await universalResponseToNodeResponse(ures, res);
}

/** What the call's record (and so its audit event) says about who sent it and how. */
export interface CallFacts {
  /** The x-request-id header when acceptable, else a new UUID. */
  readonly requestId: string;
  /** "ip:port" of the client ("[ip]:port" for IPv6); "" when the socket no longer knows. */
  readonly peerAddress: string;
  /** The user-agent header, clipped. */
  readonly userAgent: string;
  /** The verified client certificate's subject, most specific part first ("CN=agent-worker,O=Acme"); "" without one. */
  readonly mtlsSubject: string;
}

const USER_AGENT_MAX_CHARS = 256;
const SUBJECT_MAX_CHARS = 1_024;
/** Printable ASCII, 1 to 128 characters, spaces inside only: safe to log, echo and index. */
const REQUEST_ID = /^[\x21-\x7e](?:[\x20-\x7e]{0,126}[\x21-\x7e])?$/;

/** A connection's certificate subject, worked out once: every call on it would repeat the parse. */
const subjects = new WeakMap<object, string>();

export function callFacts(req: NodeRequest): CallFacts {
  const sent = req.headers["x-request-id"];
  return {
    requestId: typeof sent === "string" && REQUEST_ID.test(sent) ? sent : randomUUID(),
    userAgent: clip(req.headers["user-agent"] ?? "", USER_AGENT_MAX_CHARS),
    ...connectionFacts(req),
  };
}

function connectionFacts(req: NodeRequest): Pick<CallFacts, "peerAddress" | "mtlsSubject"> {
  try {
    // For HTTP/2, req.socket stands in for the session's socket; the TLS socket is reached through the session.
    const session = "stream" in req ? req.stream.session : undefined;
    const socket: NodeSocketLike | undefined = "stream" in req ? session?.socket : req.socket;
    if (!socket) return { peerAddress: "", mtlsSubject: "" };
    return { peerAddress: peerAddressOf(socket), mtlsSubject: subjectOf(session ?? socket, socket) };
  } catch {
    // A session's socket proxy throws once the session is gone: the client left before we looked.
    return { peerAddress: "", mtlsSubject: "" };
  }
}

/** The parts of a net.Socket or tls.TLSSocket read here (cleartext HTTP/1.1 gets a stream that carries the first two). */
interface NodeSocketLike {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly authorized?: boolean;
  getPeerX509Certificate?(): X509Certificate | undefined;
}

function peerAddressOf(socket: NodeSocketLike): string {
  const address = socket.remoteAddress;
  if (!address) return "";
  return `${address.includes(":") ? `[${address}]` : address}:${socket.remotePort ?? ""}`;
}

function subjectOf(connection: object, socket: NodeSocketLike): string {
  const known = subjects.get(connection);
  if (known !== undefined) return known;
  // authorized: the certificate chains to the client CA bundle (without one, none is asked for).
  const cert = socket.authorized === true ? socket.getPeerX509Certificate?.() : undefined;
  // OpenSSL's one-attribute-a-line form, RFC 2253 escaping (so no value holds a newline or an
  // unescaped comma), in certificate order; RFC 4514 writes the most specific attribute first.
  const subject = cert ? clip(cert.subject.split("\n").filter(Boolean).reverse().join(","), SUBJECT_MAX_CHARS) : "";
  subjects.set(connection, subject);
  return subject;
}

/** Runs before the body is read: raises the edge's answer, and keeps the call's signal for the log. */
function requestGate(ctx: HandlerContext): void {
  const call = ctx.values.get(callKey);
  if (!call) return;
  call.signal = ctx.signal;
  if (call.rejection) throw call.rejection;
}

/** connect's answer to a request no interceptor saw, when it needs replacing. */
function normalizedRejection(call: CallRecord): ConnectError | undefined {
  if (call.parsed || call.rejection) return undefined;
  const reason: unknown = call.signal?.reason;
  if (!(reason instanceof ConnectError)) return undefined;
  // Before the handler, INTERNAL is the binary parser's: the bytes are not a valid message.
  if (reason.code === Code.Internal) return new ConnectError(`request is not a valid ${call.inputType} message`, Code.InvalidArgument);
  // The deadline passed before the message was parsed: connect's answer is then whatever the parse
  // said (INTERNAL for bad bytes), while the signal records the deadline. Say the deadline.
  if (reason.code === Code.DeadlineExceeded) return new ConnectError(boundMessage(reason.rawMessage), Code.DeadlineExceeded);
  // A unary request without its one message, or with two ("protocol error: missing input message
  // for unary method"): connect says UNIMPLEMENTED, but the method exists and the request is malformed.
  if (reason.code === Code.Unimplemented && reason.rawMessage.startsWith("protocol error:")) {
    return new ConnectError(`request is not one complete ${call.inputType} message (${boundMessage(reason.rawMessage.slice("protocol error: ".length))})`, Code.InvalidArgument);
  }
  const bounded = boundMessage(reason.rawMessage);
  return bounded === reason.rawMessage ? undefined : new ConnectError(bounded, reason.code);
}

/**
 * A request of one message is complete long before this; a stream still receiving it is held
 * open by a slow (or stalled) client, and is reset. Streaming requests (reflection) are exempt.
 */
function resetIfSlow(req: NodeRequest, timeoutMs: number): void {
  if (!("stream" in req) || req.complete) return;
  const timer = setTimeout(() => {
    if (!req.complete && !req.stream.closed) req.stream.close(http2constants.NGHTTP2_CANCEL);
  }, timeoutMs);
  timer.unref();
  req.once("end", () => clearTimeout(timer));
  req.stream.once("close", () => clearTimeout(timer));
}

function failed(call: CallRecord): boolean {
  return call.signal?.reason instanceof ConnectError;
}

const ENVELOPED = /^application\/(grpc|connect\+)/i;

/**
 * A server-streaming call's request is one enveloped message, read here whole (it is small: the
 * request limit bounds it) because connect finds a missing or extra message only once the response
 * stream has begun, and then answers UNIMPLEMENTED: here it becomes INVALID_ARGUMENT before that.
 */
async function withOneEnvelope(ureq: UniversalServerRequest, call: CallRecord, limit: number): Promise<UniversalServerRequest> {
  const body = ureq.body;
  if (!ENVELOPED.test(ureq.header.get("content-type") ?? "") || typeof body !== "object" || body === null || !(Symbol.asyncIterator in body)) return ureq;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit + ENVELOPE_BYTES) {
      call.rejection = new ConnectError(`request is larger than the limit of ${limit} bytes`, Code.ResourceExhausted);
      return withoutBody(ureq);
    }
    chunks.push(chunk);
  }
  const bytes = Buffer.concat(chunks);
  const declared = bytes.byteLength >= ENVELOPE_BYTES ? bytes.readUInt32BE(1) : -1;
  if (declared < 0 || ENVELOPE_BYTES + declared !== bytes.byteLength) {
    call.rejection = new ConnectError(`request is not one complete ${call.inputType} message`, Code.InvalidArgument);
    return withoutBody(ureq);
  }
  return { ...ureq, body: oneChunk(bytes) };
}

async function* oneChunk(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

function withoutBody(ureq: UniversalServerRequest): UniversalServerRequest {
  return { ...ureq, body: emptyBody() };
}

async function* emptyBody(): AsyncGenerator<Uint8Array> {}

function discard(ures: UniversalServerResponse): void {
  const body = ures.body;
  if (body && Symbol.asyncIterator in body) void body[Symbol.asyncIterator]().return?.().catch(() => {});
}

/** Reads and discards the rest of the body, within bounds (a declared size beyond them is not waited for). */
async function drain(req: NodeRequest, declared: number): Promise<void> {
  if (declared > DRAIN_MAX_BYTES) return;
  const giveUpAt = performance.now() + DRAIN_MAX_MS;
  const reading = (async () => {
    let read = 0;
    for await (const chunk of req.iterator({ destroyOnReturn: false })) {
      read += (chunk as Buffer).byteLength;
      if (read > DRAIN_MAX_BYTES || performance.now() > giveUpAt) break;
    }
  })().catch(() => {}); // the client went away: nothing left to keep usable
  await Promise.race([reading, sleep(DRAIN_MAX_MS, undefined, { ref: false })]);
}

function countHeader(raw: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === name) n++;
  return n;
}

function strictUtf8Decoder(): { decode(input?: Uint8Array): string } {
  const fatal = new TextDecoder("utf-8", { fatal: true });
  return {
    decode(input) {
      try {
        return fatal.decode(input);
      } catch {
        throw new ConnectError("request body is not valid UTF-8", Code.InvalidArgument);
      }
    },
  };
}

function endWithStatus(res: NodeResponse, status: number): void {
  (res as http.ServerResponse).writeHead(status).end();
}
