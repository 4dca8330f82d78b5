import ipaddr from "ipaddr.js";

// Whether ProxyHttpRequest may connect to an address without the operator's say-so: only global
// unicast. Loopback, private (RFC 1918, fc00::/7), link-local (169.254/16 with the cloud metadata
// address, fe80::/10), carrier-grade NAT, multicast, broadcast, unspecified, documentation and the
// other reserved ranges are not. An IPv4 address written as IPv6 (::ffff:127.0.0.1, and the
// well-known NAT64 prefix 64:ff9b::/96) is judged as the IPv4 address it carries. Forms whose IPv4
// target cannot be told from the address are refused: the local-use NAT64 prefix 64:ff9b:1::/48
// (each network embeds as it likes), the deprecated IPv4-compatible ::/96, 6to4 and Teredo.
// Anything unparsable is not public.

const WELL_KNOWN_NAT64 = ipaddr.parseCIDR("64:ff9b::/96");

export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv6") {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
    else if (v6.match(WELL_KNOWN_NAT64)) parsed = ipv4Tail(v6);
    else if (v6.parts.slice(0, 6).every((part) => part === 0)) return false; // ::/96 (with :: and ::1)
  }
  return parsed.range() === "unicast";
}

/** The IPv4 address in the last 32 bits. */
function ipv4Tail(v6: ipaddr.IPv6): ipaddr.IPv4 {
  const [hi, lo] = [v6.parts[6]!, v6.parts[7]!];
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}
