import ipaddr from "ipaddr.js";

// Whether ProxyHttpRequest may connect to an address without the operator's say-so: only global
// unicast. Loopback, private (RFC 1918, fc00::/7), link-local (169.254/16 with the cloud metadata
// address, fe80::/10), carrier-grade NAT, multicast, broadcast, unspecified, documentation and the
// other reserved ranges are not. An IPv4 address written as IPv6 (::ffff:127.0.0.1, and the NAT64
// prefix 64:ff9b::/96) is judged as the IPv4 address it carries. Anything unparsable is not public.

export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv6") {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
    else if (v6.range() === "rfc6052") {
      const [hi, lo] = [v6.parts[6]!, v6.parts[7]!];
      parsed = new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
    }
  }
  return parsed.range() === "unicast";
}
