// Lines DuckDB cannot read from CSV (malformed, or a value that fails its column's type) or JSON lines, set aside with their file and line.

import { quoteLiteral } from '../../core/sql-text.js';
import type { ChunkRead, RejectedRow, RejectReader, Rejects } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { SourceDataError } from '../../core/errors.js';
import type { UnclosedQuote } from './files-malformed.js';

const ERRORS = 'backfill_reject_errors';
const SCANS = 'backfill_reject_scans';

/** read_csv options that skip bad lines and record them in the connection's temporary tables. */
export const CSV_KEEP_REJECTS: Readonly<Record<string, unknown>> = { store_rejects: true, rejects_table: ERRORS, rejects_scan: SCANS };

/** `readPast`: the quotes that never close whose following lines the reads take again (files-malformed.ts). */
export function csvRejectReader(relation: () => string, chunkRelation: (read: ChunkRead) => Promise<string>, readPast: () => readonly UnclosedQuote[]): RejectReader {
  return { relation, chunkRelation, take: (conn, keep) => takeCsvRejects(conn, keep, readPast()) };
}

/**
 * DuckDB keeps the rejects of every scan on the connection until the tables are dropped; taking
 * them drops them, so the next read starts empty. One error per line: a line with two bad values
 * is one rejected row.
 */
async function takeCsvRejects(conn: DuckConn, keep: number, readPast: readonly UnclosedQuote[]): Promise<Rejects> {
  const exists = await conn.all<{ n: string }>(`SELECT count(*) AS n FROM duckdb_tables() WHERE temporary AND table_name = '${ERRORS}'`);
  if (Number(exists[0]?.n ?? 0) === 0) return { count: 0, rows: [] };
  // Most reads reject nothing: one count instead of the three grouped queries below.
  const errors = await conn.all<{ n: string }>(`SELECT count(*) AS n FROM ${ERRORS}`);
  if (Number(errors[0]?.n ?? 0) === 0) {
    await conn.run(`DROP TABLE IF EXISTS ${ERRORS}; DROP TABLE IF EXISTS ${SCANS}`);
    return { count: 0, rows: [] };
  }
  const lines = `(SELECT s.file_path AS source, e.line,
      CASE WHEN bool_or(CAST(e.error_type AS VARCHAR) = 'UNQUOTED VALUE') THEN split_part(any_value(e.csv_line), chr(10), 1) ELSE any_value(e.csv_line) END AS raw,
      string_agg(CAST(e.error_type AS VARCHAR) || coalesce(' in column ' || e.column_name, '') || ': ' || e.error_message, '; ') AS reason
    FROM ${ERRORS} e JOIN ${SCANS} s ON s.scan_id = e.scan_id AND s.file_id = e.file_id
    GROUP BY s.file_path, e.line)`;
  // A quoted value that runs over line ends and then fails swallowed the lines after its own:
  // unless those are read again, they would be lost under one rejected line, so the read fails.
  const swallowing = await conn.all<{ source: string; line: string | number; raw: string | null }>(
    `SELECT s.file_path AS source, e.line, split_part(any_value(e.csv_line), chr(10), 1) AS raw FROM ${ERRORS} e JOIN ${SCANS} s ON s.scan_id = e.scan_id AND s.file_id = e.file_id
     WHERE CAST(e.error_type AS VARCHAR) = 'UNQUOTED VALUE' AND contains(e.csv_line, chr(10)) GROUP BY s.file_path, e.line ORDER BY source, line`,
  );
  const lost = swallowing.find((w) => !readPast.some((u) => u.file === w.source && u.line === Number(w.line)));
  if (lost !== undefined) {
    await conn.run(`DROP TABLE IF EXISTS ${ERRORS}; DROP TABLE IF EXISTS ${SCANS}`);
    throw new SourceDataError(
      `${lost.source}:${String(lost.line)}: a quote opened on this line closes only lines later, so DuckDB read the lines in between as one value ` +
        `(line: ${(lost.raw ?? '').slice(0, 80)}); fix the line — rows would be lost otherwise`,
    );
  }
  const counted = await conn.all<{ n: string }>(`SELECT count(*) AS n FROM ${lines}`);
  const rows = await conn.all<{ source: string; line: string | number; raw: string | null; reason: string }>(
    `SELECT source, line, raw, reason FROM ${lines} ORDER BY source, line LIMIT ${keep}`,
  );
  await conn.run(`DROP TABLE IF EXISTS ${ERRORS}; DROP TABLE IF EXISTS ${SCANS}`);
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
