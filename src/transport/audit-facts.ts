import { planRequest } from "../core/proxy-substitution.js";
import { clip } from "../errors.js";

// Which secrets (and versions) one call touched, read from its request and, when it succeeded,
// its response: the names and versions of its audit event. Only names and numbers are taken,
// never a value. Names are clipped, as any quoted input is.

export interface Touched {
  readonly names: string[];
  /** Parallel to names; 0 = no particular version. */
  readonly versions: number[];
  /** One audit event per name rather than one for the call (ResolveReferences: one per resolved name). */
  readonly perName?: boolean;
}

type Message = Record<string, unknown>;
type Facts = (req: Message, res: Message | undefined) => Touched;

/** A version as recorded: a safe non-negative integer, else 0 (a request for version 2^63-1 names no version that can exist). */
const num = (v: unknown): number => {
  const n = typeof v === "bigint" ? Number(v) : typeof v === "number" ? v : 0;
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
};
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const field = (m: unknown, key: string): unknown => (typeof m === "object" && m !== null ? (m as Message)[key] : undefined);
const one = (name: unknown, version: unknown = 0): Touched => (str(name) ? { names: [clip(str(name))], versions: [num(version)] } : { names: [], versions: [] });
const many = (names: readonly string[], versionOf: (name: string) => number): Touched => ({ names: names.map((n) => clip(n)), versions: names.map(versionOf) });
const none: Facts = () => ({ names: [], versions: [] });
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : []);

/** The version a value write created (0 when the call changed no value or failed). */
const newVersion: Facts = (req, res) => one(req.name, field(field(res, "version"), "version") ?? 0);

const FACTS: Readonly<Record<string, Facts>> = {
  CreateSecret: (req, res) => one(req.name, res ? 1 : 0),
  GetSecret: (req) => one(req.name),
  GetSecretValue: (req, res) => one(req.name, res ? res.version : req.version),
  UpdateSecret: (req, res) => one(req.name, req.value !== undefined && res ? field(res.secret, "latestVersion") : 0),
  PutSecretValue: newVersion,
  ListSecretVersions: (req) => one(req.name),
  DisableSecretVersion: (req) => one(req.name, req.version),
  EnableSecretVersion: (req) => one(req.name, req.version),
  DestroySecretVersion: (req) => one(req.name, req.version),
  DeleteSecret: (req) => one(req.name),
  RestoreSecret: (req) => one(req.name),
  ListSecrets: (_req, res) => {
    const listed = (Array.isArray(res?.secrets) ? res.secrets : []).map((s) => str(field(s, "name")));
    return many(listed, () => 0);
  },
  BatchGetSecretValues: (req, res) => {
    const requested = Array.isArray(req.names) ? (req.names as unknown[]).map(str) : [];
    const read = new Map((Array.isArray(res?.values) ? res.values : []).map((v) => [str(field(v, "name")), num(field(v, "version"))]));
    return many(requested, (n) => read.get(n) ?? 0);
  },
  // The globs the minted token may touch.
  CreateTaskToken: (req) => many(Array.isArray(req.secrets) ? (req.secrets as unknown[]).map(str) : [], () => 0),
  ListAuditEvents: (req) => one(req.name),
  // The names resolved (a failed call resolved none); never the template or a value.
  ResolveReferences: (_req, res) => ({ ...many(strings(res?.names), () => 0), perName: true }),
  // The names found in the text (those named, when the call failed); never the text.
  RedactText: (req, res) => many(strings(res ? res.matchedNames : req.names), () => 0),
  // The names watched (none: every secret of the tenant).
  WatchSecrets: (req) => many(strings(req.names), () => 0),
  // The secrets injected; for a refused call, those its request references (when it can be read).
  ProxyHttpRequest: (req, res) => many(res ? strings(res.names) : referencedBy(req), () => 0),
  RevokeTaskToken: none,
  RunMaintenance: none,
  RewrapKeys: none,
};

/** The distinct names a ProxyHttpRequest's request references, sorted; none when it is not a valid request. */
function referencedBy(req: Message): string[] {
  try {
    const headers = Array.isArray(req.headers) ? req.headers.map((h) => ({ name: str(field(h, "name")), value: str(field(h, "value")) })) : [];
    const body = req.body instanceof Uint8Array ? req.body : new Uint8Array();
    const plan = planRequest(new URL(str(req.url)), headers, body);
    return [...new Set(plan.references.map((r) => r.name))].sort();
  } catch {
    return [];
  }
}

export function touchedBy(method: string, req: unknown, res: unknown): Touched {
  const facts = FACTS[method] ?? none;
  return facts((req ?? {}) as Message, res as Message | undefined);
}
