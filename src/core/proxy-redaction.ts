import type { EgressHeader } from "../ports/egress.js";
import { buildRedactor, encodedForms, type RedactionEntry, type Redactor } from "./redaction.js";

// What a ProxyHttpRequest answer may not carry: any value that was injected, raw, in the encodings
// RedactText knows (base64, URL-safe base64, percent and form encoding) and JSON-escaped (an
// upstream that echoes the request as JSON escapes quotes and backslashes). Short values are
// redacted too: the caller named these secrets by using them.

export interface ResponseRedactor {
  headers(headers: readonly EgressHeader[]): EgressHeader[];
  /** `truncated`: the body was cut, so its end may hold the start of a value: that end is dropped. */
  body(body: Uint8Array, truncated: boolean): Uint8Array;
}

/** `injected`: each value put in (a secret may give several: its current and pinned versions). */
export function responseRedactor(injected: readonly RedactionEntry[]): ResponseRedactor {
  const entries: RedactionEntry[] = [];
  for (const { name, value } of injected) {
    entries.push({ name, value });
    const escaped = JSON.stringify(value).slice(1, -1);
    if (escaped !== value) entries.push({ name, value: escaped });
  }
  const redactor = buildRedactor(entries, { explicitNames: new Set(injected.map((e) => e.name)) });
  // Values with characters beyond ASCII, as the Latin-1 reading of their UTF-8 bytes (for bodies
  // that are not UTF-8, read byte for byte). Every encoded form is ASCII and reads the same either way.
  const rawBytes = injected
    .filter(({ value }) => /[^\x00-\x7f]/.test(value))
    .map(({ name, value }) => ({ name, latin1: Buffer.from(value, "utf8").toString("latin1") }));
  // A cut body may end inside an occurrence: its last (longest form - 1) bytes could start one.
  let longest = 0;
  for (const { value } of entries) for (const form of encodedForms(value)) longest = Math.max(longest, Buffer.byteLength(form));

  return {
    // Names too: an upstream may echo a value as a header name. Content-Length is dropped: it told the
    // upstream's body, not the redacted (or cut) one the answer carries.
    headers: (headers) =>
      headers.filter((h) => h.name !== "content-length").map((h) => ({ name: redactor.redact(h.name).text, value: redactor.redact(h.value).text })),
    body(body, truncated) {
      const kept = truncated ? body.subarray(0, Math.max(0, body.length - (longest - 1))) : body;
      return redactBytes(redactor, rawBytes, kept);
    },
  };
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function redactBytes(redactor: Redactor, rawBytes: readonly { name: string; latin1: string }[], body: Uint8Array): Uint8Array {
  if (body.length === 0) return body;
  let text: string | undefined;
  try {
    text = UTF8.decode(body);
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    const result = redactor.redact(text);
    return result.matchedNames.length === 0 ? body : Buffer.from(result.text, "utf8");
  }
  // Not UTF-8 (binary, or another charset): byte for byte, so no byte changes but those redacted.
  let latin1 = redactor.redact(Buffer.from(body).toString("latin1")).text;
  for (const { name, latin1: value } of rawBytes) latin1 = latin1.replaceAll(value, `[REDACTED:${name}]`);
  return Buffer.from(latin1, "latin1");
}
