// The server's Prometheus counters around a run: KMS calls, MongoDB operations, cache lookups, RPCs.

/** Counter name -> label text (e.g. `operation=findSecret`) -> value. */
export type Scrape = Map<string, Map<string, number>>;

/** The counters the report reads; each keyed by its labels' values joined with " ". */
const COUNTERS = {
  kms: "secrets_kms_requests_total",
  mongodb: "secrets_mongodb_operations_total",
  cache: "secrets_cache_requests_total",
  rpc: "secrets_rpc_requests_total",
} as const;

export type MetricsDelta = Record<keyof typeof COUNTERS, Record<string, number>>;

/** The counters at `/metrics`, or undefined when the endpoint does not answer (not there yet, or off). */
export async function scrape(port: number): Promise<Scrape | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(3_000) });
    if (!res.ok) return undefined;
    return parse(await res.text());
  } catch {
    return undefined;
  }
}

function parse(text: string): Scrape {
  const out: Scrape = new Map();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? "").matchAll(/\w+="((?:[^"\\]|\\.)*)"/g)].map((l) => l[1]).join(" ");
    const series = out.get(m[1]!) ?? new Map<string, number>();
    series.set(labels, Number(m[3]));
    out.set(m[1]!, series);
  }
  return out;
}

/** What each counter gained between two scrapes; undefined when either is missing. */
export function delta(before: Scrape | undefined, after: Scrape | undefined): MetricsDelta | undefined {
  if (!before || !after) return undefined;
  const gained = (name: string) => {
    const out: Record<string, number> = {};
    for (const [labels, value] of after.get(name) ?? []) {
      const d = value - (before.get(name)?.get(labels) ?? 0);
      if (d > 0) out[labels] = d;
    }
    return out;
  };
  return {
    kms: gained(COUNTERS.kms),
    mongodb: gained(COUNTERS.mongodb),
    cache: gained(COUNTERS.cache),
    rpc: gained(COUNTERS.rpc),
  };
}

export const total = (counts: Record<string, number>, skip: ReadonlySet<string> = new Set()) =>
  Object.entries(counts).reduce((sum, [k, v]) => (skip.has(k) ? sum : sum + v), 0);
