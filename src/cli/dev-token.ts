// `npm run --silent dev-token -- --developer NAME [--subject S] [--ttl 12h]`: prints a token that the
// dev server (`npm run dev`) accepts, signed with the same secret: AUTH_JWT_SECRET when set, else the
// one dev mode keeps in the cache folder. --scope and --secrets narrow it. AUTH_ISSUER and AUTH_AUDIENCE are honoured as dev mode does.
import { parseArgs } from "node:util";
import { devJwtSecretFile, findDevJwtSecret, mintToken } from "../auth/dev-token.js";
import { DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, parseDurationSeconds } from "../config/config.js";
import { isValidPrincipalId } from "../core/principal.js";
import { isValidGlob } from "../ports/name-globs.js";
import { isScope, SCOPES } from "../auth/identity.js";

const usage = () => `usage: npm run --silent dev-token -- [--developer NAME] [--subject SUBJECT] [--ttl DURATION] [--scope "S1 S2"] [--secrets "G1,G2"]

Prints a token for the dev server (npm run dev), signed with AUTH_JWT_SECRET when it is set,
else with the secret dev mode keeps in ${devJwtSecretFile(process.env)}
(the cache folder is $SECRETS_SERVICE_CACHE, by default ~/.cache/secrets-service).

  --developer NAME   the developer (tenant) whose secrets the token reaches (default: dev)
  --subject SUBJECT  recorded as created_by/updated_by (default: NAME-user)
  --ttl DURATION     how long the token is valid, e.g. 30m, 12h (default: 12h; at most AUTH_MAX_TOKEN_LIFETIME, 24h)
  --scope "S1 S2"    space-separated scopes: secrets.read secrets.access secrets.write secrets.proxy
                     secrets.delegate secrets.admin (default: no scope claim = read, access, write and proxy)
  --secrets "G1,G2"  comma-separated name globs the token may touch, e.g. "stripe_*,openai_key" (default: all)
`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<string> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        developer: { type: "string", default: "dev" },
        subject: { type: "string" },
        ttl: { type: "string", default: "12h" },
        scope: { type: "string" },
        secrets: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return usage().trimEnd();
  const developer = values.developer;
  const subject = values.subject ?? `${developer}-user`;
  if (!isValidPrincipalId(developer)) throw new UsageError("--developer: 1-128 characters of A-Z a-z 0-9 _ . @ : | -");
  if (!isValidPrincipalId(subject)) throw new UsageError("--subject: 1-128 characters of A-Z a-z 0-9 _ . @ : | -");
  const ttlSeconds = parseDurationSeconds(values.ttl);
  if (ttlSeconds === undefined || ttlSeconds === 0) throw new UsageError(`--ttl: "${values.ttl}" is not a duration like 30m, 12h or 7d`);
  // The server refuses tokens that live longer than AUTH_MAX_TOKEN_LIFETIME (0 = unlimited).
  const maxLifetime = process.env.AUTH_MAX_TOKEN_LIFETIME ? parseDurationSeconds(process.env.AUTH_MAX_TOKEN_LIFETIME) : DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  if (maxLifetime && ttlSeconds > maxLifetime) {
    throw new UsageError(`--ttl: the server accepts tokens of at most ${maxLifetime} s (AUTH_MAX_TOKEN_LIFETIME); set it the same way for the server and here to allow longer ones`);
  }

  const globs = values.secrets === undefined ? undefined : values.secrets.split(",").map((g) => g.trim()).filter(Boolean);
  const badGlob = globs?.find((g) => !isValidGlob(g));
  if (badGlob !== undefined) throw new UsageError(`--secrets: "${badGlob}" is not a name glob (A-Z a-z 0-9 _ * ?, 1-128 characters)`);
  const badScope = values.scope?.split(/\s+/).find((s) => s && !isScope(s));
  if (badScope !== undefined) throw new UsageError(`--scope: "${badScope}" is not a scope (${SCOPES.join(", ")})`);

  const secret = findDevJwtSecret(process.env);
  if (!secret) {
    throw new Error(`no dev token secret yet: start \`npm run dev\` first (it creates ${devJwtSecretFile(process.env)}), or set AUTH_JWT_SECRET as the dev server has it`);
  }
  return mintToken(secret, {
    sub: subject,
    developer_id: developer,
    expiresIn: `${ttlSeconds}s`,
    ...(values.scope !== undefined ? { scope: values.scope } : {}),
    ...(globs ? { secrets: globs } : {}),
    ...(process.env.AUTH_ISSUER ? { issuer: process.env.AUTH_ISSUER } : {}),
    ...(process.env.AUTH_AUDIENCE ? { audience: process.env.AUTH_AUDIENCE } : {}),
  });
}

main(process.argv.slice(2)).then(
  (out) => process.stdout.write(`${out}\n`),
  (err: unknown) => {
    process.stderr.write(`dev-token: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof UsageError) process.stderr.write(usage());
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
