/** Wraps every method of `target` so a test can tell how often each was called (and reset the counts). */
export function counting<T extends object>(target: T): { proxy: T; calls: Map<string, number>; count(...methods: string[]): number } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(target, {
    get(t, property, receiver) {
      const value: unknown = Reflect.get(t, property, receiver);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        calls.set(property, (calls.get(property) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
  const count = (...methods: string[]) => (methods.length ? methods : [...calls.keys()]).reduce((n, m) => n + (calls.get(m) ?? 0), 0);
  return { proxy, calls, count };
}
