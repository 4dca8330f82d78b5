import type { EgressHeader } from "../../ports/egress.js";

// Which headers cross the proxy. Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, not
// to the message; Host and Content-Length are the adapter's to set; Proxy-* would address a proxy;
// Accept-Encoding is set to identity so the answer can be redacted as it comes.

const HOP_BY_HOP = new Set(["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection"]);
const SET_BY_US = new Set(["host", "content-length", "accept-encoding"]);

/** The caller's headers that go upstream. */
export function requestHeaders(headers: readonly EgressHeader[]): [string, string][] {
  return headers
    .filter((h) => {
      const name = h.name.toLowerCase();
      return !HOP_BY_HOP.has(name) && !SET_BY_US.has(name) && !name.startsWith("proxy-");
    })
    .map((h) => [h.name, h.value]);
}

/** The upstream's headers that come back: lower-case names, in order, without hop-by-hop ones or those its Connection names. */
export function responseHeaders(rawHeaders: readonly string[]): EgressHeader[] {
  const pairs: EgressHeader[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) pairs.push({ name: rawHeaders[i]!.toLowerCase(), value: rawHeaders[i + 1]! });
  const named = new Set(
    pairs
      .filter((h) => h.name === "connection")
      .flatMap((h) => h.value.split(","))
      .map((n) => n.trim().toLowerCase()),
  );
  return pairs.filter((h) => !HOP_BY_HOP.has(h.name) && !named.has(h.name) && !h.name.startsWith("proxy-"));
}
