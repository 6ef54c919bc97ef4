/**
 * Printing: `--json` writes the exact machine-readable value to stdout; otherwise short human
 * lines and aligned tables. Nothing but results goes to stdout.
 *
 * @example
 * if (opts.json) printJson(agent); else printFields([["id", agent.id], ["name", agent.name]]);
 */

/** Writes one JSON document (pretty-printed, newline-terminated) to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes lines to stdout. */
export function print(...lines: string[]): void {
  process.stdout.write(lines.map((l) => `${l}\n`).join(""));
}

/** Writes lines to stderr (notes that must not pollute piped output). */
export function note(...lines: string[]): void {
  process.stderr.write(lines.map((l) => `${l}\n`).join(""));
}

/** Renders a value for a table cell. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (Array.isArray(value)) return value.length > 0 ? value.map(cell).join(" ") : "-";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** `label  value` pairs, labels aligned. */
export function printFields(fields: ReadonlyArray<readonly [string, unknown]>): void {
  const width = Math.max(...fields.map(([label]) => label.length));
  print(...fields.map(([label, value]) => `${label.padEnd(width)}  ${cell(value)}`));
}

/** A table of `rows` with the given columns, or `empty` when there are none. */
export function printTable(
  rows: ReadonlyArray<Record<string, unknown>>,
  columns: readonly string[],
  empty: string,
): void {
  if (rows.length === 0) {
    print(empty);
    return;
  }
  const cells = rows.map((row) => columns.map((c) => cell(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  print(line(columns.map((c) => c.toUpperCase())), ...cells.map(line));
}

/** Prints a list page as a table, with the next-page hint when there is one. */
export function printPage(
  page: { items: ReadonlyArray<Record<string, unknown>>; next_cursor: string | null },
  columns: readonly string[],
  empty: string,
): void {
  printTable(page.items, columns, empty);
  if (page.next_cursor) note(`more: repeat with --cursor ${page.next_cursor}`);
}
