import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpEgress, type HttpEgressOptions, type Resolved } from "../../src/adapters/egress/http-egress.js";
import { PermissionDeniedError, UnavailableError } from "../../src/errors.js";
import type { EgressRequest } from "../../src/ports/egress.js";
import { createTestCa, startHttpsUpstream, startHttpUpstream, type TestCa, type Upstream } from "../helpers/https-upstream.js";

// The egress adapter against loopback upstreams: address rules (and DNS rebinding: one lookup, the
// checked address connected to), TLS verification, http only where listed, redirects returned,
// hop-by-hop headers dropped, whole-call timeout, size bound (also of a decompressed body),
// keep-alive reuse, cancellation, and errors that never quote the request.

let ca: TestCa;
let tls: Upstream;
let plain: Upstream;
const egresses: { close(): void }[] = [];

beforeAll(async () => {
  ca = createTestCa();
  tls = await startHttpsUpstream(ca);
  plain = await startHttpUpstream();
});

afterAll(async () => {
  for (const e of egresses) e.close();
  await Promise.allSettled([tls?.close(), plain?.close()]);
});

function egress(options: Partial<HttpEgressOptions> = {}) {
  const e = createHttpEgress({ allowPrivateHosts: [`127.0.0.1:${tls.port}`, `127.0.0.1:${plain.port}`], insecureHosts: [`127.0.0.1:${plain.port}`], extraCa: ca.caPem, ...options });
  egresses.push(e);
  return e;
}

const request = (url: string, extra: Partial<EgressRequest> = {}): EgressRequest => ({
  method: "GET",
  url: new URL(url),
  headers: [],
  body: new Uint8Array(),
  timeoutMs: 20_000,
  maxResponseBytes: 1 << 20,
  ...extra,
});

async function failure(call: Promise<unknown>): Promise<Error> {
  try {
    await call;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the call to fail");
}

describe("TLS", () => {
  it("an upstream certificate from the extra CA is trusted; without that CA the call fails UNAVAILABLE", async () => {
    expect((await egress().send(request(tls.url("/ok")))).status).toBe(200);
    const err = await failure(egress({ extraCa: undefined }).send(request(tls.url("/ok"))));
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toMatch(/^could not reach 127\.0\.0\.1:\d+ \([A-Z_]+\)$/);
  });

  it("the name is checked too: localhost is in the certificate, another name is not", async () => {
    const lookup = async (): Promise<Resolved[]> => [{ address: "127.0.0.1", family: 4 }];
    const e = egress({ lookup, allowPrivateHosts: [`localhost:${tls.port}`, `other.test:${tls.port}`] });
    expect((await e.send(request(`https://localhost:${tls.port}/`))).status).toBe(200);
    expect((await failure(e.send(request(`https://other.test:${tls.port}/`)))).message).toMatch(/\(ERR_TLS_CERT_ALTNAME_INVALID\)/);
  });

  it("a trailing dot names the same host: allowed by the same pattern, and the certificate still matches", async () => {
    const lookup = async (): Promise<Resolved[]> => [{ address: "127.0.0.1", family: 4 }];
    const before = tls.received.length;
    const res = await egress({ lookup, allowPrivateHosts: [`localhost:${tls.port}`] }).send(request(`https://localhost.:${tls.port}/dot`));
    expect([res.status, tls.received[before]?.path]).toEqual([200, "/dot"]);
    const refused = await failure(egress({ lookup, allowPrivateHosts: [] }).send(request(`https://localhost.:${tls.port}/dot`)));
    expect(refused).toBeInstanceOf(PermissionDeniedError);
  });
});

describe("addresses", () => {
  it("loopback is refused unless listed, and nothing is sent", async () => {
    const before = tls.received.length;
    const err = await failure(egress({ allowPrivateHosts: [] }).send(request(tls.url("/"))));
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect(err.message).toBe(`127.0.0.1:${tls.port} resolves to a private or reserved address; list it in PROXY_ALLOW_PRIVATE_HOSTS to allow it`);
    expect(tls.received.length).toBe(before);
  });

  it("a name is resolved once, and the socket goes to the address that was checked (DNS rebinding)", async () => {
    // The first answer is checked; a rebinding resolver would answer something else the second time.
    let lookups = 0;
    const lookup = async (): Promise<Resolved[]> => (lookups++ === 0 ? [{ address: "127.0.0.1", family: 4 }] : [{ address: "10.9.9.9", family: 4 }]);
    const host = `rebind.test:${plain.port}`;
    const e = egress({ lookup, allowPrivateHosts: [host], insecureHosts: [host] });
    const before = plain.received.length;
    const res = await e.send(request(`http://${host}/r`));
    expect([res.status, res.remoteAddress, lookups]).toEqual([200, "127.0.0.1", 1]);
    expect(plain.received[before]!.headers.host).toBe(host);
  });

  it("one lookup a call; a name answering loopback is refused unless listed, and nothing is sent", async () => {
    const asked: string[] = [];
    const lookup = async (hostname: string): Promise<Resolved[]> => (asked.push(hostname), [{ address: "127.0.0.1", family: 4 }]);
    const host = `rebind.test:${tls.port}`;
    const before = tls.received.length;
    const err = await failure(egress({ lookup, allowPrivateHosts: [] }).send(request(`https://${host}/`)));
    expect([err.constructor, err.message]).toEqual([PermissionDeniedError, `${host} resolves to a private or reserved address; list it in PROXY_ALLOW_PRIVATE_HOSTS to allow it`]);
    expect(tls.received.length).toBe(before);

    // Allowed: the certificate is not for rebind.test, so plain http shows what was sent.
    const plainHost = `rebind.test:${plain.port}`;
    const e = egress({ lookup, allowPrivateHosts: [plainHost], insecureHosts: [plainHost] });
    const first = plain.received.length;
    await e.send(request(`http://${plainHost}/a`));
    await e.send(request(`http://${plainHost}/b`));
    expect(asked).toEqual(["rebind.test", "rebind.test", "rebind.test"]);
    expect(plain.received.slice(first).map((r) => [r.path, r.headers.host])).toEqual([["/a", plainHost], ["/b", plainHost]]);
  });

  it("a resolver that never answers is bounded by the call's timeout", async () => {
    const lookup = () => new Promise<Resolved[]>(() => {});
    const err = await failure(egress({ lookup }).send(request("https://slow-dns.test/", { timeoutMs: 300 })));
    expect([err.constructor, err.message]).toEqual([UnavailableError, "upstream slow-dns.test did not answer within 300 ms"]);
  });

  it("a name with any non-public address is refused (a public one beside it does not help)", async () => {
    const lookup = async (): Promise<Resolved[]> => [{ address: "93.184.215.14", family: 4 }, { address: "169.254.169.254", family: 4 }];
    const err = await failure(egress({ lookup }).send(request("https://mixed.test/")));
    expect(err).toBeInstanceOf(PermissionDeniedError);
  });

  it("a name that does not resolve: UNAVAILABLE with the code only", async () => {
    const lookup = async (): Promise<Resolved[]> => {
      throw Object.assign(new Error("getaddrinfo ENOTFOUND nowhere.test ?secret=abc"), { code: "ENOTFOUND" });
    };
    const err = await failure(egress({ lookup }).send(request("https://nowhere.test/?secret=abc")));
    expect([err.constructor, err.message]).toEqual([UnavailableError, "could not resolve nowhere.test (ENOTFOUND)"]);
  });

  it("plain http only where listed", async () => {
    expect((await egress().send(request(plain.url("/")))).status).toBe(200);
    const err = await failure(egress({ insecureHosts: [] }).send(request(plain.url("/"))));
    expect([err.constructor, err.message]).toEqual([PermissionDeniedError, `http://127.0.0.1:${plain.port} is not allowed: use https`]);
  });
});

describe("the exchange", () => {
  it("a redirect is returned, not followed", async () => {
    tls.route("/go", (_req, res) => {
      res.writeHead(301, { location: tls.url("/landing") });
      res.end();
    });
    const before = tls.received.length;
    const res = await egress().send(request(tls.url("/go")));
    expect([res.status, res.headers.find((h) => h.name === "location")?.value, tls.received.length - before]).toEqual([301, tls.url("/landing"), 1]);
  });

  it("hop-by-hop and Proxy-* headers are dropped both ways; others keep their order; accept-encoding is identity", async () => {
    tls.route("/hop", (_req, res) => {
      res.setHeader("connection", "keep-alive, x-private");
      res.setHeader("x-private", "hop");
      res.setHeader("proxy-authenticate", "Basic");
      res.setHeader("set-cookie", ["a=1", "b=2"]);
      res.writeHead(200);
      res.end("ok");
    });
    const before = tls.received.length;
    const res = await egress().send(
      request(tls.url("/hop"), {
        headers: [
          { name: "Connection", value: "close" },
          { name: "Proxy-Authorization", value: "Basic x" },
          { name: "TE", value: "trailers" },
          { name: "Accept-Encoding", value: "gzip" },
          { name: "X-A", value: "1" },
          { name: "Host", value: "evil.test" },
        ],
      }),
    );
    const got = tls.received[before]!.headers;
    expect([got["proxy-authorization"], got.te, got["x-a"], got.host, got["accept-encoding"]]).toEqual([undefined, undefined, "1", `127.0.0.1:${tls.port}`, "identity"]);
    const names = res.headers.map((h) => h.name);
    expect(names).not.toContain("x-private");
    expect(names).not.toContain("proxy-authenticate");
    expect(names).not.toContain("connection");
    expect(res.headers.filter((h) => h.name === "set-cookie").map((h) => h.value)).toEqual(["a=1", "b=2"]);
  });

  it("a body is sent with its length; HEAD answers no body", async () => {
    const before = tls.received.length;
    await egress().send(request(tls.url("/p"), { method: "POST", body: Buffer.from("abc") }));
    expect([tls.received[before]!.body.toString(), tls.received[before]!.headers["content-length"]]).toEqual(["abc", "3"]);
    const head = await egress().send(request(tls.url("/h"), { method: "HEAD" }));
    expect([head.status, head.body.length]).toEqual([200, 0]);
  });

  it("an upstream that never answers: UNAVAILABLE after the timeout", async () => {
    tls.route("/silent", () => {});
    const err = await failure(egress().send(request(tls.url("/silent?secret=abc"), { timeoutMs: 300 })));
    expect([err.constructor, err.message]).toEqual([UnavailableError, `upstream 127.0.0.1:${tls.port} did not answer within 300 ms`]);
  });

  it("the timeout covers the whole exchange: a body that never ends is UNAVAILABLE", async () => {
    tls.route("/trickle", (_req, res) => {
      res.writeHead(200);
      res.write("a");
    });
    const err = await failure(egress().send(request(tls.url("/trickle?secret=abc"), { timeoutMs: 300 })));
    expect([err.constructor, err.message]).toEqual([UnavailableError, `upstream 127.0.0.1:${tls.port} did not answer within 300 ms`]);
  });

  it("a body over the limit is cut at it; so is a decompressed one (a gzip bomb costs the limit, not its size)", async () => {
    tls.route("/big", (_req, res) => {
      res.writeHead(200);
      res.end(Buffer.alloc(300_000, 1));
    });
    const big = await egress().send(request(tls.url("/big"), { maxResponseBytes: 100_000 }));
    expect([big.body.length, big.truncated]).toEqual([100_000, true]);
    const exact = await egress().send(request(tls.url("/big"), { maxResponseBytes: 300_000 }));
    expect([exact.body.length, exact.truncated]).toEqual([300_000, false]);

    const bomb = gzipSync(Buffer.alloc(50 << 20));
    tls.route("/bomb", (_req, res) => {
      res.writeHead(200, { "content-encoding": "gzip", "content-length": String(bomb.length) });
      res.end(bomb);
    });
    const res = await egress().send(request(tls.url("/bomb"), { maxResponseBytes: 1 << 20 }));
    expect([res.body.length, res.truncated, res.headers.some((h) => h.name === "content-encoding")]).toEqual([1 << 20, true, false]);
  });

  it("an encoded answer is decoded (gzip, deflate, br) and loses content-encoding and content-length; an unknown one is kept as it is", async () => {
    const text = "hello ".repeat(1000);
    const encoders: Record<string, (b: Buffer) => Buffer> = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync, zstd: (b) => Buffer.concat([Buffer.from("Z"), b]) };
    for (const [encoding, encode] of Object.entries(encoders)) {
      const body = encode(Buffer.from(text));
      tls.route(`/enc-${encoding}`, (_req, res) => {
        res.writeHead(200, { "content-encoding": encoding, "content-length": String(body.length), "x-after": "kept" });
        res.end(body);
      });
      const res = await egress().send(request(tls.url(`/enc-${encoding}`)));
      const names = res.headers.map((h) => h.name);
      if (encoding === "zstd") {
        expect([Buffer.from(res.body).equals(body), names.includes("content-encoding"), names.includes("content-length")]).toEqual([true, true, true]);
      } else {
        expect([Buffer.from(res.body).toString(), res.truncated, names.includes("content-encoding"), names.includes("content-length"), names.includes("x-after")]).toEqual([text, false, false, false, true]);
      }
    }
  });

  it("an answer broken off mid-body: UNAVAILABLE", async () => {
    tls.route("/cut", (_req, res) => {
      res.writeHead(200, { "content-length": "1000" });
      res.write("partial", () => res.socket?.destroy());
    });
    const err = await failure(egress().send(request(tls.url("/cut"))));
    expect([err.constructor, err.message]).toEqual([UnavailableError, `upstream 127.0.0.1:${tls.port} broke off its answer (ECONNRESET)`]);
  });

  it("kept-alive: sequential calls share one connection", async () => {
    const e = egress();
    const before = tls.received.length;
    await e.send(request(tls.url("/k1")));
    await e.send(request(tls.url("/k2")));
    const [a, b] = tls.received.slice(before);
    expect(a!.socket).toBe(b!.socket);
  });

  it("a cancelled call ends at once", async () => {
    tls.route("/never", () => {});
    const abort = new AbortController();
    const call = egress().send(request(tls.url("/never"), { signal: abort.signal }));
    setTimeout(() => abort.abort(), 50);
    const err = await failure(call);
    expect([err.constructor, err.message]).toEqual([UnavailableError, "the call was cancelled"]);
    // Already aborted: nothing is sent.
    const before = tls.received.length;
    const again = await failure(egress().send(request(tls.url("/never"), { signal: abort.signal })));
    expect([again.message, tls.received.length]).toEqual(["the call was cancelled", before]);
  });

  it("a refused connection: UNAVAILABLE naming the host and the code, never the query", async () => {
    const closed = await startHttpUpstream();
    const port = closed.port;
    await closed.close();
    const e = egress({ insecureHosts: [`127.0.0.1:${port}`], allowPrivateHosts: [`127.0.0.1:${port}`] });
    const err = await failure(e.send(request(`http://127.0.0.1:${port}/x?secret=abc`)));
    expect([err.constructor, err.message]).toEqual([UnavailableError, `could not reach 127.0.0.1:${port} (ECONNREFUSED)`]);
  });
});
