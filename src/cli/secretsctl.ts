// The secretsctl binary's entry point (bin/secretsctl runs it).
import { runSecretsctl } from "./secretsctl/program.js";

const code = await runSecretsctl(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
// Let pending output drain, then leave with the code (open HTTP/2 sessions must not keep it alive).
process.exitCode = code;
process.stdout.write("", () => process.exit(code));
