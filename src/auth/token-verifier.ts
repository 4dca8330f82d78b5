import { createPublicKey, createSecretKey } from "node:crypto";
import { createRemoteJWKSet, decodeJwt, jwtVerify, errors as joseErrors, type JWTPayload, type JWTVerifyOptions } from "jose";
import { DEFAULT_CLOCK_SKEW_SECONDS, DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, type AuthConfig } from "../config/config.js";
import { isValidPrincipalId } from "../core/principal.js";
import { UnauthenticatedError } from "../errors.js";
import { isValidGlob } from "../ports/name-globs.js";
import { DEFAULT_SCOPES, isScope, type Identity, type Scope } from "./identity.js";
import { TASK_TOKEN_ISSUER, type TaskTokenKeys } from "./task-tokens.js";
import { withVerifiedTokenCache, type VerifiedTokenCacheOptions, type VerifyAt } from "./verified-token-cache.js";

export interface TokenVerifier {
  /**
   * Verifies a bearer token and returns who is calling; UnauthenticatedError otherwise. A task
   * token is verified here like any other; whether it was revoked is the caller's check.
   */
  verify(token: string): Promise<Identity>;
}

interface TimePolicy {
  /** 0 = unlimited. */
  readonly maxLifetimeSeconds: number;
  readonly skewSeconds: number;
}

export interface TokenVerifierOptions {
  /** The clock, epoch milliseconds (tests move it). Default Date.now. */
  readonly now?: () => number;
  /** Reuse of successful verifications by token hash until exp (default on); false turns it off. */
  readonly cache?: VerifiedTokenCacheOptions | false;
  /** The service's own task token keys; without them a task token is refused. */
  readonly taskKeys?: TaskTokenKeys;
}

/**
 * JWT verification with jose: a required algorithm allow-list, `exp` required (unless dev mode),
 * exp/nbf/iat checked within the clock skew, a bounded lifetime, iss/aud checked when configured,
 * and `sub`/`developer_id` that must be plain principal ids. Every refusal is one line that never
 * quotes the token. A token that passed is remembered by its hash until its exp (at most 5 min,
 * see verified-token-cache.ts), so an agent repeating its token pays for one signature check.
 */
export async function createTokenVerifier(config: AuthConfig, options: TokenVerifierOptions = {}): Promise<TokenVerifier> {
  // Safe defaults for callers that leave the time policy out (loadConfig always sets it).
  const policy: TimePolicy = {
    maxLifetimeSeconds: config.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
    skewSeconds: config.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
  };
  const joseOptions: JWTVerifyOptions = {
    algorithms: [...config.algorithms],
    clockTolerance: policy.skewSeconds,
    requiredClaims: config.requireExpiry === false ? ["sub"] : ["sub", "exp"],
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
  };
  const check = await signatureCheck(config);
  const now = options.now ?? Date.now;
  const taskKeys = options.taskKeys;

  // One instant for every time check of this token.
  const verifyAt: VerifyAt = async (token, nowMs) => {
    let payload: JWTPayload;
    // The issuer picks the keys: a task token is accepted only with the service's own keys, and
    // an external key can never sign one (AUTH_ISSUER/AUTH_AUDIENCE apply to external tokens only).
    const task = issuerOf(token) === TASK_TOKEN_ISSUER;
    try {
      if (task && !taskKeys) throw new UnauthenticatedError("task tokens are not accepted here");
      payload = task
        ? await taskKeys!.verify(token, { currentDate: new Date(nowMs), clockTolerance: policy.skewSeconds })
        : await check(token, { ...joseOptions, currentDate: new Date(nowMs) });
    } catch (err) {
      throw err instanceof UnauthenticatedError ? err : new UnauthenticatedError(describe(err));
    }
    checkTimes(payload, Math.floor(nowMs / 1000), policy);
    return { identity: identityFrom(payload, task), exp: payload.exp, nbf: payload.nbf };
  };
  const verify =
    options.cache === false
      ? async (token: string, nowMs: number) => (await verifyAt(token, nowMs)).identity
      : withVerifiedTokenCache(verifyAt, { ...options.cache, skewSeconds: policy.skewSeconds, now });
  return { verify: (token) => verify(token, now()) };
}

type SignatureCheck = (token: string, options: JWTVerifyOptions) => Promise<JWTPayload>;

async function signatureCheck(config: AuthConfig): Promise<SignatureCheck> {
  if (config.hmacSecret) {
    // A KeyObject: jose imports it once, not on every verification.
    const secret = createSecretKey(Buffer.from(config.hmacSecret, "utf8"));
    return async (token, options) => (await jwtVerify(token, secret, options)).payload;
  }
  if (config.jwksUrl) {
    // jose refetches for an unknown kid at most once per cooldown, so a flood of made-up kids
    // costs one fetch per cooldown, not one per token.
    const jwks = createRemoteJWKSet(new URL(config.jwksUrl), {
      cooldownDuration: (config.jwksCooldownSeconds ?? 30) * 1000,
      cacheMaxAge: (config.jwksCacheMaxAgeSeconds ?? 600) * 1000,
      timeoutDuration: 5_000,
    });
    return async (token, options) => (await jwtVerify(token, jwks, options)).payload;
  }
  if (config.publicKeyPem) {
    const key = createPublicKey(config.publicKeyPem);
    return async (token, options) => (await jwtVerify(token, key, options)).payload;
  }
  throw new Error("no token verification key configured");
}

/**
 * What jose leaves out: an `iat` in the future (jose checks it only with maxTokenAge, which bounds
 * the age, not the lifetime), and the lifetime `exp - iat`, or `exp - now` when there is no iat
 * (then our clock is involved, so the skew is allowed). jose has already checked that exp, nbf
 * and iat, when present, are numbers.
 */
function checkTimes(payload: JWTPayload, nowSeconds: number, policy: TimePolicy): void {
  const { exp, iat } = payload;
  if (iat !== undefined && iat > nowSeconds + policy.skewSeconds) throw new UnauthenticatedError('token claim "iat" lies in the future');
  if (exp === undefined || policy.maxLifetimeSeconds === 0) return;
  const lifetime = iat !== undefined ? exp - iat : exp - nowSeconds - policy.skewSeconds;
  if (lifetime > policy.maxLifetimeSeconds) throw new UnauthenticatedError("token lifetime exceeds the allowed maximum");
}

/** The unverified `iss`, only to choose the keys; undefined for anything that is not a JWT. */
function issuerOf(token: string): unknown {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}

/**
 * The tenant is developer_id when present, else sub; both must be plain principal ids, never a
 * silent fallback. `scope` absent: read, access, write and proxy; present: the scopes it names that this
 * service knows (others are ignored), so "" grants nothing. `secrets` absent: every name; else
 * a list of name globs, [] = none. A claim of the wrong shape refuses the token.
 */
export function identityFrom(payload: JWTPayload, task = false): Identity {
  const subject = payload.sub;
  if (!isValidPrincipalId(subject)) throw new UnauthenticatedError('token claim "sub" is not a valid principal');
  let tenant = subject;
  if (Object.hasOwn(payload, "developer_id")) {
    const developer = payload.developer_id;
    if (!isValidPrincipalId(developer)) throw new UnauthenticatedError('token claim "developer_id" is not a valid principal');
    tenant = developer;
  }
  return {
    subject,
    tenant,
    scopes: scopesFrom(payload),
    ...secretsFrom(payload),
    ...(payload.exp !== undefined ? { exp: payload.exp } : {}),
    ...(task ? { task: taskFrom(payload) } : {}),
  };
}

function scopesFrom(payload: JWTPayload): ReadonlySet<Scope> {
  if (!Object.hasOwn(payload, "scope")) return new Set(DEFAULT_SCOPES);
  const claim = payload.scope;
  if (typeof claim !== "string" || claim.length > 4096) throw new UnauthenticatedError('token claim "scope" must be a space-separated string');
  return new Set(claim.split(/\s+/).filter(isScope));
}

const MAX_GLOBS = 1_000;

function secretsFrom(payload: JWTPayload): { secrets?: readonly string[] } {
  if (!Object.hasOwn(payload, "secrets")) return {};
  const claim = payload.secrets;
  if (!Array.isArray(claim) || claim.length > MAX_GLOBS || !claim.every(isValidGlob)) {
    throw new UnauthenticatedError('token claim "secrets" must be a list of name globs ([A-Za-z0-9_*?], 1-128 characters)');
  }
  return { secrets: Object.freeze([...claim]) };
}

function taskFrom(payload: JWTPayload): { id: string; label: string } {
  const { jti, label } = payload;
  if (typeof jti !== "string" || !/^tt_[A-Za-z0-9_-]{1,64}$/.test(jti)) throw new UnauthenticatedError('task token claim "jti" is not valid');
  if (label !== undefined && typeof label !== "string") throw new UnauthenticatedError('task token claim "label" is not valid');
  return { id: jti, label: label ?? "" };
}

/** One line, from jose's error class and the claim name (a fixed set), never from the token. */
function describe(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "token expired";
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = err.claim;
    if (err.reason === "missing") return `token has no "${claim}" claim`;
    if (err.reason === "invalid") return `token claim "${claim}" must be a number`;
    if (claim === "nbf") return 'token is not valid yet (claim "nbf")';
    return `token claim "${claim}" is not accepted`;
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return "token algorithm is not allowed";
  return "invalid token";
}
