/**
 * A view of `target` whose listed async methods report each call's operation name and duration
 * in seconds to `observe`, whether the call resolves or rejects. Every other property passes
 * through. Methods run on `target` itself, so private state (`#fields` included) keeps working.
 */
export function instrumentMethods<T extends object>(target: T, methods: readonly (keyof T)[], observe: (operation: string, seconds: number) => void): T {
  const timed = new Map<PropertyKey, unknown>();
  for (const name of methods) {
    const method: unknown = target[name];
    if (typeof method !== "function") throw new TypeError(`${String(name)} is not a method`);
    const operation = String(name);
    timed.set(name, async (...args: unknown[]) => {
      const started = performance.now();
      try {
        return await method.apply(target, args);
      } finally {
        observe(operation, (performance.now() - started) / 1000);
      }
    });
  }
  return new Proxy(target, {
    get(object, key) {
      if (timed.has(key)) return timed.get(key);
      const value: unknown = Reflect.get(object, key);
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
}
