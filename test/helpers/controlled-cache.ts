import { randomUUID } from "node:crypto";
import { UnavailableError } from "../../src/errors.js";
import type { CacheConnectionEvent, CacheKey, CacheLookup, CacheRead, SecretCache } from "../../src/ports/secret-cache.js";

/**
 * A shared cache layer a test controls: it can be made unreachable, restarted (empty, or from a
 * snapshot of its own data, with a new instance id), and its stored bytes inspected. Several "replicas"
 * share one server through `connect()`, each with its own connection that can be cut.
 */
export class ControlledCacheServer {
  private values = new Map<string, Uint8Array | string>();
  instance = randomUUID();
  readonly connections = new Set<ControlledConnection>();

  connect(): ControlledConnection {
    const c = new ControlledConnection(this);
    this.connections.add(c);
    return c;
  }

  get(key: string) {
    return this.values.get(key);
  }
  set(key: string, value: Uint8Array | string) {
    this.values.set(key, value);
  }
  /** Every stored value, as bytes. */
  dump(): Buffer[] {
    return [...this.values.values()].map((v) => Buffer.from(v));
  }
  snapshot(): Map<string, Uint8Array | string> {
    return new Map(this.values);
  }
  /** A restart: every connection is lost, then comes back to a new instance holding `data`. */
  restart(data: Map<string, Uint8Array | string> = new Map()): void {
    for (const c of this.connections) c.emit({ state: "lost" });
    this.values = new Map(data);
    this.instance = randomUUID();
    for (const c of this.connections) if (!c.cut) c.emit({ state: "ready", instance: this.instance });
  }
}

export class ControlledConnection implements SecretCache {
  cut = false;
  private readonly listeners = new Set<(event: CacheConnectionEvent) => void>();

  constructor(private readonly server: ControlledCacheServer) {}

  /** Cuts this connection (commands fail) or brings it back. */
  setCut(cut: boolean): void {
    this.cut = cut;
    this.emit(cut ? { state: "lost" } : { state: "ready", instance: this.server.instance });
  }

  emit(event: CacheConnectionEvent): void {
    for (const l of this.listeners) l(event);
  }

  private check(): void {
    if (this.cut) throw new UnavailableError("cache unavailable (cut by the test)");
  }

  async read(lookups: readonly CacheLookup[]): Promise<CacheRead[]> {
    this.check();
    return lookups.map(({ key, slot }) => {
      const generation = this.server.get(genKey(key));
      const entry = slot === undefined ? undefined : this.server.get(entryKey(key, slot));
      return { generation: typeof generation === "string" ? generation : "", ...(entry instanceof Uint8Array ? { entry: Uint8Array.from(entry) } : {}) };
    });
  }

  async write(key: CacheKey, slot: string, entry: Uint8Array): Promise<void> {
    this.check();
    this.server.set(entryKey(key, slot), Uint8Array.from(entry));
  }

  async setGeneration(key: CacheKey, generation: string): Promise<void> {
    this.check();
    this.server.set(genKey(key), generation);
  }

  watch(listener: (event: CacheConnectionEvent) => void): () => void {
    this.listeners.add(listener);
    if (!this.cut) queueMicrotask(() => listener({ state: "ready", instance: this.server.instance }));
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}

const genKey = (k: CacheKey) => `${k.tenant}|${k.name}|g`;
const entryKey = (k: CacheKey, slot: string) => `${k.tenant}|${k.name}|e|${slot}`;
