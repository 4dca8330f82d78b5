import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { Identity } from "./identity.js";

/** What a successful verification learned: who calls, and the token's time claims (seconds). */
export interface VerifiedToken {
  readonly identity: Identity;
  readonly exp?: number;
  readonly nbf?: number;
}

/** Verifies a token as of `nowMs` (epoch milliseconds); throws UnauthenticatedError on refusal. */
export type VerifyAt = (token: string, nowMs: number) => Promise<VerifiedToken>;

export interface VerifiedTokenCacheOptions {
  /** Most tokens remembered (LRU beyond). Default 10,000. */
  readonly maxEntries?: number;
  /**
   * Longest a verification is reused, in seconds, even when the token lives longer: a change of
   * keys (JWKS rotation) or of the auth policy takes effect within it. Tokens without `exp`
   * (dev mode) are reused for this long. Default 300.
   */
  readonly maxAgeSeconds?: number;
}

export const DEFAULT_VERIFIED_TOKEN_CACHE = { maxEntries: 10_000, maxAgeSeconds: 300 } as const;

interface Entry extends VerifiedToken {
  /** Past this instant (epoch ms) the entry is not used, whatever the token's exp says. */
  readonly usableUntilMs: number;
}

/**
 * Remembers successful verifications by the SHA-256 of the token (never the token itself), so a
 * caller that repeats its token skips the signature check. A hit is used only while the token's
 * exp and nbf still pass at the current instant with the verifier's skew; otherwise the full
 * verification runs again, so an expired token is refused with exactly the message a miss gives.
 *
 * Refusals are not remembered: each is one verification, as without a cache; remembering them
 * would let a flood of junk tokens evict the valid ones, and would pin a refusal that a later
 * instant or a refreshed JWKS would lift (nbf reached, new key published).
 */
export function withVerifiedTokenCache(
  verifyAt: VerifyAt,
  options: VerifiedTokenCacheOptions & { readonly skewSeconds: number; readonly now: () => number },
): (token: string, nowMs: number) => Promise<Identity> {
  const maxAgeMs = (options.maxAgeSeconds ?? DEFAULT_VERIFIED_TOKEN_CACHE.maxAgeSeconds) * 1000;
  const skewMs = options.skewSeconds * 1000;
  // lru-cache's TTL reclaims memory; the entry's own bounds (checked below) decide what is used.
  const entries = new LRUCache<string, Entry>({
    max: options.maxEntries ?? DEFAULT_VERIFIED_TOKEN_CACHE.maxEntries,
    perf: { now: options.now },
  });

  return async (token, nowMs) => {
    const key = createHash("sha256").update(token).digest("base64url");
    const hit = entries.get(key);
    if (hit && usable(hit, nowMs, options.skewSeconds)) return hit.identity;
    if (hit) entries.delete(key);
    const verified = await verifyAt(token, nowMs);
    // Usable while jose would still accept exp (exp > now - skew), and never beyond the cap.
    const usableUntilMs = Math.min(nowMs + maxAgeMs, verified.exp === undefined ? Infinity : verified.exp * 1000 + skewMs);
    // One frozen identity is shared by every call that presents this token.
    const identity = Object.freeze({ ...verified.identity });
    const ttl = Math.floor(usableUntilMs - nowMs);
    if (ttl >= 1) entries.set(key, { identity, exp: verified.exp, nbf: verified.nbf, usableUntilMs }, { ttl });
    return identity;
  };
}

/** At least as strict as jose's own checks (exp <= now - skew is expired; nbf > now + skew is early). */
function usable(entry: Entry, nowMs: number, skewSeconds: number): boolean {
  const nowSeconds = Math.floor(nowMs / 1000);
  if (nowMs >= entry.usableUntilMs) return false;
  if (entry.exp !== undefined && entry.exp <= nowSeconds - skewSeconds) return false;
  if (entry.nbf !== undefined && entry.nbf > nowSeconds + skewSeconds) return false;
  return true;
}
