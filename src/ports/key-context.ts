import type { KeyContext } from "./key-provider.js";

/** The KMS encryption context: string pairs, the shape AWS KMS takes. */
export function contextPairs(context: KeyContext): Record<string, string> {
  return { developer: context.developer, secret: context.secret, version: String(context.version) };
}

/** An unambiguous byte encoding of the context, for use as AES-GCM associated data. */
export function encodeContext(context: KeyContext): Buffer {
  return Buffer.from(JSON.stringify(["secrets.v1", context.developer, context.secret, context.version]));
}
