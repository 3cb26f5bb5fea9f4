// Lines DuckDB cannot read from CSV (malformed, or a value that fails its column's type) or JSON lines, set aside with their file and line.

import { quoteLiteral } from '../../core/sql-text.js';
import type { ChunkRead, RejectedRow, RejectReader, Rejects } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { SourceDataError } from '../../core/errors.js';
import type { UnclosedQuote } from './files-malformed.js';

const ERRORS = 'backfill_reject_errors_';
const SCANS = 'backfill_reject_scans_';
let reads = 0;

/**
 * read_csv options that skip bad lines and record them in temporary tables of the connection,
 * named for this read alone. DuckDB keeps one record per pair of table names for the whole
 * database, shared by every connection: two chunks reading side by side under the same names
 * mixed up the numbers of their files, and a bad line then matched no file and went uncounted
 * (2 of 1,500 tries of two such reads; none of 3,000 with names of their own).
 */
export function csvKeepRejects(): Readonly<Record<string, unknown>> {
  const n = ++reads;
  return { store_rejects: true, rejects_table: `${ERRORS}${n}`, rejects_scan: `${SCANS}${n}` };
}

/** `readPast`: the quotes that never close whose following lines the reads take again (files-malformed.ts). */
export function csvRejectReader(relation: () => string, chunkRelation: (read: ChunkRead) => Promise<string>, readPast: () => readonly UnclosedQuote[]): RejectReader {
  return { relation, chunkRelation, take: (conn, keep) => takeCsvRejects(conn, keep, readPast()) };
}

/**
 * DuckDB keeps the rejects of every scan on the connection until the tables are dropped; taking
 * them drops them, so the next read starts empty. One error per line: a line with two bad values
 * is one rejected row. Every line an error names is counted, found in a scan's files or not.
 */
async function takeCsvRejects(conn: DuckConn, keep: number, readPast: readonly UnclosedQuote[]): Promise<Rejects> {
  const tables = await conn.all<{ name: string }>(
    `SELECT table_name AS name FROM duckdb_tables() WHERE temporary AND (starts_with(table_name, '${ERRORS}') OR starts_with(table_name, '${SCANS}'))`,
  );
  if (tables.length === 0) return { count: 0, rows: [] };
  const drop = async (): Promise<void> => conn.run(tables.map((t) => `DROP TABLE IF EXISTS ${t.name}`).join('; '));
  // Each read's number, from the names csvKeepRejects gave its tables.
  const numbers = (prefix: string): string[] => tables.map((t) => t.name).filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length))).map((n) => n.slice(prefix.length));
  const tags = numbers(ERRORS);
  if (tags.length === 0) {
    await drop();
    return { count: 0, rows: [] };
  }
  const errors = `(${tags.map((t) => `SELECT ${t} AS tag, * FROM ${ERRORS}${t}`).join(' UNION ALL ')})`;
  // Most reads reject nothing: one count instead of the three grouped queries below.
  const any = await conn.all<{ n: string }>(`SELECT count(*) AS n FROM ${errors}`);
  if (Number(any[0]?.n ?? 0) === 0) {
    await drop();
    return { count: 0, rows: [] };
  }
  const scans = `(${numbers(SCANS).map((t) => `SELECT ${t} AS tag, scan_id, file_id, file_path FROM ${SCANS}${t}`).concat(['SELECT NULL::BIGINT AS tag, NULL::UBIGINT AS scan_id, NULL::UBIGINT AS file_id, NULL::VARCHAR AS file_path WHERE false']).join(' UNION ALL ')})`;
  // A line whose scan names no file still counts, under its scan's own number.
  const joined = `(SELECT coalesce(s.file_path, '(file not recorded)') AS source, coalesce(s.file_path, e.tag || '/' || e.scan_id || '/' || e.file_id) AS place, e.* EXCLUDE (tag)
    FROM ${errors} e LEFT JOIN ${scans} s ON s.tag = e.tag AND s.scan_id = e.scan_id AND s.file_id = e.file_id)`;
  const lines = `(SELECT any_value(source) AS source, line,
      CASE WHEN bool_or(CAST(error_type AS VARCHAR) = 'UNQUOTED VALUE') THEN split_part(any_value(csv_line), chr(10), 1) ELSE any_value(csv_line) END AS raw,
      string_agg(CAST(error_type AS VARCHAR) || coalesce(' in column ' || column_name, '') || ': ' || error_message, '; ') AS reason
    FROM ${joined} GROUP BY place, line)`;
  // A quoted value that runs over line ends and then fails swallowed the lines after its own:
  // unless those are read again, they would be lost under one rejected line, so the read fails.
  const swallowing = await conn.all<{ source: string; line: string | number; raw: string | null }>(
    `SELECT any_value(source) AS source, line, split_part(any_value(csv_line), chr(10), 1) AS raw FROM ${joined}
     WHERE CAST(error_type AS VARCHAR) = 'UNQUOTED VALUE' AND contains(csv_line, chr(10)) GROUP BY place, line ORDER BY source, line`,
  );
  const lost = swallowing.find((w) => !readPast.some((u) => u.file === w.source && u.line === Number(w.line)));
  if (lost !== undefined) {
    await drop();
    throw new SourceDataError(
      `${lost.source}:${String(lost.line)}: a quote opened on this line closes only lines later, so DuckDB read the lines in between as one value ` +
        `(line: ${(lost.raw ?? '').slice(0, 80)}); fix the line — rows would be lost otherwise`,
    );
  }
  const counted = await conn.all<{ n: string }>(`SELECT count(*) AS n FROM ${lines}`);
  const rows = await conn.all<{ source: string; line: string | number; raw: string | null; reason: string }>(
    `SELECT source, line, raw, reason FROM ${lines} ORDER BY source, line LIMIT ${keep}`,
  );
  await drop();
  return {
    count: Number(counted[0]?.n ?? 0),
    rows: rows.map((r) => ({ source: r.source, line: Number(r.line), key: null, raw: r.raw ?? '', reason: r.reason.replace(/\s+/g, ' ').trim() })),
  };
}

/** read_json turns a line it cannot parse into a row of NULLs instead of failing the read. */
export const JSONL_KEEP_REJECTS: Readonly<Record<string, unknown>> = { ignore_errors: true };

/**
 * JSON lines: DuckDB keeps no record of the lines it skips, so their rows of NULLs are counted
 * (as rows with a NULL chunk value) and, when there are any, the files are scanned once more
 * as text for the lines that are not valid JSON, to name their place.
 */
export function jsonlRejectReader(relation: () => string, chunkRelation: (read: ChunkRead) => Promise<string>, files: () => readonly string[]): RejectReader {
  return {
    relation,
    chunkRelation,
    take: async () => ({ count: 0, rows: [] }),
    locate: async (conn, keep) => {
      const paths = files();
      if (paths.length === 0) return [];
      const rows = await conn.all<{ source: string; line: string | number; raw: string; last: boolean }>(
        `SELECT filename AS source, i AS line, ls[i] AS raw, i = len(ls) AS last
         FROM (SELECT filename, string_split(content, chr(10)) AS ls FROM read_text([${paths.map(quoteLiteral).join(', ')}])), generate_series(1, len(ls)) AS t(i)
         WHERE trim(ls[i]) <> '' AND NOT json_valid(ls[i]) ORDER BY source, line LIMIT ${keep}`,
      );
      return rows.map((r): RejectedRow => ({ source: r.source, line: Number(r.line), key: null, raw: r.raw, reason: r.last ? 'malformed JSON: the file ends inside this line (truncated)' : 'malformed JSON' }));
    },
  };
}
