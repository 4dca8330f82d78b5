import { createPublicKey } from "node:crypto";
import { createRemoteJWKSet, jwtVerify, errors as joseErrors, type JWTPayload, type JWTVerifyOptions } from "jose";
import type { AuthConfig } from "../config/config.js";
import type { Principal } from "../core/principal.js";
import { UnauthenticatedError } from "../errors.js";

export interface TokenVerifier {
  /** Verifies a bearer token and returns who is calling; UnauthenticatedError otherwise. */
  verify(token: string): Promise<Principal>;
}

/** JWT verification with jose: a required algorithm allow-list, exp honoured, iss/aud checked when configured. */
export async function createTokenVerifier(config: AuthConfig): Promise<TokenVerifier> {
  const options = {
    algorithms: [...config.algorithms],
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
  };
  const check = await signatureCheck(config, options);
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        payload = await check(token);
      } catch (err) {
        throw new UnauthenticatedError(describe(err));
      }
      return principalFrom(payload);
    },
  };
}

type SignatureCheck = (token: string) => Promise<JWTPayload>;

async function signatureCheck(config: AuthConfig, options: JWTVerifyOptions): Promise<SignatureCheck> {
  if (config.hmacSecret) {
    const secret = new TextEncoder().encode(config.hmacSecret);
    return async (token) => (await jwtVerify(token, secret, options)).payload;
  }
  if (config.jwksUrl) {
    const jwks = createRemoteJWKSet(new URL(config.jwksUrl));
    return async (token) => (await jwtVerify(token, jwks, options)).payload;
  }
  if (config.publicKeyPem) {
    const key = createPublicKey(config.publicKeyPem);
    return async (token) => (await jwtVerify(token, key, options)).payload;
  }
  throw new Error("no token verification key configured");
}

export function principalFrom(payload: JWTPayload): Principal {
  const subject = payload.sub;
  const developer = typeof payload.developer_id === "string" && payload.developer_id !== "" ? payload.developer_id : subject;
  if (!subject || !developer) throw new UnauthenticatedError("token has no subject");
  return { tenant: developer, subject };
}

function describe(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "token expired";
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `token claim "${err.claim}" is not accepted`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return "token algorithm is not allowed";
  return "invalid token";
}
