import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { HealthState } from "./health.js";

export interface ServerOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly interceptors: Interceptor[];
  /** Larger requests answer RESOURCE_EXHAUSTED. */
  readonly maxRequestBytes: number;
  readonly health: HealthState;
  /** With TLS, HTTP/1.1 is accepted too (Connect JSON from any HTTP client). */
  readonly tls?: { cert: Buffer; key: Buffer };
}

export interface RunningServer {
  readonly address: { host: string; port: number };
  /** Graceful: health goes NOT_SERVING, no new calls, in-flight calls finish within graceMs. */
  close(graceMs: number): Promise<void>;
}

/** gRPC, gRPC-Web and Connect on one HTTP/2 port. */
export function buildServer(options: ServerOptions): { listen(host: string, port: number): Promise<RunningServer> } {
  const handler = connectNodeAdapter({
    routes: options.routes,
    interceptors: options.interceptors,
    readMaxBytes: options.maxRequestBytes,
  });
  const server = options.tls
    ? http2.createSecureServer({ cert: options.tls.cert, key: options.tls.key, allowHTTP1: true }, handler)
    : http2.createServer(handler);
  const sessions = new Set<http2.Http2Session>();
  server.on("session", (session: http2.Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  return {
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          const addr = server.address() as AddressInfo;
          resolve({ address: { host: addr.address, port: addr.port }, close: (graceMs) => shutdown(graceMs) });
        });
      }),
  };

  async function shutdown(graceMs: number): Promise<void> {
    options.health.setAllNotServing();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // GOAWAY: sessions finish their open streams, then close.
    for (const session of sessions) session.close();
    const timer = setTimeout(() => {
      for (const session of sessions) session.destroy();
    }, graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }
}
