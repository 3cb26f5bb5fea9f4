// CSV lines DuckDB cannot read (malformed, or a value that fails its column's type), set aside with their file and line.

import type { ChunkRead, RejectReader, Rejects } from '../connector.js';
import type { DuckConn } from '../duckdb/duckdb-session.js';

const ERRORS = 'backfill_reject_errors';
const SCANS = 'backfill_reject_scans';

/** read_csv options that skip bad lines and record them in the connection's temporary tables. */
export const CSV_KEEP_REJECTS: Readonly<Record<string, unknown>> = { store_rejects: true, rejects_table: ERRORS, rejects_scan: SCANS };

export function csvRejectReader(relation: () => string, chunkRelation: (read: ChunkRead) => string): RejectReader {
  return { relation, chunkRelation, take: takeCsvRejects };
}

/**
 * DuckDB keeps the rejects of every scan on the connection until the tables are dropped; taking
 * them drops them, so the next read starts empty. One error per line: a line with two bad values
 * is one rejected row.
 */
async function takeCsvRejects(conn: DuckConn, keep: number): Promise<Rejects> {
  const exists = await conn.all<{ n: string }>(`SELECT count(*) AS n FROM duckdb_tables() WHERE temporary AND table_name = '${ERRORS}'`);
  if (Number(exists[0]?.n ?? 0) === 0) return { count: 0, rows: [] };
  const lines = `(SELECT s.file_path AS source, e.line, any_value(e.csv_line) AS raw,
      string_agg(CAST(e.error_type AS VARCHAR) || coalesce(' in column ' || e.column_name, '') || ': ' || e.error_message, '; ') AS reason
    FROM ${ERRORS} e JOIN ${SCANS} s ON s.scan_id = e.scan_id AND s.file_id = e.file_id
    GROUP BY s.file_path, e.line)`;
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
