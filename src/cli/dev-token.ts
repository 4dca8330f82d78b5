// `npm run --silent dev-token -- --developer NAME [--subject S] [--ttl 12h]`: prints a token that the
// dev server (`npm run dev`) accepts, signed with the same secret: AUTH_JWT_SECRET when set, else the
// one dev mode keeps in the cache folder. --scope and --secrets narrow it. AUTH_ISSUER and AUTH_AUDIENCE are honoured as dev mode does.
import { parseArgs } from "node:util";
import { devJwtSecretFile } from "../auth/dev-token.js";
import { devTokenFor } from "./dev-token-options.js";
import { UsageError } from "./secretsctl/exit-codes.js";

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
  return devTokenFor(values, process.env);
}

main(process.argv.slice(2)).then(
  (out) => process.stdout.write(`${out}\n`),
  (err: unknown) => {
    process.stderr.write(`dev-token: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof UsageError) process.stderr.write(usage());
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
