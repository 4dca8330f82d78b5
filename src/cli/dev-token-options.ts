import { devJwtSecretFile, findDevJwtSecret, mintToken } from "../auth/dev-token.js";
import { DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, parseDurationSeconds } from "../config/config.js";
import { isValidPrincipalId } from "../core/principal.js";
import { isValidGlob } from "../ports/name-globs.js";
import { isScope, SCOPES } from "../auth/identity.js";
import { UsageError } from "./secretsctl/exit-codes.js";

// A dev-mode token from command-line options, for `npm run dev-token` and `secretsctl dev-token`.

export interface DevTokenOptions {
  developer: string;
  subject?: string;
  ttl: string;
  scope?: string;
  secrets?: string;
}

export async function devTokenFor(values: DevTokenOptions, env: NodeJS.ProcessEnv): Promise<string> {
  const developer = values.developer;
  const subject = values.subject ?? `${developer}-user`;
  if (!isValidPrincipalId(developer)) throw new UsageError("--developer: 1-128 characters of A-Z a-z 0-9 _ . @ : | -");
  if (!isValidPrincipalId(subject)) throw new UsageError("--subject: 1-128 characters of A-Z a-z 0-9 _ . @ : | -");
  const ttlSeconds = parseDurationSeconds(values.ttl);
  if (ttlSeconds === undefined || ttlSeconds === 0) throw new UsageError(`--ttl: "${values.ttl}" is not a duration like 30m, 12h or 7d`);
  // The server refuses tokens that live longer than AUTH_MAX_TOKEN_LIFETIME (0 = unlimited).
  const maxLifetime = env.AUTH_MAX_TOKEN_LIFETIME ? parseDurationSeconds(env.AUTH_MAX_TOKEN_LIFETIME) : DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  if (maxLifetime && ttlSeconds > maxLifetime) {
    throw new UsageError(`--ttl: the server accepts tokens of at most ${maxLifetime} s (AUTH_MAX_TOKEN_LIFETIME); set it the same way for the server and here to allow longer ones`);
  }

  const globs = values.secrets === undefined ? undefined : values.secrets.split(",").map((g) => g.trim()).filter(Boolean);
  const badGlob = globs?.find((g) => !isValidGlob(g));
  if (badGlob !== undefined) throw new UsageError(`--secrets: "${badGlob}" is not a name glob (A-Z a-z 0-9 _ * ?, 1-128 characters)`);
  const badScope = values.scope?.split(/\s+/).find((s) => s && !isScope(s));
  if (badScope !== undefined) throw new UsageError(`--scope: "${badScope}" is not a scope (${SCOPES.join(", ")})`);

  const secret = findDevJwtSecret(env);
  if (!secret) {
    throw new Error(`no dev token secret yet: start \`npm run dev\` first (it creates ${devJwtSecretFile(env)}), or set AUTH_JWT_SECRET as the dev server has it`);
  }
  return mintToken(secret, {
    sub: subject,
    developer_id: developer,
    expiresIn: `${ttlSeconds}s`,
    ...(values.scope !== undefined ? { scope: values.scope } : {}),
    ...(globs ? { secrets: globs } : {}),
    ...(env.AUTH_ISSUER ? { issuer: env.AUTH_ISSUER } : {}),
    ...(env.AUTH_AUDIENCE ? { audience: env.AUTH_AUDIENCE } : {}),
  });
}
