import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Loopback upstreams for ProxyHttpRequest tests: an HTTPS server with a certificate from a test CA
// (made with the openssl CLI), or plain HTTP. By default each echoes what it received as JSON, and
// every request header back as `x-echo-<name>`; a route replaces that for one path. Every request
// is recorded, so a test can tell that nothing was sent.

export interface TestCa {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface Received {
  readonly method: string;
  readonly path: string;
  /** The raw query, without "?". */
  readonly query: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** Which connection it came on (numbered in the order they were accepted). */
  readonly socket: number;
}

export type Route = (req: IncomingMessage & { body: Buffer }, res: ServerResponse) => void;

export interface Upstream {
  readonly port: number;
  /** https://127.0.0.1:PORT + pathAndQuery (or http://). */
  url(pathAndQuery?: string): string;
  readonly received: Received[];
  route(path: string, handler: Route): void;
  close(): Promise<void>;
}

/** A CA and a certificate it signed for localhost, 127.0.0.1 and ::1. */
export function createTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "upstream-ca-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  try {
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=proxy test CA", "-keyout", "ca.key", "-out", "ca.pem");
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost", "-keyout", "key.pem", "-out", "req.pem");
    writeFileSync(join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n");
    run("x509", "-req", "-in", "req.pem", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "cert.pem");
    const read = (name: string) => readFileSync(join(dir, name), "utf8");
    return { caPem: read("ca.pem"), certPem: read("cert.pem"), keyPem: read("key.pem") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function startHttpsUpstream(ca: TestCa): Promise<Upstream> {
  return listen("https", https.createServer({ cert: ca.certPem, key: ca.keyPem }));
}

export function startHttpUpstream(): Promise<Upstream> {
  return listen("http", http.createServer());
}

async function listen(scheme: "http" | "https", server: http.Server | https.Server): Promise<Upstream> {
  const received: Received[] = [];
  const routes = new Map<string, Route>();
  const sockets = new Map<Socket, number>();
  server.on(scheme === "https" ? "secureConnection" : "connection", (socket: Socket) => sockets.set(socket, sockets.size + 1));
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const [path = "", query = ""] = (req.url ?? "").split(/\?(.*)/s);
      const headers: Record<string, string> = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers[req.rawHeaders[i]!.toLowerCase()] = req.rawHeaders[i + 1]!;
      const body = Buffer.concat(chunks);
      received.push({ method: req.method ?? "", path, query, headers, body, socket: sockets.get(req.socket) ?? 0 });
      const route = routes.get(path);
      if (route) return route(Object.assign(req, { body }), res);
      for (const [name, value] of Object.entries(headers)) {
        if (/^[\t\x20-\x7e]*$/.test(value)) res.setHeader(`x-echo-${name}`, value);
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ method: req.method, path, query, headers, body: body.toString("utf8") }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (pathAndQuery = "/") => `${scheme}://127.0.0.1:${port}${pathAndQuery}`,
    received,
    route: (path, handler) => routes.set(path, handler),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
