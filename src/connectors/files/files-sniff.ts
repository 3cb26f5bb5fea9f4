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

/** What the picks said: one dialect and columns, something else each, or a file the sniffer could not settle. */
export type PicksSniffed =
  | { readonly kind: 'agreed'; readonly delim: string; readonly header: boolean; readonly columns: readonly SniffedColumn[] }
  | { readonly kind: 'differ' }
  | { readonly kind: 'malformed'; readonly file: string; readonly hidden: string | undefined; readonly lone: string | undefined; readonly failure: unknown };

type Sniffed = { Delimiter: string; HasHeader: boolean; Columns: SniffedColumn[] };
type Attempt = { readonly r: Sniffed | undefined; readonly failure?: unknown };

/**
 * Sniff `picks` (the first, middle and last file). The first is sniffed whole; the others beside it
 * with a delimiter and header given and the reads' quoting, which leaves DuckDB only their types to
 * detect (less than half the time on the 50M-row demo's plain files: 16-22 ms against 41-52). The
 * delimiter given is the one the first file's header line suggests, so they need not wait for its
 * sniff; where the sniff finds another, they are sniffed again with that one. One that fails so, or
 * whose columns differ from the first's, is sniffed whole, so a file of another dialect or a
 * malformed one is seen as it would be on its own. `options`: the job's reader options, which go
 * into every sniff; those it sets are not given.
 */
export async function sniffPicks(conn: DuckConn, picks: readonly string[], options: Readonly<Record<string, unknown>> | undefined): Promise<PicksSniffed> {
  const own = Object.keys(options ?? {}).map((k) => k.toLowerCase());
  // Each on a connection of its own, so they run side by side.
  const sniff = async (file: string, given: Record<string, unknown> = {}): Promise<Attempt> => {
    const side = await conn.sibling();
    try {
      const rows = await side.all<Sniffed>(`SELECT Delimiter, HasHeader, Columns FROM sniff_csv(${quoteLiteral(file)}${renderOptions({ ...options, ...given })})`);
      return { r: rows[0] };
    } catch (failure) {
      return { r: undefined, failure };
    } finally {
      side.close();
    }
  };
  const dialect = (delim: string, header: boolean): Record<string, unknown> =>
    Object.fromEntries(Object.entries({ delim, header, quote: '"', escape: '"' }).filter(([k]) => !own.includes(k)));
  // A malformed line misleads the sniffer (one column holding the whole header) or stops it.
  const malformed = (s: Attempt): boolean => s.r === undefined || hiddenDelimiter(s.r.Columns) !== undefined;
  const [first, ...rest] = picks as [string, ...string[]];
  const guess = likelyDelimiter(firstLine(first));
  const [head, ...guessed] = await Promise.all([sniff(first), ...rest.map((file) => sniff(file, dialect(guess, true)))]);
  if (head === undefined || malformed(head)) return malformedAt(first, head ?? { r: undefined });
  const lead = head.r as Sniffed;
  const given = lead.Delimiter === guess && lead.HasHeader ? guessed : await Promise.all(rest.map((file) => sniff(file, dialect(lead.Delimiter, lead.HasHeader))));
  const columns = JSON.stringify(lead.Columns);
  let agreed = true;
  for (const [i, file] of rest.entries()) {
    let s = given[i] as Attempt;
    if (malformed(s) || JSON.stringify(s.r?.Columns) !== columns) s = await sniff(file);
    if (malformed(s)) return malformedAt(file, s);
    const r = s.r as Sniffed;
    if (r.Delimiter !== lead.Delimiter || r.HasHeader !== lead.HasHeader || JSON.stringify(r.Columns) !== columns) agreed = false;
  }
  return agreed ? { kind: 'agreed', delim: lead.Delimiter, header: lead.HasHeader, columns: lead.Columns } : { kind: 'differ' };
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
