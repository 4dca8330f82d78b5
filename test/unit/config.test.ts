import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.js";

const key = () => randomBytes(32).toString("base64");
const base = { MONGODB_URI: "mongodb://127.0.0.1:27017/x", KMS_KEY_ID: "alias/k", AWS_REGION: "us-east-1", AUTH_JWT_SECRET: "s".repeat(32) };

describe("loadConfig", () => {
  it("applies defaults and picks AWS KMS when KMS_KEY_ID is set", () => {
    const c = loadConfig(base);
    expect(c.listen).toEqual({ host: "127.0.0.1", port: 50051 });
    expect(c.store).toEqual({ kind: "mongodb", uri: base.MONGODB_URI, defaultDb: "secrets" });
    expect(c.keys).toEqual({ kind: "aws-kms", keyId: "alias/k", region: "us-east-1" });
    expect(c.auth.algorithms).toEqual(["HS256"]);
    expect(c.maxRequestBytes).toBe(1_048_576);
    expect(c.watchHeartbeatMs).toBe(15_000);
    expect(c.changeChannel).toBe("sc:changes");
  });

  it("loads several local master keys, the last one active unless LOCAL_MASTER_KEY_ID says", () => {
    const env = { ...base, KMS_KEY_ID: undefined, LOCAL_MASTER_KEY: `old:${key()},new:${key()}` };
    const c = loadConfig(env);
    expect(c.keys.kind === "local" && [...c.keys.masterKeys.keys()]).toEqual(["old", "new"]);
    expect(c.keys.kind === "local" && c.keys.activeKeyId).toBe("new");
    const pinned = loadConfig({ ...env, LOCAL_MASTER_KEY_ID: "old" });
    expect(pinned.keys.kind === "local" && pinned.keys.activeKeyId).toBe("old");
  });

  it.each([
    ["PORT", { PORT: "http" }],
    ["PORT", { PORT: "70000" }],
    ["MONGODB_URI", { MONGODB_URI: undefined }],
    ["KMS_KEY_ID", { KMS_KEY_ID: undefined }],
    ["AWS_REGION", { AWS_REGION: undefined }],
    ["AUTH_JWT_SECRET", { AUTH_JWT_SECRET: "short" }],
    ["AUTH_JWT_SECRET", { AUTH_JWT_SECRET: undefined }],
    ["LOCAL_MASTER_KEY", { KMS_KEY_ID: undefined, LOCAL_MASTER_KEY: "dG9vIHNob3J0" }],
    ["LOCAL_MASTER_KEY_ID", { KMS_KEY_ID: undefined, LOCAL_MASTER_KEY: `a:${key()}`, LOCAL_MASTER_KEY_ID: "b" }],
    ["LOCAL_MASTER_KEY_FILE", { KMS_KEY_ID: undefined, LOCAL_MASTER_KEY_FILE: "/nonexistent/key" }],
    ["AUTH_ALGORITHMS", { AUTH_ALGORITHMS: "RS256" }],
    ["TLS_KEY_FILE", { TLS_CERT_FILE: "/tmp/cert.pem" }],
    ["STORE", { STORE: "postgres" }],
    ["AUTH_MAX_TOKEN_LIFETIME", { AUTH_MAX_TOKEN_LIFETIME: "soon" }],
    ["AUTH_MAX_TOKEN_LIFETIME", { AUTH_MAX_TOKEN_LIFETIME: "-1" }],
    ["AUTH_MAX_TOKEN_LIFETIME", { AUTH_MAX_TOKEN_LIFETIME: "1.5h" }],
    ["AUTH_MAX_TOKEN_LIFETIME", { AUTH_MAX_TOKEN_LIFETIME: "2w" }],
    ["AUTH_MAX_TOKEN_LIFETIME", { AUTH_MAX_TOKEN_LIFETIME: "h" }],
    ["AUTH_MAX_TOKEN_LIFETIME", { AUTH_MAX_TOKEN_LIFETIME: "" }],
    ["AUTH_CLOCK_SKEW", { AUTH_CLOCK_SKEW: "a minute" }],
    ["AUTH_CLOCK_SKEW", { AUTH_CLOCK_SKEW: "2h" }],
  ])("rejects a bad %s, naming it", (variable, overrides) => {
    expect(() => loadConfig({ ...base, ...overrides })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...overrides })).toThrow(variable);
  });

  it("requires exp and bounds token lifetime (24 h) and clock skew (60 s) by default; dev mode accepts tokens without exp", () => {
    expect(loadConfig(base).auth).toMatchObject({ requireExpiry: true, maxTokenLifetimeSeconds: 86_400, clockSkewSeconds: 60 });
    expect(loadConfig(base, { dev: false }).auth.requireExpiry).toBe(true);
    expect(loadConfig(base, { dev: true }).auth).toMatchObject({ requireExpiry: false, maxTokenLifetimeSeconds: 86_400, clockSkewSeconds: 60 });
  });

  it.each([
    ["3600", 3600],
    ["3600s", 3600],
    ["90m", 5400],
    ["24h", 86_400],
    [" 12h ", 43_200],
    ["7d", 604_800],
    ["0", 0],
  ])("reads AUTH_MAX_TOKEN_LIFETIME=%j as %d seconds (0 = unlimited)", (text, seconds) => {
    expect(loadConfig({ ...base, AUTH_MAX_TOKEN_LIFETIME: text }).auth.maxTokenLifetimeSeconds).toBe(seconds);
  });

  it("reads AUTH_CLOCK_SKEW as a duration of at most 1 h", () => {
    expect(loadConfig({ ...base, AUTH_CLOCK_SKEW: "0" }).auth.clockSkewSeconds).toBe(0);
    expect(loadConfig({ ...base, AUTH_CLOCK_SKEW: "5m" }).auth.clockSkewSeconds).toBe(300);
    expect(loadConfig({ ...base, AUTH_CLOCK_SKEW: "1h" }).auth.clockSkewSeconds).toBe(3600);
    expect(() => loadConfig({ ...base, AUTH_CLOCK_SKEW: "3601" })).toThrow(/AUTH_CLOCK_SKEW: must be at most 1h/);
  });

  it("says what a duration looks like", () => {
    expect(() => loadConfig({ ...base, AUTH_MAX_TOKEN_LIFETIME: "one day" })).toThrow(
      /AUTH_MAX_TOKEN_LIFETIME: must be a duration: seconds \(3600\) or a number with s, m, h or d \(90m, 24h\)/,
    );
  });
});

describe("ProxyHttpRequest settings", () => {
  it("defaults: no private or insecure host, 8 MiB answers, 16 calls in flight per developer", () => {
    expect(loadConfig(base).proxy).toEqual({ allowPrivateHosts: [], insecureHosts: [], maxResponseBytes: 8 * 1024 * 1024, maxConcurrency: 16 });
  });

  it("host lists are parsed and normalized; a bad entry names the variable", () => {
    const c = loadConfig({ ...base, PROXY_ALLOW_PRIVATE_HOSTS: " API.internal.test:8443, [::1]:9000", PROXY_INSECURE_HOSTS: "127.0.0.1:8080,localhost:81" });
    expect([c.proxy.allowPrivateHosts, c.proxy.insecureHosts]).toEqual([["api.internal.test:8443", "[::1]:9000"], ["127.0.0.1:8080", "localhost:81"]]);
    expect(() => loadConfig({ ...base, PROXY_ALLOW_PRIVATE_HOSTS: "http://x" })).toThrow(/PROXY_ALLOW_PRIVATE_HOSTS: "http:\/\/x" is not a host pattern/);
  });

  it("plain http to a host that is not loopback only in dev mode", () => {
    expect(() => loadConfig({ ...base, PROXY_INSECURE_HOSTS: "127.0.0.1:8080,api.example.com" })).toThrow(
      "PROXY_INSECURE_HOSTS: plain http to api.example.com is refused outside dev mode (only loopback hosts may be listed)",
    );
    expect(loadConfig({ ...base, PROXY_INSECURE_HOSTS: "api.example.com" }, { dev: true }).proxy.insecureHosts).toEqual(["api.example.com"]);
  });

  it("PROXY_CA_FILE must be readable", () => {
    expect(() => loadConfig({ ...base, PROXY_CA_FILE: "/nonexistent/ca.pem" })).toThrow(/PROXY_CA_FILE: cannot read/);
  });
});
