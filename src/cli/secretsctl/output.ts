import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import Table from "cli-table3";
import { stringify as toYaml } from "yaml";
import { UsageError } from "./exit-codes.js";

// How secretsctl prints: a table sized to the terminal (the default), JSON (proto3 JSON, one document)
// or YAML. Tables are kubectl-like: no borders, two spaces between columns, long cells wrapped.

export const FORMATS = ["table", "json", "yaml"] as const;
export type Format = (typeof FORMATS)[number];

export interface Io {
  readonly stdout: NodeJS.WritableStream & { columns?: number; isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

export function parseFormat(text: string): Format {
  if ((FORMATS as readonly string[]).includes(text)) return text as Format;
  throw new UsageError(`--output: "${text}" is not one of ${FORMATS.join(", ")}`);
}

/** The proto3 JSON of a message. */
export function jsonOf<D extends DescMessage>(schema: D, message: MessageShape<D>): unknown {
  return toJson(schema, message);
}

/** Prints a document (already plain JSON data) as JSON or YAML. */
export function printDocument(io: Io, format: Exclude<Format, "table">, doc: unknown): void {
  io.stdout.write(format === "json" ? `${JSON.stringify(doc, null, 2)}\n` : toYaml(doc));
}

export interface TableView {
  readonly head: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
}

/** Prints `view` as a table, or the JSON/YAML document `doc`. */
export function print(io: Io, format: Format, doc: () => unknown, view: () => TableView): void {
  if (format === "table") io.stdout.write(renderTable(view(), terminalWidth(io)));
  else printDocument(io, format, doc());
}

/** Key-value view of one record: FIELD / VALUE rows, empty values left out. */
export function fieldsView(fields: ReadonlyArray<readonly [string, string | undefined]>): TableView {
  return { head: ["FIELD", "VALUE"], rows: fields.filter(([, v]) => v !== undefined && v !== "").map(([k, v]) => [k, v!]) };
}

function terminalWidth(io: Io): number | undefined {
  if (io.env.COLUMNS && /^\d+$/.test(io.env.COLUMNS)) return Number(io.env.COLUMNS);
  return io.stdout.isTTY ? io.stdout.columns : undefined;
}

const GAP = 2;
const MIN_COLUMN = 8;

export function renderTable(view: TableView, width: number | undefined): string {
  if (view.rows.length === 0) return "(none)\n";
  const widths = view.head.map((h, i) => Math.max(h.length, ...view.rows.map((r) => longestLine(r[i] ?? ""))));
  if (width !== undefined) {
    const budget = width - GAP * widths.length;
    // Take from the widest column until the table fits (or every column is down to its minimum).
    while (widths.reduce((a, b) => a + b, 0) > budget) {
      const widest = widths.indexOf(Math.max(...widths));
      if (widths[widest]! <= MIN_COLUMN) break;
      widths[widest]!--;
    }
  }
  const table = new Table({
    head: [...view.head],
    colWidths: widths.map((w) => w + GAP),
    wordWrap: true,
    wrapOnWordBoundary: false,
    chars: {
      top: "", "top-mid": "", "top-left": "", "top-right": "",
      bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
      left: "", "left-mid": "", mid: "", "mid-mid": "",
      right: "", "right-mid": "", middle: "",
    },
    style: { head: [], border: [], "padding-left": 0, "padding-right": GAP, compact: true },
  });
  for (const row of view.rows) table.push([...row]);
  return `${table.toString().split("\n").map((line) => line.trimEnd()).join("\n")}\n`;
}

function longestLine(text: string): number {
  return Math.max(0, ...text.split("\n").map((l) => l.length));
}

export function time(ts: Timestamp | undefined): string {
  return ts ? timestampDate(ts).toISOString() : "";
}

export function mapText(map: Readonly<Record<string, string>>): string {
  return Object.entries(map)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}
