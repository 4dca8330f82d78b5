import type { KeyContext } from "./key-provider.js";

// Both encodings keep the form contexts without an incarnation always had, so
// data keys wrapped before incarnations were bound (sealed format 1) still unwrap.

/** The KMS encryption context: string pairs, the shape AWS KMS takes. */
export function contextPairs(context: KeyContext): Record<string, string> {
  const pairs: Record<string, string> = { developer: context.developer, secret: context.secret, version: String(context.version) };
  if (context.incarnation !== undefined) pairs.incarnation = context.incarnation;
  return pairs;
}

/**
 * An unambiguous byte encoding of the context, for use as AES-GCM associated data:
 * a JSON array (strings escaped, so no field runs into the next), of 4 elements
 * without an incarnation and 5 with one.
 */
export function encodeContext(context: KeyContext): Buffer {
  const fields: (string | number)[] = ["secrets.v1", context.developer, context.secret, context.version];
  if (context.incarnation !== undefined) fields.push(context.incarnation);
  return Buffer.from(JSON.stringify(fields));
}
