import type { SecretStore } from "../../src/ports/secret-store.js";

export class SimulatedCrash extends Error {}

/**
 * Wraps a store and "kills the process" after a number of store calls: that call
 * and every later one throw, as if the writer died at that point. The wrapped
 * store keeps what was written before, like a database after a crash.
 */
export function crashingStore(inner: SecretStore, callsBeforeCrash: number): { store: SecretStore; crashed: () => boolean } {
  let calls = 0;
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const member = Reflect.get(target, prop, receiver) as unknown;
      if (typeof member !== "function" || prop === "close") return member;
      return (...args: unknown[]) => {
        if (calls++ >= callsBeforeCrash) return Promise.reject(new SimulatedCrash(`crashed before ${String(prop)}`));
        return (member as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, crashed: () => calls > callsBeforeCrash };
}
