import { describe, expect, it } from "vitest";
import { redisTarget } from "../../src/adapters/redis/connect.js";
import { parseRedisTarget } from "../../src/adapters/redis/redis-target.js";

const at = (host: string, port: number) => ({ host, port });

describe("parseRedisTarget", () => {
  it("reads a standalone URL, with defaults", () => {
    expect(parseRedisTarget("redis://127.0.0.1")).toEqual({ mode: "standalone", address: at("127.0.0.1", 6379), db: 0, tls: false });
    expect(parseRedisTarget("redis://cache.internal:6380/3")).toEqual({
      mode: "standalone",
      address: at("cache.internal", 6380),
      db: 3,
      tls: false,
    });
  });

  it("takes credentials and TLS from the URL, percent-decoded", () => {
    expect(parseRedisTarget("rediss://app:p%40ss%3Aw%2Frd@cache:6379/")).toEqual({
      mode: "standalone",
      address: at("cache", 6379),
      db: 0,
      username: "app",
      password: "p@ss:w/rd",
      tls: true,
    });
    expect(parseRedisTarget("redis://:secret@cache")).toMatchObject({ password: "secret" });
    expect(parseRedisTarget("redis://:secret@cache")).not.toHaveProperty("username");
    expect(parseRedisTarget("redis://alice@cache")).toMatchObject({ username: "alice" });
    expect(parseRedisTarget("redis://alice@cache")).not.toHaveProperty("password");
  });

  it("reads IPv6 hosts in brackets", () => {
    expect(parseRedisTarget("redis://[::1]:7000")).toMatchObject({ address: { host: "::1", port: 7000 } });
    expect(parseRedisTarget("redis://[fe80::1]")).toMatchObject({ address: { host: "fe80::1", port: 6379 } });
  });

  it("reads a Sentinel URL: the sentinels (default port 26379) and the master group name", () => {
    expect(parseRedisTarget("redis-sentinel://host1:26379,host2:26380,host3/mymaster")).toEqual({
      mode: "sentinel",
      sentinels: [at("host1", 26379), at("host2", 26380), at("host3", 26379)],
      sentinelName: "mymaster",
      tls: false,
    });
    expect(parseRedisTarget("rediss-sentinel://u:p@h:26379/main")).toMatchObject({ mode: "sentinel", username: "u", password: "p", tls: true });
  });

  it("reads a Cluster URL: the startup nodes", () => {
    expect(parseRedisTarget("redis-cluster://host1:7000,host2:7001")).toEqual({
      mode: "cluster",
      nodes: [at("host1", 7000), at("host2", 7001)],
      tls: false,
    });
    expect(parseRedisTarget("rediss-cluster://:pw@h1:7000/")).toMatchObject({ mode: "cluster", password: "pw", tls: true });
  });

  it.each([
    ["http://cache:6379", /unknown scheme/],
    ["cache:6379", /expected scheme/],
    ["redis://", /host/],
    ["redis://a:6379,b:6379", /one host/],
    ["redis://cache/db1", /database number/],
    ["redis://cache:0", /port/],
    ["redis://cache:65536", /port/],
    ["redis://cache:port", /host or host:port/],
    ["redis://cache?tls=true", /no query/],
    ["redis-sentinel://h1,h2", /master group name/],
    ["redis-sentinel://h1/", /master group name/],
    ["redis-sentinel://h1/a/b", /master group name/],
    ["redis-cluster://h1:7000/0", /no path/],
    ["redis-cluster://h1:7000,,h2:7001", /host/],
    ["redis://%zz@cache", /percent-encoding/],
  ])("refuses %s", (url, reason) => {
    expect(() => parseRedisTarget(url)).toThrow(reason);
  });

  it("never quotes the URL in an error (it may hold a password)", () => {
    expect(() => parseRedisTarget("redis://:hunter2@a,b")).toThrow(expect.objectContaining({ message: expect.not.stringContaining("hunter2") }));
  });
});

describe("redisTarget", () => {
  it("builds the target from separate options, explicit credentials taking precedence over the URL's", () => {
    expect(redisTarget({ sentinels: ["s1:26379", "s2"], sentinelName: "main", password: "pw" })).toEqual({
      mode: "sentinel",
      sentinels: [at("s1", 26379), at("s2", 26379)],
      sentinelName: "main",
      password: "pw",
      tls: false,
    });
    expect(redisTarget({ cluster: ["n1:7000"], tls: true })).toEqual({ mode: "cluster", nodes: [at("n1", 7000)], tls: true });
    expect(redisTarget({ url: "redis://u:old@h", password: "new" })).toMatchObject({ username: "u", password: "new" });
  });
});
