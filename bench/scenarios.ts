// What is measured: the data the bench seeds and the scenarios that load it.
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { ghz, hey, type GrpcCall, type LoadOptions, type LoadResult } from "./load.js";
import { connectCall, type Server } from "./server.js";

export const NAMES = Array.from({ length: 100 }, (_, i) => `bench_${String(i).padStart(3, "0")}`);
// Writers of one secret are serialised (revision claims), so writes spread over as many names as
// there are concurrent callers at most: the bench measures write cost, not contention.
const PUT_NAMES = Array.from({ length: 32 }, (_, i) => `bench_put_${i}`);
const BATCHES = Array.from({ length: NAMES.length / 20 }, (_, i) => NAMES.slice(i * 20, i * 20 + 20));
/** A task step referencing 20 secrets: ten in headers ({{ }}), ten as whole-string `$ secrets.NAME` arguments. */
const template = (names: readonly string[]) => ({
  tool: "http",
  headers: Object.fromEntries(names.slice(0, 10).map((n, i) => [`X-Key-${i}`, `Bearer {{ secrets.${n} }}`])),
  args: names.slice(10).map((n) => `$ secrets.${n}`),
  retries: 3,
});
const TEMPLATES = BATCHES.map(template);

/** The value of a seeded secret: 41 bytes, derived from its name so a read can be checked. */
export const valueOf = (name: string) => `sk_bench_${createHash("sha256").update(name).digest("hex").slice(0, 32)}`;

export type Protocol = "grpc" | "connect";

export interface Scenario {
  id: string;
  protocol: Protocol;
  title: string;
  /** Reads: any non-OK answer is an error of the service, not of the bench. */
  read: boolean;
  /** Runs before each measured run (cache warm-up, a checked sample request). */
  prepare?: () => Promise<void>;
  load(opts: LoadOptions): Promise<LoadResult>;
}

export interface Tools {
  root: string;
  ghz: string;
  hey: string;
  authorization: string;
}

/** Calls `each` for every name, 8 at a time: a call that waits on a store or the audit trail's append does not hold up the others. */
async function eightAtATime(names: readonly string[], each: (name: string) => Promise<void>): Promise<void> {
  const queue = [...names];
  const worker = async () => {
    for (let name = queue.shift(); name; name = queue.shift()) await each(name);
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** Creates the secrets the reads and writes use. */
export async function seed(server: Server, authorization: string): Promise<void> {
  await eightAtATime([...NAMES, ...PUT_NAMES], async (name) => {
    await connectCall(server.base, "secrets.v1.SecretsService/CreateSecret", { name, value: valueOf(name) }, authorization);
  });
}

/** ResolveReferences answers 200 OK with the values inside (ghz sees only the status): check every template once. */
async function checkTemplates(server: Server, authorization: string): Promise<void> {
  for (const [i, names] of BATCHES.entries()) {
    const got = (await connectCall(server.base, "secrets.v1.SecretsService/ResolveReferences", { template: TEMPLATES[i] }, authorization)) as {
      resolved?: { headers?: Record<string, string>; args?: string[] };
      names?: string[];
    };
    const values = [...Object.values(got.resolved?.headers ?? {}).map((h) => h.replace(/^Bearer /, "")), ...(got.resolved?.args ?? [])];
    const right = values.filter((v, j) => v === valueOf(names[j]!)).length;
    if (right !== names.length || got.names?.length !== names.length) throw new Error(`ResolveReferences: ${right} of ${names.length} values right`);
  }
}

/** One pass over every seeded name, checking each value: fills the cache, and proves the reads are right. */
async function warm(server: Server, authorization: string): Promise<void> {
  await eightAtATime(NAMES, async (name) => {
    const got = (await connectCall(server.base, "secrets.v1.SecretsService/GetSecretValue", { name }, authorization)) as { value?: string };
    if (got.value !== valueOf(name)) throw new Error(`GetSecretValue ${name} returned a wrong value`);
  });
}

/** A batch answers per name in its body (ghz sees only the RPC status): check every batch once. */
async function checkBatches(server: Server, authorization: string): Promise<void> {
  for (const names of BATCHES) {
    const got = (await connectCall(server.base, "secrets.v1.SecretsService/BatchGetSecretValues", { names }, authorization)) as {
      values?: { name: string; value: string }[];
      errors?: unknown[];
    };
    const right = (got.values ?? []).filter((v) => v.value === valueOf(v.name)).length;
    if (right !== names.length || (got.errors ?? []).length > 0) throw new Error(`BatchGetSecretValues: ${right} of ${names.length} right, errors ${JSON.stringify(got.errors)}`);
  }
}

export function scenarios(tools: Tools, server: Server) {
  const auth = tools.authorization;
  const secretsProto = { proto: join(tools.root, "proto/secrets/v1/secrets.proto"), importPath: join(tools.root, "proto") };
  const healthProto = { proto: join(tools.root, "node_modules/grpc-health-check/proto/health/v1/health.proto"), importPath: tools.root };
  const grpc = (call: GrpcCall) => (opts: LoadOptions) => ghz(tools.ghz, server.target, call, opts);
  const http = (method: string, body: unknown, authorization?: string) => (opts: LoadOptions) =>
    hey(tools.hey, { url: `${server.base}/${method}`, body: JSON.stringify(body), ...(authorization ? { authorization } : {}) }, opts);
  const service = (method: string, data: unknown, templated = false) =>
    grpc({ method: `secrets.v1.SecretsService/${method}`, ...secretsProto, data, authorization: auth, templated });
  const make = (id: string, protocol: Protocol, title: string, load: Scenario["load"], prepare?: () => Promise<void>, read = true): Scenario =>
    ({ id, protocol, title, read, load, prepare });
  const warmed = () => warm(server, auth);
  const everyName = service("GetSecretValue", NAMES.map((name) => ({ name })));
  // A new prefix per run: ghz's request numbers start again at 0.
  const create: Scenario["load"] = (opts) => {
    const name = `bench_new_${randomBytes(4).toString("hex")}_{{.RequestNumber}}`;
    return service("CreateSecret", { name, value: valueOf(name) }, true)(opts);
  };
  return {
    floorGrpc: make("floor", "grpc", "floor: Health/Check", grpc({ method: "grpc.health.v1.Health/Check", ...healthProto, data: {} })),
    floorConnect: make("floor", "connect", "floor: Health/Check", http("grpc.health.v1.Health/Check", {})),
    hotGrpc: make("hot", "grpc", "GetSecretValue hot (100 names, round-robin)", everyName, warmed),
    hotConnect: make("hot", "connect", "GetSecretValue hot (one name: hey cannot vary the body)", http("secrets.v1.SecretsService/GetSecretValue", { name: NAMES[0] }, auth), warmed),
    coldGrpc: make("cold", "grpc", "GetSecretValue cold (CACHE_TTL_SECONDS=0, 100 names)", everyName, warmed),
    batchGrpc: make("batch", "grpc", "BatchGetSecretValues, 20 names (5 batches, round-robin)", service("BatchGetSecretValues", BATCHES.map((names) => ({ names }))), () => checkBatches(server, auth)),
    resolveGrpc: make("resolve", "grpc", "ResolveReferences, 20 names (5 templates, round-robin)", service("ResolveReferences", TEMPLATES.map((t) => ({ template: t }))), async () => {
      await warmed();
      await checkTemplates(server, auth);
    }),
    createGrpc: make("create", "grpc", "CreateSecret (a new name per request)", create, undefined, false),
    putGrpc: make("put", "grpc", `PutSecretValue onto ${PUT_NAMES.length} names (no etag)`, service("PutSecretValue", PUT_NAMES.map((name) => ({ name, value: valueOf(name) }))), undefined, false),
  };
}
