import { accessSync, constants, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../../src/config/config.js";

// No Docker engine runs where the tests run, so docker-compose.yml and the Dockerfile are checked
// as files: the services, images, loopback ports and the service's environment.

const repoFile = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

interface ComposeService {
  image?: string;
  build?: unknown;
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | { target: number; published?: string | number; host_ip?: string })[];
  volumes?: (string | { source?: string; target: string })[];
  depends_on?: string[] | Record<string, unknown>;
}

const compose = parse(readFileSync(repoFile("docker-compose.yml"), "utf8")) as {
  services: Record<string, ComposeService>;
};

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

function environment(name: string): Record<string, string> {
  const env = service(name).environment ?? {};
  const entries = Array.isArray(env)
    ? env.map((line) => {
        const at = line.indexOf("=");
        return [line.slice(0, at), line.slice(at + 1)] as const;
      })
    : Object.entries(env).map(([key, value]) => [key, String(value ?? "")] as const);
  return Object.fromEntries(entries);
}

/** Published ports as "hostIp:published:target". */
function ports(name: string): string[] {
  return (service(name).ports ?? []).map((port) =>
    typeof port === "string" ? port : `${port.host_ip ?? ""}:${port.published ?? ""}:${port.target}`,
  );
}

describe("docker-compose.yml", () => {
  it("runs the service beside MongoDB, Redis and LocalStack KMS", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["localstack", "mongo", "redis", "secrets"]);
    expect(service("mongo").image).toBe("mongo:7");
    expect(service("redis").image).toBe("redis:7");
    expect(service("localstack").image).toBe("localstack/localstack:4.14");
    expect(environment("localstack").SERVICES).toBe("kms");
    expect(service("secrets").build).toBeDefined();
  });

  it("publishes each port on loopback only", () => {
    expect(ports("mongo")).toEqual(["127.0.0.1:27017:27017"]);
    expect(ports("redis")).toEqual(["127.0.0.1:6379:6379"]);
    expect(ports("localstack")).toEqual(["127.0.0.1:4566:4566"]);
    expect(ports("secrets")).toEqual(["127.0.0.1:50051:50051"]);
  });

  it("points the service at the other containers", () => {
    const env = environment("secrets");
    expect(env).toMatchObject({
      HOST: "0.0.0.0",
      PORT: "50051",
      MONGODB_URI: "mongodb://mongo:27017/secrets",
      REDIS_URL: "redis://redis:6379",
      KMS_ENDPOINT: "http://localstack:4566",
      KMS_KEY_ID: "alias/secrets-service",
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    });
    // The JWT secret comes from the caller's environment, never from the file.
    expect(env.AUTH_JWT_SECRET).toMatch(/^\$\{AUTH_JWT_SECRET[:?}]/);
    const dependsOn = service("secrets").depends_on;
    const names = Array.isArray(dependsOn) ? dependsOn : Object.keys(dependsOn ?? {});
    expect(names.sort()).toEqual(["localstack", "mongo", "redis"]);
  });

  it("gives the service an environment its config accepts", () => {
    const env = { ...environment("secrets"), AUTH_JWT_SECRET: "x".repeat(32) };
    const config = loadConfig(env);
    expect(config.listen).toEqual({ host: "0.0.0.0", port: 50051 });
    expect(config.keys).toMatchObject({ kind: "aws-kms", keyId: "alias/secrets-service" });
    expect(config.store).toMatchObject({ kind: "mongodb", uri: "mongodb://mongo:27017/secrets" });
  });

  it("mounts the init hook that creates the KMS alias", () => {
    const mounts = (service("localstack").volumes ?? []).map((v) => (typeof v === "string" ? v : `${v.source}:${v.target}`));
    const hookMount = mounts.find((m) => m.includes("/etc/localstack/init/ready.d"));
    expect(hookMount).toBeDefined();
    const hostDir = hookMount!.split(":")[0]!;
    const hook = repoFile(`${hostDir.replace(/^\.\//, "")}/10-kms-key.sh`);
    const script = readFileSync(hook, "utf8");
    expect(script).toContain("alias/secrets-service");
    expect(script).toContain("kms create-alias");
    // LocalStack runs .sh hooks directly, so the file must be executable.
    expect(() => accessSync(hook, constants.X_OK)).not.toThrow();
  });
});

describe("Dockerfile", () => {
  const dockerfile = readFileSync(repoFile("Dockerfile"), "utf8");
  const lines = dockerfile.split("\n").map((line) => line.trim());

  it("builds on node:24 and runs the compiled entry point as a non-root user", () => {
    expect(lines.some((line) => /^FROM node:24(-slim)?\b/.test(line))).toBe(true);
    expect(lines.filter((line) => line.startsWith("CMD ")).at(-1)).toContain("dist/src/main.js");
    const user = lines.filter((line) => line.startsWith("USER ")).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER (root|0)\b/);
    expect(lines).toContain("EXPOSE 50051");
  });
});
