import { clip, InvalidArgumentError } from "../errors.js";
import type { FieldsPatch } from "../ports/secret-store.js";
import { normalizeAllowedHosts } from "../ports/host-patterns.js";
import { resolveExpiry, resolveMaxVersions, validateDescription, validateMetadata, validateValue } from "./validation.js";

const UPDATABLE = new Set(["description", "metadata", "value", "expire_time", "ttl", "max_versions", "allowed_hosts"]);

export interface UpdateFields {
  readonly updateMask: readonly string[];
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly value?: string;
  readonly expireTime?: Date;
  readonly ttlMs?: number;
  /** 0 or absent: unchanged unless named in the mask (then the default). */
  readonly maxVersions?: number;
  /** Replaces the list when non-empty or named in the mask (empty + named = cleared). */
  readonly allowedHosts?: readonly string[];
}

export interface UpdatePlan {
  readonly patch: FieldsPatch;
  readonly value?: string;
}

/**
 * Resolves UpdateSecret's field mask. With an empty mask, the fields that carry
 * something are updated; to clear description, metadata or expire_time, name it
 * in the mask and leave it empty.
 */
export function planUpdate(input: UpdateFields, now: Date = new Date()): UpdatePlan {
  for (const path of input.updateMask) {
    if (!UPDATABLE.has(path)) {
      throw new InvalidArgumentError("update_mask", `unknown path "${clip(path)}"; allowed: ${[...UPDATABLE].join(", ")}`);
    }
  }
  const mask = new Set(input.updateMask);
  const explicit = mask.size > 0;
  const named = (path: string, carries: boolean) => (explicit ? mask.has(path) : carries);
  const setDescription = named("description", input.description !== "");
  const setMetadata = named("metadata", Object.keys(input.metadata).length > 0);
  const setValue = named("value", input.value !== undefined);
  const setExpiry = named("expire_time", input.expireTime !== undefined) || named("ttl", input.ttlMs !== undefined);
  const maxVersions = input.maxVersions ?? 0;
  const setMaxVersions = named("max_versions", maxVersions !== 0);
  const allowedHosts = input.allowedHosts ?? [];
  const setAllowedHosts = named("allowed_hosts", allowedHosts.length > 0);
  if (!setDescription && !setMetadata && !setValue && !setExpiry && !setMaxVersions && !setAllowedHosts) {
    throw new InvalidArgumentError("update_mask", "nothing to update: set a field, or name it in update_mask");
  }
  const patch: { -readonly [K in keyof FieldsPatch]: FieldsPatch[K] } = {};
  if (setDescription) {
    validateDescription(input.description);
    patch.description = input.description;
  }
  if (setMetadata) {
    validateMetadata(input.metadata);
    patch.metadata = input.metadata;
  }
  if (setExpiry) patch.expireTime = resolveExpiry(input, now) ?? null;
  if (setMaxVersions) patch.maxVersions = resolveMaxVersions(maxVersions);
  if (setAllowedHosts) {
    const hosts = normalizeAllowedHosts("allowed_hosts", allowedHosts);
    patch.allowedHosts = hosts.length > 0 ? hosts : null;
  }
  if (!setValue) return { patch };
  if (input.value === undefined) throw new InvalidArgumentError("value", "is named in update_mask but not set");
  validateValue(input.value);
  return { patch, value: input.value };
}
