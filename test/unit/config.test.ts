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
    expect(c.maxRequestBytes).toBe(262_144);
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
  ])("rejects a bad %s, naming it", (variable, overrides) => {
    expect(() => loadConfig({ ...base, ...overrides })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...overrides })).toThrow(variable);
  });
});
