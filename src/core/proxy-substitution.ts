import { InvalidArgumentError, ResourceExhaustedError } from "../errors.js";
import type { EgressHeader } from "../ports/egress.js";
import { referenceKey, splitReferences, TEMPLATE_MAX_NAMES, type SecretReference } from "./references.js";

// Where ProxyHttpRequest puts secret values: header values, the URL's query values, and the body
// when its content type says how to escape them (JSON strings, form values, text). A request is
// split once into literal text and references; rendering joins the values in, each part escaped
// as its place needs, and never scans the result again (a value that looks like a reference stays
// a value). The scheme, host, port and path are never touched.

/** The most the rendered request (headers, query and body) may grow to. */
export const PROXY_MAX_RENDERED_BYTES = 8 * 1024 * 1024;

type Pieces = readonly (string | SecretReference)[];

/** A stretch of the request: literal text, or a string with references and how to escape it. */
type Segment = string | { readonly pieces: Pieces; readonly escape: (text: string) => string };

export interface RequestParts {
  readonly url: URL;
  readonly headers: readonly EgressHeader[];
  readonly body: Uint8Array;
}

export interface PlannedRequest {
  /** Distinct by referenceKey, in the order first seen. */
  readonly references: readonly SecretReference[];
  /** The request with every reference replaced; values keyed by referenceKey. */
  render(values: ReadonlyMap<string, string>): RequestParts;
}

type BodyKind = "json" | "form" | "text" | "opaque";

export function planRequest(url: URL, headers: readonly EgressHeader[], body: Uint8Array): PlannedRequest {
  const references = new Map<string, SecretReference>();
  const note = (segments: readonly Segment[]) => {
    for (const s of segments) {
      if (typeof s === "string") continue;
      for (const p of s.pieces) if (typeof p !== "string") references.set(referenceKey(p), p);
    }
    if (new Set([...references.values()].map((r) => r.name)).size > TEMPLATE_MAX_NAMES) {
      throw new InvalidArgumentError("headers", `the request references more than ${TEMPLATE_MAX_NAMES} distinct secret names`);
    }
    return segments;
  };

  checkNoReferenceOutsideQuery(url);
  const query = note(urlEncodedSegments(url.search.slice(1), false));
  const headerSegments = headers.map((h) => note(textSegment(h.value)));
  const kind = bodyKind(headers);
  const bodyText = kind === "opaque" || body.length === 0 ? undefined : utf8Body(body, kind);
  const bodySegments = bodyText === undefined ? undefined : note(bodyTextSegments(kind, bodyText));

  return {
    references: [...references.values()],
    render(values) {
      const budget = { left: PROXY_MAX_RENDERED_BYTES };
      const target = new URL(url.href);
      target.hash = "";
      const search = renderSegments(query, values, budget, "url");
      target.search = search === "" ? "" : `?${search}`;
      const rendered = headers.map((h, i) => ({ name: h.name, value: renderSegments(headerSegments[i]!, values, budget, `headers[${i}].value`) }));
      const out = bodySegments ? Buffer.from(renderSegments(bodySegments, values, budget, "body"), "utf8") : body;
      return { url: target, headers: rendered, body: out };
    },
  };
}

/** References are replaced only in the query: one anywhere else is refused rather than sent as it is. */
function checkNoReferenceOutsideQuery(url: URL): void {
  for (const [part, text] of [["path", url.pathname], ["fragment", url.hash]] as const) {
    if (splitReferences(safeDecode(text)) !== null) {
      throw new InvalidArgumentError("url", `holds a secret reference in its ${part}; references are replaced only in the query`);
    }
  }
}

function bodyKind(headers: readonly EgressHeader[]): BodyKind {
  const header = headers.find((h) => h.name.toLowerCase() === "content-type");
  const media = (header?.value.split(";")[0] ?? "").trim().toLowerCase();
  if (media === "application/json" || media.endsWith("+json")) return "json";
  if (media === "application/x-www-form-urlencoded") return "form";
  if (media.startsWith("text/")) return "text";
  return "opaque";
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function utf8Body(body: Uint8Array, kind: BodyKind): string {
  try {
    return UTF8.decode(body);
  } catch {
    throw new InvalidArgumentError("body", `is not valid UTF-8, as a ${kind} body must be`);
  }
}

function bodyTextSegments(kind: BodyKind, text: string): Segment[] {
  if (kind === "json") return jsonSegments(text);
  if (kind === "form") return urlEncodedSegments(text, true);
  return textSegment(text);
}

/** A header value or a text body: one string, sent as it renders. */
function textSegment(text: string): Segment[] {
  const pieces = splitReferences(text);
  return [pieces ? { pieces, escape: (s) => s } : text];
}

/**
 * `a=1&b=...`: each value decoded, split, and when it holds references re-encoded whole with
 * encodeURIComponent; pairs without references are kept byte for byte. Names are never replaced.
 * In a form body `+` is a space; in a query it is left as it is.
 */
function urlEncodedSegments(encoded: string, form: boolean): Segment[] {
  if (encoded === "") return [];
  const segments: Segment[] = [];
  encoded.split("&").forEach((pair, i) => {
    if (i > 0) segments.push("&");
    const eq = pair.indexOf("=");
    if (eq < 0) return segments.push(pair);
    const raw = pair.slice(eq + 1);
    const pieces = splitReferences(safeDecode(form ? raw.replaceAll("+", " ") : raw));
    segments.push(pair.slice(0, eq + 1));
    segments.push(pieces ? { pieces, escape: encodeURIComponent } : raw);
  });
  return segments;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * A JSON body: every string value (not an object key) holding references becomes a segment that
 * renders as a JSON string; everything else is kept byte for byte (numbers keep their digits).
 */
function jsonSegments(text: string): Segment[] {
  try {
    JSON.parse(text);
  } catch {
    throw new InvalidArgumentError("body", "is not valid JSON, as its content-type says");
  }
  const segments: Segment[] = [];
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '"') {
      i += 1;
      continue;
    }
    const end = stringEnd(text, i);
    let after = end;
    while (after < text.length && " \t\r\n".includes(text[after]!)) after += 1;
    if (text[after] !== ":") {
      const pieces = splitReferences(JSON.parse(text.slice(i, end)) as string);
      if (pieces) {
        if (i > copied) segments.push(text.slice(copied, i));
        segments.push({ pieces, escape: (s) => JSON.stringify(s) });
        copied = end;
      }
    }
    i = end;
  }
  if (copied < text.length) segments.push(text.slice(copied));
  return segments;
}

/** One past the closing quote of the (valid) JSON string starting at `start`. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
  return i + 1;
}

function renderSegments(segments: readonly Segment[], values: ReadonlyMap<string, string>, budget: { left: number }, field: string): string {
  const tooLarge = () => new ResourceExhaustedError(`${field}: with the secrets put in, the request is larger than ${PROXY_MAX_RENDERED_BYTES} bytes`);
  const out: string[] = [];
  const spend = (text: string) => {
    budget.left -= text.length;
    if (budget.left < 0) throw tooLarge();
    out.push(text);
  };
  for (const segment of segments) {
    if (typeof segment === "string") {
      spend(segment);
      continue;
    }
    // Checked while joining too, so a value repeated many times fails before it is all built.
    const joined: string[] = [];
    let length = 0;
    for (const piece of segment.pieces) {
      const text = typeof piece === "string" ? piece : values.get(referenceKey(piece));
      if (text === undefined) throw new Error(`no value for ${referenceKey(piece as SecretReference)}`);
      length += text.length;
      if (length > budget.left) throw tooLarge();
      joined.push(text);
    }
    spend(segment.escape(joined.join("")));
  }
  return out.join("");
}
