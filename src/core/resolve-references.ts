import type { JsonValue } from "@bufbuild/protobuf";
import { NotFoundError, ResourceExhaustedError, SecretsError } from "../errors.js";
import type { Principal } from "./principal.js";
import { referenceKey, resolveTemplate, scanTemplate, TEMPLATE_MAX_BYTES, type SecretReference } from "./references.js";
import type { BatchResult, SecretValue } from "./reads.js";

// ResolveReferences: a template's references replaced by values, server-side. Reads go through the
// service's own value reads (name globs, cache, last access), so a reference is exactly as readable
// as a GetSecretValue of it: current values in one batch, pinned versions one read each.

export interface ValueReads {
  getSecretValue(p: Principal, name: string, version: number): Promise<SecretValue>;
  batchGetSecretValues(p: Principal, names: readonly string[]): Promise<BatchResult>;
}

export interface Resolved {
  readonly resolved: JsonValue;
  /** Secrets whose values were put in, distinct and sorted. */
  readonly names: string[];
  /** With allowMissing: references left as they were ("name" or "name@3"), distinct and sorted. */
  readonly missing: string[];
}

export async function resolveReferences(reads: ValueReads, p: Principal, template: JsonValue, allowMissing: boolean): Promise<Resolved> {
  // Depth and names first: the walk is bounded, so serializing afterwards cannot recurse too deep.
  const { references } = scanTemplate(template);
  if (Buffer.byteLength(JSON.stringify(template)) > TEMPLATE_MAX_BYTES) {
    throw new ResourceExhaustedError(`template is larger than ${TEMPLATE_MAX_BYTES} bytes`);
  }
  const values = new Map<string, string>();
  const missing: string[] = [];
  const outcome = (ref: SecretReference, read: SecretValue | SecretsError) => {
    const key = referenceKey(ref);
    if (read instanceof NotFoundError) return missing.push(key);
    // A disabled or destroyed pin, or no enabled version: the template cannot mean what it says.
    if (read instanceof SecretsError) throw read;
    values.set(key, read.value);
  };

  const current = references.filter((r) => r.version === undefined);
  const pinned = references.filter((r) => r.version !== undefined);
  const [batch, pins] = await Promise.all([
    current.length ? reads.batchGetSecretValues(p, current.map((r) => r.name)) : undefined,
    Promise.all(pinned.map((r) => reads.getSecretValue(p, r.name, r.version!).catch((err: unknown) => failure(err)))),
  ]);
  if (batch) {
    const byName = new Map<string, SecretValue | SecretsError>(batch.values.map((v) => [v.name, v]));
    for (const e of batch.errors) byName.set(e.name, e.error);
    for (const ref of current) outcome(ref, byName.get(ref.name) ?? new NotFoundError(`secret "${ref.name}" not found`));
  }
  pinned.forEach((ref, i) => outcome(ref, pins[i]!));

  missing.sort();
  if (missing.length && !allowMissing) {
    throw new NotFoundError(`secrets not found: ${missing.join(", ")}`);
  }
  // FAILED_PRECONDITION wins over NOT_FOUND whatever the order they were met in: outcome() threw it.
  // Only the names whose values went in count as resolved (and are audited as disclosed).
  const used = new Set<string>();
  const resolved = resolveTemplate(template, values, used);
  return { resolved, names: [...used].sort(), missing };
}

/** A domain error is an outcome of the reference; anything else fails the call. */
function failure(err: unknown): SecretsError {
  if (err instanceof SecretsError) return err;
  throw err;
}
