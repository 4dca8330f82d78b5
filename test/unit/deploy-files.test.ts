import { accessSync, constants, existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MongoClient } from "mongodb";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { z } from "zod";
import { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";
import { parseRedisTarget } from "../../src/adapters/redis/redis-target.js";
import { CONFIG_KEYS, loadConfig } from "../../src/config/config.js";

// No Docker engine or Kubernetes cluster runs where the tests run, so the Dockerfile,
// docker-compose.yml and deploy/kubernetes are checked as files: the fields that decide whether the
// service starts, is probed, is reachable, is confined, and is configured with settings it reads.
// (test/unit/compose.test.ts checks compose's images, ports and wiring.)

const repoFile = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const read = (path: string) => readFileSync(repoFile(path), "utf8");

const API_SERVICE = SecretsService.typeName;
/** The health service names the server registers: "" (the process) and the API (src/app.ts). */
const HEALTH_SERVICES = new Set(["", API_SERVICE]);
const HEALTHCHECK_SCRIPT = "dist/src/cli/healthcheck.js";
/** Seconds the shutdown needs beyond SHUTDOWN_GRACE_MS (sweeper, audit queue, stores, cache). */
const SHUTDOWN_MARGIN_S = 5;

// --- the settings config.ts reads ---------------------------------------------------------------

// CONFIG_KEYS: the variables of config.ts's env schema (loadConfig ignores unknown variables, so it
// cannot tell a misspelt name from an unused one).
/** Read by the AWS SDK's credential chain, not by config.ts: allowed in compose only (LocalStack's fake keys). */
const AWS_SDK_CREDENTIALS = new Set(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
/** Settings that hold credentials or key material: a Secret's, never a ConfigMap's. */
const SECRET_SETTINGS = ["MONGODB_URI", "REDIS_URL", "AUTH_JWT_SECRET", "TASK_TOKEN_KEYS", "LOCAL_MASTER_KEY", "AUTH_PUBLIC_KEY"];

const unknownKeys = (keys: Iterable<string>, allowed: ReadonlySet<string> = new Set()) =>
  [...keys].filter((k) => !CONFIG_KEYS.has(k) && !allowed.has(k));

describe("config.ts's settings, as these checks read them", () => {
  it("are the schema's variables, and only those", () => {
    for (const key of ["PORT", "HOST", "MONGODB_URI", "KMS_KEY_ID", "AUTH_JWT_SECRET", "METRICS_PORT", "SHUTDOWN_GRACE_MS", "TLS_CERT_FILE"]) {
      expect(CONFIG_KEYS, key).toContain(key);
    }
    expect(CONFIG_KEYS.size).toBeGreaterThan(50);
    for (const key of ["AWS_ACCESS_KEY_ID", "NODE_ENV", "ConfigError", "Env"]) expect(CONFIG_KEYS, key).not.toContain(key);
    // Each one does something: a variable from the list changes the loaded config.
    const base = { STORE: "memory", LOCAL_MASTER_KEY: Buffer.alloc(32, 1).toString("base64"), AUTH_JWT_SECRET: "x".repeat(32) };
    expect(loadConfig({ ...base, SHUTDOWN_GRACE_MS: "12345" }).shutdownGraceMs).toBe(12_345);
    expect(loadConfig({ ...base, SHUTDOWN_GRACE_MSEC: "12345" }).shutdownGraceMs).toBe(10_000); // misspelt: silently ignored
  });
});

// --- parsing helpers ------------------------------------------------------------------------------

/** Kubernetes quantities as numbers (cores, bytes). */
function quantity(text: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G)?$/.exec(String(text));
  if (!m) throw new Error(`not a quantity: ${text}`);
  const unit = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ""] ?? 1;
  return Number(m[1]) * unit;
}

/** "20s", "1m30s" as seconds (compose durations). */
function composeSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+)(h|m|s)/g)];
  if (parts.map((p) => p[0]).join("") !== text) throw new Error(`not a duration: ${text}`);
  return parts.reduce((sum, [, n, u]) => sum + Number(n) * ({ h: 3600, m: 60, s: 1 }[u!] ?? 0), 0);
}

// --- Dockerfile -----------------------------------------------------------------------------------

interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: { readonly op: string; readonly args: string }[];
}

/** Stages with their instructions; comments dropped, continuation lines joined. */
function dockerStages(text: string): Stage[] {
  const logical: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#") || (line === "" && pending === "")) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = "";
  }
  const stages: { name: string; from: string; instructions: { op: string; args: string }[] }[] = [];
  for (const line of logical.filter(Boolean)) {
    const [, op = "", args = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === "FROM") {
      const [, from = "", name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? [];
      stages.push({ name: name ?? String(stages.length), from, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

const npmInstalls = (stage: Stage) =>
  stage.instructions
    .filter((i) => i.op === "RUN")
    .flatMap((i) => i.args.split(/&&|;/).map((c) => c.trim()))
    .filter((c) => /^npm (ci|install|i|prune)\b/.test(c));

/** Whether a stage's node_modules ends up without dev dependencies. */
const omitsDev = (stage: Stage) => {
  const commands = npmInstalls(stage);
  return commands.length > 0 && /--omit[= ]dev\b/.test(commands.at(-1)!);
};

/** An exec-form (JSON array) command, or the shell form as one string. */
const command = (args: string): string[] => (args.trim().startsWith("[") ? (JSON.parse(args) as string[]) : [args]);

const dockerfile = dockerStages(read("Dockerfile"));
const runtime = dockerfile.at(-1)!;

describe("Dockerfile", () => {
  it("is multi-stage, the runtime stage on a Node 24 image", () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    expect(runtime.from).toMatch(/^node:24(-slim)?(@sha256:[0-9a-f]{64})?$/);
  });

  it("runs the last stage as a numeric non-root user", () => {
    const users = runtime.instructions.filter((i) => i.op === "USER");
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(":")[0])).toBeGreaterThan(0);
  });

  it("copies no dev dependency into the runtime stage", () => {
    const modules = runtime.instructions.filter((i) => i.op === "COPY" && /\bnode_modules\b/.test(i.args));
    expect(modules.length).toBe(1);
    const fromName = /--from=(\S+)/.exec(modules[0]!.args)?.[1];
    const source = dockerfile.find((s) => s.name === fromName);
    expect(source, `COPY --from=${fromName}`).toBeDefined();
    expect(omitsDev(source!), `stage ${fromName}: ${npmInstalls(source!).join(" / ")}`).toBe(true);
    // Nothing in the runtime stage installs packages with dev dependencies either.
    for (const c of npmInstalls(runtime)) expect(c).toMatch(/--omit[= ]dev\b/);
  });

  it("copies what the compiled service needs: package.json (ESM), node_modules, dist", () => {
    const copied = runtime.instructions.filter((i) => i.op === "COPY").map((i) => i.args.split(/\s+/).filter((a) => !a.startsWith("--")));
    const sources = copied.flatMap((args) => args.slice(0, -1));
    expect(sources).toEqual(expect.arrayContaining(["/app/package.json", "/app/node_modules", "/app/dist"]));
    expect(JSON.parse(read("package.json")).type).toBe("module");
    const build = JSON.parse(read("tsconfig.build.json")) as { include: string[] };
    expect(build.include).toEqual(expect.arrayContaining(["src", "gen"]));
  });

  it("has a HEALTHCHECK that runs the gRPC health probe within its timeout", () => {
    const checks = runtime.instructions.filter((i) => i.op === "HEALTHCHECK");
    expect(checks).toHaveLength(1);
    const [, flags = "", cmd = ""] = /^((?:--\S+\s+)*)CMD\s+(.*)$/.exec(checks[0]!.args) ?? [];
    const argv = command(cmd);
    expect(argv.slice(0, 2)).toEqual(["node", HEALTHCHECK_SCRIPT]);
    expect(existsSync(repoFile("src/cli/healthcheck.ts"))).toBe(true);
    expect(HEALTH_SERVICES).toContain(argv[2]);
    const dockerTimeout = composeSeconds(/--timeout=(\S+)/.exec(flags)?.[1] ?? "30s");
    const probeTimeoutMs = Number(argv[argv.indexOf("--timeout") + 1]);
    expect(argv).toContain("--timeout");
    expect(probeTimeoutMs).toBeLessThan(dockerTimeout * 1000);
  });

  it("runs the compiled entry point", () => {
    const cmd = runtime.instructions.filter((i) => i.op === "CMD").at(-1);
    expect(command(cmd!.args)).toContain("dist/src/main.js");
  });

  it("sets only settings config.ts reads (and the allocator)", () => {
    const env = runtime.instructions.filter((i) => i.op === "ENV").flatMap((i) => [...i.args.matchAll(/(\w+)=/g)].map((m) => m[1]!));
    expect(env.length).toBeGreaterThan(0);
    expect(unknownKeys(env, new Set(["LD_PRELOAD"]))).toEqual([]);
  });

  it("keeps the host's node_modules, dist and key files out of the build context", () => {
    const ignored = read(".dockerignore").split("\n").map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(["node_modules", "dist", ".git", "**/.env", "**/*.pem", "**/*.key"]));
  });
});

// --- docker-compose.yml ---------------------------------------------------------------------------

const ComposeService = z.object({
  image: z.string().optional(),
  environment: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  healthcheck: z.object({ test: z.array(z.string()), timeout: z.string().optional() }).optional(),
  volumes: z.array(z.string()).optional(),
  read_only: z.boolean().optional(),
  cap_drop: z.array(z.string()).optional(),
  security_opt: z.array(z.string()).optional(),
  stop_grace_period: z.string().optional(),
});
const Compose = z.object({ services: z.record(z.string(), ComposeService) });
const compose = Compose.parse(parse(read("docker-compose.yml")));

/** ${VAR}, ${VAR:-default}, ${VAR:?message}: what `docker compose up` substitutes, with test values. */
function interpolate(value: string | number | boolean, given: Record<string, string>): string {
  return String(value).replace(/\$\{(\w+)(?::?[-?][^}]*)?\}/g, (whole, name: string) => {
    const fallback = /^\$\{\w+:?-([^}]*)\}$/.exec(whole)?.[1];
    const found = given[name] ?? fallback;
    if (found === undefined) throw new Error(`docker-compose.yml needs ${name}`);
    return found;
  });
}

describe("docker-compose.yml", () => {
  const secrets = compose.services.secrets!;
  const env = Object.fromEntries(
    Object.entries(secrets.environment ?? {}).map(([k, v]) => [k, interpolate(v, { AUTH_JWT_SECRET: "compose-test-".padEnd(40, "x") })]),
  );

  it("runs LocalStack 4.14 with KMS, and the init hook that creates the key is there", () => {
    const localstack = compose.services.localstack!;
    expect(localstack.image).toBe("localstack/localstack:4.14");
    expect(localstack.environment?.SERVICES).toBe("kms");
    const hook = (localstack.volumes ?? []).find((v) => v.split(":")[1] === "/etc/localstack/init/ready.d");
    expect(hook).toBeDefined();
    const dir = hook!.split(":")[0]!.replace(/^\.\//, "");
    const scripts = readdirSync(repoFile(dir)).filter((f) => f.endsWith(".sh"));
    expect(scripts.length).toBeGreaterThan(0);
    for (const s of scripts) expect(() => accessSync(repoFile(`${dir}/${s}`), constants.X_OK)).not.toThrow();
  });

  it("gives the service only settings config.ts reads (and LocalStack's fake AWS keys)", () => {
    expect(Object.keys(env).length).toBeGreaterThan(5);
    expect(unknownKeys(Object.keys(env), AWS_SDK_CREDENTIALS)).toEqual([]);
  });

  it("gives the service an environment that loads, pointing at the other containers", () => {
    const config = loadConfig(env);
    expect(config.store).toMatchObject({ kind: "mongodb" });
    expect(new URL(env.MONGODB_URI!).hostname).toBe("mongo");
    expect(parseRedisTarget(env.REDIS_URL!)).toMatchObject({ mode: "standalone", address: { host: "redis" } });
    expect(config.keys).toMatchObject({ kind: "aws-kms", keyId: compose.services.localstack!.environment?.KMS_KEY_ALIAS, endpoint: "http://localstack:4566" });
    expect(config.listen.host).toBe("0.0.0.0");
  });

  it("wires the service's healthcheck to the gRPC health probe", () => {
    const test = secrets.healthcheck?.test ?? [];
    expect(test[0]).toBe("CMD");
    expect(test.slice(1, 3)).toEqual(["node", HEALTHCHECK_SCRIPT]);
    expect(HEALTH_SERVICES).toContain(test[3]);
    const probeTimeoutMs = Number(test[test.indexOf("--timeout") + 1]);
    expect(probeTimeoutMs).toBeLessThan(composeSeconds(secrets.healthcheck?.timeout ?? "30s") * 1000);
  });

  it("confines the service container and lets it finish its shutdown", () => {
    expect(secrets.read_only).toBe(true);
    expect(secrets.cap_drop).toContain("ALL");
    expect(secrets.security_opt).toContain("no-new-privileges:true");
    const grace = composeSeconds(secrets.stop_grace_period ?? "10s");
    expect(grace).toBeGreaterThanOrEqual(loadConfig(env).shutdownGraceMs / 1000 + SHUTDOWN_MARGIN_S);
  });
});

// --- deploy/kubernetes ----------------------------------------------------------------------------

const K8S_DIR = "deploy/kubernetes";
const Labels = z.record(z.string(), z.string());
const Metadata = z.object({ name: z.string().min(1), labels: Labels.optional(), annotations: Labels.optional() });

const GrpcProbe = z.object({
  grpc: z.object({ port: z.number().int(), service: z.string().optional() }),
  periodSeconds: z.number().int().positive().optional(),
  timeoutSeconds: z.number().int().positive().optional(),
  failureThreshold: z.number().int().positive().optional(),
});
const Resources = z.object({
  requests: z.object({ cpu: z.union([z.string(), z.number()]), memory: z.string() }),
  limits: z.object({ cpu: z.union([z.string(), z.number()]), memory: z.string() }),
});
const Container = z.object({
  name: z.string(),
  image: z.string().refine((i) => /(:[\w.-]+|@sha256:[0-9a-f]{64})$/.test(i) && !i.endsWith(":latest"), "a pinned tag or digest"),
  ports: z.array(z.object({ name: z.string(), containerPort: z.number().int(), protocol: z.string().optional() })),
  env: z.array(z.object({ name: z.string(), value: z.string().optional() })).optional(),
  envFrom: z.array(z.object({ configMapRef: z.object({ name: z.string() }).optional(), secretRef: z.object({ name: z.string() }).optional() })).optional(),
  resources: Resources,
  securityContext: z.object({
    runAsNonRoot: z.boolean().optional(),
    runAsUser: z.number().int().optional(),
    readOnlyRootFilesystem: z.literal(true),
    allowPrivilegeEscalation: z.literal(false),
    privileged: z.literal(false).optional(),
    capabilities: z.object({ drop: z.array(z.string()) }),
    seccompProfile: z.object({ type: z.string() }).optional(),
  }),
  startupProbe: GrpcProbe.optional(),
  readinessProbe: GrpcProbe,
  livenessProbe: GrpcProbe,
  lifecycle: z.object({ preStop: z.object({ exec: z.object({ command: z.array(z.string()) }).optional(), sleep: z.object({ seconds: z.number() }).optional() }).optional() }).optional(),
  volumeMounts: z.array(z.object({ name: z.string(), mountPath: z.string() })).optional(),
});
const Deployment = z.object({
  apiVersion: z.literal("apps/v1"),
  kind: z.literal("Deployment"),
  metadata: Metadata,
  spec: z.object({
    replicas: z.number().optional(),
    selector: z.object({ matchLabels: Labels }),
    strategy: z.object({ type: z.literal("RollingUpdate"), rollingUpdate: z.object({ maxUnavailable: z.union([z.number(), z.string()]), maxSurge: z.union([z.number(), z.string()]) }) }),
    template: z.object({
      metadata: z.object({ labels: Labels }),
      spec: z.object({
        serviceAccountName: z.string().optional(),
        automountServiceAccountToken: z.boolean().optional(),
        terminationGracePeriodSeconds: z.number().int(),
        securityContext: z.object({
          runAsNonRoot: z.boolean().optional(),
          runAsUser: z.number().int().optional(),
          seccompProfile: z.object({ type: z.string() }).optional(),
        }),
        containers: z.array(Container).length(1),
        volumes: z.array(z.object({ name: z.string(), emptyDir: z.object({}).passthrough().optional() })).optional(),
      }),
    }),
  }),
});
const Service = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Service"),
  metadata: Metadata,
  spec: z.object({
    type: z.string().optional(),
    selector: Labels,
    ports: z.array(z.object({ name: z.string(), port: z.number().int(), targetPort: z.union([z.number().int(), z.string()]), appProtocol: z.string().optional() })),
  }),
});
const Hpa = z.object({
  apiVersion: z.literal("autoscaling/v2"),
  kind: z.literal("HorizontalPodAutoscaler"),
  metadata: Metadata,
  spec: z.object({
    scaleTargetRef: z.object({ apiVersion: z.string(), kind: z.string(), name: z.string() }),
    minReplicas: z.number().int(),
    maxReplicas: z.number().int(),
    metrics: z.array(z.object({ type: z.string() })).min(1),
  }),
});
const Pdb = z.object({
  apiVersion: z.literal("policy/v1"),
  kind: z.literal("PodDisruptionBudget"),
  metadata: Metadata,
  spec: z.object({
    selector: z.object({ matchLabels: Labels }),
    maxUnavailable: z.union([z.number(), z.string()]).optional(),
    minAvailable: z.union([z.number(), z.string()]).optional(),
  }),
});
const ConfigMap = z.object({ apiVersion: z.literal("v1"), kind: z.literal("ConfigMap"), metadata: Metadata, data: z.record(z.string(), z.string()) });
const Secret = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Secret"),
  metadata: Metadata,
  type: z.literal("Opaque").optional(),
  stringData: z.record(z.string(), z.string()).optional(),
  data: z.record(z.string(), z.string()).optional(),
});
const ServiceAccount = z.object({ apiVersion: z.literal("v1"), kind: z.literal("ServiceAccount"), metadata: Metadata, automountServiceAccountToken: z.boolean().optional() });
const Kustomization = z.object({ apiVersion: z.literal("kustomize.config.k8s.io/v1beta1"), kind: z.literal("Kustomization"), resources: z.array(z.string()) });

interface Manifest {
  readonly file: string;
  readonly doc: { kind?: unknown; apiVersion?: unknown };
}

function manifests(): Manifest[] {
  const found: Manifest[] = [];
  for (const file of readdirSync(repoFile(K8S_DIR)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(read(`${K8S_DIR}/${file}`))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const value = doc.toJS() as Manifest["doc"] | null;
      if (value !== null) found.push({ file, doc: value });
    }
  }
  return found;
}

const all = manifests();
function only<T>(schema: z.ZodType<T>, kind: string): T {
  const docs = all.filter((m) => m.doc.kind === kind);
  if (docs.length !== 1) throw new Error(`${K8S_DIR}: expected one ${kind}, found ${docs.length}`);
  return schema.parse(docs[0]!.doc);
}

const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

describe("deploy/kubernetes", () => {
  const deployment = only(Deployment, "Deployment");
  const service = only(Service, "Service");
  const hpa = only(Hpa, "HorizontalPodAutoscaler");
  const pdb = only(Pdb, "PodDisruptionBudget");
  const configMap = only(ConfigMap, "ConfigMap");
  const secret = only(Secret, "Secret");
  const serviceAccount = only(ServiceAccount, "ServiceAccount");
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0]!;
  const podLabels = deployment.spec.template.metadata.labels;
  const portNamed = (name: string) => container.ports.find((p) => p.name === name)?.containerPort;
  const secretValues: Record<string, string> = {
    ...Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")])),
    ...secret.stringData,
  };
  const env: Record<string, string> = {
    ...configMap.data,
    ...secretValues,
    ...Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? ""])),
  };

  it("holds exactly the kinds expected, each with its apiVersion, all listed in kustomization.yaml", () => {
    const kinds = all.filter((m) => m.file !== "kustomization.yaml").map((m) => `${m.doc.apiVersion} ${m.doc.kind}`).sort();
    expect(kinds).toEqual([
      "apps/v1 Deployment",
      "autoscaling/v2 HorizontalPodAutoscaler",
      "policy/v1 PodDisruptionBudget",
      "v1 ConfigMap",
      "v1 Secret",
      "v1 Service",
      "v1 ServiceAccount",
    ]);
    const kustomization = Kustomization.parse(parse(read(`${K8S_DIR}/kustomization.yaml`)));
    const files = readdirSync(repoFile(K8S_DIR)).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml").sort();
    expect([...kustomization.resources].sort()).toEqual(files);
  });

  it("selects the Deployment's pods from the Service, the PodDisruptionBudget and the autoscaler", () => {
    expect(selects(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name });
  });

  it("lets the autoscaler own the replica count, never fewer than the budget needs to allow a drain", () => {
    expect(deployment.spec.replicas).toBeUndefined();
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
    const { maxUnavailable, minAvailable } = pdb.spec;
    expect((maxUnavailable === undefined) !== (minAvailable === undefined)).toBe(true);
    if (maxUnavailable !== undefined) expect(Number(maxUnavailable)).toBeGreaterThanOrEqual(1);
    else expect(Number(minAvailable)).toBeLessThan(hpa.spec.minReplicas);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });

  it("probes over gRPC on the container's port, with the health services the server registers", () => {
    const grpcPort = portNamed("grpc");
    expect(grpcPort).toBe(Number(env.PORT));
    const probes = [container.readinessProbe, container.livenessProbe, container.startupProbe].filter((p) => p !== undefined);
    expect(probes.length).toBeGreaterThanOrEqual(2);
    for (const probe of probes) {
      expect(probe.grpc.port).toBe(grpcPort);
      expect(HEALTH_SERVICES).toContain(probe.grpc.service ?? "");
    }
    expect(container.readinessProbe.grpc.service).toBe(API_SERVICE);
  });

  it("exposes the gRPC port and the metrics port through the Service", () => {
    const target = (p: { targetPort: number | string }) => (typeof p.targetPort === "number" ? p.targetPort : portNamed(p.targetPort));
    const targets = service.spec.ports.map(target);
    expect(targets).not.toContain(undefined);
    const config = loadConfig(env);
    expect(targets).toContain(config.listen.port);
    expect(config.metrics).toBeDefined();
    expect(targets).toContain(config.metrics!.port);
    expect(portNamed("metrics")).toBe(config.metrics!.port);
    expect(service.spec.ports.find((p) => target(p) === config.listen.port)?.appProtocol).toBe("kubernetes.io/h2c");
  });

  it("runs as the image's non-root user, read-only, without privileges, under RuntimeDefault seccomp", () => {
    const sc = container.securityContext;
    const runAsNonRoot = sc.runAsNonRoot ?? pod.securityContext.runAsNonRoot;
    expect(runAsNonRoot).toBe(true);
    // Wherever a user is named (the container's wins), it is the image's unprivileged one.
    const imageUser = Number(runtime.instructions.filter((i) => i.op === "USER").at(-1)!.args.split(":")[0]);
    const users = [pod.securityContext.runAsUser, sc.runAsUser].filter((u) => u !== undefined);
    expect(users.length).toBeGreaterThan(0);
    for (const user of users) expect(user).toBe(imageUser);
    expect(imageUser).toBeGreaterThan(0);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities.drop).toContain("ALL");
    expect((sc.seccompProfile ?? pod.securityContext.seccompProfile)?.type).toBe("RuntimeDefault");
    const tmp = container.volumeMounts?.find((m) => m.mountPath === "/tmp");
    expect(tmp).toBeDefined();
    expect(pod.volumes?.find((v) => v.name === tmp!.name)?.emptyDir).toBeDefined();
  });

  it("sets resource requests within limits", () => {
    const { requests, limits } = container.resources;
    expect(quantity(requests.cpu)).toBeGreaterThan(0);
    expect(quantity(requests.memory)).toBeGreaterThan(0);
    expect(quantity(requests.cpu)).toBeLessThanOrEqual(quantity(limits.cpu));
    expect(quantity(requests.memory)).toBeLessThanOrEqual(quantity(limits.memory));
    // In-process cache (CACHE_LOCAL_MAX_BYTES) fits well within the memory limit.
    expect(loadConfig(env).cache.localMaxBytes).toBeLessThan(quantity(limits.memory) / 4);
  });

  it("gives the pod time for the preStop pause and the server's shutdown grace", () => {
    const preStop = container.lifecycle?.preStop;
    const pause = preStop?.sleep?.seconds ?? (preStop?.exec?.command[0] === "sleep" ? Number(preStop.exec.command[1]) : 0);
    expect(Number.isFinite(pause)).toBe(true);
    const graceMs = loadConfig(env).shutdownGraceMs;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(pause + graceMs / 1000 + SHUTDOWN_MARGIN_S);
  });

  it("takes its environment from this ConfigMap and Secret", () => {
    const refs = container.envFrom ?? [];
    expect(refs.map((r) => r.configMapRef?.name).filter(Boolean)).toEqual([configMap.metadata.name]);
    expect(refs.map((r) => r.secretRef?.name).filter(Boolean)).toEqual([secret.metadata.name]);
    expect(pod.serviceAccountName).toBe(serviceAccount.metadata.name);
    // The pod's setting wins over the account's: the service never calls the Kubernetes API.
    expect(pod.automountServiceAccountToken ?? serviceAccount.automountServiceAccountToken).toBe(false);
  });

  it("sets only settings config.ts reads, secret ones in the Secret only", () => {
    expect(unknownKeys(Object.keys(configMap.data))).toEqual([]);
    expect(unknownKeys(Object.keys(secretValues))).toEqual([]);
    expect(unknownKeys((container.env ?? []).map((e) => e.name))).toEqual([]);
    expect(Object.keys(configMap.data).filter((k) => SECRET_SETTINGS.includes(k))).toEqual([]);
    expect(Object.keys(secretValues).length).toBeGreaterThan(0);
    expect(Object.keys(secretValues).filter((k) => !SECRET_SETTINGS.includes(k))).toEqual([]);
  });

  it("marks every Secret value as a placeholder", () => {
    for (const [key, value] of Object.entries(secretValues)) expect(value, key).toContain("REPLACE_ME");
  });

  it("loads as a production config: listening on every interface, MongoDB, AWS KMS, Redis, metrics", () => {
    const config = loadConfig(env);
    expect(config.listen.host).toBe("0.0.0.0"); // the kubelet probes the pod's IP
    expect(config.store.kind).toBe("mongodb");
    expect(config.keys.kind).toBe("aws-kms");
    expect(config.cache.redisUrl).toBeDefined();
    expect(config.metrics?.host).toBe("0.0.0.0");
    expect(config.auth.requireExpiry).toBe(true);
  });

  it("points at a MongoDB replica set with majority reads and writes from the primary", async () => {
    const client = new MongoClient(env.MONGODB_URI!); // parses and validates the URI; does not connect
    try {
      expect(client.options.replicaSet).toBeTruthy();
      expect(client.options.writeConcern?.w).toBe("majority");
      expect(client.options.readConcern?.level).toBe("majority");
      expect(client.options.readPreference.mode).toBe("primary");
    } finally {
      await client.close();
    }
  });

  it("points at a highly available Redis", () => {
    expect(["sentinel", "cluster"]).toContain(parseRedisTarget(env.REDIS_URL!).mode);
  });
});
