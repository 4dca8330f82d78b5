/**
 * The in-process layer of the value cache: a bounded map (by bytes) whose entries lapse after a time.
 * It holds plaintext (the process must decrypt anyway); the core validates every entry before use.
 */
export interface LocalCache<V> {
  get(key: string): V | undefined;
  /** `bytes`: what the entry costs against the bound. */
  set(key: string, value: V, bytes: number, ttlMs: number): void;
  clear(): void;
}
