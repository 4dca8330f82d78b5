import { Command, CommanderError, Option } from "commander";
import { adminCommands } from "./admin-commands.js";
import { agentCommands } from "./agent-commands.js";
import { DEFAULT_ADDRESS } from "./connection.js";
import { makeContext } from "./context.js";
import { EXIT, errorLine, exitCodeOf } from "./exit-codes.js";
import { FORMATS, type Io } from "./output.js";
import { secretCommands, type Register } from "./secrets-commands.js";
import { transferCommands } from "./transfer-commands.js";

// secretsctl: one command per RPC (and import/export), over the SDK's client. Connection options are
// global; each command prints a table (default), JSON or YAML.

const HELP_FOOTER = `
Connection (flags, else environment, else the profile file, else ${DEFAULT_ADDRESS}):
  SECRETS_ADDR, SECRETS_TOKEN, SECRETS_TOKEN_FILE, SECRETS_PLAINTEXT, SECRETS_TLS_CA,
  SECRETS_TLS_CERT, SECRETS_TLS_KEY, SECRETS_TLS_SERVER_NAME, SECRETS_TIMEOUT, SECRETS_PROFILE;
  profile file: $SECRETSCTL_CONFIG, else ~/.config/secretsctl/config.yaml.
  A loopback host:port speaks plaintext HTTP/2 (as npm run dev does); any other host, TLS.

Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 permission (PERMISSION_DENIED or
UNAUTHENTICATED), 5 unavailable (UNAVAILABLE or DEADLINE_EXCEEDED).`;

export function buildProgram(io: Io): Command {
  const program = new Command("secretsctl")
    .description("the secrets service's command line: secrets, versions, references, audit, task tokens")
    .addOption(new Option("-o, --output <format>", "table, json or yaml").choices(FORMATS).default("table"))
    .option("-a, --addr <host:port>", `the service's address (or http:// / https:// URL; default ${DEFAULT_ADDRESS})`)
    .option("-t, --token <token>", "bearer token (prefer SECRETS_TOKEN or --token-file: flags land in shell history)")
    .option("--token-file <path>", "read the bearer token from this file")
    .option("--plaintext", "HTTP/2 without TLS (the default only for loopback)")
    .option("--tls-ca <path>", "PEM CA bundle to verify the server with")
    .option("--tls-cert <path>", "client certificate (PEM) for mTLS")
    .option("--tls-key <path>", "client key (PEM) for mTLS")
    .option("--tls-server-name <name>", "name to verify the server's certificate against")
    .option("--timeout <duration>", "deadline of each call (default 10s)")
    .option("--profile <name>", "profile of the profile file to use")
    .option("--config <path>", "the profile file")
    .option("-y, --yes", "confirm destroy and delete --force without asking")
    .addHelpText("after", HELP_FOOTER)
    .showHelpAfterError("(secretsctl --help lists commands and options)")
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();

  const register: Register = (name, describe, action) => {
    const command = describe(program.command(name)).exitOverride();
    command.action(async (...args: unknown[]) => {
      const self = args.at(-1) as Command;
      // commander passes positionals, then the options object, then the command.
      const positionals = args.slice(0, -2);
      await action(makeContext(io, self), ...positionals, self.opts());
    });
  };
  secretCommands(register);
  agentCommands(register);
  transferCommands(register);
  adminCommands(register);
  return program;
}

/** Runs secretsctl on `argv` (without node and the script); resolves to the exit code. */
export async function runSecretsctl(argv: readonly string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.usage;
    }
    await program.parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version print and end with 0; any other commander error already printed its line.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    io.stderr.write(`${errorLine(err)}\n`);
    return exitCodeOf(err);
  }
}
