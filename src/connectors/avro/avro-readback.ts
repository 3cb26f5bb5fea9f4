// Reading an Avro lake's files back into DuckDB (verify, diff, merge, backup checksums): each file
// decoded with its own schema into a temporary Parquet copy, partition values from its folders.

import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import { CHECKSUM_MODULUS, type ColumnInfo, type OpenedChunk } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { sqlList } from '../../runtime/duckdb-sql.js';
import { avroToParquet, readingOf } from './avro-decode.js';
import { unescapePartition } from './avro-encode.js';

let counter = 0;

/** A folder of this process for decoded copies, under `root`; removed by the caller (or by the sweep of a dead process's leftovers). */
export function decodeDir(root: string, what: string): string {
  const dir = join(root, `${process.pid}-${what}-${(counter++).toString(36)}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

interface Decoded {
  /** SELECTs of each file's rows with its partition values as columns. */
  readonly scans: string[];
  readonly columns: Set<string>;
}

async function decodeAll(conn: DuckConn, files: readonly string[], lake: string | undefined, tmp: string, signal?: AbortSignal): Promise<Decoded> {
  const scans: string[] = [];
  const columns = new Set<string>();
  for (const [i, file] of files.entries()) {
    const reading = readingOf([file]);
    for (const c of reading.columns) columns.add(c.name);
    const parts = await avroToParquet(conn, file, reading, join(tmp, `f${i}`), signal);
    const hive = lake === undefined ? [] : hiveValues(relative(lake, dirname(file)));
    for (const [name] of hive) columns.add(name);
    const extra = hive.map(([name, value]) => `, ${value === null ? 'NULL' : quoteLiteral(value)} AS ${quoteIdent(name)}`).join('');
    // A file without rows still says which columns exist; it adds nothing to read.
    if (parts.length > 0) scans.push(`SELECT *${extra} FROM read_parquet(${sqlList(parts)})`);
  }
  return { scans, columns };
}

/** `month=2024-01/region=eu` → [[month, 2024-01], [region, eu]]. */
function hiveValues(folder: string): [string, string | null][] {
  if (folder === '' || folder === '.') return [];
  return folder
    .split(sep)
    .map((part) => part.split('='))
    .filter((kv): kv is [string, string] => kv.length === 2)
    .map(([k, v]) => [k, unescapePartition(v)]);
}

/**
 * The rows of these lake files as a relation of exactly `columns` (in order, cast to their types;
 * a column no file has reads NULL). `close` removes the decoded copies.
 */
export async function openLakeFiles(conn: DuckConn, files: readonly string[], lake: string, columns: readonly ColumnInfo[], tmpRoot: string, signal?: AbortSignal): Promise<OpenedChunk> {
  const tmp = decodeDir(tmpRoot, 'read');
  const close = async (): Promise<void> => rmSync(tmp, { recursive: true, force: true });
  try {
    const decoded = await decodeAll(conn, files, lake, tmp, signal);
    const select = columns
      .map((c) => (decoded.columns.has(c.name) && decoded.scans.length > 0 ? `CAST(${quoteIdent(c.name)} AS ${c.type}) AS ${quoteIdent(c.name)}` : `CAST(NULL AS ${c.type}) AS ${quoteIdent(c.name)}`))
      .join(', ');
    const from = decoded.scans.length === 0 ? '(SELECT 1 AS __none) WHERE false' : `(${decoded.scans.join(' UNION ALL BY NAME ')})`;
    return { relation: `(SELECT ${select} FROM ${from})`, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Rows and the order-independent checksum of what these files hold (their records, not their folders). */
export function avroChecksum(tmpRoot: string): (conn: DuckConn, files: readonly string[]) => Promise<{ rows: number; checksum: string }> {
  return async (conn, files) => {
    if (files.length === 0) return { rows: 0, checksum: '0' };
    const tmp = decodeDir(tmpRoot, 'sum');
    try {
      const { scans } = await decodeAll(conn, files, undefined, tmp);
      if (scans.length === 0) return { rows: 0, checksum: '0' };
      const rows = await conn.all<{ n: string; s: string }>(
        `SELECT count(*)::VARCHAR AS n, (coalesce(sum(hash(t)::HUGEINT), 0) % ${CHECKSUM_MODULUS})::VARCHAR AS s FROM (${scans.join(' UNION ALL BY NAME ')}) t`,
      );
      return { rows: Number(rows[0]?.n ?? 0), checksum: rows[0]?.s ?? '0' };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  };
}
