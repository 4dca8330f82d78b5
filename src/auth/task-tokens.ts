// The service's own signing keys for task tokens: Ed25519 (EdDSA), loaded once from a private JWKS.
// Every key of the set verifies; one signs. Rotation: add a key and make it active (tokens of the
// old key stay valid until they expire, at most an hour), then drop the old key.
// Error messages name a key by its position or kid, never by any of its material.
import { randomBytes } from "node:crypto";
import { SignJWT, errors as joseErrors, exportJWK, generateKeyPair, importJWK, jwtVerify, type CryptoKey, type JWTPayload } from "jose";
import { clip } from "../errors.js";

export const TASK_TOKEN_ISSUER = "secrets-service/task";

export interface TaskTokenClaims {
  readonly tokenId: string;
  readonly subject: string;
  readonly tenant: string;
  readonly scopes: readonly string[];
  readonly secrets: readonly string[];
  readonly label: string;
  readonly issuedAt: Date;
  readonly expireTime: Date;
}

export interface TaskTokenKeys {
  /** EdDSA, header {alg: "EdDSA", kid, typ: "JWT"}; claims iss, sub, developer_id, scope (space-separated), secrets, jti, iat, exp, label (when non-empty). */
  sign(claims: TaskTokenClaims): Promise<string>;
  /** jose jwtVerify against the service's public keys only, algorithms ["EdDSA"], issuer TASK_TOKEN_ISSUER; returns the payload. Throws jose's errors (the caller maps them). */
  verify(token: string, options: { currentDate: Date; clockTolerance: number }): Promise<JWTPayload>;
  /** The public keys as a JWKS ({keys: [{kty, crv, x, kid, alg: "EdDSA", use: "sig"}]}): published at /.well-known/jwks.json. */
  publicJwks(): { keys: Record<string, unknown>[] };
}

/** What a kid may be: it travels in every token header and in error messages. */
const KID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
const KID_RULE = "a kid is 1-128 characters of A-Z a-z 0-9 _ . : -";

interface LoadedKey {
  readonly kid: string;
  readonly x: string;
  readonly publicKey: CryptoKey;
  readonly privateKey?: CryptoKey;
}

/**
 * From a private JWKS text ({"keys": [{kty: "OKP", crv: "Ed25519", d, x, kid}, ...]}): every key
 * verifies; the one named activeKid (default: the last) signs. A key other than the active one may
 * leave out `d` (a retired key kept only to verify). Throws Error with a one-line reason.
 */
export async function loadTaskTokenKeys(jwksText: string, activeKid?: string): Promise<TaskTokenKeys> {
  const entries = parseKeySet(jwksText);
  const kids = new Set<string>();
  const keys: LoadedKey[] = [];
  for (const [index, entry] of entries.entries()) {
    const key = await loadKey(entry, index);
    if (kids.has(key.kid)) throw keysError(`duplicate kid "${key.kid}"`);
    kids.add(key.kid);
    keys.push(key);
  }
  const active = activeKid === undefined ? keys.at(-1) : keys.find((k) => k.kid === activeKid);
  if (!active) throw keysError(`no key has the active kid "${clip(String(activeKid), 64)}"`);
  if (!active.privateKey) throw keysError(`the active key "${active.kid}" has no private part "d"`);
  return taskTokenKeys(keys, active.kid, active.privateKey);
}

/** A new private Ed25519 JWK with a random kid (for the key CLI and dev mode). */
export async function generateTaskTokenKey(kid?: string): Promise<Record<string, unknown>> {
  const chosen = kid ?? `tt-${new Date().toISOString().slice(0, 10)}-${randomBytes(6).toString("base64url")}`;
  if (!KID_PATTERN.test(chosen)) throw new Error(KID_RULE);
  const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const jwk = await exportJWK(privateKey);
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d, kid: chosen };
}

function taskTokenKeys(keys: readonly LoadedKey[], activeKid: string, signingKey: CryptoKey): TaskTokenKeys {
  const byKid = new Map(keys.map((k) => [k.kid, k.publicKey]));
  const publicKeyFor = (header: { kid?: string }): CryptoKey => {
    const key = header.kid === undefined ? undefined : byKid.get(header.kid);
    if (!key) throw new joseErrors.JWKSNoMatchingKey();
    return key;
  };
  return {
    sign(claims) {
      return new SignJWT({
        developer_id: claims.tenant,
        scope: claims.scopes.join(" "),
        secrets: [...claims.secrets],
        ...(claims.label !== "" ? { label: claims.label } : {}),
      })
        .setProtectedHeader({ alg: "EdDSA", kid: activeKid, typ: "JWT" })
        .setIssuer(TASK_TOKEN_ISSUER)
        .setSubject(claims.subject)
        .setJti(claims.tokenId)
        .setIssuedAt(Math.floor(claims.issuedAt.getTime() / 1000))
        // Rounded down: the token never outlives its record's expireTime.
        .setExpirationTime(Math.floor(claims.expireTime.getTime() / 1000))
        .sign(signingKey);
    },
    async verify(token, options) {
      const { payload } = await jwtVerify(token, publicKeyFor, {
        algorithms: ["EdDSA"],
        issuer: TASK_TOKEN_ISSUER,
        typ: "JWT",
        requiredClaims: ["sub", "jti", "iat", "exp"],
        currentDate: options.currentDate,
        clockTolerance: options.clockTolerance,
      });
      return payload;
    },
    publicJwks() {
      return { keys: keys.map((k) => ({ kty: "OKP", crv: "Ed25519", x: k.x, kid: k.kid, alg: "EdDSA", use: "sig" })) };
    },
  };
}

function parseKeySet(jwksText: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(jwksText);
  } catch {
    // JSON.parse's message quotes the text around the fault, which may be key material.
    throw keysError("not valid JSON");
  }
  const keys = isObject(parsed) ? parsed.keys : undefined;
  if (!Array.isArray(keys)) throw keysError('expected a JWKS: {"keys": [...]}');
  if (keys.length === 0) throw keysError("no keys");
  return keys;
}

async function loadKey(entry: unknown, index: number): Promise<LoadedKey> {
  const at = `key ${index + 1}`;
  if (!isObject(entry) || entry.kty !== "OKP" || entry.crv !== "Ed25519") throw keysError(`${at} is not an Ed25519 key (kty "OKP", crv "Ed25519")`);
  if (entry.alg !== undefined && entry.alg !== "EdDSA") throw keysError(`${at} has an alg other than "EdDSA"`);
  if (entry.use !== undefined && entry.use !== "sig") throw keysError(`${at} has a use other than "sig"`);
  if (entry.kid === undefined) throw keysError(`${at} has no kid`);
  if (typeof entry.kid !== "string" || !KID_PATTERN.test(entry.kid)) throw keysError(`${at}: ${KID_RULE}`);
  const kid = entry.kid;
  if (typeof entry.x !== "string") throw keysError(`key "${kid}" has no public part "x"`);
  if (entry.d !== undefined && typeof entry.d !== "string") throw keysError(`key "${kid}" has a private part "d" that is not a string`);
  // Only the fields that make the key: "ext" or "key_ops" in the file must not change what it may do.
  const x = entry.x;
  const d = entry.d;
  try {
    const publicKey = await importJWK({ kty: "OKP", crv: "Ed25519", x }, "EdDSA");
    // WebCrypto refuses a private key whose x does not belong to its d.
    const privateKey = d === undefined ? undefined : await importJWK({ kty: "OKP", crv: "Ed25519", x, d }, "EdDSA");
    return { kid, x, publicKey, ...(privateKey ? { privateKey } : {}) };
  } catch {
    throw keysError(`key "${kid}" is not a valid Ed25519 key`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function keysError(reason: string): Error {
  return new Error(`task token keys: ${reason}`);
}
