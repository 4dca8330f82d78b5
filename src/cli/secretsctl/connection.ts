import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { createSecretsClient, type SecretsClient } from "../../client/secrets-client.js";
import { parseDurationSeconds } from "../../config/config.js";
import { UsageError } from "./exit-codes.js";

// Where secretsctl connects, and with which token: flags, else the environment, else the profile
// file's chosen profile, else a dev server on 127.0.0.1:50051. A bare host:port on loopback speaks
// plaintext HTTP/2 (as `npm run dev` does) unless TLS is asked for; any other host speaks TLS.

export interface ConnectionFlags {
  addr?: string;
  token?: string;
  tokenFile?: string;
  plaintext?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
  profile?: string;
  config?: string;
  timeout?: string;
}

export interface Connection {
  readonly address: string;
  readonly token?: string;
  readonly plaintext: boolean;
  readonly tls?: { ca?: string; cert?: string; key?: string; serverName?: string };
  readonly timeoutMs: number;
  /** Where the settings came from, for `secretsctl config`: "flags", "env", "profile NAME", "default". */
  readonly source: string;
}

export const DEFAULT_ADDRESS = "127.0.0.1:50051";

const profileSchema = z
  .object({
    address: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    token_file: z.string().min(1).optional(),
    plaintext: z.boolean().optional(),
    tls_ca: z.string().min(1).optional(),
    tls_cert: z.string().min(1).optional(),
    tls_key: z.string().min(1).optional(),
    tls_server_name: z.string().min(1).optional(),
    timeout: z.string().min(1).optional(),
  })
  .strict();

const configFileSchema = z
  .object({
    current: z.string().min(1).optional(),
    profiles: z.record(z.string(), profileSchema).default({}),
  })
  .strict();

type Profile = z.infer<typeof profileSchema>;

export function configFilePath(env: NodeJS.ProcessEnv): string {
  if (env.SECRETSCTL_CONFIG) return env.SECRETSCTL_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "secretsctl", "config.yaml");
}

/** The chosen profile of the profile file, or undefined when there is no file (an error when one was asked for). */
function loadProfile(flags: ConnectionFlags, env: NodeJS.ProcessEnv): { name: string; profile: Profile } | undefined {
  const file = flags.config ?? configFilePath(env);
  const wanted = flags.profile ?? env.SECRETS_PROFILE;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && !flags.config && !wanted) return undefined;
    throw new UsageError(`cannot read the profile file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let parsed;
  try {
    parsed = configFileSchema.safeParse(parseYaml(text) ?? {});
  } catch (err) {
    throw new UsageError(`${file} is not YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`${file}: ${issue.path.join(".") || "(top)"}: ${issue.message}`);
  }
  const name = wanted ?? parsed.data.current;
  if (name === undefined) return undefined;
  const profile = parsed.data.profiles[name];
  if (!profile) throw new UsageError(`${file} has no profile "${name}" (it has: ${Object.keys(parsed.data.profiles).join(", ") || "none"})`);
  return { name, profile };
}

export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv): Connection {
  const loaded = loadProfile(flags, env);
  const p = loaded?.profile ?? {};
  const pick = <T>(flag: T | undefined, envValue: T | undefined, profileValue: T | undefined): T | undefined =>
    flag ?? envValue ?? profileValue;
  const address = pick(flags.addr, env.SECRETS_ADDR || undefined, p.address) ?? DEFAULT_ADDRESS;
  const source = flags.addr ? "flags" : env.SECRETS_ADDR ? "env" : loaded && p.address ? `profile ${loaded.name}` : "default";

  // --token, --token-file, SECRETS_TOKEN, SECRETS_TOKEN_FILE, the profile's token, its token_file.
  const tokenSources: Array<[string | undefined, string | undefined]> = [
    [flags.token, flags.tokenFile],
    [env.SECRETS_TOKEN || undefined, env.SECRETS_TOKEN_FILE || undefined],
    [p.token, p.token_file],
  ];
  let token: string | undefined;
  for (const [text, file] of tokenSources) {
    if (text !== undefined) token = text;
    else if (file !== undefined) token = readSmallFile("token file", expandHome(file, env)).trim();
    else continue;
    break;
  }

  const tlsCa = pick(flags.tlsCa, env.SECRETS_TLS_CA || undefined, p.tls_ca);
  const tlsCert = pick(flags.tlsCert, env.SECRETS_TLS_CERT || undefined, p.tls_cert);
  const tlsKey = pick(flags.tlsKey, env.SECRETS_TLS_KEY || undefined, p.tls_key);
  const serverName = pick(flags.tlsServerName, env.SECRETS_TLS_SERVER_NAME || undefined, p.tls_server_name);
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new UsageError("--tls-cert and --tls-key go together");
  const anyTls = tlsCa !== undefined || tlsCert !== undefined || serverName !== undefined;

  const envPlaintext = env.SECRETS_PLAINTEXT === undefined || env.SECRETS_PLAINTEXT === "" ? undefined : /^(1|true|yes)$/i.test(env.SECRETS_PLAINTEXT);
  let plaintext = pick(flags.plaintext, envPlaintext, p.plaintext);
  if (plaintext && anyTls) throw new UsageError("--plaintext contradicts the TLS options");
  if (/^https:\/\//i.test(address)) plaintext = false;
  else if (/^http:\/\//i.test(address)) plaintext = true;
  plaintext ??= !anyTls && isLoopback(address);

  const timeoutText = pick(flags.timeout, env.SECRETS_TIMEOUT || undefined, p.timeout) ?? "10s";
  const timeoutSeconds = parseDurationSeconds(timeoutText);
  if (timeoutSeconds === undefined || timeoutSeconds === 0) throw new UsageError(`--timeout: "${timeoutText}" is not a duration like 10s or 2m`);

  return {
    address,
    ...(token ? { token } : {}),
    plaintext,
    ...(anyTls || tlsCert
      ? {
          tls: {
            ...(tlsCa ? { ca: readSmallFile("--tls-ca", expandHome(tlsCa, env)) } : {}),
            ...(tlsCert ? { cert: readSmallFile("--tls-cert", expandHome(tlsCert, env)) } : {}),
            ...(tlsKey ? { key: readSmallFile("--tls-key", expandHome(tlsKey, env)) } : {}),
            ...(serverName ? { serverName } : {}),
          },
        }
      : {}),
    timeoutMs: timeoutSeconds * 1000,
    source,
  };
}

export function connect(connection: Connection, userAgent: string): SecretsClient {
  try {
    return createSecretsClient({
      address: connection.address,
      ...(connection.token ? { token: connection.token } : {}),
      plaintext: connection.plaintext,
      ...(connection.tls ? { tls: connection.tls } : connection.plaintext ? {} : { tls: true }),
      timeoutMs: connection.timeoutMs,
      userAgent,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function isLoopback(address: string): boolean {
  const host = address.replace(/:\d+$/, "").replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  return path.startsWith("~/") ? join(env.HOME || homedir(), path.slice(2)) : path;
}

function readSmallFile(what: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
