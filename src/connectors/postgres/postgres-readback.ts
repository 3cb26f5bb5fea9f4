// A PostgreSQL target's rows read back into DuckDB (verify, diff): COPY … TO STDOUT into a local CSV file.

import { columnExpr, rangeCondition } from '../../core/chunk.js';
import { createReadStream, createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { byteBatches } from '../../runtime/byte-batches.js';
import { BackfillError, PlanError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import type { OpenedChunk, TargetKeyRead, TargetRead } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { duckTypeOf, pgError, type PgPool, PG_BYTES } from './postgres-pool.js';

export interface PgReadBack {
  readonly db: PgPool;
  /** The table, quoted. */
  readonly table: string;
  /** Folder for the fetched file. */
  readonly dir: string;
}

/** The target's rows in the chunk's range, by the same predicate replace mode deletes with. */
export async function readPgRange(rb: PgReadBack, read: TargetRead, signal: AbortSignal): Promise<OpenedChunk> {
  if (read.range === undefined) throw new PlanError(`reading back chunk ${read.chunk.key} from ${rb.table} needs the chunk column in the transform's output`);
  return readPg(rb, read, rangeCondition(columnExpr(read.range, quoteIdent, 't.', PG_BYTES), read.range), signal, async () => {});
}

/**
 * The target's rows whose key is among the chunk's keys, anywhere in the table: the keys go into a
 * temporary table in a transaction that is rolled back, so the target is left as it was.
 */
export async function readPgKeys(rb: PgReadBack, conn: DuckConn, read: TargetKeyRead, signal: AbortSignal): Promise<OpenedChunk> {
  mkdirSync(rb.dir, { recursive: true });
  const keyFile = join(rb.dir, `${process.pid}-${read.chunk.tag}-keys-${Math.random().toString(36).slice(2)}.csv`);
  const keys = read.key.map(quoteIdent);
  try {
    await conn.run(`COPY (SELECT ${keys.join(', ')} FROM ${read.keys}) TO ${quoteLiteral(keyFile)} (FORMAT csv, HEADER false)`, signal);
    const match = keys.map((k) => `t.${k} = k.${k}`).join(' AND ');
    return await readPg(rb, read, `EXISTS (SELECT 1 FROM backfill_diff_keys AS k WHERE ${match})`, signal, async (client) => {
      await client.query(`CREATE TEMP TABLE backfill_diff_keys ON COMMIT DROP AS SELECT ${keys.join(', ')} FROM ${rb.table} LIMIT 0`);
      await pipeline(createReadStream(keyFile), client.query(copyFrom(`COPY backfill_diff_keys FROM STDIN (FORMAT csv)`)));
      await client.query('ANALYZE backfill_diff_keys');
    });
  } finally {
    rmSync(keyFile, { force: true });
  }
}

async function readPg(rb: PgReadBack, read: TargetRead, where: string, signal: AbortSignal, before: (client: pg.PoolClient) => Promise<void>): Promise<OpenedChunk> {
  mkdirSync(rb.dir, { recursive: true });
  const file = join(rb.dir, `${process.pid}-${read.chunk.tag}-read-${Math.random().toString(36).slice(2)}.csv`);
  let columns: { name: string; type: string }[] = [];
  try {
    const client = await rb.db.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const types = await client.query<{ name: string; type: string }>(
        `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
        [rb.table],
      );
      const byName = new Map(types.rows.map((r) => [r.name, r.type]));
      if (byName.size === 0) throw new PlanError(`target table ${rb.table} does not exist in ${rb.db.name}`);
      columns = read.columns.map((c) => {
        const pgType = byName.get(c.name);
        if (pgType === undefined) throw new PlanError(`target table ${rb.table} has no column ${c.name}`);
        return { name: c.name, type: duckTypeOf(pgType) };
      });
      await before(client);
      const select = columns.map((c) => (c.type === 'BLOB' ? `encode(t.${quoteIdent(c.name)}, 'hex')` : `t.${quoteIdent(c.name)}`)).join(', ');
      await pipeline(client.query(copyTo(`COPY (SELECT ${select} FROM ${rb.table} AS t WHERE ${where}) TO STDOUT (FORMAT csv)`)), byteBatches(), createWriteStream(file), { signal });
    } catch (err) {
      broken = true;
      throw err;
    } finally {
      // Nothing read back is ever kept in the target: the transaction always rolls back.
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      client.release(broken);
    }
  } catch (err) {
    rmSync(file, { force: true });
    if (err instanceof BackfillError) throw err;
    throw pgError(err, `reading back chunk ${read.chunk.key}`, rb.db);
  }
  const spec = `{${columns.map((c) => `${quoteLiteral(c.name)}: ${quoteLiteral(c.type === 'BLOB' || c.type === 'JSON' ? 'VARCHAR' : c.type)}`).join(', ')}}`;
  const decode = columns
    .filter((c) => c.type === 'BLOB' || c.type === 'JSON')
    .map((c) => `${c.type === 'BLOB' ? `unhex(${quoteIdent(c.name)})` : `CAST(${quoteIdent(c.name)} AS JSON)`} AS ${quoteIdent(c.name)}`);
  const csv = `read_csv(${quoteLiteral(file)}, header = false, auto_detect = false, allow_quoted_nulls = false, delim = ',', quote = '"', escape = '"', columns = ${spec})`;
  return {
    relation: decode.length === 0 ? `(SELECT * FROM ${csv})` : `(SELECT * REPLACE (${decode.join(', ')}) FROM ${csv})`,
    close: async () => rmSync(file, { force: true }),
  };
}
