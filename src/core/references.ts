// Secret references in a JSON template (ResolveReferences). Only strings are looked at, and only
// these forms; everything else, object keys included, passes through as it is:
//   whole string   $ secrets.NAME   $ secrets['NAME']   $ secrets["NAME"]
//   whole string   $ f'...{secrets.NAME}...'  (every placeholder a secret reference)
//   whole string   secret://NAME   secret://NAME@VERSION
//   inside         {{ secrets.NAME }}  (not in a string starting with "$ ": that one is the
//                  workflow engine's expression, and we never inject into expressions)
// The scanning is written by hand, one pass a string, so a hostile 1 MiB string costs linear time.
// A string is split once into literal text and references; values are joined in, never re-scanned.
import type { JsonValue } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "../errors.js";
import { NAME_MAX_CHARS, NAME_PATTERN } from "./limits.js";

/** Deepest template accepted: a scalar root is depth 1, an array of scalars depth 2. */
export const TEMPLATE_MAX_DEPTH = 32;
/** Most distinct secret names a template may reference (pinned or not, found or not). */
export const TEMPLATE_MAX_NAMES = 100;
/** Largest template accepted, in bytes of its JSON; checked by the caller. */
export const TEMPLATE_MAX_BYTES = 1_048_576;

const FIELD = "template";

export interface SecretReference {
  readonly name: string;
  /** Only from `secret://NAME@VERSION`; absent means the current version. */
  readonly version?: number;
}

/** "name", or "name@3" for a pinned version: how references are told apart and values looked up. */
export const referenceKey = (ref: SecretReference): string =>
  ref.version === undefined ? ref.name : `${ref.name}@${ref.version}`;

export interface ScannedTemplate {
  /** Distinct by referenceKey, in the order first seen (array order, object key order). */
  readonly references: readonly SecretReference[];
  /** Distinct names, sorted. */
  readonly names: readonly string[];
}

/** A string split into literal text and references; null when it holds no reference. */
type Pieces = readonly (string | SecretReference)[] | null;

/** The references a template holds. Throws InvalidArgumentError("template") over the limits. */
export function scanTemplate(template: JsonValue): ScannedTemplate {
  const references = new Map<string, SecretReference>();
  const names = new Set<string>();
  walk(template, 1, (text) => {
    for (const piece of splitString(text) ?? []) {
      if (typeof piece === "string") continue;
      const key = referenceKey(piece);
      if (references.has(key)) continue;
      references.set(key, piece);
      names.add(piece.name);
      if (names.size > TEMPLATE_MAX_NAMES) {
        throw new InvalidArgumentError(FIELD, `references more than ${TEMPLATE_MAX_NAMES} distinct secret names`);
      }
    }
    return text;
  });
  return { references: [...references.values()], names: [...names].sort() };
}

/**
 * A copy of the template with its references replaced by `values` (keyed by referenceKey). A string
 * holding any reference that is not in `values` stays wholly unchanged. The input is not mutated.
 * `used` gets the names whose values went in (not those of a string left unchanged).
 */
export function resolveTemplate(template: JsonValue, values: ReadonlyMap<string, string>, used?: Set<string>): JsonValue {
  return walk(template, 1, (text) => {
    const pieces = splitString(text);
    if (pieces === null) return text;
    let out = "";
    const names: string[] = [];
    for (const piece of pieces) {
      if (typeof piece === "string") {
        out += piece;
        continue;
      }
      const value = values.get(referenceKey(piece));
      if (value === undefined) return text;
      out += value;
      names.push(piece.name);
    }
    for (const name of names) used?.add(name);
    return out;
  });
}

// Recursion is bounded: a value deeper than the limit throws before its children are visited, so a
// hostile nesting of any depth costs at most TEMPLATE_MAX_DEPTH frames.
function walk(value: JsonValue, depth: number, onString: (text: string) => string): JsonValue {
  if (depth > TEMPLATE_MAX_DEPTH) {
    throw new InvalidArgumentError(FIELD, `is nested deeper than ${TEMPLATE_MAX_DEPTH} levels`);
  }
  if (typeof value === "string") return onString(value);
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1, onString));
  // fromEntries defines own properties, so a "__proto__" key stays a key; key order is kept.
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item, depth + 1, onString)]));
}

/**
 * One string as a template: literal text and the references in it, in order (the same forms as in a
 * JSON template's strings); null when it holds none. ProxyHttpRequest applies it to header values,
 * query and form values and text bodies.
 */
export function splitReferences(text: string): readonly (string | SecretReference)[] | null {
  return splitString(text);
}

function splitString(text: string): Pieces {
  if (text.startsWith("$ ")) return splitExpression(text.slice(2));
  if (text.startsWith("secret://")) {
    const ref = secretUri(text.slice("secret://".length));
    if (ref !== undefined) return [ref];
  }
  return splitMustaches(text);
}

const isName = (text: string) => text.length <= NAME_MAX_CHARS && NAME_PATTERN.test(text);

/** `secrets.NAME`, `secrets['NAME']` or `secrets["NAME"]`, exactly; else undefined. */
function secretsAccess(text: string): string | undefined {
  let name: string | undefined;
  if (text.startsWith("secrets.")) name = text.slice("secrets.".length);
  else if (text.startsWith("secrets['") && text.endsWith("']")) name = text.slice(9, -2);
  else if (text.startsWith('secrets["') && text.endsWith('"]')) name = text.slice(9, -2);
  // Overlapping slices (e.g. "secrets[']") give "" or shorter, which is not a name.
  return name !== undefined && isName(name) ? name : undefined;
}

/** After "$ ": a whole secret access or a pure secret f-string; any other expression is not ours. */
function splitExpression(expression: string): Pieces {
  const name = secretsAccess(expression);
  if (name !== undefined) return [{ name }];
  const quote = expression[1];
  if (expression[0] !== "f" || (quote !== "'" && quote !== '"')) return null;
  if (expression.length < 3 || !expression.endsWith(quote)) return null;
  return splitFString(expression.slice(2, -1), quote);
}

function splitFString(body: string, quote: string): Pieces {
  if (body.includes(quote)) return null;
  const pieces: (string | SecretReference)[] = [];
  let literal = "";
  let placeholders = 0;
  let i = 0;
  while (i < body.length) {
    const char = body[i]!;
    if ((char === "{" || char === "}") && body[i + 1] === char) {
      literal += char;
      i += 2;
    } else if (char === "}") {
      return null;
    } else if (char === "{") {
      const close = body.indexOf("}", i + 1);
      if (close < 0) return null;
      const name = secretsAccess(body.slice(i + 1, close).trim());
      if (name === undefined) return null;
      if (literal !== "") pieces.push(literal);
      pieces.push({ name });
      literal = "";
      placeholders += 1;
      i = close + 1;
    } else {
      literal += char;
      i += 1;
    }
  }
  if (placeholders === 0) return null;
  if (literal !== "") pieces.push(literal);
  return pieces;
}

/** After "secret://": NAME or NAME@VERSION (1-based, no leading zero); else undefined. */
function secretUri(rest: string): SecretReference | undefined {
  const at = rest.indexOf("@");
  const name = at < 0 ? rest : rest.slice(0, at);
  if (!isName(name)) return undefined;
  if (at < 0) return { name };
  const digits = rest.slice(at + 1);
  if (!/^[1-9][0-9]*$/.test(digits)) return undefined;
  const version = Number(digits);
  // Every digit string above 2^53 - 1 converts to at least 2^53, so the comparison is exact.
  if (version > Number.MAX_SAFE_INTEGER) {
    throw new InvalidArgumentError(FIELD, `secret://${name} has a version above ${Number.MAX_SAFE_INTEGER}`);
  }
  return { name, version };
}

const isSpace = (char: string | undefined) => char !== undefined && /^\s$/.test(char);
const isNameChar = (code: number) =>
  (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code === 95;

/**
 * `{{ secrets.NAME }}` anywhere in the string. Every stretch a failed attempt walks over (spaces,
 * name characters) holds no "{", so the next attempt starts past it: linear in the string.
 */
function splitMustaches(text: string): Pieces {
  const pieces: (string | SecretReference)[] = [];
  let copied = 0;
  let open = text.indexOf("{{");
  while (open >= 0) {
    const match = mustacheAt(text, open);
    if (match === undefined) {
      open = text.indexOf("{{", open + 1);
      continue;
    }
    if (open > copied) pieces.push(text.slice(copied, open));
    pieces.push({ name: match.name });
    copied = match.end;
    open = text.indexOf("{{", copied);
  }
  if (pieces.length === 0) return null;
  if (copied < text.length) pieces.push(text.slice(copied));
  return pieces;
}

function mustacheAt(text: string, open: number): { name: string; end: number } | undefined {
  let i = open + 2;
  while (isSpace(text[i])) i += 1;
  if (!text.startsWith("secrets.", i)) return undefined;
  i += "secrets.".length;
  const start = i;
  // One past the longest name is enough to know the name is too long.
  while (i - start <= NAME_MAX_CHARS && isNameChar(text.charCodeAt(i))) i += 1;
  const name = text.slice(start, i);
  if (!isName(name)) return undefined;
  while (isSpace(text[i])) i += 1;
  if (!text.startsWith("}}", i)) return undefined;
  return { name, end: i + 2 };
}
