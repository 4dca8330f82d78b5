import { parseEnv } from "node:util";

// .env files for import and export, read with Node's own parser (util.parseEnv) and written so that
// it reads every value back byte for byte: single quotes keep text as it is; double quotes turn \n
// into a newline; backquotes keep newlines as they are. A value no quoting can carry is refused.

export function parseDotenv(text: string): Record<string, string> {
  return parseEnv(text) as Record<string, string>;
}

/** One `NAME=quoted` line, or an Error saying why the value cannot be written as dotenv. */
export function dotenvLine(name: string, value: string): string | Error {
  const quoted = quote(value);
  if (quoted === undefined) return new Error(`the value of ${name} cannot be written as dotenv (it holds every kind of quote with a newline or carriage return); use --format json`);
  const line = `${name}=${quoted}`;
  // Proof by reading it back: anything the parser would change is refused rather than written wrong.
  return parseDotenv(line)[name] === value ? line : new Error(`the value of ${name} does not survive dotenv quoting; use --format json`);
}

function quote(value: string): string | undefined {
  const breaks = /[\r\n]/.test(value);
  if (!breaks && !value.includes("'")) return `'${value}'`;
  if (!value.includes('"') && !value.includes("\\n") && !value.includes("\r")) return `"${value.replace(/\n/g, "\\n")}"`;
  if (!value.includes("`")) return `\`${value}\``;
  return undefined;
}
