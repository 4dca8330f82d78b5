import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { Metrics } from "./metrics.js";

export interface MetricsServer {
  readonly address: { host: string; port: number };
  /** Stops accepting connections, closes idle ones, and resolves once scrapes in progress are answered. */
  close(): Promise<void>;
}

export const JWKS_PATH = "/.well-known/jwks.json";

const TIMEOUTS: http.ServerOptions = { headersTimeout: 5_000, requestTimeout: 10_000, keepAliveTimeout: 5_000 };

export interface AdminRoutes {
  /** The service's public task token keys, served at /.well-known/jwks.json. */
  readonly jwks?: () => unknown;
}

/**
 * `GET /metrics` in Prometheus text format on its own port, apart from the RPC port; and the
 * service's public keys at `/.well-known/jwks.json`, so other services can verify task tokens.
 */
export function serveMetrics(metrics: Pick<Metrics, "registry">, options: { host: string; port: number }, routes: AdminRoutes = {}): Promise<MetricsServer> {
  const server = http.createServer(TIMEOUTS, (req, res) => void answer(metrics, routes, req, res));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      const addr = server.address() as AddressInfo;
      resolve({
        address: { host: addr.address, port: addr.port },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
          }),
      });
    });
  });
}

async function answer(metrics: Pick<Metrics, "registry">, routes: AdminRoutes, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? "").split("?", 1)[0];
  const jwks = path === JWKS_PATH ? routes.jwks : undefined;
  if (path !== "/metrics" && !jwks) return void res.writeHead(404).end();
  // HEAD is answered like GET (Node leaves the body out).
  if (req.method !== "GET" && req.method !== "HEAD") return void res.writeHead(405, { allow: "GET, HEAD" }).end();
  if (jwks) return void res.writeHead(200, { "content-type": "application/jwk-set+json", "cache-control": "max-age=300" }).end(JSON.stringify(jwks()));
  try {
    const body = await metrics.registry.metrics();
    res.writeHead(200, { "content-type": metrics.registry.contentType }).end(body);
  } catch {
    res.writeHead(500).end();
  }
}
