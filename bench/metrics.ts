// The server's Prometheus counters around a run: KMS calls, MongoDB operations, cache lookups, RPCs,
// and the audit trail's counters, histograms and queue depth gauge.

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

/** What the audit trail did during a run (bench/README.md, "Audit trail cost"). */
export interface AuditRun {
  /** The server exposes secrets_audit_events_total{result="written"}: false on an AUDIT=off server, which never writes one. */
  writtenSeries: boolean;
  /** Gains of secrets_audit_events_total by result. */
  eventsWritten: number;
  eventsFailed: number;
  /** Gains of secrets_audit_inserts_total (appends), by result. */
  insertsOk: number;
  insertsFailed: number;
  /** Gains of the secrets_audit_batch_size histogram's sum (events) and count (appends). */
  batchEvents: number;
  batchCount: number;
  /** Gains of the secrets_audit_insert_seconds histogram's sum and count. */
  insertSeconds: number;
  insertCount: number;
  /** secrets_audit_queue_depth, read every few hundred ms while the load ran. */
  queueDepth: GaugeSamples;
}

export interface GaugeSamples {
  samples: number;
  max: number | null;
  mean: number | null;
}

const AUDIT = {
  events: "secrets_audit_events_total",
  inserts: "secrets_audit_inserts_total",
  batch: "secrets_audit_batch_size",
  insert: "secrets_audit_insert_seconds",
  depth: "secrets_audit_queue_depth",
} as const;

/** The audit series' gains between two scrapes, with the queue depth samples taken meanwhile; undefined when either scrape is missing. */
export function auditDelta(before: Scrape | undefined, after: Scrape | undefined, queueDepth: GaugeSamples): AuditRun | undefined {
  if (!before || !after) return undefined;
  const gain = (name: string, labels = "") => (after.get(name)?.get(labels) ?? 0) - (before.get(name)?.get(labels) ?? 0);
  return {
    writtenSeries: after.get(AUDIT.events)?.has("written") ?? false,
    eventsWritten: gain(AUDIT.events, "written"),
    eventsFailed: gain(AUDIT.events, "failed"),
    insertsOk: gain(AUDIT.inserts, "ok"),
    insertsFailed: gain(AUDIT.inserts, "failed"),
    batchEvents: gain(`${AUDIT.batch}_sum`),
    batchCount: gain(`${AUDIT.batch}_count`),
    insertSeconds: gain(`${AUDIT.insert}_sum`),
    insertCount: gain(`${AUDIT.insert}_count`),
    queueDepth,
  };
}

/**
 * Reads the audit queue depth gauge every `everyMs` until stopped. A sample counts only when RPCs were
 * answered since the one before (secrets_rpc_requests_total grew), so the load generator's start and
 * the idle server after the load do not dilute the mean with zeros.
 */
export function sampleAuditQueue(port: number, everyMs = 250): { stop(): Promise<GaugeSamples> } {
  const values: number[] = [];
  let stopped = false;
  let wake: (() => void) | undefined;
  const answered = (s: Scrape | undefined) => (s ? total(Object.fromEntries(s.get(COUNTERS.rpc) ?? [])) : undefined);
  const loop = (async () => {
    let before = answered(await scrape(port));
    while (!stopped) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, everyMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (stopped) break;
      const now = await scrape(port);
      const after = answered(now);
      const value = now?.get(AUDIT.depth)?.get("");
      if (value !== undefined && Number.isFinite(value) && before !== undefined && after !== undefined && after > before) values.push(value);
      before = after ?? before;
    }
  })();
  let result: Promise<GaugeSamples> | undefined;
  return {
    /** Idempotent: every call answers the same samples. */
    stop() {
      stopped = true;
      wake?.();
      result ??= loop.then(() => ({
        samples: values.length,
        max: values.length ? Math.max(...values) : null,
        mean: values.length ? values.reduce((a, b) => a + b, 0) / values.length : null,
      }));
      return result;
    },
  };
}
