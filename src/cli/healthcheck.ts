// `node dist/src/cli/healthcheck.js [SERVICE] [--timeout MS] [--address HOST:PORT] [--cert FILE --key FILE]`:
// the container's probe. Calls grpc.health.v1.Health/Check for SERVICE ("" = the server as a whole;
// "secrets.v1.SecretsService" = the API) on the server of this container, prints one line and exits 0
// when the answer is SERVING, 1 otherwise (NOT_SERVING, unknown service, no answer within the
// deadline, refused connection, bad arguments: Docker's HEALTHCHECK reads 1 as unhealthy).
//
// Where: --address, else 127.0.0.1 on $PORT (default 50051), or $HOST when the server listens on one
// specific address. How: h2c (gRPC over cleartext HTTP/2), or TLS when TLS_CERT_FILE and TLS_KEY_FILE
// are set, as the server does. Over TLS the probe trusts exactly the certificate chain in
// TLS_CERT_FILE (a partial chain: no root needed) and skips the host name check, since it dials its
// own server on loopback: a server presenting anything else fails. With TLS_CLIENT_CA_FILE (mutual
// TLS) it presents --cert/--key, else the server's own pair, which passes only if that CA signed it
// and its key usage allows client authentication.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/health/v1/health_pb.js";

const DEFAULT_PORT = 50051;
const DEFAULT_TIMEOUT_MS = 3_000;
const ANY_ADDRESS = new Set(["", "0.0.0.0", "::", "[::]", "localhost"]);

const usage = `usage: healthcheck [SERVICE] [--timeout MS] [--address HOST:PORT] [--cert FILE --key FILE]`;

class UsageError extends Error {}

interface Probe {
  readonly service: string;
  readonly timeoutMs: number;
  readonly address: string;
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
}

function probeFrom(argv: string[], env: NodeJS.ProcessEnv): Probe {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        timeout: { type: "string" },
        address: { type: "string" },
        cert: { type: "string" },
        key: { type: "string" },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError("at most one SERVICE");
  const timeoutMs = values.timeout === undefined ? DEFAULT_TIMEOUT_MS : Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError("--timeout: a positive number of milliseconds");
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError("--cert and --key go together");

  const port = env.PORT === undefined || env.PORT === "" ? DEFAULT_PORT : Number(env.PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new UsageError("PORT: not a port number");
  const address = values.address ?? `${dialHost(env.HOST?.trim() ?? "")}:${port}`;

  const tls = env.TLS_CERT_FILE && env.TLS_KEY_FILE ? tlsFrom(env, values.cert, values.key) : undefined;
  return { service: positionals[0] ?? "", timeoutMs, address, ...(tls ? { tls } : {}) };
}

/** Loopback when the server listens on every address (or by name), else the one address it listens on. */
function dialHost(host: string): string {
  if (ANY_ADDRESS.has(host)) return "127.0.0.1";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

function tlsFrom(env: NodeJS.ProcessEnv, certFile: string | undefined, keyFile: string | undefined): NonNullable<Probe["tls"]> {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new UsageError(`${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  };
  const ca = read("TLS_CERT_FILE", env.TLS_CERT_FILE!);
  if (!env.TLS_CLIENT_CA_FILE && certFile === undefined) return { ca };
  return {
    ca,
    cert: certFile ? read("--cert", certFile) : read("TLS_CERT_FILE", env.TLS_CERT_FILE!),
    key: keyFile ? read("--key", keyFile) : read("TLS_KEY_FILE", env.TLS_KEY_FILE!),
  };
}

async function check(probe: Probe): Promise<ServingStatus> {
  const transport = createGrpcTransport({
    baseUrl: `${probe.tls ? "https" : "http"}://${probe.address}`,
    ...(probe.tls
      ? {
          nodeOptions: {
            ca: probe.tls.ca,
            allowPartialTrustChain: true,
            checkServerIdentity: () => undefined,
            ...(probe.tls.cert && probe.tls.key ? { cert: probe.tls.cert, key: probe.tls.key } : {}),
          },
        }
      : {}),
  });
  const response = await createClient(Health, transport).check({ service: probe.service }, { timeoutMs: probe.timeoutMs });
  return response.status;
}

async function main(argv: string[]): Promise<{ ok: boolean; line: string }> {
  let probe: Probe;
  try {
    probe = probeFrom(argv, process.env);
  } catch (err) {
    return { ok: false, line: `${err instanceof Error ? err.message : String(err)} (${usage})` };
  }
  const what = `${probe.address}${probe.tls ? " (tls)" : ""} service "${probe.service}"`;
  try {
    const status = await check(probe);
    const name = ServingStatus[status] ?? String(status);
    return { ok: status === ServingStatus.SERVING, line: `${what}: ${name}` };
  } catch (err) {
    const reason = err instanceof ConnectError ? `${Code[err.code]}: ${err.rawMessage}` : err instanceof Error ? err.message : String(err);
    return { ok: false, line: `${what}: ${reason.split("\n", 1)[0]}` };
  }
}

main(process.argv.slice(2)).then(
  ({ ok, line }) => {
    (ok ? process.stdout : process.stderr).write(`healthcheck: ${line}\n`);
    // The HTTP/2 session would keep the process alive a little longer; the answer is known.
    process.exit(ok ? 0 : 1);
  },
  () => process.exit(1),
);
