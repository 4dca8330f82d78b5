import { describe, expect, it } from "vitest";
import { isPublicAddress } from "../../src/adapters/egress/public-address.js";

// Which addresses ProxyHttpRequest reaches without PROXY_ALLOW_PRIVATE_HOSTS: global unicast only.

describe("isPublicAddress", () => {
  it.each([
    ["0.0.0.0", "unspecified"],
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["169.254.169.254", "link-local: cloud metadata"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["192.0.2.1", "documentation"],
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["fc00::1", "unique local"],
    ["fd00:ec2::254", "unique local: metadata"],
    ["fe80::1", "link-local"],
    ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "IPv4-mapped loopback"],
    ["::ffff:169.254.169.254", "IPv4-mapped metadata"],
    ["64:ff9b::a00:1", "NAT64 of 10.0.0.1"],
    ["2001:db8::1", "documentation"],
    ["64:ff9b:1::808:808", "local-use NAT64: the embedding is the network's"],
    ["::a00:1", "IPv4-compatible (deprecated)"],
    ["::808:808", "IPv4-compatible (deprecated)"],
    ["2002:a00:1::1", "6to4"],
    ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"],
    ["fe80::1%eth0", "link-local with a zone"],
    ["fec0::1", "site-local (deprecated)"],
    ["198.18.0.1", "benchmarking"],
    ["192.0.0.1", "IETF protocol assignments"],
    ["not an address", "unparsable"],
    ["", "empty"],
  ])("%s (%s) is not public", (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::808:808"])("%s is public", (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });
});
