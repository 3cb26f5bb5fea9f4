// Detecting a CSV source's dialect and column types once, on three of its files, so that every read can be given them.

import { quoteLiteral } from '../../core/sql-text.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { renderOptions } from '../../runtime/duckdb-sql.js';
import { hiddenDelimiter } from './files-malformed.js';
import { firstLine } from './files-lines.js';

export interface SniffedColumn {
  readonly name: string;
  readonly type: string;
}

/**
 * What the picks said: one dialect and columns, something else each, or a file the sniffer could
 * not settle. `dialect`: the reader options a read must be given beyond DuckDB's defaults to read
 * them as the sniffer did (delim, header, and quote, escape, skip, comment, dateformat,
 * timestampformat where found), less those the job sets itself.
 */
export type PicksSniffed =
  | { readonly kind: 'agreed'; readonly dialect: Readonly<Record<string, unknown>>; readonly columns: readonly SniffedColumn[] }
  | { readonly kind: 'differ' }
  | { readonly kind: 'malformed'; readonly file: string; readonly hidden: string | undefined; readonly lone: string | undefined; readonly failure: unknown };

interface Sniffed {
  readonly Delimiter: string;
  readonly Quote: string;
  readonly Escape: string;
  readonly Comment: string;
  readonly SkipRows: number;
  readonly HasHeader: boolean;
  readonly Columns: SniffedColumn[];
  readonly DateFormat: string | null;
  readonly TimestampFormat: string | null;
}
type Attempt = { readonly r: Sniffed | undefined; readonly failure?: unknown };

/**
 * The read buffer of a sniff. The sniffer looks at its first 20,480 lines (crossing buffers where
 * they are longer), but fills a whole buffer first — DuckDB's default is 32 MiB, which for a
 * gzipped file means inflating up to that much: the 50M-row demo's gzipped pick sniffed in 23-24
 * ms with 2 MiB against 48-50 with the default, and found the same types (so did files whose type
 * changes at line 100, 20,000 or past the sample, with lines of 20 to 3,000 bytes, plain and
 * gzipped). 2 MiB is DuckDB's longest line by default. Left to DuckDB where the job sets either.
 */
export const SNIFF_BUFFER = 2 * 1024 * 1024;

/** The options of a sniff: the job's reader options, and a read buffer of SNIFF_BUFFER unless they size it. */
export function sniffOptions(options: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  const own = Object.keys(options ?? {}).map((k) => k.toLowerCase());
  return { ...options, ...(own.includes('buffer_size') || own.includes('max_line_size') ? {} : { buffer_size: SNIFF_BUFFER }) };
}

/** Names a job may give each dialect setting under (DuckDB takes both). */
const ALIASES: Readonly<Record<string, readonly string[]>> = { delim: ['delim', 'sep'], dateformat: ['dateformat', 'date_format'], timestampformat: ['timestampformat', 'timestamp_format'] };

/**
 * Sniff `picks` (the first, middle and last file). The first is sniffed whole; the others beside it
 * with the dialect given (delimiter, header, quoting), which leaves DuckDB only their types to
 * detect (less than half the time on the 50M-row demo's plain files: 16-22 ms against 41-52). The
 * delimiter given is the one the first file's header line suggests, with a header and `"` quoting,
 * so they need not wait for its sniff; where the sniff finds another dialect, they are sniffed
 * again with that one. One that fails so, or whose columns differ from the first's, is sniffed
 * whole, so a file of another dialect or a malformed one is seen as it would be on its own.
 * `options`: the job's reader options, which go into every sniff; those it sets are not given.
 */
export async function sniffPicks(conn: DuckConn, picks: readonly string[], options: Readonly<Record<string, unknown>> | undefined): Promise<PicksSniffed> {
  const own = Object.keys(options ?? {}).map((k) => k.toLowerCase());
  const notOwn = (d: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(d).filter(([k]) => !(ALIASES[k] ?? [k]).some((a) => own.includes(a))));
  // Each on a connection of its own, so they run side by side.
  const sniff = async (file: string, given: Record<string, unknown> = {}): Promise<Attempt> => {
    const side = await conn.sibling();
    try {
      const rows = await side.all<Sniffed>(
        `SELECT Delimiter, Quote, Escape, Comment, SkipRows, HasHeader, Columns, DateFormat, TimestampFormat FROM sniff_csv(${quoteLiteral(file)}${renderOptions({ ...sniffOptions(options), ...given })})`,
      );
      return { r: rows[0] };
    } catch (failure) {
      return { r: undefined, failure };
    } finally {
      side.close();
    }
  };
  // A malformed line misleads the sniffer (one column holding the whole header) or stops it.
  const malformed = (s: Attempt): boolean => s.r === undefined || hiddenDelimiter(s.r.Columns) !== undefined;
  const [first, ...rest] = picks as [string, ...string[]];
  const guess: Record<string, unknown> = { delim: likelyDelimiter(firstLine(first)), header: true, quote: '"', escape: '"' };
  const [head, ...guessed] = await Promise.all([sniff(first), ...rest.map((file) => sniff(file, notOwn(guess)))]);
  if (head === undefined || malformed(head)) return malformedAt(first, head ?? { r: undefined });
  const lead = head.r as Sniffed;
  const readWith = layout(lead);
  const given = JSON.stringify(readWith) === JSON.stringify(guess) ? guessed : await Promise.all(rest.map((file) => sniff(file, notOwn(readWith))));
  const columns = JSON.stringify(lead.Columns);
  const dialect = JSON.stringify(dialectOf(lead));
  let agreed = true;
  for (const [i, file] of rest.entries()) {
    let s = given[i] as Attempt;
    if (malformed(s) || JSON.stringify(s.r?.Columns) !== columns) s = await sniff(file);
    if (malformed(s)) return malformedAt(file, s);
    const r = s.r as Sniffed;
    if (JSON.stringify(dialectOf(r)) !== dialect || JSON.stringify(r.Columns) !== columns) agreed = false;
  }
  return agreed ? { kind: 'agreed', dialect: notOwn(dialectOf(lead)), columns: lead.Columns } : { kind: 'differ' };
}

const text = (v: string | null | undefined): string => (v === undefined || v === null || v === '(empty)' ? '' : v);

/**
 * What a read must be told to read as the sniff did, beyond DuckDB's defaults (`"` quoting,
 * doubled to escape; no lines skipped; no comments; ISO dates and timestamps). A sample without
 * quotes keeps the default quoting, which reads it the same and still reads a quoted value in a
 * file the sniff did not see.
 */
function dialectOf(s: Sniffed): Record<string, unknown> {
  const d: Record<string, unknown> = { delim: s.Delimiter, header: s.HasHeader };
  const quote = text(s.Quote);
  const escape = text(s.Escape);
  if (quote !== '' && quote !== '"') Object.assign(d, { quote, escape });
  else if (quote === '"' && escape !== '' && escape !== '"') d.escape = escape;
  if (s.SkipRows > 0) d.skip = s.SkipRows;
  if (text(s.Comment) !== '') d.comment = text(s.Comment);
  if (text(s.DateFormat) !== '') d.dateformat = s.DateFormat;
  if (text(s.TimestampFormat) !== '') d.timestampformat = s.TimestampFormat;
  return d;
}

/** How the lines of a file split into values, as a sniff is given it (the formats are left to detect). */
function layout(s: Sniffed): Record<string, unknown> {
  const d = dialectOf(s);
  return { delim: d.delim, header: d.header, quote: d.quote ?? '"', escape: d.escape ?? '"', ...(d.skip === undefined ? {} : { skip: d.skip }), ...(d.comment === undefined ? {} : { comment: d.comment }) };
}

function malformedAt(file: string, s: Attempt): PicksSniffed {
  return { kind: 'malformed', file, hidden: s.r === undefined ? undefined : hiddenDelimiter(s.r.Columns), lone: s.r?.Columns[0]?.name, failure: s.failure };
}

/** The delimiter a header line holds most of (`,` when it holds none of them). */
export function likelyDelimiter(line: string): string {
  let best = ',';
  let most = 0;
  for (const d of [',', ';', '\t', '|']) {
    const n = line.split(d).length - 1;
    if (n > most) [best, most] = [d, n];
  }
  return best;
}
