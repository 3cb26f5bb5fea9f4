// Backups of a Parquet lake's chunk files: hard links (or copies) taken before a write replaces them, and put back on rollback.

import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { ConnectorError } from '../../core/errors.js';
import type { BackupRecord } from '../../ledger/ledger.js';
import { CHECKSUM_MODULUS, type BackupRequest, type BackupTaken } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { sqlList } from '../../runtime/duckdb-sql.js';

const MANIFEST = 'backup.json';

/** Rows and the order-independent checksum of the rows in a lake's files; each file format reads its own. */
export type FilesChecksum = (conn: DuckConn, files: readonly string[]) => Promise<{ rows: number; checksum: string }>;

interface ParquetBackupDetail {
  readonly tag: string;
  /** The backed-up files, relative to the lake (and to the backup's `files/` folder). */
  readonly files: readonly string[];
}

/**
 * Link the chunk's files as they are now into `<dir>/<tag>/files/…`. A backup the same run took
 * already (an attempt that failed halfway through publishing) is kept: it holds the state before the run.
 */
export async function backupChunkFiles(
  conn: DuckConn, lake: string, tag: string, files: Iterable<string>, request: BackupRequest, checksum: FilesChecksum = filesChecksum,
): Promise<BackupTaken> {
  const dir = join(request.dir, tag);
  const manifest = join(dir, MANIFEST);
  if (existsSync(manifest)) return JSON.parse(readFileSync(manifest, 'utf8')) as BackupTaken;
  rmSync(dir, { recursive: true, force: true });
  const rels: string[] = [];
  let bytes = 0;
  for (const file of [...files].sort()) {
    const rel = relative(lake, file);
    if (rel.startsWith('..')) throw new ConnectorError(`chunk file ${file} is outside the lake ${lake}`);
    const dest = join(dir, 'files', rel);
    mkdirSync(dirname(dest), { recursive: true });
    linkOrCopy(file, dest);
    bytes += statSync(dest).size;
    rels.push(rel.split(sep).join('/'));
  }
  mkdirSync(dir, { recursive: true });
  const sum = await checksum(conn, rels.map((r) => join(dir, 'files', r)));
  const detail: ParquetBackupDetail = { tag, files: rels };
  const taken: BackupTaken = { location: dir, rows: sum.rows, bytes, checksum: sum.checksum, detail: JSON.stringify(detail) };
  // Written last and by rename: a manifest means the backup is complete.
  writeFileSync(`${manifest}.tmp`, JSON.stringify(taken));
  renameSync(`${manifest}.tmp`, manifest);
  return taken;
}

/**
 * Put the backed-up files back in place of the chunk's current files (`current`): each file by an
 * atomic rename, then the chunk's files the backup does not hold are removed; the result is checked
 * against the backup's checksum.
 */
export async function restoreChunkFiles(
  conn: DuckConn, lake: string, current: readonly string[], backup: BackupRecord, checksum: FilesChecksum = filesChecksum,
): Promise<{ rows: number; checksum: string }> {
  const detail = JSON.parse(backup.detail) as ParquetBackupDetail;
  const restored = new Set<string>();
  for (const rel of detail.files) {
    const from = join(backup.location, 'files', rel);
    if (!existsSync(from)) throw new ConnectorError(`the backup of chunk ${backup.chunkKey} misses ${from}; it cannot be restored`);
    const dest = join(lake, rel);
    mkdirSync(dirname(dest), { recursive: true });
    const tmp = `${dest}.restore-tmp`;
    rmSync(tmp, { force: true });
    linkOrCopy(from, tmp);
    renameSync(tmp, dest);
    restored.add(dest);
  }
  for (const file of current) if (!restored.has(file)) rmSync(file, { force: true });
  const result = await checksum(conn, [...restored].sort());
  if (result.checksum !== backup.checksum || result.rows !== backup.rows) {
    throw new ConnectorError(
      `chunk ${backup.chunkKey} was restored but its files do not match the backup (${result.rows} rows, checksum ${result.checksum}; backup ${backup.rows} rows, checksum ${backup.checksum})`,
    );
  }
  return result;
}

/** Remove the backup folders of these records, and the run's folder once empty. */
export function dropChunkBackups(backups: readonly BackupRecord[]): void {
  const parents = new Set<string>();
  for (const b of backups) {
    rmSync(b.location, { recursive: true, force: true });
    parents.add(dirname(b.location));
  }
  for (const p of parents) {
    try {
      rmdirSync(p);
    } catch {
      // not empty or already gone
    }
  }
}

/** Rows and the order-independent checksum of the rows in these files (their contents, not their hive folders). */
async function filesChecksum(conn: DuckConn, files: readonly string[]): Promise<{ rows: number; checksum: string }> {
  if (files.length === 0) return { rows: 0, checksum: '0' };
  const rows = await conn.all<{ n: string; s: string }>(
    `SELECT count(*)::VARCHAR AS n, (coalesce(sum(hash(t)::HUGEINT), 0) % ${CHECKSUM_MODULUS})::VARCHAR AS s
     FROM read_parquet(${sqlList(files)}, hive_partitioning = false, union_by_name = true) t`,
  );
  return { rows: Number(rows[0]?.n ?? 0), checksum: rows[0]?.s ?? '0' };
}

function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    // Another file system, or links not allowed: a copy keeps the same bytes.
    copyFileSync(from, to);
  }
}
