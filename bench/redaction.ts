// The redaction engine alone (src/core/redaction.ts): build time for 10,000 secrets, and redact time
// against text size and secret count, to show the matcher is linear in the text whatever the number
// of secrets. Not a test: it prints a table and judges nothing.
// Run: npm run bench:redaction
import { buildRedactor, encodedForms, type RedactionEntry, type Redactor } from "../src/core/redaction.js";

const MiB = 1024 * 1024;
// Printable ASCII with the characters that make the base64 and percent forms differ from the value.
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=!@#$%&*? ";

// A seeded generator, so every run measures the same inputs.
let seed = 20240901;
function random(n: number): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
}
function pick(length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[random(ALPHABET.length)];
  return out;
}

function secrets(count: number): RedactionEntry[] {
  return Array.from({ length: count }, (_, i) => ({ name: `secret-${i}`, value: pick(32 + random(33)) }));
}

/** Random text of `bytes` ASCII characters with a leaked value (raw or encoded) about every 16 KiB. */
function text(bytes: number, leaks: readonly RedactionEntry[]): string {
  const parts: string[] = [];
  let size = 0;
  while (size < bytes) {
    const filler = pick(16 * 1024);
    const forms = [...encodedForms(leaks[random(leaks.length)]!.value)];
    const leak = forms[random(forms.length)]!;
    parts.push(filler, leak);
    size += filler.length + leak.length;
  }
  return parts.join("").slice(0, bytes);
}

// The fastest and the median run: on a busy machine the fastest is the better estimate of the cost.
function time<T>(work: () => T, runs: number): { min: number; median: number; result: T } {
  let result!: T;
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    result = work();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return { min: samples[0]!, median: samples[Math.floor(runs / 2)]!, result };
}

const rows: string[][] = [];
function row(what: string, secretCount: number, textMiB: number | "", ms: { min: number; median: number }, extra = ""): void {
  const perMiB = textMiB ? (ms.min / textMiB).toFixed(1) : "";
  rows.push([what, secretCount.toLocaleString("en"), String(textMiB), ms.min.toFixed(1), ms.median.toFixed(1), perMiB, extra]);
}

function redactRow(label: string, redactor: Redactor, secretCount: number, input: string): void {
  redactor.redact(input); // warm-up: the first calls also compile
  const measured = time(() => redactor.redact(input), 7);
  row(label, secretCount, input.length / MiB, measured, `${measured.result.matchedNames.length} names matched`);
}

const many = secrets(10_000);
const few = many.slice(0, 100);
const patterns = many.reduce((n, { value }) => n + encodedForms(value).size, 0);
const build = time(() => buildRedactor(many, { explicitNames: new Set() }), 3);
row("build", many.length, "", build, `${patterns.toLocaleString("en")} patterns`);
const manyRedactor = build.result;
const fewRedactor = buildRedactor(few, { explicitNames: new Set() });

const oneMiB = text(MiB, few);
const fourMiB = text(4 * MiB, few);
redactRow("redact", manyRedactor, many.length, oneMiB);
redactRow("redact", manyRedactor, many.length, fourMiB);
redactRow("redact", fewRedactor, few.length, oneMiB);

// The worst case for matchers that list every match: 1,000 nested values, all ending at every place.
const nested = Array.from({ length: 1000 }, (_, i) => ({ name: `nested-${i}`, value: "a".repeat(8 + i) }));
const nestedBuild = time(() => buildRedactor(nested, { explicitNames: new Set() }), 3);
row("build (nested a^8..a^1007)", nested.length, "", nestedBuild);
redactRow("redact 'aaa…' (nested)", nestedBuild.result, nested.length, "a".repeat(MiB));

const header = ["what", "secrets", "text MiB", "ms min", "ms median", "min ms / MiB", ""];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 6 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
console.log(`node ${process.version}, ${new Date().toISOString()}`);
console.log(line(header));
for (const r of rows) console.log(line(r));
