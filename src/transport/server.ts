import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import { Duplex } from "node:stream";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { ConnectionLimits } from "../config/config.js";
import type { CallObserver } from "./call-log.js";
import { createEdge } from "./edge.js";
import type { HealthState } from "./health.js";
import { tlsServerOptions, watchTlsFiles, type ServerTls, type TlsFileWatch, type TlsReloadResult } from "./tls.js";

export interface ServerOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly interceptors: Interceptor[];
  /** Larger requests answer RESOURCE_EXHAUSTED. */
  readonly maxRequestBytes: number;
  /** Paths whose requests may be larger. */
  readonly requestLimits?: ReadonlyMap<string, number>;
  /** Client deadlines beyond this are shortened to it. */
  readonly maxDeadlineMs: number;
  readonly limits: ConnectionLimits;
  readonly logger: Logger;
  /** Told of every finished call (metrics). */
  readonly onCall?: CallObserver;
  readonly health: HealthState;
  /**
   * With TLS, ALPN picks HTTP/2 or HTTP/1.1. Without, the connection preface does. With `clientCa`,
   * mutual TLS; with `files`, they are re-read when they change (no restart).
   */
  readonly tls?: ServerTls;
  /** Told after every reload of changed TLS files (they are also logged, without their contents). */
  readonly onTlsReload?: (result: TlsReloadResult) => void;
}

export interface RunningServer {
  readonly address: { host: string; port: number };
  /** Graceful: health goes NOT_SERVING, no new calls, in-flight calls finish within graceMs. */
  close(graceMs: number): Promise<void>;
}

/**
 * gRPC, gRPC-Web and Connect on one port. Cleartext connections that open with
 * the HTTP/2 preface are served as HTTP/2 (gRPC needs it); others as HTTP/1.1,
 * so Connect JSON works from curl or fetch without prior knowledge.
 */
export function buildServer(options: ServerOptions): { listen(host: string, port: number): Promise<RunningServer> } {
  const { limits } = options;
  const handler = createEdge({ ...options, requestTimeoutMs: limits.requestTimeoutMs });
  const h2Options: http2.ServerOptions = {
    settings: { maxConcurrentStreams: limits.http2MaxConcurrentStreams },
    maxSessionMemory: limits.http2MaxSessionMemoryMb,
  };
  const h1Options: http.ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
  };
  const h2 = options.tls
    ? http2.createSecureServer({ ...h2Options, ...h1Options, ...tlsServerOptions(options.tls), allowHTTP1: true, handshakeTimeout: limits.headersTimeoutMs }, handler)
    : http2.createServer(h2Options, handler);
  const h1 = options.tls ? undefined : http.createServer(h1Options, handler);
  // Node arms the header and request timeouts of an HTTP/1.1 server when it starts listening; this one
  // is handed its connections by routeByPreface and never listens itself.
  h1?.emit("listening");
  // A client may half-close after sending its request (HTTP/1.1 allows it; some proxies do). Node's
  // default aborts the request when the FIN arrives, so any answer that waits on I/O (the audit
  // insert, a database read) would be lost; with this the answer is written, then the socket ends.
  if (h1) (h1 as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  const server: net.Server = options.tls ? h2 : net.createServer((socket) => routeByPreface(socket, h2, h1!, limits.headersTimeoutMs));
  server.maxConnections = limits.maxConnections;
  const sessions = new Set<http2.Http2Session>();
  h2.on("session", (session: http2.Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    closeWhenIdle(session, limits.idleTimeoutMs);
  });
  let tlsWatch: TlsFileWatch | undefined;

  return {
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          if (options.tls?.files && h2 instanceof tls.Server) tlsWatch = watchTlsFiles(h2, { ...options.tls, files: options.tls.files }, reportTlsReload);
          const addr = server.address() as net.AddressInfo;
          resolve({ address: { host: addr.address, port: addr.port }, close: (graceMs) => shutdown(graceMs) });
        });
      }),
  };

  function reportTlsReload(result: TlsReloadResult): void {
    if (result.ok) options.logger.info("TLS certificate files reloaded");
    else options.logger.warn({ reason: result.reason }, "TLS certificate files changed but did not load; the previous ones stay in use");
    options.onTlsReload?.(result);
  }

  async function shutdown(graceMs: number): Promise<void> {
    options.health.setAllNotServing();
    tlsWatch?.close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // GOAWAY: sessions finish their open streams, then close.
    for (const session of sessions) session.close();
    h1?.close();
    h1?.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const session of sessions) session.destroy();
      h1?.closeAllConnections();
    }, graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }
}

/**
 * Closes the session (GOAWAY, open streams finish) once it has had no open stream for
 * `idleMs`. Keepalive pings do not count as use, as with gRPC's max connection idle.
 */
function closeWhenIdle(session: http2.Http2Session, idleMs: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => session.close(), idleMs);
    timer.unref();
  };
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    open++;
    clearTimeout(timer);
    stream.once("close", () => {
      if (--open === 0 && !session.closed) arm();
    });
  });
  session.once("close", () => clearTimeout(timer));
  arm();
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");

/**
 * Hands a cleartext socket to the HTTP/2 or the HTTP/1.1 server by its first
 * bytes. Those bytes have been read by then: HTTP/2 takes them back from the
 * socket's buffer (Node reads what a socket holds when a session starts on it),
 * so it gets the socket itself; the HTTP/1.1 server reads a socket's handle
 * directly, past that buffer, so it gets a stream that replays them before the
 * rest of the socket. A connection that has not told its protocol within
 * `timeoutMs` is closed.
 */
function routeByPreface(socket: net.Socket, h2: http2.Http2Server, h1: http.Server, timeoutMs: number): void {
  // The servers set this only on sockets they accept themselves; these are handed to them.
  socket.setNoDelay(true);
  let head = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const n = Math.min(head.length, H2_PREFACE.length);
    const isH2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (isH2 && head.length < H2_PREFACE.length) return; // need more bytes to decide
    clearTimeout(timer);
    socket.off("data", onData);
    if (isH2) {
      socket.pause();
      socket.unshift(head);
      h2.emit("connection", socket);
    } else {
      // The HTTP/1.1 server ends the connection itself once its answer is written (see httpAllowHalfOpen).
      socket.allowHalfOpen = true;
      h1.emit("connection", replaying(socket, head));
    }
  };
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
  socket.once("close", () => clearTimeout(timer));
}

/** A Duplex over the socket that first yields `head`; timeouts are the socket's (HTTP/1.1 keep-alive uses them). */
function replaying(socket: net.Socket, head: Buffer): Duplex {
  const stream = new Duplex({
    read: () => void socket.resume(),
    write: (chunk, encoding, done) => void socket.write(chunk, encoding, done),
    final: (done) => void socket.end(done),
    destroy: (err, done) => {
      socket.destroy(err ?? undefined);
      done(err);
    },
  });
  stream.push(head);
  socket.on("data", (chunk) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on("end", () => stream.push(null));
  socket.on("close", () => stream.destroy());
  socket.on("timeout", () => stream.emit("timeout"));
  return Object.assign(stream, {
    // What the edge reads for the call's peer; the socket's own, as the servers only see this stream.
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    remoteFamily: socket.remoteFamily,
    setTimeout(ms: number, callback?: () => void) {
      socket.setTimeout(ms);
      if (callback) stream.once("timeout", callback);
      return stream;
    },
  });
}
