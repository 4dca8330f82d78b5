// Secret-name globs (a token's `secrets` claim): `*` is any run of characters, also empty; `?` is
// one character; everything else stands for itself. The alphabet is that of secret names plus the
// two wildcards, so no glob needs escaping and none can smuggle in regular-expression syntax.
// Matching is the classic two-pointer wildcard walk: at most (pattern × text) steps, never the
// exponential backtracking a naive recursive matcher or a built RegExp can fall into.

export const GLOB_PATTERN = /^[A-Za-z0-9_*?]{1,128}$/;

export function isValidGlob(value: unknown): value is string {
  return typeof value === "string" && GLOB_PATTERN.test(value);
}

/** undefined globs = every name; [] = none. Returns a predicate over names. */
export function nameMatcher(globs: readonly string[] | undefined): (name: string) => boolean {
  if (globs === undefined) return () => true;
  const list = [...globs];
  return (name) => list.some((glob) => wildcardMatch(glob, name, (p, t) => p === "?" || p === t));
}

/**
 * True when every name `requested` matches is matched by `caller`, judged syntactically: in
 * `requested`, a `*` is covered only by a `*` of caller; a `?` by `?` or `*`; a literal by itself,
 * `?` or `*`. Sound, not complete: a few equal languages written differently (`*?` and `?*`) are
 * refused, which only ever asks the caller to spell a request the way it holds it.
 */
export function globCovers(caller: string, requested: string): boolean {
  // `requested` is the text here: a `*` or `?` of caller consumes its characters, wildcards included.
  return wildcardMatch(caller, requested, (p, t) => (p === "?" ? t !== "*" : p === t));
}

/**
 * `pattern` against `text`, where a `*` of pattern takes any run of text and every other pattern
 * character takes one text character that `one` accepts. On a mismatch only the last `*` is
 * widened by one character: earlier stars never need revisiting, because the last one can absorb
 * whatever an earlier one would have.
 */
function wildcardMatch(pattern: string, text: string, one: (p: string, t: string) => boolean): boolean {
  let p = 0;
  let t = 0;
  let star = -1; // index in pattern of the last `*` seen
  let resume = 0; // index in text where that star's run currently ends
  while (t < text.length) {
    const pc = pattern[p];
    if (pc === "*") {
      star = p++;
      resume = t;
    } else if (pc !== undefined && one(pc, text[t]!)) {
      p++;
      t++;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === "*") p++;
  return p === pattern.length;
}
