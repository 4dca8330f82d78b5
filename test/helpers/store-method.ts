import type { SecretStore } from "../../src/ports/secret-store.js";

/** The store with one method replaced: `replacement` gets the original (bound) and the call's arguments. */
export function withStoreMethod<K extends keyof SecretStore>(
  store: SecretStore,
  method: K,
  replacement: (original: SecretStore[K], ...args: Parameters<SecretStore[K]>) => ReturnType<SecretStore[K]>,
): SecretStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const member = Reflect.get(target, prop, receiver) as unknown;
      if (typeof member !== "function") return member;
      const bound = (member as (...a: unknown[]) => unknown).bind(target);
      if (prop !== method) return bound;
      return (...args: Parameters<SecretStore[K]>) => replacement(bound as SecretStore[K], ...args);
    },
  });
}
