import { readFileSync } from "node:fs";
import { z } from "zod";
import { parseHostList } from "../ports/host-patterns.js";

// All configuration comes from the environment, validated once at start-up.
// A bad or missing variable stops the process with a message naming it.

/** How long and how many: what keeps idle, slow and numerous connections from holding the server. */
export interface ConnectionLimits {
  /** HTTP/1.1 request headers (and, in cleartext, the bytes that tell the protocol) must arrive within this. */
  readonly headersTimeoutMs: number;
  /** A whole HTTP/1.1 request, and the message of a unary HTTP/2 request, must arrive within this. */
  readonly requestTimeoutMs: number;
  /** A connection with no request in progress (HTTP/1.1) or no open stream (HTTP/2) is closed after this. */
  readonly idleTimeoutMs: number;
  /** Connections beyond this are closed as they arrive. */
  readonly maxConnections: number;
  readonly http2MaxConcurrentStreams: number;
  /** Per HTTP/2 session; past it new streams are refused (ENHANCE_YOUR_CALM) until memory is freed. */
  readonly http2MaxSessionMemoryMb: number;
}

/** MAX_DEADLINE_MS's default: client deadlines beyond a day are shortened to it. */
export const DEFAULT_MAX_DEADLINE_MS = 24 * 60 * 60 * 1000;

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  idleTimeoutMs: 300_000,
  maxConnections: 4_096,
  http2MaxConcurrentStreams: 1_000,
  http2MaxSessionMemoryMb: 32,
};

const DURATION_UNIT_SECONDS = { s: 1, m: 60, h: 60 * 60, d: 24 * 60 * 60 } as const;
const DURATION_PATTERN = /^\d{1,9}[smhd]?$/;

/** AUTH_MAX_TOKEN_LIFETIME's default. */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;
/** AUTH_CLOCK_SKEW's default. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;

const MAX_CLOCK_SKEW_SECONDS = 60 * 60;

const optionalString = z.string().trim().min(1).optional();
const port = z.coerce.number().int().min(0).max(65_535);
const positiveInt = z.coerce.number().int().positive();

const envSchema = z.object({
  PORT: port.default(50051),
  HOST: z.string().min(1).default("127.0.0.1"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  MAX_REQUEST_BYTES: positiveInt.default(1_048_576),
  WATCH_HEARTBEAT_SECONDS: positiveInt.max(3_600).default(15),
  CHANGE_CHANNEL: z.string().min(1).max(128).default("sc:changes"),
  SHUTDOWN_GRACE_MS: positiveInt.default(10_000),
  READINESS_INTERVAL_MS: positiveInt.default(5_000),
  READINESS_TIMEOUT_MS: positiveInt.default(2_000),
  PENDING_VERSION_LEASE_MS: positiveInt.default(30_000),
  SWEEP_INTERVAL_MS: positiveInt.default(60_000),
  MAX_DEADLINE_MS: positiveInt.default(DEFAULT_MAX_DEADLINE_MS),
  HTTP_HEADERS_TIMEOUT_MS: positiveInt.default(DEFAULT_CONNECTION_LIMITS.headersTimeoutMs),
  HTTP_REQUEST_TIMEOUT_MS: positiveInt.default(DEFAULT_CONNECTION_LIMITS.requestTimeoutMs),
  IDLE_TIMEOUT_MS: positiveInt.default(DEFAULT_CONNECTION_LIMITS.idleTimeoutMs),
  MAX_CONNECTIONS: positiveInt.default(DEFAULT_CONNECTION_LIMITS.maxConnections),
  HTTP2_MAX_CONCURRENT_STREAMS: positiveInt.max(2 ** 31 - 1).default(DEFAULT_CONNECTION_LIMITS.http2MaxConcurrentStreams),
  HTTP2_MAX_SESSION_MEMORY_MB: positiveInt.default(DEFAULT_CONNECTION_LIMITS.http2MaxSessionMemoryMb),
  TLS_CERT_FILE: optionalString,
  TLS_KEY_FILE: optionalString,
  TLS_CLIENT_CA_FILE: optionalString,
  TLS_MIN_VERSION: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.2"),

  STORE: z.enum(["mongodb", "memory"]).default("mongodb"),
  MONGODB_URI: optionalString,
  MONGODB_DB: z.string().min(1).default("secrets"),

  KEY_PROVIDER: z.enum(["aws-kms", "local"]).optional(),
  KMS_KEY_ID: optionalString,
  KMS_ENDPOINT: z.url().optional(),
  AWS_REGION: optionalString,
  LOCAL_MASTER_KEY: optionalString,
  LOCAL_MASTER_KEY_FILE: optionalString,
  LOCAL_MASTER_KEY_ID: optionalString,

  AUTH_JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  AUTH_JWKS_URL: z.url().optional(),
  AUTH_PUBLIC_KEY: optionalString,
  AUTH_PUBLIC_KEY_FILE: optionalString,
  AUTH_ISSUER: optionalString,
  AUTH_AUDIENCE: optionalString,
  AUTH_ALGORITHMS: optionalString,
  AUTH_MAX_TOKEN_LIFETIME: durationSeconds().default(DEFAULT_MAX_TOKEN_LIFETIME_SECONDS),
  AUTH_CLOCK_SKEW: durationSeconds().refine((s) => s <= MAX_CLOCK_SKEW_SECONDS, "must be at most 1h").default(DEFAULT_CLOCK_SKEW_SECONDS),
  AUTH_CLOCK_SKEW_S: z.coerce.number().int().min(0).max(MAX_CLOCK_SKEW_SECONDS).optional(),
  AUTH_JWKS_COOLDOWN: durationSeconds().default(30),
  AUTH_JWKS_CACHE_MAX_AGE: durationSeconds().default(600),
  TASK_TOKEN_KEYS: optionalString,
  TASK_TOKEN_KEYS_FILE: optionalString,
  TASK_TOKEN_ACTIVE_KID: optionalString,

  AUDIT: z.enum(["on", "off"]).default("on"),
  AUDIT_LOG: optionalString,
  AUDIT_RETENTION_DAYS: positiveInt.max(36_500).default(90),
  AUDIT_GROUP_COMMIT_MS: z.coerce.number().min(0).max(1_000).default(0),
  AUDIT_MAX_INFLIGHT: positiveInt.max(64).default(1),
  AUDIT_MAX_QUEUE: positiveInt.default(10_000),

  REDIS_URL: optionalString,
  CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(86_400).default(30),
  CACHE_LOCAL_MAX_BYTES: z.coerce.number().int().min(0).default(64 * 1024 * 1024),
  CACHE_MAX_STALENESS_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
  CACHE_KEY_ROTATION: durationSeconds().refine((s) => s >= 60, "must be at least 60 seconds").default(24 * 60 * 60),
  CACHE_COMMAND_TIMEOUT_MS: positiveInt.max(10_000).default(250),

  METRICS_PORT: z.union([z.literal("off"), port]).optional(),
  METRICS_HOST: z.string().min(1).default("127.0.0.1"),

  PROXY_ALLOW_PRIVATE_HOSTS: z.string().default(""),
  PROXY_INSECURE_HOSTS: z.string().default(""),
  PROXY_CA_FILE: optionalString,
  PROXY_MAX_RESPONSE_BYTES: positiveInt.max(64 * 1024 * 1024).default(8 * 1024 * 1024),
  PROXY_MAX_CONCURRENCY: positiveInt.max(10_000).default(16),
});

/** Every environment variable the configuration reads (for checks of deployment files). */
export const CONFIG_KEYS: ReadonlySet<string> = new Set(Object.keys(envSchema.shape));


export type Env = z.infer<typeof envSchema>;

export interface Config {
  readonly listen: { host: string; port: number };
  readonly logLevel: Env["LOG_LEVEL"];
  readonly maxRequestBytes: number;
  /** WatchSecrets heartbeats. */
  readonly watchHeartbeatMs: number;
  /** The Redis pub/sub channel of change events (pub/sub ignores database numbers: deployments sharing a server need their own). */
  readonly changeChannel: string;
  readonly shutdownGraceMs: number;
  /** How often the store and KMS are probed for readiness, and how long a probe may take. */
  readonly readiness: { readonly intervalMs: number; readonly timeoutMs: number };
  readonly pendingVersionLeaseMs: number;
  readonly sweepIntervalMs: number;
  /** Client deadlines beyond this are shortened to it. */
  readonly maxDeadlineMs: number;
  readonly connections: ConnectionLimits;
  readonly tls?: TlsConfig;
  readonly store: { kind: "memory" } | { kind: "mongodb"; uri: string; defaultDb: string };
  readonly keys:
    | { kind: "aws-kms"; keyId: string; region: string; endpoint?: string }
    | { kind: "local"; masterKeys: Map<string, Buffer>; activeKeyId: string };
  readonly auth: AuthConfig;
  readonly cache: CacheConfig;
  readonly audit: AuditConfig;
  /** The service's own task token signing keys (a private JWKS); absent: CreateTaskToken is refused. */
  readonly taskTokenKeys?: { readonly jwks: string; readonly activeKid?: string };
  /** Where /metrics is served; absent: not served. */
  readonly metrics?: { host: string; port: number };
  readonly proxy: ProxyConfig;
}

/** ProxyHttpRequest's outbound calls. */
export interface ProxyConfig {
  /** host[:port] patterns that may resolve to loopback, private or reserved addresses. */
  readonly allowPrivateHosts: string[];
  /** host[:port] patterns reached over plain http (tests and dev; loopback only outside dev mode). */
  readonly insecureHosts: string[];
  /** PEM bundle trusted beside the system's roots. */
  readonly extraCa?: Buffer;
  readonly maxResponseBytes: number;
  /** Calls in flight per developer on one replica. */
  readonly maxConcurrency: number;
}

export interface TlsConfig {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Client certificates must be signed by this bundle (mutual TLS). */
  readonly clientCa?: Buffer;
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
  /** Where they came from: re-read when they change. */
  readonly files: { readonly cert: string; readonly key: string; readonly clientCa?: string };
}

export interface AuditConfig {
  /** off: no audit trail (benchmarks, dev); every call goes unrecorded. */
  readonly enabled: boolean;
  /** A copy of every event as JSON lines: "stdout" or a file path. */
  readonly log?: string;
  readonly retentionDays: number;
  /** Events arriving within this window share one insert. */
  readonly groupCommitMs: number;
  /** Events waiting beyond this: calls fail with UNAVAILABLE rather than queue without bound. */
  readonly maxQueue: number;
  /** Inserts out at once; events arriving while all are out share the next one. */
  readonly maxInFlight: number;
}

export interface CacheConfig {
  /** Entry lifetime; 0 = no cache: every read goes to the store and KMS. */
  readonly ttlMs: number;
  /** Bound of the in-process layer; 0 = none. */
  readonly localMaxBytes: number;
  readonly maxStalenessMs: number;
  readonly keyRotationMs: number;
  readonly commandTimeoutMs: number;
  /** The shared layer; without it (and with a database store) the cache is off. */
  readonly redisUrl?: string;
}

export const DEFAULT_METRICS_PORT = 9464;

export interface AuthConfig {
  readonly hmacSecret?: string;
  readonly jwksUrl?: string;
  readonly publicKeyPem?: string;
  readonly issuer?: string;
  readonly audience?: string;
  /** Allowed JWS algorithms; required, never inferred from the token. */
  readonly algorithms: readonly string[];
  /** Refuse tokens without `exp` (default true; false only in dev mode). */
  readonly requireExpiry?: boolean;
  /** Longest accepted `exp - iat` (or `exp - now` without iat), in seconds; 0 = unlimited. Default 24 h. */
  readonly maxTokenLifetimeSeconds?: number;
  /** Tolerance for exp, nbf and iat against our clock, in seconds. Default 60. */
  readonly clockSkewSeconds?: number;
  /** A token with an unknown kid refetches the JWKS at most once per this many seconds. Default 30. */
  readonly jwksCooldownSeconds?: number;
  /** The JWKS is refetched when older than this (seconds). Default 600. */
  readonly jwksCacheMaxAgeSeconds?: number;
}

export interface LoadOptions {
  /** Embedded dev mode (`--dev`): tokens without exp are accepted. */
  readonly dev?: boolean;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv, options: LoadOptions = {}): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  }
  const e = parsed.data;
  return {
    listen: { host: e.HOST, port: e.PORT },
    logLevel: e.LOG_LEVEL,
    maxRequestBytes: e.MAX_REQUEST_BYTES,
    watchHeartbeatMs: e.WATCH_HEARTBEAT_SECONDS * 1000,
    changeChannel: e.CHANGE_CHANNEL,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    readiness: { intervalMs: e.READINESS_INTERVAL_MS, timeoutMs: e.READINESS_TIMEOUT_MS },
    pendingVersionLeaseMs: e.PENDING_VERSION_LEASE_MS,
    sweepIntervalMs: e.SWEEP_INTERVAL_MS,
    maxDeadlineMs: e.MAX_DEADLINE_MS,
    connections: connectionConfig(e),
    ...tlsConfig(e),
    store: storeConfig(e),
    keys: keysConfig(e),
    auth: authConfig(e, options),
    cache: {
      ttlMs: e.CACHE_TTL_SECONDS * 1000,
      localMaxBytes: e.CACHE_LOCAL_MAX_BYTES,
      maxStalenessMs: e.CACHE_MAX_STALENESS_MS,
      keyRotationMs: e.CACHE_KEY_ROTATION * 1000,
      commandTimeoutMs: e.CACHE_COMMAND_TIMEOUT_MS,
      ...(e.REDIS_URL ? { redisUrl: e.REDIS_URL } : {}),
    },
    audit: {
      enabled: e.AUDIT === "on",
      retentionDays: e.AUDIT_RETENTION_DAYS,
      groupCommitMs: e.AUDIT_GROUP_COMMIT_MS,
      maxQueue: e.AUDIT_MAX_QUEUE,
      maxInFlight: e.AUDIT_MAX_INFLIGHT,
      ...(e.AUDIT_LOG ? { log: e.AUDIT_LOG } : {}),
    },
    ...taskTokenConfig(e),
    ...metricsConfig(e, options),
    proxy: proxyConfig(e, options),
  };
}

function proxyConfig(e: Env, options: LoadOptions): ProxyConfig {
  const hosts = (variable: "PROXY_ALLOW_PRIVATE_HOSTS" | "PROXY_INSECURE_HOSTS") => {
    try {
      return parseHostList(variable, e[variable]);
    } catch (err) {
      throw new ConfigError(err instanceof Error ? err.message : String(err));
    }
  };
  const insecureHosts = hosts("PROXY_INSECURE_HOSTS");
  const remote = insecureHosts.filter((h) => !isLoopbackPattern(h));
  if (remote.length > 0 && !options.dev) {
    throw new ConfigError(`PROXY_INSECURE_HOSTS: plain http to ${remote.join(", ")} is refused outside dev mode (only loopback hosts may be listed)`);
  }
  return {
    allowPrivateHosts: hosts("PROXY_ALLOW_PRIVATE_HOSTS"),
    insecureHosts,
    ...(e.PROXY_CA_FILE ? { extraCa: readConfigFile("PROXY_CA_FILE", e.PROXY_CA_FILE) } : {}),
    maxResponseBytes: e.PROXY_MAX_RESPONSE_BYTES,
    maxConcurrency: e.PROXY_MAX_CONCURRENCY,
  };
}

/** localhost, 127.0.0.0/8 or [::1], with or without a port. */
function isLoopbackPattern(pattern: string): boolean {
  const host = pattern.startsWith("[") ? pattern.slice(0, pattern.indexOf("]") + 1) : pattern.split(":")[0]!;
  return host === "localhost" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function taskTokenConfig(e: Env): { taskTokenKeys?: { jwks: string; activeKid?: string } } {
  if (e.TASK_TOKEN_KEYS && e.TASK_TOKEN_KEYS_FILE) throw new ConfigError("set only one of TASK_TOKEN_KEYS, TASK_TOKEN_KEYS_FILE");
  const jwks = e.TASK_TOKEN_KEYS ?? (e.TASK_TOKEN_KEYS_FILE ? readConfigFile("TASK_TOKEN_KEYS_FILE", e.TASK_TOKEN_KEYS_FILE).toString("utf8") : undefined);
  if (!jwks) return {};
  return { taskTokenKeys: { jwks, ...(e.TASK_TOKEN_ACTIVE_KID ? { activeKid: e.TASK_TOKEN_ACTIVE_KID } : {}) } };
}

/** On by default in production (loopback); in dev mode only when METRICS_PORT is set. */
function metricsConfig(e: Env, options: LoadOptions): { metrics?: { host: string; port: number } } {
  const port = e.METRICS_PORT ?? (options.dev ? "off" : DEFAULT_METRICS_PORT);
  return port === "off" ? {} : { metrics: { host: e.METRICS_HOST, port } };
}

function connectionConfig(e: Env): ConnectionLimits {
  if (e.HTTP_REQUEST_TIMEOUT_MS < e.HTTP_HEADERS_TIMEOUT_MS) throw new ConfigError("HTTP_REQUEST_TIMEOUT_MS must be at least HTTP_HEADERS_TIMEOUT_MS");
  return {
    headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
    idleTimeoutMs: e.IDLE_TIMEOUT_MS,
    maxConnections: e.MAX_CONNECTIONS,
    http2MaxConcurrentStreams: e.HTTP2_MAX_CONCURRENT_STREAMS,
    http2MaxSessionMemoryMb: e.HTTP2_MAX_SESSION_MEMORY_MB,
  };
}

function tlsConfig(e: Env): { tls?: TlsConfig } {
  if (!e.TLS_CERT_FILE && !e.TLS_KEY_FILE) {
    if (e.TLS_CLIENT_CA_FILE) throw new ConfigError("TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE");
    return {};
  }
  if (!e.TLS_CERT_FILE || !e.TLS_KEY_FILE) throw new ConfigError("TLS_CERT_FILE and TLS_KEY_FILE must be set together");
  return {
    tls: {
      cert: readConfigFile("TLS_CERT_FILE", e.TLS_CERT_FILE),
      key: readConfigFile("TLS_KEY_FILE", e.TLS_KEY_FILE),
      ...(e.TLS_CLIENT_CA_FILE ? { clientCa: readConfigFile("TLS_CLIENT_CA_FILE", e.TLS_CLIENT_CA_FILE) } : {}),
      minVersion: e.TLS_MIN_VERSION,
      files: { cert: e.TLS_CERT_FILE, key: e.TLS_KEY_FILE, ...(e.TLS_CLIENT_CA_FILE ? { clientCa: e.TLS_CLIENT_CA_FILE } : {}) },
    },
  };
}

function storeConfig(e: Env): Config["store"] {
  if (e.STORE === "memory") return { kind: "memory" };
  if (!e.MONGODB_URI) throw new ConfigError("MONGODB_URI is required when STORE=mongodb (or set STORE=memory)");
  return { kind: "mongodb", uri: e.MONGODB_URI, defaultDb: e.MONGODB_DB };
}

function keysConfig(e: Env): Config["keys"] {
  const kind = e.KEY_PROVIDER ?? (e.KMS_KEY_ID ? "aws-kms" : e.LOCAL_MASTER_KEY || e.LOCAL_MASTER_KEY_FILE ? "local" : undefined);
  if (kind === undefined) throw new ConfigError("KMS_KEY_ID (AWS KMS) or LOCAL_MASTER_KEY / LOCAL_MASTER_KEY_FILE (local key) is required");
  if (kind === "aws-kms") {
    if (!e.KMS_KEY_ID) throw new ConfigError("KMS_KEY_ID is required when KEY_PROVIDER=aws-kms");
    if (!e.AWS_REGION) throw new ConfigError("AWS_REGION is required when KEY_PROVIDER=aws-kms");
    return { kind, keyId: e.KMS_KEY_ID, region: e.AWS_REGION, ...(e.KMS_ENDPOINT ? { endpoint: e.KMS_ENDPOINT } : {}) };
  }
  const source = e.LOCAL_MASTER_KEY
    ? { name: "LOCAL_MASTER_KEY", text: e.LOCAL_MASTER_KEY }
    : e.LOCAL_MASTER_KEY_FILE
      ? { name: "LOCAL_MASTER_KEY_FILE", text: readConfigFile("LOCAL_MASTER_KEY_FILE", e.LOCAL_MASTER_KEY_FILE).toString("utf8") }
      : undefined;
  if (!source) throw new ConfigError("LOCAL_MASTER_KEY or LOCAL_MASTER_KEY_FILE is required when KEY_PROVIDER=local");
  const masterKeys = parseMasterKeys(source.name, source.text);
  const activeKeyId = e.LOCAL_MASTER_KEY_ID ?? [...masterKeys.keys()].at(-1)!;
  if (!masterKeys.has(activeKeyId)) throw new ConfigError(`LOCAL_MASTER_KEY_ID: no key "${activeKeyId}" in ${source.name}`);
  return { kind, masterKeys, activeKeyId };
}

/**
 * Master keys: one base64 key ("default" id), or "id:base64" entries separated
 * by commas or newlines (the last one is active unless LOCAL_MASTER_KEY_ID says).
 */
export function parseMasterKeys(variable: string, text: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  const entries = text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
  for (const entry of entries) {
    const at = entry.indexOf(":");
    const [id, b64] = at < 0 ? ["default", entry] : [entry.slice(0, at).trim(), entry.slice(at + 1).trim()];
    const key = Buffer.from(b64, "base64");
    if (key.length !== 32 || !/^[A-Za-z0-9+/=_-]+$/.test(b64)) throw new ConfigError(`${variable}: key "${id}" must be 32 bytes, base64-encoded`);
    if (keys.has(id)) throw new ConfigError(`${variable}: key id "${id}" appears twice`);
    keys.set(id, key);
  }
  if (keys.size === 0) throw new ConfigError(`${variable}: no key given`);
  return keys;
}

function authConfig(e: Env, options: LoadOptions): AuthConfig {
  const publicKeyPem = e.AUTH_PUBLIC_KEY ?? (e.AUTH_PUBLIC_KEY_FILE ? readConfigFile("AUTH_PUBLIC_KEY_FILE", e.AUTH_PUBLIC_KEY_FILE).toString("utf8") : undefined);
  const sources = [e.AUTH_JWT_SECRET, e.AUTH_JWKS_URL, publicKeyPem].filter(Boolean).length;
  if (sources === 0) throw new ConfigError("AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_PUBLIC_KEY(_FILE) is required");
  if (sources > 1) throw new ConfigError("set only one of AUTH_JWT_SECRET, AUTH_JWKS_URL, AUTH_PUBLIC_KEY(_FILE)");
  const algorithms = e.AUTH_ALGORITHMS
    ? e.AUTH_ALGORITHMS.split(",").map((a) => a.trim()).filter(Boolean)
    : e.AUTH_JWT_SECRET
      ? ["HS256"]
      : ["RS256", "EdDSA"];
  const hmac = algorithms.filter((a) => a.startsWith("HS"));
  if (e.AUTH_JWT_SECRET && hmac.length !== algorithms.length) throw new ConfigError("AUTH_ALGORITHMS: only HS* algorithms work with AUTH_JWT_SECRET");
  if (!e.AUTH_JWT_SECRET && hmac.length > 0) throw new ConfigError("AUTH_ALGORITHMS: HS* algorithms need AUTH_JWT_SECRET");
  return {
    algorithms,
    ...(e.AUTH_JWT_SECRET ? { hmacSecret: e.AUTH_JWT_SECRET } : {}),
    ...(e.AUTH_JWKS_URL ? { jwksUrl: e.AUTH_JWKS_URL } : {}),
    ...(publicKeyPem ? { publicKeyPem } : {}),
    ...(e.AUTH_ISSUER ? { issuer: e.AUTH_ISSUER } : {}),
    ...(e.AUTH_AUDIENCE ? { audience: e.AUTH_AUDIENCE } : {}),
    requireExpiry: !options.dev,
    maxTokenLifetimeSeconds: e.AUTH_MAX_TOKEN_LIFETIME,
    // AUTH_CLOCK_SKEW_S (bare seconds) is for dev mode, so expiry tests need not wait a minute.
    clockSkewSeconds: options.dev && e.AUTH_CLOCK_SKEW_S !== undefined ? e.AUTH_CLOCK_SKEW_S : e.AUTH_CLOCK_SKEW,
    jwksCooldownSeconds: e.AUTH_JWKS_COOLDOWN,
    jwksCacheMaxAgeSeconds: e.AUTH_JWKS_CACHE_MAX_AGE,
  };
}


/** Seconds of a duration written as a bare number of seconds ("3600") or with s, m, h or d ("90m", "24h"); undefined if it is not one. */
export function parseDurationSeconds(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION_PATTERN.test(trimmed)) return undefined;
  const unit = /[smhd]$/.test(trimmed) ? (trimmed.slice(-1) as keyof typeof DURATION_UNIT_SECONDS) : "s";
  return Number.parseInt(trimmed, 10) * DURATION_UNIT_SECONDS[unit];
}

/** A duration in seconds: a bare number of seconds ("3600") or a number with s, m, h or d ("90m", "24h"). */
function durationSeconds() {
  return z
    .string()
    .trim()
    .regex(DURATION_PATTERN, "must be a duration: seconds (3600) or a number with s, m, h or d (90m, 24h)")
    .transform((text) => parseDurationSeconds(text)!);
}


function readConfigFile(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${variable}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
}
