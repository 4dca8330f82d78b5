import { createHash, timingSafeEqual } from "node:crypto";
import type { KeyProvider } from "../ports/key-provider.js";
import type { SecretRecord, SecretStore } from "../ports/secret-store.js";
import { openValue, versionBinding } from "./envelope.js";
import type { Principal } from "./principal.js";

// Stored first responses of request_id calls: plain records as JSON, never a
// value or sealed bytes.

const DATE_FIELDS = new Set(["createTime", "updateTime", "expireTime", "deleteTime", "purgeTime", "destroyTime"]);

export function encodeRecords(value: unknown): string {
  return JSON.stringify(value, (key, v: unknown) => (key === "current" || key === "sealed" ? undefined : v));
}

export function decodeRecords<T>(json: string): T {
  return JSON.parse(json, (key, v: unknown) => (DATE_FIELDS.has(key) && typeof v === "string" ? new Date(v) : v)) as T;
}

/**
 * Whether `value` is what version `version` of the secret holds, compared in
 * constant time. A destroyed version can no longer be checked: it counts as the same.
 */
export async function sameStoredValue(
  deps: { store: SecretStore; keys: KeyProvider },
  p: Principal,
  secret: SecretRecord,
  version: number,
  value: string,
): Promise<boolean> {
  const stored = await deps.store.findVersion(secret.id, version);
  if (!stored?.sealed) return true;
  const opened = await openValue(deps.keys, versionBinding(p.tenant, secret, version), stored.sealed);
  return timingSafeEqual(sha256(opened), sha256(value));
}

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest();
