import { Code, ConnectError } from "@connectrpc/connect";

// secretsctl's exit codes (documented in the README and `secretsctl --help`).
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  notFound: 3,
  permission: 4,
  unavailable: 5,
} as const;

/** A mistake in how the command was called (exit 2). */
export class UsageError extends Error {}

/** A failure secretsctl found itself (exit 1 unless given), e.g. an import with failed entries. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
  ) {
    super(message);
  }
}

/** The canonical gRPC name of a code: NOT_FOUND, PERMISSION_DENIED, ... */
export function codeName(code: Code | 0): string {
  if (code === 0) return "OK";
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof CliError) return err.exitCode;
  if (!(err instanceof ConnectError)) return EXIT.error;
  switch (err.code) {
    case Code.NotFound:
      return EXIT.notFound;
    case Code.PermissionDenied:
    case Code.Unauthenticated:
      return EXIT.permission;
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return EXIT.unavailable;
    case Code.InvalidArgument:
    default:
      return EXIT.error;
  }
}

/** One line for stderr: what went wrong, with the gRPC code when the server said it. */
export function errorLine(err: unknown): string {
  const tls = tlsFailure(err);
  if (tls) return `secretsctl: TLS: ${oneLine(tls)} (is --tls-ca the CA that signed the server's certificate, and --addr its name?)`;
  if (err instanceof ConnectError) return `secretsctl: ${codeName(err.code)}: ${oneLine(err.rawMessage)}`;
  if (err instanceof UsageError) return `secretsctl: usage: ${oneLine(err.message)} (see --help)`;
  return `secretsctl: ${oneLine(err instanceof Error ? err.message : String(err))}`;
}

/**
 * The message of a TLS handshake failure (connect reports it as INTERNAL, though no server spoke),
 * from the error's cause: Node's TLS errors carry codes such as UNABLE_TO_VERIFY_LEAF_SIGNATURE.
 */
function tlsFailure(err: unknown): string | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const code = typeof cause?.code === "string" ? cause.code : "";
  const tlsCode = /CERT|SELF_SIGNED|VERIFY|ALTNAME|TLS|SSL/.test(code);
  return tlsCode && typeof cause?.message === "string" ? cause.message.replace(/; if the root CA is installed locally.*$/, "") : undefined;
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, " ").trim();
}
