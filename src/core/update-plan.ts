import { InvalidArgumentError } from "../errors.js";
import type { SecretPatch } from "../ports/secret-store.js";
import { validateDescription, validateMetadata, validateValue } from "./validation.js";

const UPDATABLE = new Set(["description", "metadata", "value"]);

export interface UpdatePlan {
  readonly patch: Pick<SecretPatch, "description" | "metadata">;
  readonly value?: string;
}

/**
 * Resolves UpdateSecret's field mask. With an empty mask, the fields that carry
 * something are updated; to clear description or metadata, name it in the mask.
 */
export function planUpdate(input: {
  updateMask: readonly string[];
  description: string;
  metadata: Readonly<Record<string, string>>;
  value?: string;
}): UpdatePlan {
  for (const path of input.updateMask) {
    if (!UPDATABLE.has(path)) throw new InvalidArgumentError("update_mask", `unknown path "${path.slice(0, 64)}"; allowed: description, metadata, value`);
  }
  const mask = new Set(input.updateMask);
  const explicit = mask.size > 0;
  const setDescription = explicit ? mask.has("description") : input.description !== "";
  const setMetadata = explicit ? mask.has("metadata") : Object.keys(input.metadata).length > 0;
  const setValue = explicit ? mask.has("value") : input.value !== undefined;
  if (!setDescription && !setMetadata && !setValue) {
    throw new InvalidArgumentError("update_mask", "nothing to update: set description, metadata or value, or name them in update_mask");
  }
  const patch: { description?: string; metadata?: Readonly<Record<string, string>> } = {};
  if (setDescription) {
    validateDescription(input.description);
    patch.description = input.description;
  }
  if (setMetadata) {
    validateMetadata(input.metadata);
    patch.metadata = input.metadata;
  }
  if (!setValue) return { patch };
  if (input.value === undefined) throw new InvalidArgumentError("value", "is named in update_mask but not set");
  validateValue(input.value);
  return { patch, value: input.value };
}
