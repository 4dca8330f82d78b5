import { readFileSync } from "node:fs";
import password from "@inquirer/password";
import { UsageError } from "./exit-codes.js";
import type { Io } from "./output.js";

// Where a secret value comes from: --value-file (byte for byte; "-" = stdin), else stdin when it is
// not a terminal (one trailing newline dropped, as `$(...)` would), else a hidden prompt; --value
// works too, with a warning, since it lands in shell history and the process list.

export interface ValueFlags {
  value?: string;
  valueFile?: string;
}

export const VALUE_FLAG_WARNING =
  "secretsctl: warning: --value puts the secret in your shell history and the process list; prefer stdin, --value-file or the prompt";

export async function readValue(io: Io, flags: ValueFlags, prompt: string): Promise<string> {
  if (flags.value !== undefined && flags.valueFile !== undefined) throw new UsageError("--value and --value-file: give one");
  if (flags.value !== undefined) {
    io.stderr.write(`${VALUE_FLAG_WARNING}\n`);
    return flags.value;
  }
  if (flags.valueFile !== undefined && flags.valueFile !== "-") {
    let bytes: Buffer;
    try {
      bytes = readFileSync(flags.valueFile);
    } catch (err) {
      throw new UsageError(`--value-file ${flags.valueFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return utf8("--value-file", bytes);
  }
  if (flags.valueFile === "-" || !io.stdin.isTTY) {
    const text = utf8("stdin", await readAll(io.stdin));
    return flags.valueFile === "-" ? text : text.replace(/\r?\n$/, "");
  }
  const answer = await password({ message: prompt, mask: "*" }, { input: io.stdin, output: io.stderr });
  return answer;
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

/** Secret values are text: bytes that are not UTF-8 are refused rather than mangled. */
export function utf8(what: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new UsageError(`${what}: the value is not valid UTF-8 (values are text; encode binary data as base64 first)`);
  }
}
