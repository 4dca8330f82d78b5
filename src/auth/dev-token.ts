import { randomBytes } from "node:crypto";
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { SignJWT } from "jose";

export interface DevTokenClaims {
  sub: string;
  developer_id?: string;
  /** Space-separated scopes; absent = read, access, write and proxy. */
  scope?: string;
  /** Name globs; absent = every name. */
  secrets?: string[];
  issuer?: string;
  audience?: string;
  expiresIn?: string;
}

/** Mints an HS256 token for dev mode and tests. */
export async function mintToken(secret: string, claims: DevTokenClaims): Promise<string> {
  const extra = {
    ...(claims.developer_id ? { developer_id: claims.developer_id } : {}),
    ...(claims.scope !== undefined ? { scope: claims.scope } : {}),
    ...(claims.secrets ? { secrets: claims.secrets } : {}),
  };
  let jwt = new SignJWT(extra)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? "12h");
  if (claims.issuer) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt = jwt.setAudience(claims.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}

// Dev mode's token secret: AUTH_JWT_SECRET when set, else one random secret kept in the cache folder
// (the one scripts/node-env.sh uses), so tokens outlive a restart and `npm run dev-token` can mint more.

const MIN_SECRET_LENGTH = 32;

/** $SECRETS_SERVICE_CACHE, else ~/.cache/secrets-service (as in scripts/node-env.sh). */
export function devCacheDir(env: NodeJS.ProcessEnv): string {
  return env.SECRETS_SERVICE_CACHE || join(env.HOME || homedir(), ".cache", "secrets-service");
}

export function devJwtSecretFile(env: NodeJS.ProcessEnv): string {
  return join(devCacheDir(env), "dev", "jwt-secret");
}

/** The dev token secret if there is one (AUTH_JWT_SECRET, else the file); undefined when neither exists. */
export function findDevJwtSecret(env: NodeJS.ProcessEnv): string | undefined {
  if (env.AUTH_JWT_SECRET) return env.AUTH_JWT_SECRET;
  const file = devJwtSecretFile(env);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read the dev token secret ${file}: ${(err as Error).message}`);
  }
  const secret = text.trim();
  if (secret.length < MIN_SECRET_LENGTH) throw new Error(`the dev token secret ${file} is shorter than ${MIN_SECRET_LENGTH} characters; delete it to make a new one`);
  return secret;
}

/** The dev token secret, creating the file (mode 0600) the first time. Safe when two processes start together. */
export function ensureDevJwtSecret(env: NodeJS.ProcessEnv): string {
  const found = findDevJwtSecret(env);
  if (found) return found;
  const file = devJwtSecretFile(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // Written whole under a temporary name, then linked into place: a reader never sees a partial
  // secret, and when two processes race, the first link wins and both read its secret.
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(temp, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
  try {
    chmodSync(temp, 0o600); // whatever the umask
    linkSync(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    rmSync(temp, { force: true });
  }
  return findDevJwtSecret(env)!;
}
