// Backups of a MySQL table's chunk rows: copied into a table of the run inside the chunk's transaction, put back on rollback.

import { columnExpr } from '../../core/chunk.js';
import type { PoolConnection } from 'mysql2/promise';
import { ConnectorError } from '../../core/errors.js';
import type { BackupRecord } from '../../ledger/ledger.js';
import { CHECKSUM_MODULUS, type BackupTaken, type ChunkWrite } from '../connector.js';
import { backupTableName } from '../duckdb/duckdb-backup.js';
import { mysqlCondition, quoteMysqlIdent, type MysqlBounds } from './mysql-pool.js';

const PREFIX = 'backfill_backup_';
const CHUNK_COL = 'backfill_chunk';
const KIND_COL = 'backfill_kind';
/** MySQL names are at most 64 characters. */
const MAX_NAME = 64;

interface MysqlBackupDetail {
  readonly mode: ChunkWrite['mode'];
  /** replace and append: the chunk column and its bounds as driver values (integers as digits). */
  readonly range?: { readonly column: string; readonly columns?: readonly string[] | undefined; readonly integer?: boolean } & Partial<MysqlBounds>;
  readonly key: readonly string[];
}

/** `schema.name` or `name`, quoted. */
function quoted(location: string): string {
  return location.split('.').map(quoteMysqlIdent).join('.');
}

/**
 * The run's backup table beside the target (same database): the target's columns after the chunk key
 * and row kind, without indexes. CREATE TABLE commits implicitly in MySQL, so this runs before the chunk's transaction.
 */
export async function ensureMysqlBackupTable(conn: PoolConnection, target: string, schema: string | undefined, job: string, runId: string): Promise<string> {
  const name = PREFIX + backupTableName(job, runId, MAX_NAME - PREFIX.length);
  const location = schema === undefined ? name : `${schema}.${name}`;
  // Indexed by chunk: each chunk's checksum and restore reads only its own rows.
  await conn.query(
    `CREATE TABLE IF NOT EXISTS ${quoted(location)} (KEY backfill_chunk_kind (${CHUNK_COL}, ${KIND_COL})) ENGINE=InnoDB AS
     SELECT CAST('' AS CHAR(255)) AS ${CHUNK_COL}, CAST('' AS CHAR(8)) AS ${KIND_COL}, t.* FROM ${target} AS t LIMIT 0`,
  );
  return location;
}

/**
 * In the chunk's transaction, before it changes data: replace and append keep the rows of the chunk's
 * range (`bounds` as the driver takes them); merge keeps the rows whose key is among the staged rows, and the staged keys.
 * A merge's `changed` names a temporary table to fill with the staged rows the merge will really change.
 */
export async function backupMysqlRows(
  conn: PoolConnection, w: ChunkWrite, target: string, location: string, stage: string, columns: readonly string[], bounds: MysqlBounds | undefined,
  changed?: string,
): Promise<BackupTaken> {
  const table = quoted(location);
  let detail: MysqlBackupDetail;
  const targetCols = await backupColumns(conn, location);
  if (w.mode === 'merge') {
    if (changed === undefined) throw new ConnectorError(`backing up chunk ${w.chunk.key} of a merge needs a table for the rows it changes`);
    // The comparison runs once: its staged rows are what the backup keeps the table's side of, and what the upsert then reads.
    await conn.query(`DROP TEMPORARY TABLE IF EXISTS ${changed}`);
    await conn.query(`CREATE TEMPORARY TABLE ${changed} AS ${changedSelect(w, target, stage, columns)}`);
    await conn.query(`INSERT INTO ${table} ${mergeBackupSelect(w, target, changed, targetCols)}`, [w.chunk.key]);
    detail = { mode: w.mode, key: w.key };
  } else {
    if (w.range === undefined || bounds === undefined) throw new ConnectorError(`backing up chunk ${w.chunk.key} needs the chunk column in the transform output`);
    const range = { column: w.range.column, columns: w.range.columns, ...bounds };
    const scope = rangeOf(range);
    await conn.query(`INSERT INTO ${table} SELECT ?, 'old', t.* FROM ${target} AS t WHERE ${scope.where}`, [w.chunk.key, ...scope.values]);
    detail = { mode: w.mode, range, key: w.key };
  }
  const sum = await checksum(conn, { from: `${table} AS t`, where: `t.${CHUNK_COL} = ? AND t.${KIND_COL} = 'old'`, values: [w.chunk.key] }, targetCols);
  return { location, ...sum, detail: JSON.stringify(detail) };
}

/**
 * The staged rows the upsert will really change, in one pass over them (driven from them through
 * the target's unique key; the staging table has no index to probe): a key the table lacks, or
 * values that differ from the table's. Values are compared as bytes, the way InnoDB decides that an
 * update changes a row, so a change a collation calls equal ('a' → 'A') is still kept; a row that
 * compares equal is left alone by the upsert too.
 */
function changedSelect(w: ChunkWrite, target: string, stage: string, names: readonly string[]): string {
  const keys = new Set(w.key);
  const same = names
    .filter((c) => !keys.has(c))
    .map((c) => `CAST(t.${quoteMysqlIdent(c)} AS BINARY) <=> CAST(s.${quoteMysqlIdent(c)} AS BINARY)`);
  const changed = same.length === 0 ? '' : ` OR NOT (${same.join(' AND ')})`;
  return `SELECT ${names.map((c) => `s.${quoteMysqlIdent(c)}`).join(', ')} FROM ${stage} AS s LEFT JOIN ${target} AS t ON ${keyMatch(w)} WHERE ${missingKey(w)}${changed}`;
}

/**
 * A merge's backup of the rows it changes (`changedSelect`): a key the table lacks becomes a `new`
 * row (its key only: a rollback deletes it); a row whose values differ keeps the table's row as an `old` row.
 */
function mergeBackupSelect(w: ChunkWrite, target: string, changed: string, targetCols: readonly string[]): string {
  const keys = new Set(w.key);
  const cols = targetCols.map((c) => (keys.has(c) ? `s.${quoteMysqlIdent(c)}` : `t.${quoteMysqlIdent(c)}`)).join(', ');
  return `(${CHUNK_COL}, ${KIND_COL}, ${targetCols.map(quoteMysqlIdent).join(', ')})
    SELECT ?, IF(${missingKey(w)}, 'new', 'old'), ${cols} FROM ${changed} AS s LEFT JOIN ${target} AS t ON ${keyMatch(w)}`;
}

function keyMatch(w: ChunkWrite): string {
  return w.key.map((k) => `s.${quoteMysqlIdent(k)} = t.${quoteMysqlIdent(k)}`).join(' AND ');
}

/** A matched row has its (non-null) key in t; an unmatched one has NULL there. */
function missingKey(w: ChunkWrite): string {
  return `t.${quoteMysqlIdent(w.key[0] as string)} IS NULL`;
}

/** One transaction: remove what the run wrote in the chunk's scope, put the old rows back, check the checksum. */
export async function restoreMysqlRows(conn: PoolConnection, target: string, backup: BackupRecord): Promise<{ rows: number; checksum: string }> {
  const detail = JSON.parse(backup.detail) as MysqlBackupDetail;
  const table = quoted(backup.location);
  const columns = await backupColumns(conn, backup.location);
  if (columns.length === 0) throw new ConnectorError(`the backup table ${backup.location} of chunk ${backup.chunkKey} is missing; it cannot be restored`);
  // Merge: the target rows whose key the backup holds (keys the run inserted, rows it changed), found by joining them to the target's unique key.
  const scope: Scope =
    detail.mode === 'merge'
      ? {
          from: `${target} AS t JOIN (SELECT DISTINCT ${detail.key.map(quoteMysqlIdent).join(', ')} FROM ${table} WHERE ${CHUNK_COL} = ?) AS b
            ON ${detail.key.map((k) => `b.${quoteMysqlIdent(k)} = t.${quoteMysqlIdent(k)}`).join(' AND ')}`,
          where: 'TRUE',
          values: [backup.chunkKey],
        }
      : { from: `${target} AS t`, ...rangeOf(detail.range as NonNullable<MysqlBackupDetail['range']>) };
  const cols = columns.map(quoteMysqlIdent).join(', ');
  await conn.query('START TRANSACTION');
  try {
    await conn.query(`DELETE t FROM ${scope.from} WHERE ${scope.where}`, [...scope.values]);
    await conn.query(`INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${table} WHERE ${CHUNK_COL} = ? AND ${KIND_COL} = 'old'`, [backup.chunkKey]);
    const now = await checksum(conn, scope, columns);
    if (now.checksum !== backup.checksum || now.rows !== backup.rows) {
      throw new ConnectorError(
        `chunk ${backup.chunkKey} restored to ${now.rows} rows with checksum ${now.checksum}, but the backup holds ${backup.rows} rows with checksum ${backup.checksum}; nothing was changed`,
      );
    }
    await conn.query('COMMIT');
    return { rows: now.rows, checksum: now.checksum };
  } catch (err) {
    await conn.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export async function dropMysqlBackups(conn: PoolConnection, backups: readonly BackupRecord[]): Promise<void> {
  for (const location of new Set(backups.map((b) => b.location))) await conn.query(`DROP TABLE IF EXISTS ${quoted(location)}`);
}

async function backupColumns(conn: PoolConnection, location: string): Promise<string[]> {
  const parts = location.split('.');
  const name = parts[parts.length - 1] as string;
  const schema = parts.length > 1 ? (parts[0] as string) : null;
  const [rows] = await conn.query(
    `SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [schema, name],
  );
  return (rows as { name: string }[]).map((r) => r.name).filter((c) => c !== CHUNK_COL && c !== KIND_COL);
}

/** Rows, the sum of 64-bit hashes (first half of the MD5 of each row's quoted values) modulo 2^64, and the rows' text size. */
interface Scope {
  /** FROM clause naming the rows' table `t`. */
  readonly from: string;
  readonly where: string;
  readonly values: readonly unknown[];
}

async function checksum(conn: PoolConnection, scope: Scope, columns: readonly string[]): Promise<{ rows: number; checksum: string; bytes: number }> {
  const text = `CONCAT_WS(',', ${columns.map((c) => `QUOTE(t.${quoteMysqlIdent(c)})`).join(', ')})`;
  const [rows] = await conn.query(
    `SELECT CAST(COUNT(*) AS CHAR) AS n,
       CAST(MOD(COALESCE(SUM(CAST(CONV(SUBSTRING(MD5(${text}), 1, 16), 16, 10) AS DECIMAL(20,0))), 0), ${CHECKSUM_MODULUS}) AS CHAR) AS s,
       CAST(COALESCE(SUM(LENGTH(${text})), 0) AS CHAR) AS b
     FROM ${scope.from} WHERE ${scope.where}`,
    [...scope.values],
  );
  const r = (rows as { n: string; s: string; b: string }[])[0];
  return { rows: Number(r?.n ?? 0), checksum: r?.s ?? '0', bytes: Number(r?.b ?? 0) };
}

function rangeOf(range: NonNullable<MysqlBackupDetail['range']>): { where: string; values: unknown[] } {
  // Backups taken before range chunks say `integer: true|false` instead of `as`.
  const as = range.as ?? (range.integer === true ? 'integer' : 'value');
  return mysqlCondition(columnExpr(range, quoteMysqlIdent, 't.'), { lo: range.lo, hi: range.hi, holdsHi: range.holdsHi, as });
}
