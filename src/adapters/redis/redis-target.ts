// Where the Redis cache lives, from one URL, so that REDIS_URL configures every mode:
//   redis://[user[:password]@]host[:port][/db]            standalone (rediss:// for TLS)
//   redis-sentinel://[user[:password]@]h1:26379,h2/name   Sentinel: the master of group `name`
//   redis-cluster://[user[:password]@]h1:7000,h2:7001     Cluster: any reachable nodes
// (rediss-sentinel:// and rediss-cluster:// for TLS). Credentials are the data nodes'.
// Errors never quote the URL: it may hold a password.

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

export interface RedisCredentials {
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
}

export type RedisTarget = RedisCredentials &
  (
    | { readonly mode: "standalone"; readonly address: RedisAddress; readonly db: number }
    | { readonly mode: "sentinel"; readonly sentinels: readonly RedisAddress[]; readonly sentinelName: string }
    | { readonly mode: "cluster"; readonly nodes: readonly RedisAddress[] }
  );

const DEFAULT_PORT = { standalone: 6379, sentinel: 26379, cluster: 6379 } as const;

const SCHEMES: Record<string, { mode: RedisTarget["mode"]; tls: boolean }> = {
  redis: { mode: "standalone", tls: false },
  rediss: { mode: "standalone", tls: true },
  "redis-sentinel": { mode: "sentinel", tls: false },
  "rediss-sentinel": { mode: "sentinel", tls: true },
  "redis-cluster": { mode: "cluster", tls: false },
  "rediss-cluster": { mode: "cluster", tls: true },
};

const URL_SHAPE = /^([a-z-]+):\/\/(?:([^@/?#]*)@)?([^/?#]*)(?:\/([^?#]*))?$/;

function invalid(reason: string): Error {
  return new Error(`Redis URL: ${reason}`);
}

export function parseRedisTarget(url: string): RedisTarget {
  const match = URL_SHAPE.exec(url);
  if (!match) throw invalid("expected scheme://host[:port][/path], with no query or fragment");
  const [, scheme = "", userinfo, hostList = "", path = ""] = match;
  const kind = SCHEMES[scheme];
  if (!kind) throw invalid(`unknown scheme (expected one of ${Object.keys(SCHEMES).join(", ")})`);
  const credentials = { ...parseUserinfo(userinfo), tls: kind.tls };
  const addresses = hostList.split(",").map((host) => parseAddress(host, DEFAULT_PORT[kind.mode]));

  if (kind.mode === "standalone") {
    if (addresses.length !== 1) throw invalid("a standalone server has one host (use redis-sentinel:// or redis-cluster:// for several)");
    if (!/^\d{0,2}$/.test(path)) throw invalid("the path must be a database number");
    return { mode: "standalone", address: addresses[0] as RedisAddress, db: Number(path), ...credentials };
  }
  if (kind.mode === "sentinel") {
    const sentinelName = decode(path);
    if (sentinelName === "" || sentinelName.includes("/")) throw invalid("the path must be the master group name");
    return { mode: "sentinel", sentinels: addresses, sentinelName, ...credentials };
  }
  if (path !== "") throw invalid("a cluster URL has no path");
  return { mode: "cluster", nodes: addresses, ...credentials };
}

function parseUserinfo(userinfo: string | undefined): { username?: string; password?: string } {
  if (userinfo === undefined) return {};
  const colon = userinfo.indexOf(":");
  const username = decode(colon === -1 ? userinfo : userinfo.slice(0, colon));
  const password = colon === -1 ? "" : decode(userinfo.slice(colon + 1));
  return { ...(username && { username }), ...(password && { password }) };
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`. */
export function parseAddress(text: string, defaultPort: number): RedisAddress {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text);
  if (!match) throw invalid("each host must be host or host:port");
  const [, host = "", port] = match;
  const number = port === undefined ? defaultPort : Number(port);
  if (number < 1 || number > 65_535) throw invalid("a port must be 1 to 65535");
  return { host: host.replace(/^\[(.*)\]$/, "$1"), port: number };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid("bad percent-encoding");
  }
}
