// RedactText's engine: every occurrence of a secret value, raw or encoded (base64 standard and
// URL-safe, padded or not; percent- and form-encoded in upper- or lower-case hex), becomes
// `[REDACTED:NAME]`.
//
// The matcher is an Aho–Corasick automaton over UTF-16 code units, written here rather than taken
// from modern-ahocorasick: that library matches whole grapheme clusters, so a value followed in the
// text by a combining mark or a zero-width joiner ("hunter2hunter2\u0301") is not found at all and
// would be returned readable.
//
// Linear in the text whatever the patterns: at each position only the longest pattern ending there
// is taken (any shorter one ending there lies inside it and is dropped anyway), found in O(1) by the
// state's `longest` link, so the number of patterns ending at one place never multiplies the work.
// A stack then keeps the occurrences no later one contains. Building is one sort of the distinct
// patterns and one pass over their characters. The automaton is immutable, so a redactor can be
// cached and shared (the caller caches one per tenant and drops it on a change).

/** The largest text RedactText takes, in UTF-8 bytes (checked by the caller, redact-text.ts). */
export const REDACT_TEXT_MAX_BYTES = 4 * 1024 * 1024;
/** Values with fewer code points are redacted only when their secret is named explicitly. */
export const SHORT_VALUE_CODE_POINTS = 8;

/** One enabled version's value (every enabled version of a secret gives one). */
export interface RedactionEntry {
  readonly name: string;
  readonly value: string;
}

export interface RedactorOptions {
  /** The names the request named; their short values are redacted too. Empty when it named none. */
  readonly explicitNames: ReadonlySet<string>;
}

export interface RedactionResult {
  readonly text: string;
  /** Distinct, sorted. */
  readonly matchedNames: string[];
}

export interface Redactor {
  redact(text: string): RedactionResult;
}

export function buildRedactor(entries: readonly RedactionEntry[], options: RedactorOptions): Redactor {
  // A pattern several secrets share (the same value, or one's value equal to another's encoded form)
  // is labelled with the smallest name.
  const labelOf = new Map<string, string>();
  for (const { name, value } of entries) {
    if (value === "" || (isShort(value) && !options.explicitNames.has(name))) continue;
    for (const form of encodedForms(value)) {
      const label = labelOf.get(form);
      if (label === undefined || name < label) labelOf.set(form, name);
    }
  }
  const patterns = [...labelOf.keys()].sort();
  const names = [...new Set(labelOf.values())].sort();
  const nameIndex = new Map(names.map((name, i) => [name, i]));
  const automaton = buildAutomaton(patterns);
  const labels = Int32Array.from(patterns, (pattern) => nameIndex.get(labelOf.get(pattern)!)!);
  return Object.freeze({ redact: (text: string) => redactWith(automaton, labels, names, text) });
}

function redactWith(automaton: Automaton, labels: Int32Array, names: readonly string[], text: string): RedactionResult {
  const found = maximalOccurrences(automaton, text);
  if (found.count === 0) return { text, matchedNames: [] };

  // Occurrences come sorted by start (and so by end); overlapping ones form one run, replaced by one
  // marker per secret in order of first occurrence. Touching ones are separate runs.
  const runOf = new Int32Array(names.length).fill(-1);
  const matched = new Uint8Array(names.length);
  const parts: string[] = [];
  let copied = 0;
  let k = 0;
  for (let run = 0; k < found.count; run++) {
    const runStart = found.starts[k]!;
    let runEnd = found.ends[k]!;
    parts.push(text.slice(copied, runStart));
    for (; k < found.count && found.starts[k]! < runEnd; k++) {
      runEnd = Math.max(runEnd, found.ends[k]!);
      const label = labels[found.patterns[k]!]!;
      if (runOf[label] === run) continue;
      runOf[label] = run;
      matched[label] = 1;
      parts.push(`[REDACTED:${names[label]}]`);
    }
    copied = runEnd;
  }
  parts.push(text.slice(copied));
  return { text: parts.join(""), matchedNames: names.filter((_, i) => matched[i] === 1) };
}

function isShort(value: string): boolean {
  let points = 0;
  for (const _ of value) if (++points >= SHORT_VALUE_CODE_POINTS) return false;
  return true;
}

/** The value and its encodings (of its UTF-8 bytes), without repeats. */
export function encodedForms(value: string): Set<string> {
  const bytes = Buffer.from(value, "utf8");
  const base64 = bytes.toString("base64");
  const unpadded = base64.replace(/=+$/, "");
  const urlSafe = unpadded.replaceAll("+", "-").replaceAll("/", "_");
  const padding = base64.slice(unpadded.length);
  return new Set([
    value,
    base64,
    unpadded,
    urlSafe + padding,
    urlSafe,
    percentEncoded(bytes, HEX_UPPER, false),
    percentEncoded(bytes, HEX_LOWER, false),
    percentEncoded(bytes, HEX_UPPER, true),
    percentEncoded(bytes, HEX_LOWER, true),
  ]);
}

const HEX_UPPER = Buffer.from("0123456789ABCDEF");
const HEX_LOWER = Buffer.from("0123456789abcdef");

/** Every byte outside RFC 3986's unreserved set as %XX; in form encoding a space is `+`. */
function percentEncoded(bytes: Uint8Array, hex: Uint8Array, form: boolean): string {
  // Written as bytes and read back as one flat string: building it a character at a time is slower.
  const out = Buffer.allocUnsafe(bytes.length * 3);
  let n = 0;
  for (const b of bytes) {
    if (isUnreserved(b)) out[n++] = b;
    else if (form && b === 0x20) out[n++] = 0x2b;
    else {
      out[n++] = 0x25;
      out[n++] = hex[b >> 4]!;
      out[n++] = hex[b & 15]!;
    }
  }
  return out.toString("latin1", 0, n);
}

function isUnreserved(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
}

// The automaton. States are numbered breadth-first, so the children of a state are consecutive
// states, `childStart[s]` to `childStart[s + 1]`, sorted by their character and found by binary
// search. A state with many children (the root and those near it, where the scan spends its time)
// also has a dense row over the patterns' alphabet: `classOf` maps a code unit to its place in that
// alphabet, 0 for one no pattern holds (the scan then returns to the root at once). `longest[s]` is
// the longest pattern that is a suffix of state s's string, or -1.
interface Automaton {
  readonly char: Uint16Array;
  readonly childStart: Int32Array;
  readonly fail: Int32Array;
  readonly longest: Int32Array;
  readonly patternLength: Int32Array;
  readonly classOf: Uint16Array;
  /** Row of a state (-1 or past its end: none); row r holds the child for class k at `rows[r * width + k]`, 0 for none. */
  readonly rowOf: Int32Array;
  readonly rows: Int32Array;
  readonly width: number;
}

/** States with at least this many children get a dense row, within ROW_BUDGET entries in all. */
const DENSE_CHILDREN = 12;
const ROW_BUDGET = 1 << 20;

/** `patterns`: distinct, non-empty, sorted by code unit. */
function buildAutomaton(patterns: readonly string[]): Automaton {
  // All the patterns' code units in one array: the breadth-first walk reads them from there.
  const offset = new Int32Array(patterns.length + 1);
  for (let i = 0; i < patterns.length; i++) offset[i + 1] = offset[i]! + patterns[i]!.length;
  const total = offset[patterns.length]!;
  const units = new Uint16Array(total);
  const classOf = new Uint16Array(0x10000);
  let width = 1;
  for (let i = 0, at = 0; i < patterns.length; i++) {
    const pattern = patterns[i]!;
    for (let k = 0; k < pattern.length; k++) {
      const c = pattern.charCodeAt(k);
      units[at++] = c;
      if (classOf[c] === 0) classOf[c] = width++;
    }
  }

  // Each state stands for the patterns [lo, hi) that start with its string, of length `depth`.
  const lo = new Int32Array(total + 1);
  const hi = new Int32Array(total + 1);
  const depth = new Int32Array(total + 1);
  const char = new Uint16Array(total + 1);
  const childStart = new Int32Array(total + 2);
  const longest = new Int32Array(total + 1).fill(-1);
  hi[0] = patterns.length;
  let count = 1;
  for (let s = 0; s < count; s++) {
    childStart[s] = count;
    const d = depth[s]!;
    const end = hi[s]!;
    let i = lo[s]!;
    // Sorted and distinct: a pattern equal to the state's string comes first, and only one does.
    if (i < end && offset[i + 1]! - offset[i]! === d) longest[s] = i++;
    while (i < end) {
      const c = units[offset[i]! + d]!;
      let j = i + 1;
      while (j < end && units[offset[j]! + d] === c) j++;
      lo[count] = i;
      hi[count] = j;
      depth[count] = d + 1;
      char[count] = c;
      count++;
      i = j;
    }
  }
  childStart[count] = count;

  // Rows go to the root and then, breadth-first, to states with many children while the budget
  // lasts: a wide alphabet (values in many scripts) cannot make them large. So they are among the
  // first states, and `rowOf` ends at the last that has one.
  const dense = [0];
  const rowLimit = Math.floor(ROW_BUDGET / width);
  for (let s = 1; s < count && dense.length < rowLimit; s++) {
    if (childStart[s + 1]! - childStart[s]! >= DENSE_CHILDREN) dense.push(s);
  }
  const rowOf = new Int32Array(dense.at(-1)! + 1).fill(-1);
  const rows = new Int32Array(dense.length * width);
  dense.forEach((s, row) => {
    rowOf[s] = row;
    for (let t = childStart[s]!; t < childStart[s + 1]!; t++) rows[row * width + classOf[char[t]!]!] = t;
  });

  const automaton: Automaton = {
    char: char.slice(0, count),
    childStart: childStart.slice(0, count + 1),
    fail: new Int32Array(count),
    longest: longest.slice(0, count),
    patternLength: Int32Array.from(patterns, (pattern) => pattern.length),
    classOf,
    rowOf,
    rows,
    width,
  };
  const fail = automaton.fail;
  // Breadth-first, so a state's failure target (shallower) is complete before the state is reached.
  for (let s = 1; s < count; s++) {
    for (let t = childStart[s]!; t < childStart[s + 1]!; t++) {
      const target = next(automaton, fail[s]!, char[t]!);
      fail[t] = target;
      if (automaton.longest[t] === -1) automaton.longest[t] = automaton.longest[target]!;
    }
  }
  return automaton;
}

function next(automaton: Automaton, state: number, c: number): number {
  const { char, childStart, fail, classOf, rowOf, rows, width } = automaton;
  const k = classOf[c]!;
  if (k === 0) return 0;
  for (let s = state; ; s = fail[s]!) {
    const row = s < rowOf.length ? rowOf[s]! : -1;
    if (row >= 0) {
      const t = rows[row * width + k]!;
      if (t !== 0 || s === 0) return t;
      continue;
    }
    let low = childStart[s]!;
    let high = childStart[s + 1]! - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const m = char[mid]!;
      if (m === c) return mid;
      if (m < c) low = mid + 1;
      else high = mid - 1;
    }
  }
}

interface Occurrences {
  readonly count: number;
  readonly starts: number[];
  readonly ends: number[];
  readonly patterns: number[];
}

/** The occurrences inside no other, sorted by start. */
function maximalOccurrences(automaton: Automaton, text: string): Occurrences {
  const { longest, patternLength } = automaton;
  const starts: number[] = [];
  const ends: number[] = [];
  const patterns: number[] = [];
  let count = 0;
  let state = 0;
  for (let i = 0; i < text.length; i++) {
    state = next(automaton, state, text.charCodeAt(i));
    const pattern = longest[state]!;
    if (pattern < 0) continue;
    const end = i + 1;
    const start = end - patternLength[pattern]!;
    // Kept occurrences have increasing starts and ends; this one contains those starting at or after it.
    while (count > 0 && starts[count - 1]! >= start) count--;
    starts[count] = start;
    ends[count] = end;
    patterns[count] = pattern;
    count++;
  }
  return { count, starts, ends, patterns };
}
