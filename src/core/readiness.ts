import type { KeyProvider } from "../ports/key-provider.js";
import type { SecretStore } from "../ports/secret-store.js";

// Readiness: whether this replica can do its work, told to the load balancer by health status of
// the API (grpc.health.v1, service secrets.v1.SecretsService). Every interval it reads one record
// from the store and asks KMS for a data key (under a context of its own: the key is zeroed at once,
// never used); a probe that fails or takes longer than the timeout makes the replica not ready
// until a later round passes. Liveness (service "") is not this: a replica whose database is down
// is alive, and restarting it would not bring the database back.

export type Dependency = "store" | "kms";

export interface ReadinessDeps {
  readonly store: Pick<SecretStore, "findSecret">;
  readonly keys: Pick<KeyProvider, "generateDataKey">;
  /** Called after every round: ready, or which dependencies failed (and the first error of each). */
  report(ready: boolean, failing: ReadonlyArray<{ dependency: Dependency; error: unknown }>): void;
}

export interface ReadinessOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface Readiness {
  /** One round now (the timer's rounds go on); resolves to whether every probe passed. */
  check(): Promise<boolean>;
  stop(): Promise<void>;
}

/** The tenant and name the store probe reads: no principal can have this id (it holds a slash). */
const PROBE_TENANT = "secrets-service/readiness";
const PROBE_CONTEXT = { developer: "secrets-service", secret: "readiness/probe", version: 0 } as const;

export function startReadiness(deps: ReadinessDeps, options: ReadinessOptions): Readiness {
  let stopped = false;
  let running: Promise<boolean> | undefined;

  const probe = async (dependency: Dependency, work: () => Promise<unknown>) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${dependency} did not answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    });
    try {
      await Promise.race([work(), timeout]);
      return undefined;
    } catch (error) {
      return { dependency, error };
    } finally {
      clearTimeout(timer);
    }
  };

  const round = async (): Promise<boolean> => {
    const results = await Promise.all([
      probe("store", () => deps.store.findSecret(PROBE_TENANT, "probe")),
      probe("kms", async () => (await deps.keys.generateDataKey(PROBE_CONTEXT)).plaintext.fill(0)),
    ]);
    const failing = results.filter((r) => r !== undefined);
    if (!stopped) deps.report(failing.length === 0, failing);
    return failing.length === 0;
  };

  const check = () => {
    running ??= round().finally(() => (running = undefined));
    return running;
  };

  const timer = setInterval(() => void check(), options.intervalMs);
  timer.unref();
  return {
    check,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
