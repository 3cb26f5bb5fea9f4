// Change data capture into a PostgreSQL table: each micro-batch is COPYed into a temporary staging
// table and applied by DELETE … USING and INSERT … ON CONFLICT in one transaction with its position.

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ChangeSet, RowText } from '../../core/cdc-changes.js';
import type { ApplyResult, CdcPosition, ChangeSink, ChangeSinkSpec } from '../change-sink.js';
import { ConnectorError, PlanError } from '../../core/errors.js';
import { quoteIdent, quoteQualified } from '../../core/sql-text.js';
import { pgError, type PgPool } from './postgres-pool.js';

const POSITIONS = 'backfill.cdc_positions';
const STAGE = 'backfill_cdc_stage';

export class PostgresChangeSink implements ChangeSink {
  /** A failed batch may have left the connection unusable: it is not given back to the pool. */
  private broken = false;
  /** The connection itself failed (server restart, terminated backend): another attempt on a new one may succeed. */
  private lost = false;

  private constructor(
    private readonly db: PgPool,
    private readonly client: pg.PoolClient,
    private readonly tableName: string,
    private readonly spec: ChangeSinkSpec,
    /** The target's type of each source column, for the casts out of the text staging table. */
    private readonly types: readonly string[],
  ) {}

  static async open(db: PgPool, tableName: string, create: boolean, spec: ChangeSinkSpec): Promise<PostgresChangeSink> {
    let client: pg.PoolClient;
    try {
      client = await db.pool.connect();
    } catch (err) {
      throw pgError(err, 'connecting to the target', db);
    }
    if (spec.readOnly === true) return new PostgresChangeSink(db, client, tableName, spec, []);
    client.on('error', () => {});
    try {
      const table = quoteQualified(tableName);
      await client.query(`CREATE SCHEMA IF NOT EXISTS backfill`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${POSITIONS} (job text PRIMARY KEY, slot text NOT NULL, lsn pg_lsn NOT NULL,
        snapshot jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`);
      const oid = (await client.query<{ oid: string | null }>(`SELECT to_regclass($1)::oid::text AS oid`, [table])).rows[0]?.oid ?? null;
      if (oid === null) {
        if (!create) throw new PlanError(`target.table: ${tableName} does not exist in ${db.name} (set create: true to create it)`);
        const defs = spec.columns.map((c) => `${quoteIdent(c.name)} ${c.pgType ?? 'text'}`);
        defs.push(`PRIMARY KEY (${spec.key.map(quoteIdent).join(', ')})`);
        await client.query(`CREATE TABLE IF NOT EXISTS ${table} (${defs.join(', ')})`);
      }
      const have = await client.query<{ name: string; type: string }>(
        `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
         WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
        [table],
      );
      const types = new Map(have.rows.map((r) => [r.name, r.type]));
      const missing = spec.columns.filter((c) => !types.has(c.name)).map((c) => c.name);
      if (missing.length > 0) throw new PlanError(`target.table: ${tableName} lacks the source column(s) ${missing.join(', ')}`);
      const unique = await client.query<{ cols: string[] }>(
        `SELECT array_agg(a.attname::text ORDER BY a.attname) AS cols FROM pg_index i
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL GROUP BY i.indexrelid`,
        [table],
      );
      const key = [...spec.key].sort().join('\0');
      if (!unique.rows.some((r) => r.cols.join('\0') === key)) {
        throw new PlanError(`target.table: ${tableName} needs a primary key or unique index on exactly (${spec.key.join(', ')}) to apply changes by key`);
      }
      const stageCols = spec.columns.map((_, i) => `c${i} text`).join(', ');
      // A pooled connection may still hold the staging table of an earlier sink.
      await client.query(`DROP TABLE IF EXISTS pg_temp.${STAGE}`);
      await client.query(`CREATE TEMP TABLE ${STAGE} (op "char" NOT NULL, keep int[], ${stageCols}) ON COMMIT DELETE ROWS`);
      const sink = new PostgresChangeSink(db, client, tableName, spec, spec.columns.map((c) => types.get(c.name) as string));
      client.on('error', () => (sink.lost = true));
      return sink;
    } catch (err) {
      client.release(true);
      throw err instanceof PlanError ? err : pgError(err, 'preparing the target for changes', db);
    }
  }

  async readPosition(): Promise<CdcPosition | undefined> {
    try {
      const exists = await this.client.query<{ oid: string | null }>(`SELECT to_regclass($1)::text AS oid`, [POSITIONS]);
      if (exists.rows[0]?.oid == null) return undefined;
      const res = await this.client.query<{ lsn: string; slot: string; snapshot: CdcPosition['snapshot'] }>(
        `SELECT lsn::text AS lsn, slot, snapshot FROM ${POSITIONS} WHERE job = $1`,
        [this.spec.job],
      );
      const row = res.rows[0];
      return row === undefined ? undefined : { lsn: row.lsn, slot: row.slot, snapshot: row.snapshot };
    } catch (err) {
      throw pgError(err, 'reading the change position', this.db);
    }
  }

  async apply(changes: ChangeSet, position: CdcPosition): Promise<ApplyResult> {
    const client = this.client;
    const table = quoteQualified(this.tableName);
    const names = this.spec.columns.map((c) => quoteIdent(c.name));
    const cast = (i: number): string => `s.c${i}::${this.types[i] as string}`;
    const keyIdx = this.spec.key.map((k) => this.spec.columns.findIndex((c) => c.name === k));
    const keyMatch = keyIdx.map((i) => `t.${names[i] as string} = ${cast(i)}`).join(' AND ');
    try {
      await client.query('BEGIN');
      let deleted = 0;
      if (changes.truncate) deleted += (await client.query(`DELETE FROM ${table}`)).rowCount ?? 0;
      if (changes.upserts.length > 0 || changes.deletes.length > 0) {
        const sink = client.query(copyFrom(`COPY ${STAGE} FROM STDIN`));
        await pipeline(Readable.from(stageLines(changes, keyIdx, this.spec.columns.length)), sink);
      }
      if (changes.deletes.length > 0) {
        deleted += (await client.query(`DELETE FROM ${table} AS t USING ${STAGE} AS s WHERE s.op = 'd' AND ${keyMatch}`)).rowCount ?? 0;
      }
      let upserted = 0;
      if (changes.upserts.length > 0) {
        const keys = new Set(keyIdx);
        const others = names.map((n, i) => ({ n, i })).filter((c) => !keys.has(c.i));
        const update =
          others.length === 0
            ? 'DO NOTHING'
            : `DO UPDATE SET ${others.map((c) => `${c.n} = EXCLUDED.${c.n}`).join(', ')}
               WHERE (${others.map((c) => `t.${c.n}`).join(', ')}) IS DISTINCT FROM (${others.map((c) => `EXCLUDED.${c.n}`).join(', ')})`;
        upserted += (await client.query(
          `INSERT INTO ${table} AS t (${names.join(', ')}) SELECT ${names.map((_, i) => cast(i)).join(', ')} FROM ${STAGE} AS s
           WHERE s.op = 'u' AND s.keep IS NULL ON CONFLICT (${keyIdx.map((i) => names[i]).join(', ')}) ${update}`,
        )).rowCount ?? 0;
        if (changes.upserts.some((r) => r.includes(undefined)) && others.length > 0) {
          // An update that did not resend a TOASTed value: the target keeps its own.
          const set = others.map((c) => `${c.n} = CASE WHEN ${c.i} = ANY (s.keep) THEN t.${c.n} ELSE ${cast(c.i)} END`).join(', ');
          upserted += (await client.query(`UPDATE ${table} AS t SET ${set} FROM ${STAGE} AS s WHERE s.op = 'u' AND s.keep IS NOT NULL AND ${keyMatch}`)).rowCount ?? 0;
        }
      }
      await client.query(
        `INSERT INTO ${POSITIONS} (job, slot, lsn, snapshot) VALUES ($1, $2, $3::pg_lsn, $4::jsonb)
         ON CONFLICT (job) DO UPDATE SET slot = EXCLUDED.slot, lsn = EXCLUDED.lsn, snapshot = EXCLUDED.snapshot, updated_at = now()`,
        [this.spec.job, position.slot, position.lsn, JSON.stringify(position.snapshot)],
      );
      await client.query('COMMIT');
      return { upserted, deleted };
    } catch (err) {
      this.broken = true;
      await client.query('ROLLBACK').catch(() => {});
      if (err instanceof PlanError) throw err;
      const e = pgError(err, `applying changes to ${this.tableName}`, this.db);
      throw this.lost && !e.retryable ? new ConnectorError(e.message, { cause: err, retryable: true }) : e;
    }
  }

  async forget(): Promise<void> {
    if ((await this.readPosition()) === undefined) return;
    await this.client.query(`DELETE FROM ${POSITIONS} WHERE job = $1`, [this.spec.job]).catch((err: unknown) => {
      throw pgError(err, 'removing the change position', this.db);
    });
  }

  describe(): string {
    return `postgres table ${this.tableName} in ${this.db.name}`;
  }

  async close(): Promise<void> {
    this.client.release(this.broken);
  }
}

/** The batch as COPY text lines: op, the columns to keep (unchanged TOAST), then every column. */
function* stageLines(changes: ChangeSet, keyIdx: readonly number[], width: number): Generator<string> {
  let out = '';
  for (const row of changes.upserts) {
    out += `u\t${keepList(row)}\t${row.map(copyText).join('\t')}\n`;
    if (out.length > 65_536) {
      yield out;
      out = '';
    }
  }
  for (const key of changes.deletes) {
    const row: (string | null)[] = new Array<string | null>(width).fill(null);
    keyIdx.forEach((c, j) => (row[c] = key[j] ?? null));
    out += `d\t\\N\t${row.map(copyText).join('\t')}\n`;
    if (out.length > 65_536) {
      yield out;
      out = '';
    }
  }
  if (out !== '') yield out;
}

function keepList(row: RowText): string {
  const keep: number[] = [];
  row.forEach((v, i) => {
    if (v === undefined) keep.push(i);
  });
  return keep.length === 0 ? '\\N' : `{${keep.join(',')}}`;
}

/** A value in COPY's text format: NULL as \N, backslash and control characters escaped. */
export function copyText(value: string | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  return value.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}
