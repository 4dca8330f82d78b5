import { InvalidArgumentError } from "../errors.js";
import type { CacheKey, CacheLookup } from "../ports/secret-cache.js";

// The cache adapters check every caller value that becomes part of a key, whatever the core has
// checked: Redis keys put tenant and name inside a Cluster hash tag ("{tenant|name}"), so a brace
// would move the key to another slot, and a "|" in a name would make two secrets share keys.
// The memory and Redis caches run the same checks, so they refuse the same inputs.

const BRACE_OR_CONTROL = /[{}\p{Cc}]/u;

function checkKeyPart(argument: string, value: unknown, alsoRefused?: string): asserts value is string {
  if (typeof value !== "string") throw new InvalidArgumentError(argument, "must be a string");
  if (value === "") throw new InvalidArgumentError(argument, "must not be empty");
  if (BRACE_OR_CONTROL.test(value) || (alsoRefused !== undefined && value.includes(alsoRefused))) {
    throw new InvalidArgumentError(argument, `must not contain braces${alsoRefused ? ` or "${alsoRefused}"` : ""} or control characters`);
  }
}

export function checkCacheKey(key: CacheKey): void {
  if (typeof key !== "object" || key === null) throw new InvalidArgumentError("key", "must be an object");
  checkKeyPart("key.tenant", key.tenant);
  checkKeyPart("key.name", key.name, "|");
}

export function checkSlot(slot: unknown): asserts slot is string {
  checkKeyPart("slot", slot);
}

export function checkLookups(lookups: readonly CacheLookup[]): void {
  if (!Array.isArray(lookups)) throw new InvalidArgumentError("lookups", "must be a list");
  for (const lookup of lookups) {
    if (typeof lookup !== "object" || lookup === null) throw new InvalidArgumentError("lookups", "must be a list of lookups");
    checkCacheKey(lookup.key);
    if (lookup.slot !== undefined) checkSlot(lookup.slot);
  }
}

export function checkEntry(entry: unknown): asserts entry is Uint8Array {
  if (!(entry instanceof Uint8Array)) throw new InvalidArgumentError("entry", "must be bytes");
}

export function checkGeneration(generation: unknown): asserts generation is string {
  if (typeof generation !== "string" || generation === "") throw new InvalidArgumentError("generation", "must be a non-empty string");
}

export function checkTtl(ttlMs: unknown): asserts ttlMs is number {
  if (!Number.isSafeInteger(ttlMs) || (ttlMs as number) < 1) throw new InvalidArgumentError("ttlMs", "must be a positive whole number of milliseconds");
}
