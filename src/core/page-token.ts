import { createHash } from "node:crypto";
import { InvalidArgumentError } from "../errors.js";

// Page tokens are opaque cursors: the last name returned plus a digest of the
// query (tenant included). A token from another query or tenant no longer
// matches its digest and is refused. The cursor holds only the caller's own
// name, so nothing leaks if a token is inspected.

interface Cursor {
  /** Last item of the previous page (exclusive lower bound of the next). */
  after: string;
  /** Digest of the query the token belongs to. */
  q: string;
}

export function queryDigest(parts: readonly unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url").slice(0, 22);
}

export function encodePageToken(after: string, digest: string): string {
  const cursor: Cursor = { after, q: digest };
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

/** Returns the cursor position, or undefined for an empty token. */
export function decodePageToken(token: string, digest: string, field = "page_token"): string | undefined {
  if (token === "") return undefined;
  let cursor: Partial<Cursor>;
  try {
    cursor = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Partial<Cursor>;
  } catch {
    throw new InvalidArgumentError(field, "is not a valid page token");
  }
  if (typeof cursor !== "object" || cursor === null || typeof cursor.after !== "string" || typeof cursor.q !== "string") {
    throw new InvalidArgumentError(field, "is not a valid page token");
  }
  if (cursor.q !== digest) throw new InvalidArgumentError(field, "belongs to a different query");
  return cursor.after;
}

export function pageSize(requested: number, defaults: { default: number; max: number }, field = "page_size"): number {
  if (!Number.isInteger(requested) || requested < 0) throw new InvalidArgumentError(field, "must not be negative");
  if (requested === 0) return defaults.default;
  return Math.min(requested, defaults.max);
}
