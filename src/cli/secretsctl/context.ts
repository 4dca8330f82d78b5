import confirm from "@inquirer/confirm";
import { InvalidArgumentError, type Command } from "commander";
import type { SecretsClient } from "../../client/secrets-client.js";
import { connect, resolveConnection, type ConnectionFlags } from "./connection.js";
import { UsageError } from "./exit-codes.js";
import { parseFormat, type Format, type Io } from "./output.js";

// What every command gets: the streams, the output format, a client made on first use (so commands
// that need no server, like dev-token, need no address), and a confirmation prompt.

export interface Context {
  readonly io: Io;
  readonly format: Format;
  client(): SecretsClient;
  /** True when the user agreed, or --yes was given; false on a terminal's "no". Without a terminal: needs --yes. */
  confirm(question: string): Promise<boolean>;
}

export const VERSION = "0.1.0";

export function makeContext(io: Io, command: Command): Context {
  const flags = command.optsWithGlobals<ConnectionFlags & { output: string; yes?: boolean }>();
  const format = parseFormat(flags.output);
  let client: SecretsClient | undefined;
  return {
    io,
    format,
    client() {
      client ??= connect(resolveConnection(flags, io.env), `secretsctl/${VERSION}`);
      return client;
    },
    async confirm(question) {
      if (flags.yes) return true;
      if (!io.stdin.isTTY) throw new UsageError(`${question} Pass --yes to confirm without a terminal`);
      return confirm({ message: question, default: false }, { input: io.stdin, output: io.stderr });
    },
  };
}

// Option parsers for commander (a bad value is a usage error, exit 2).

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function keyValue(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError(`"${value}" is not KEY=VALUE`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 2 ** 31 - 1) throw new InvalidArgumentError(`"${value}" is not a whole number from 1`);
  return Number(value);
}

export function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 2 ** 31 - 1) throw new InvalidArgumentError(`"${value}" is not a whole number`);
  return Number(value);
}

export function versionNumber(value: string): bigint {
  if (!/^[1-9]\d{0,17}$/.test(value)) throw new UsageError(`version "${value}" is not a version number (1, 2, ...)`);
  return BigInt(value);
}
