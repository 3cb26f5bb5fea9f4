// Backups of a DuckDB table's chunk rows: copied into a table of the run inside the chunk's transaction, put back on rollback.

import { columnExpr } from '../../core/chunk.js';
import { duckRangeCondition } from '../../runtime/duckdb-sql.js';
import { ConnectorError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import type { BackupRecord } from '../../ledger/ledger.js';
import { CHECKSUM_MODULUS, type BackupTaken, type ChunkRange, type ChunkWrite } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';

export const BACKUP_SCHEMA = 'backfill_backup';
/** Columns the backup table puts before the target's own: which chunk, and whether a row is an old row or a key the run wrote. */
const CHUNK_COL = 'backfill_chunk';
const KIND_COL = 'backfill_kind';

/** What a restore needs besides the rows: how the run's rows are found again. */
export interface TableBackupDetail {
  readonly mode: ChunkWrite['mode'];
  /** replace and append: the chunk's range in the target (column, and SQL literals or driver values of its bounds). */
  readonly range?: ChunkRange;
  /** merge: the key columns; the keys the run wrote are kept as `new` rows. */
  readonly key: readonly string[];
}

/** A table name for the run's backups: job and run id, only plain characters, within `max` characters. */
export function backupTableName(job: string, runId: string, max: number): string {
  const run = runId.toLowerCase().replace(/[^a-z0-9]/g, '');
  const room = Math.max(0, max - run.length - 1);
  const base = job.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, room);
  return base === '' ? run : `${base}_${run}`;
}

/**
 * The run's backup table: the target's columns after the chunk key and the row kind. Made before
 * the chunk's transaction and by one chunk at a time: two transactions creating the same table
 * fail each other with a catalog write-write conflict, IF NOT EXISTS notwithstanding.
 */
export async function ensureDuckBackupTable(conn: DuckConn, target: string, alias: string, job: string, runId: string): Promise<void> {
  const table = `${quoteIdent(alias)}.${quoteIdent(BACKUP_SCHEMA)}.${quoteIdent(backupTableName(job, runId, 120))}`;
  await conn.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(alias)}.${quoteIdent(BACKUP_SCHEMA)}`);
  await conn.run(`CREATE TABLE IF NOT EXISTS ${table} AS SELECT ''::VARCHAR AS ${CHUNK_COL}, ''::VARCHAR AS ${KIND_COL}, t.* FROM ${target} AS t LIMIT 0`);
}

/**
 * In the chunk's transaction, before it changes data: copy the rows it may change into the run's
 * backup table (replace, append: the chunk's range; merge: the rows it will change, and the keys it will insert).
 */
export async function backupDuckRows(w: ChunkWrite, target: string, alias: string, job: string, names: readonly string[]): Promise<BackupTaken> {
  const request = w.backup as NonNullable<ChunkWrite['backup']>;
  const name = backupTableName(job, request.runId, 120);
  const table = `${quoteIdent(alias)}.${quoteIdent(BACKUP_SCHEMA)}.${quoteIdent(name)}`;
  const chunk = quoteLiteral(w.chunk.key);
  let detail: TableBackupDetail;
  const columns = await targetColumns(w.conn, alias, name);
  if (w.mode === 'merge') {
    await w.conn.run(`INSERT INTO ${table} ${mergeBackupSelect(w, target, chunk, columns, names)}`, w.signal);
    detail = { mode: w.mode, key: w.key };
  } else {
    if (w.range === undefined) throw new ConnectorError(`backing up chunk ${w.chunk.key} needs the chunk column in the transform output`);
    await w.conn.run(`INSERT INTO ${table} SELECT ${chunk}, 'old', t.* FROM ${target} AS t WHERE ${rangeOf(w.range)}`, w.signal);
    detail = { mode: w.mode, range: w.range, key: w.key };
  }
  const sum = await checksum(w.conn, table, columns, `${CHUNK_COL} = ${chunk} AND ${KIND_COL} = 'old'`);
  return { location: `${BACKUP_SCHEMA}.${name}`, rows: sum.rows, bytes: sum.bytes, checksum: sum.checksum, detail: JSON.stringify(detail) };
}

/**
 * A merge's backup, in one pass over the chunk's rows: only what MERGE will really change. A key
 * the table lacks becomes a `new` row (its key only: a rollback deletes it); a row whose values
 * differ from the table's by MERGE's own `IS DISTINCT FROM` test keeps the table's row as `old`.
 */
function mergeBackupSelect(w: ChunkWrite, target: string, chunk: string, columns: readonly string[], names: readonly string[]): string {
  const keys = new Set(w.key);
  const match = w.key.map((k) => `s.${quoteIdent(k)} = t.${quoteIdent(k)}`).join(' AND ');
  // A matched row has its (non-null) key in t; an unmatched one has NULL there.
  const missing = `t.${quoteIdent(w.key[0] as string)} IS NULL`;
  const cols = columns.map((c) => (keys.has(c) ? `s.${quoteIdent(c)}` : `t.${quoteIdent(c)}`)).join(', ');
  const changed = names.filter((c) => !keys.has(c)).map((c) => `t.${quoteIdent(c)} IS DISTINCT FROM s.${quoteIdent(c)}`);
  return `(${CHUNK_COL}, ${KIND_COL}, ${columns.map(quoteIdent).join(', ')})
    SELECT ${chunk}, CASE WHEN ${missing} THEN 'new' ELSE 'old' END, ${cols}
    FROM (${w.query}) AS s LEFT JOIN ${target} AS t ON ${match} WHERE ${[missing, ...changed].join(' OR ')}`;
}

/** One transaction: remove what the run wrote in the chunk's scope, put the old rows back, check the checksum. */
export async function restoreDuckRows(conn: DuckConn, target: string, alias: string, backup: BackupRecord): Promise<{ rows: number; checksum: string }> {
  const detail = JSON.parse(backup.detail) as TableBackupDetail;
  const name = backup.location.slice(BACKUP_SCHEMA.length + 1);
  const table = `${quoteIdent(alias)}.${quoteIdent(BACKUP_SCHEMA)}.${quoteIdent(name)}`;
  const columns = await targetColumns(conn, alias, name);
  if (columns.length === 0) throw new ConnectorError(`the backup table ${backup.location} of chunk ${backup.chunkKey} is missing; it cannot be restored`);
  const chunk = quoteLiteral(backup.chunkKey);
  const scope =
    detail.mode === 'merge'
      ? `EXISTS (SELECT 1 FROM ${table} AS b WHERE ${keysOf(detail.key, chunk)})`
      : rangeOf(detail.range as NonNullable<TableBackupDetail['range']>);
  const cols = columns.map(quoteIdent).join(', ');
  await conn.run('BEGIN TRANSACTION');
  try {
    await conn.run(`DELETE FROM ${target} AS t WHERE ${scope}`);
    await conn.run(`INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${table} WHERE ${CHUNK_COL} = ${chunk} AND ${KIND_COL} = 'old'`);
    const now = await checksum(conn, `${target} AS t`, columns, scope);
    if (now.checksum !== backup.checksum || now.rows !== backup.rows) {
      throw new ConnectorError(
        `chunk ${backup.chunkKey} restored to ${now.rows} rows with checksum ${now.checksum}, but the backup holds ${backup.rows} rows with checksum ${backup.checksum}; nothing was changed`,
      );
    }
    await conn.run('COMMIT');
    return { rows: now.rows, checksum: now.checksum };
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => {});
    throw err;
  }
}

export async function dropDuckBackups(conn: DuckConn, alias: string, backups: readonly BackupRecord[]): Promise<void> {
  for (const location of new Set(backups.map((b) => b.location))) {
    await conn.run(`DROP TABLE IF EXISTS ${quoteIdent(alias)}.${quoteIdent(BACKUP_SCHEMA)}.${quoteIdent(location.slice(BACKUP_SCHEMA.length + 1))}`);
  }
}

/** The target's columns as the backup table holds them (after the chunk and kind columns). */
async function targetColumns(conn: DuckConn, alias: string, name: string): Promise<string[]> {
  const rows = await conn.all<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns
     WHERE table_catalog = ${quoteLiteral(alias)} AND table_schema = ${quoteLiteral(BACKUP_SCHEMA)} AND table_name = ${quoteLiteral(name)}
     ORDER BY ordinal_position`,
  );
  return rows.map((r) => r.column_name).filter((c) => c !== CHUNK_COL && c !== KIND_COL);
}

async function checksum(conn: DuckConn, from: string, columns: readonly string[], where: string): Promise<{ rows: number; checksum: string; bytes: number }> {
  const cols = columns.map(quoteIdent).join(', ');
  const rows = await conn.all<{ n: string; s: string; b: string }>(
    `SELECT count(*)::VARCHAR AS n, (coalesce(sum(hash(${cols})::HUGEINT), 0) % ${CHECKSUM_MODULUS})::VARCHAR AS s,
       coalesce(sum(strlen(CAST(row(${cols}) AS VARCHAR))), 0)::VARCHAR AS b
     FROM ${from} WHERE ${where}`,
  );
  return { rows: Number(rows[0]?.n ?? 0), checksum: rows[0]?.s ?? '0', bytes: Number(rows[0]?.b ?? 0) };
}

/** The backup's rows of this chunk (keys it inserted, rows it changed) with the same key as target row `t`. */
function keysOf(key: readonly string[], chunk: string): string {
  return [`b.${CHUNK_COL} = ${chunk}`, ...key.map((k) => `b.${quoteIdent(k)} = t.${quoteIdent(k)}`)].join(' AND ');
}

function rangeOf(range: NonNullable<TableBackupDetail['range']>): string {
  return duckRangeCondition(columnExpr(range, quoteIdent, 't.'), range);
}
