// SQL pieces for DuckDB: range predicates typed to the chunk column, reader calls, describe.

import { DateTime } from 'luxon';
import { rangeCondition, rangeValues, type Chunk, type RangeLiterals } from '../core/chunk.js';
import { PlanError } from '../core/errors.js';
import { quoteIdent, quoteLiteral } from '../core/sql-text.js';
import type { ColumnInfo } from '../connectors/connector.js';
import type { DuckConn } from './duckdb-session.js';

const TIME_TYPES = /^(TIMESTAMP|TIMESTAMP_S|TIMESTAMP_MS|TIMESTAMP_NS|TIMESTAMP WITH TIME ZONE|TIMESTAMPTZ|DATETIME)$/i;
const INTEGER_TYPES = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|INT\d*)$/i;

/** SQL literals for a chunk's bounds, typed to match the column so filters reach the scan. */
export function rangeLiterals(chunk: Chunk, columnTypes: string | readonly string[], timezone: string): RangeLiterals {
  const types = typeof columnTypes === 'string' ? [columnTypes] : columnTypes;
  const columnType = types[0] ?? '';
  const type = columnType.toUpperCase();
  if (chunk.kind === 'all') return {};
  if (chunk.kind === 'range') {
    const typed = (text: string): string | undefined => {
      const values = rangeValues(text);
      if (values === undefined) return undefined;
      if (values.length !== types.length) throw new PlanError(`chunk ${chunk.key}: a bound of ${values.length} values for ${types.length} chunk column(s)`);
      const cast = values.map((v, i) => `CAST(${quoteLiteral(String(v))} AS ${types[i] as string})`);
      return cast.length === 1 ? (cast[0] as string) : `(${cast.join(', ')})`;
    };
    return { lo: typed(chunk.lo), hi: typed(chunk.hi), holdsHi: true };
  }
  if (chunk.kind === 'key') return { lo: chunk.lo, hi: chunk.hi };
  if (/WITH TIME ZONE|TIMESTAMPTZ/.test(type)) {
    return { lo: `TIMESTAMPTZ ${quoteLiteral(chunk.lo.replace('Z', '+00:00'))}`, hi: `TIMESTAMPTZ ${quoteLiteral(chunk.hi.replace('Z', '+00:00'))}` };
  }
  if (type === 'DATE') {
    const local = (iso: string): string => DateTime.fromISO(iso, { zone: timezone }).toISODate() as string;
    return { lo: `DATE ${quoteLiteral(local(chunk.lo))}`, hi: `DATE ${quoteLiteral(local(chunk.hi))}` };
  }
  const naive = (iso: string): string => iso.replace('T', ' ').replace('Z', '');
  return { lo: `TIMESTAMP ${quoteLiteral(naive(chunk.lo))}`, hi: `TIMESTAMP ${quoteLiteral(naive(chunk.hi))}` };
}

export function rangePredicate(column: string, literals: RangeLiterals): string {
  return duckRangeCondition(quoteIdent(column), literals);
}

/**
 * `rangeCondition` for DuckDB. DuckDB rewrites `x > lo AND x <= hi` into BETWEEN, which it
 * refuses for row values (STRUCT): a tuple's lower bound is kept out of that rewrite.
 */
export function duckRangeCondition(col: string, literals: RangeLiterals): string {
  if (!col.startsWith('(') || literals.lo === undefined || literals.hi === undefined) return rangeCondition(col, literals);
  return `((${rangeCondition(col, { lo: literals.lo, holdsHi: literals.holdsHi })}) = TRUE AND ${rangeCondition(col, { hi: literals.hi, holdsHi: literals.holdsHi })})`;
}

/** Check that the chunk column exists and fits the chunking kind; returns its type ('' for a job without chunk column). */
export function checkChunkColumn(columns: readonly ColumnInfo[], column: string | undefined, kind: Chunk['kind'] | 'rows', where: string): string {
  if (column === undefined) return '';
  const found = columns.find((c) => c.name === column);
  if (found === undefined) {
    throw new PlanError(`chunk.column "${column}" is not a column of ${where}; it has: ${columns.map((c) => c.name).join(', ')}`);
  }
  if (kind === 'time' && !(TIME_TYPES.test(found.type) || found.type.toUpperCase() === 'DATE')) {
    throw new PlanError(`chunk.column "${column}" of ${where} has type ${found.type}; time chunks (chunk.every) need a TIMESTAMP, TIMESTAMPTZ or DATE column (set the type with source.options, e.g. types: { ${column}: TIMESTAMP })`);
  }
  if (kind === 'key' && !INTEGER_TYPES.test(found.type)) {
    throw new PlanError(`chunk.column "${column}" of ${where} has type ${found.type}; key chunks (chunk.size) need an integer column`);
  }
  if (kind === 'rows' && !ORDERED_TYPES.test(found.type)) {
    throw new PlanError(`chunk.column "${column}" of ${where} has type ${found.type}, which chunk.rows cannot cut ranges on; it needs a timestamp, date, integer, decimal, text or UUID column`);
  }
  return found.type;
}

/** Types whose values have a total order the source compares the same way every time. */
const ORDERED_TYPES = /^(TIMESTAMP.*|DATE|DATETIME|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|INT\d*|DECIMAL.*|NUMERIC.*|VARCHAR.*|TEXT|STRING|UUID|ENUM.*)$/i;

/** Which kind of chunk (or incremental cursor) a DuckDB column type can drive: time, integer key, or neither. */
export function columnKind(type: string): 'time' | 'key' | undefined {
  if (TIME_TYPES.test(type) || type.toUpperCase() === 'DATE') return 'time';
  if (INTEGER_TYPES.test(type)) return 'key';
  return undefined;
}

/** Column names and types of a query, without running it. */
export async function describeQuery(conn: DuckConn, query: string): Promise<ColumnInfo[]> {
  const rows = await conn.all<{ column_name: string; column_type: string }>(`DESCRIBE ${query}`);
  return rows.map((r) => ({ name: r.column_name, type: r.column_type }));
}

/** Render reader options as DuckDB named parameters: `, delim = ';', header = true`. */
export function renderOptions(options: Readonly<Record<string, unknown>> | undefined): string {
  if (options === undefined) return '';
  return Object.entries(options)
    .map(([name, value]) => `, ${name} = ${renderValue(value)}`)
    .join('');
}

function renderValue(value: unknown): string {
  if (typeof value === 'string') return quoteLiteral(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(renderValue).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${quoteLiteral(k)}: ${renderValue(v)}`).join(', ')}}`;
  }
  throw new PlanError(`unsupported reader option value ${JSON.stringify(value)}`);
}

export function sqlList(paths: readonly string[]): string {
  return `[${paths.map(quoteLiteral).join(', ')}]`;
}

/** A relation with these columns and types and no rows: how a database-server source shows its shape to DuckDB. */
export function emptyRelation(columns: readonly ColumnInfo[]): string {
  return `(SELECT ${columns.map((c) => `CAST(NULL AS ${c.type}) AS ${quoteIdent(c.name)}`).join(', ')} WHERE false)`;
}
