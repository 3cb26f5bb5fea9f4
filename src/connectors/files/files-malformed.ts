// A CSV file DuckDB's sniffer cannot settle (a malformed line): find the line, name it, and learn what a read needs to get past it.

import { ConnectorError } from '../../core/errors.js';
import { quoteLiteral } from '../../core/sql-text.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { renderOptions } from '../../runtime/duckdb-sql.js';

/** Characters a header line holds between its names when the sniffer missed the delimiter. */
const LIKELY_DELIMITERS = [',', ';', '\t', '|'] as const;

const LOCATE_ERRORS = 'backfill_locate_errors';
const LOCATE_SCANS = 'backfill_locate_scans';

/** A line DuckDB could not read, with its place; `raw` is that one physical line. */
export interface MalformedLine {
  readonly file: string;
  readonly line: number;
  readonly column: string | null;
  readonly type: string;
  readonly message: string;
  readonly raw: string;
}

/**
 * A quote opened on `line` of `file` and never closed: DuckDB reads the rest of the file as one
 * value. The lines after it are read again with quoting off (they hold no quote character).
 */
export interface UnclosedQuote {
  readonly file: string;
  readonly line: number;
}

export interface LocatedTrouble {
  readonly lines: readonly MalformedLine[];
  readonly unclosed: readonly UnclosedQuote[];
}

/** The delimiter a lone sniffed column's name most likely hides (`date,precipitation,…` → `,`). */
export function hiddenDelimiter(columns: readonly { readonly name: string }[]): string | undefined {
  if (columns.length !== 1) return undefined;
  const name = columns[0]?.name ?? '';
  const counts = LIKELY_DELIMITERS.map((d) => ({ d, n: name.split(d).length - 1 })).filter((c) => c.n > 0);
  counts.sort((a, b) => b.n - a.n);
  return counts[0]?.d;
}

/** `file:line: TYPE in column c: message (raw)`, short enough for one line of a terminal. */
export function describeMalformed(l: MalformedLine): string {
  const raw = l.raw.length > 80 ? `${l.raw.slice(0, 80)}…` : l.raw;
  return `${l.file}:${l.line}: ${l.type}${l.column === null ? '' : ` in column ${l.column}`}: ${l.message} (line: ${raw})`;
}

function optionText(delim: string, quote: string): string {
  const d = delim === '\t' ? '"\\t"' : JSON.stringify(delim);
  return `options: { delim: ${d}, quote: ${quote === '"' ? `'"'` : JSON.stringify(quote)} }`;
}

/** The sniffer took the whole header for one column: say so, with the line that misled it and the options that fix it. */
export function oneColumnError(file: string, name: string, delim: string, trouble: LocatedTrouble, cause?: unknown): ConnectorError {
  const shown = name.length > 60 ? `${name.slice(0, 60)}…` : name;
  const first = trouble.lines[0];
  const where = first === undefined ? 'the file likely has a malformed line' : `the file likely has a malformed line: ${describeMalformed(first)}`;
  return new ConnectorError(
    `source.options: the CSV sniffer found one column named "${shown}" in ${file}: ${where}; ` +
      `set ${optionText(delim, '"')} in the source block to read it with that dialect ` +
      '(then a malformed line fails its chunk with its file and line, or is kept aside with maxRejects), or fix the line',
    { cause },
  );
}

/**
 * Read the whole file once with this dialect and every column as text, setting bad lines aside:
 * only the failure path pays for it. Returns the lines DuckDB could not read (at most `keep`) and
 * the quotes that never close.
 */
export async function locateMalformed(
  conn: DuckConn, file: string, header: readonly string[], dialect: Readonly<Record<string, unknown>>, keep = 20,
): Promise<LocatedTrouble> {
  const columns = Object.fromEntries(header.map((h) => [h, 'VARCHAR']));
  const options = { ...dialect, auto_detect: false, columns, store_rejects: true, rejects_table: LOCATE_ERRORS, rejects_scan: LOCATE_SCANS };
  try {
    await conn.run(`DROP TABLE IF EXISTS ${LOCATE_ERRORS}; DROP TABLE IF EXISTS ${LOCATE_SCANS}`);
    await conn.all(`SELECT count(*) AS n FROM read_csv(${quoteLiteral(file)}${renderOptions(options)})`);
    const rows = await conn.all<{ line: string | number; column_name: string | null; error_type: string; error_message: string; raw: string | null }>(
      `SELECT line, any_value(column_name ORDER BY column_idx) AS column_name, any_value(CAST(error_type AS VARCHAR) ORDER BY column_idx) AS error_type,
         any_value(error_message ORDER BY column_idx) AS error_message, split_part(any_value(csv_line), chr(10), 1) AS raw
       FROM ${LOCATE_ERRORS} GROUP BY line ORDER BY line LIMIT ${keep}`,
    );
    const lines = rows.map((r) => ({
      file, line: Number(r.line), column: r.column_name, type: r.error_type, message: r.error_message.replace(/\s+/g, ' ').trim(), raw: (r.raw ?? '').replace(/\r$/, ''),
    }));
    const unclosed: UnclosedQuote[] = [];
    for (const l of lines.filter((x) => x.type === 'UNQUOTED VALUE')) {
      // The quote runs to the end of the file when no quote character follows its line.
      if (!(await quoteAfter(conn, file, l.line, dialect))) unclosed.push({ file, line: l.line });
    }
    return { lines, unclosed };
  } catch {
    // A file DuckDB cannot scan even this way: the caller reports the sniffer's own error.
    return { lines: [], unclosed: [] };
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${LOCATE_ERRORS}; DROP TABLE IF EXISTS ${LOCATE_SCANS}`).catch(() => {});
  }
}

/** Whether any line after `line` holds the quote character (each physical line read whole, quoting off). */
async function quoteAfter(conn: DuckConn, file: string, line: number, dialect: Readonly<Record<string, unknown>>): Promise<boolean> {
  const quote = typeof dialect.quote === 'string' && dialect.quote !== '' ? dialect.quote : '"';
  const rows = await conn.all<{ n: string | number }>(
    `SELECT count(*) AS n FROM read_csv(${quoteLiteral(file)}${renderOptions({ ...lineByLine(dialect), skip: line })}) WHERE contains(l, ${quoteLiteral(quote)})`,
  );
  return Number(rows[0]?.n ?? 0) > 0;
}

/** Read options that give each physical line as one text column `l`. */
function lineByLine(dialect: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const kept = Object.fromEntries(Object.entries(dialect).filter(([k]) => /^(encoding|compression|new_line)$/i.test(k)));
  return { ...kept, auto_detect: false, header: false, delim: '\u001f', quote: '', escape: '', columns: { l: 'VARCHAR' }, strict_mode: false };
}

/**
 * The columns' types when the sniffer failed on a malformed line: sniffed with quoting off and
 * short lines padded, so the bad line cannot stop it (a column the bad line spoils reads as text;
 * the job's own `types` win).
 */
export async function typesPastTrouble(conn: DuckConn, file: string, dialect: Readonly<Record<string, unknown>>): Promise<Record<string, string> | undefined> {
  const rows = await conn
    .all<{ Columns: { name: string; type: string }[] }>(
      `SELECT Columns FROM sniff_csv(${quoteLiteral(file)}${renderOptions({ ...dialect, quote: '', escape: '', null_padding: true })})`,
    )
    .catch(() => []);
  const columns = rows[0]?.Columns;
  return columns === undefined ? undefined : Object.fromEntries(columns.map((c) => [c.name, c.type]));
}

/** Read options for the lines after an unclosed quote: quoting off (they hold no quote), from the next line on. */
export function afterUnclosed(u: UnclosedQuote): Record<string, unknown> {
  return { quote: '', escape: '', header: false, skip: u.line };
}
