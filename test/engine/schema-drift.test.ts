// Schema drift end to end: daily files that gain, lose or retype a column, into PostgreSQL, a Parquet lake and DuckDB.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, runBackfill } from '../../src/index.js';
import { compareColumns, isWidening } from '../../src/engine/safety/schema-drift.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import mysql from 'mysql2/promise';
import { ensureMariadb, ensurePostgres, MARIADB_HOST, MARIADB_PORT, POSTGRES_URL } from '../helpers/services.js';

const SCHEMA = `drift_${Math.random().toString(36).slice(2, 8)}`;
let client: pg.Client;

beforeAll(async () => {
  await ensurePostgres();
  client = new pg.Client({ connectionString: POSTGRES_URL, application_name: SCHEMA });
  await client.connect();
  await client.query(`CREATE SCHEMA ${SCHEMA}`);
});

afterAll(async () => {
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.end();
});

/** One CSV file per day: `columns` names the header, `row(day, i)` gives the values. */
function writeDays(dir: string, days: readonly number[], columns: readonly string[], row: (day: number, i: number) => readonly (string | number)[]): void {
  for (const day of days) {
    const d = String(day).padStart(2, '0');
    const lines = [columns.join(',')];
    for (let i = 0; i < 3; i++) lines.push(row(day, i).join(','));
    writeFileSync(join(dir, `events-2024-01-${d}.csv`), `${lines.join('\n')}\n`);
  }
}

const base = (day: number, i: number): (string | number)[] => [day * 100 + i, `2024-01-${String(day).padStart(2, '0')} 0${i}:00:00`, day * 10 + i];

function pgJob(dir: string, table: string, schemaChanges?: 'fail' | 'evolve', extra: Record<string, unknown> = {}): ReturnType<typeof defineJob> {
  return defineJob(
    {
      name: table,
      source: { type: 'csv', path: 'events-*.csv', pruneBy: 'filename' },
      chunk: { column: 'ts', every: '1 day' },
      target: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.${table}`, create: true },
      retries: { attempts: 1 },
      ...(schemaChanges === undefined ? {} : { schemaChanges }),
      ...extra,
    },
    { baseDir: dir },
  );
}

async function pgColumns(table: string): Promise<Record<string, string>> {
  const res = await client.query<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
    [SCHEMA, table],
  );
  return Object.fromEntries(res.rows.map((r) => [r.column_name, r.data_type]));
}

describe('schema drift rules', () => {
  it.each([
    ['INTEGER', 'BIGINT', true],
    ['BIGINT', 'INTEGER', false],
    ['FLOAT', 'DOUBLE', true],
    ['DECIMAL(10,2)', 'DECIMAL(12,2)', true],
    ['DECIMAL(10,2)', 'DECIMAL(12,4)', true],
    ['DECIMAL(10,2)', 'DECIMAL(10,3)', false],
    ['INTEGER', 'DECIMAL(12,2)', true],
    ['BIGINT', 'DECIMAL(12,2)', false],
    ['BIGINT', 'VARCHAR', false],
    ['BIGINT', 'DOUBLE', false],
  ])('%s → %s is a widening: %s', (from, to, expected) => {
    expect(isWidening(from, to)).toBe(expected);
  });

  it('names added, lost and retyped columns, ignoring order', () => {
    const ref = [{ name: 'a', type: 'BIGINT' }, { name: 'b', type: 'VARCHAR' }, { name: 'c', type: 'INTEGER' }];
    const now = [{ name: 'c', type: 'BIGINT' }, { name: 'a', type: 'BIGINT' }, { name: 'd', type: 'DATE' }];
    expect(compareColumns(ref, now)).toEqual([
      { kind: 'added', name: 'd', type: 'DATE' },
      { kind: 'lost', name: 'b', type: 'VARCHAR' },
      { kind: 'retyped', name: 'c', from: 'INTEGER', to: 'BIGINT', widening: true },
    ]);
  });
});

describe('schema drift into PostgreSQL', () => {
  it('fails the chunks whose files gained a column, naming the column, chunk and file, and writes nothing of them', async () => {
    const dir = tempDir('drift-add');
    writeDays(dir, [1, 2, 3], ['id', 'ts', 'amount'], base);
    writeDays(dir, [4, 5], ['id', 'ts', 'amount', 'note'], (d, i) => [...base(d, i), `n${d}${i}`]);
    const job = pgJob(dir, 'gain_fail');
    const result = await runBackfill(job);
    expect(result.done).toBe(3);
    expect(result.failed).toBe(2);
    const failed = result.chunks.filter((c) => c.outcome === 'failed');
    expect(failed.map((c) => c.key)).toEqual(['2024-01-04T00:00:00Z/2024-01-05T00:00:00Z', '2024-01-05T00:00:00Z/2024-01-06T00:00:00Z']);
    const error = failed[0]?.error ?? '';
    expect(error).toContain('added column "note" (VARCHAR)');
    expect(error).toContain('chunk 2024-01-04T00:00:00Z/2024-01-05T00:00:00Z');
    expect(error).toContain('events-2024-01-04.csv');
    expect(error).toContain('schemaChanges: evolve');
    // Nothing of the failed chunks reached the table, and the table did not change shape.
    const rows = await client.query<{ day: string; n: string }>(`SELECT to_char(ts, 'DD') AS day, count(*) AS n FROM ${SCHEMA}.gain_fail GROUP BY 1 ORDER BY 1`);
    expect(rows.rows).toEqual([{ day: '01', n: '3' }, { day: '02', n: '3' }, { day: '03', n: '3' }]);
    expect(Object.keys(await pgColumns('gain_fail')).sort()).toEqual(['amount', 'id', 'ts']);
    // The reference schema is recorded in the ledger.
    const db = new Database(job.ledgerPath, { readonly: true });
    const recorded = db.prepare('SELECT columns FROM backfill_source_schemas WHERE job = ?').get('gain_fail') as { columns: string };
    db.close();
    expect(JSON.parse(recorded.columns)).toEqual([{ name: 'id', type: 'BIGINT' }, { name: 'ts', type: 'TIMESTAMP' }, { name: 'amount', type: 'BIGINT' }]);
    // Retrying does not help while the files are as they are.
    expect((await runBackfill(job, { retryFailed: true })).failed).toBe(2);
  });

  it('with schemaChanges: evolve adds the new column between runs; earlier rows read NULL', async () => {
    const dir = tempDir('drift-evolve');
    writeDays(dir, [1, 2, 3], ['id', 'ts', 'amount'], base);
    expect(await runBackfill(pgJob(dir, 'gain_evolve', 'evolve'))).toMatchObject({ done: 3, failed: 0 });
    writeDays(dir, [4, 5], ['id', 'ts', 'amount', 'note'], (d, i) => [...base(d, i), `n${d}${i}`]);
    const second = await runBackfill(pgJob(dir, 'gain_evolve', 'evolve'));
    expect(second).toMatchObject({ done: 2, failed: 0 });
    expect(await pgColumns('gain_evolve')).toMatchObject({ note: 'text', amount: 'bigint' });
    const rows = await client.query<{ id: number; note: string | null }>(`SELECT id::int AS id, note FROM ${SCHEMA}.gain_evolve ORDER BY id`);
    expect(rows.rows).toHaveLength(15);
    expect(rows.rows.filter((r) => r.id < 400).every((r) => r.note === null)).toBe(true);
    expect(rows.rows.filter((r) => r.id >= 400).map((r) => r.note)).toEqual(['n40', 'n41', 'n42', 'n50', 'n51', 'n52']);
    // A third run (restating everything) is stable: the evolved schema is the reference now.
    expect(await runBackfill(pgJob(dir, 'gain_evolve', 'evolve'), { restate: true })).toMatchObject({ done: 5, failed: 0 });
    expect((await client.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.gain_evolve`)).rows[0]).toEqual({ n: 15 });
  });

  it('with evolve, a new column within one run is added before any chunk writes', async () => {
    const dir = tempDir('drift-evolve-one');
    writeDays(dir, [1, 2], ['id', 'ts', 'amount'], base);
    writeDays(dir, [3], ['id', 'ts', 'amount', 'note'], (d, i) => [...base(d, i), `n${d}${i}`]);
    expect(await runBackfill(pgJob(dir, 'gain_one', 'evolve'))).toMatchObject({ done: 3, failed: 0 });
    const rows = await client.query<{ n: number; notes: number }>(`SELECT count(*)::int AS n, count(note)::int AS notes FROM ${SCHEMA}.gain_one`);
    expect(rows.rows[0]).toEqual({ n: 9, notes: 3 });
  });

  it('a lost column fails by default and is written as NULL with evolve (the target keeps it)', async () => {
    const dir = tempDir('drift-lost');
    writeDays(dir, [1, 2], ['id', 'ts', 'amount'], base);
    writeDays(dir, [3], ['id', 'ts'], (d, i) => base(d, i).slice(0, 2));
    const failing = await runBackfill(pgJob(dir, 'lost', 'fail'));
    expect(failing).toMatchObject({ done: 2, failed: 1 });
    expect(failing.chunks.find((c) => c.outcome === 'failed')?.error).toContain('lost column "amount" (BIGINT)');
    const evolved = await runBackfill(pgJob(dir, 'lost', 'evolve'));
    expect(evolved).toMatchObject({ done: 1, failed: 0 });
    expect(await pgColumns('lost')).toHaveProperty('amount');
    const rows = await client.query<{ id: number; amount: string | null }>(`SELECT id, amount FROM ${SCHEMA}.lost WHERE id >= 300 ORDER BY id`);
    expect(rows.rows).toEqual([{ id: '300', amount: null }, { id: '301', amount: null }, { id: '302', amount: null }]);
  });

  it('a retyped column fails with the old and new type, with evolve too', async () => {
    const dir = tempDir('drift-retype');
    writeDays(dir, [1, 2], ['id', 'ts', 'amount'], base);
    for (const mode of ['fail', 'evolve'] as const) expect(await runBackfill(pgJob(dir, `retype_${mode}`, mode))).toMatchObject({ done: 2 });
    // A later file's values are text now: the recorded BIGINT cannot hold them.
    writeDays(dir, [3], ['id', 'ts', 'amount'], (d, i) => [...base(d, i).slice(0, 2), `x${i}`]);
    for (const mode of ['fail', 'evolve'] as const) {
      const result = await runBackfill(pgJob(dir, `retype_${mode}`, mode));
      expect(result).toMatchObject({ done: 0, failed: 1 });
      const error = result.chunks.find((c) => c.outcome === 'failed')?.error ?? '';
      expect(error).toContain('column "amount" changed type from BIGINT to VARCHAR');
      expect(error).toContain('events-2024-01-03.csv');
      expect((await client.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.retype_${mode} WHERE id >= 300`)).rows[0]).toEqual({ n: 0 });
    }
  });

  it('a safe widening (INTEGER → BIGINT, Parquet files) is applied to the target with evolve and fails by default', async () => {
    const dir = tempDir('drift-widen');
    const writeDay = async (day: number): Promise<void> => {
      const type = day < 3 ? 'INTEGER' : 'BIGINT';
      const big = day < 3 ? 'i' : 'i + 5000000000';
      await query(`COPY (SELECT CAST(${day * 100} + i AS BIGINT) AS id, TIMESTAMP '2024-01-0${day}' + INTERVAL (i) HOUR AS ts, CAST(${big} AS ${type}) AS amount FROM range(3) t(i))
        TO '${join(dir, `events-2024-01-0${day}.parquet`)}' (FORMAT parquet)`);
    };
    await writeDay(1);
    await writeDay(2);
    const job = (name: string, mode: 'fail' | 'evolve'): ReturnType<typeof defineJob> =>
      pgJob(dir, name, mode, { source: { type: 'parquet', path: 'events-*.parquet', pruneBy: 'filename' } });
    for (const mode of ['fail', 'evolve'] as const) expect(await runBackfill(job(`widen_${mode}`, mode))).toMatchObject({ done: 2 });
    await writeDay(3);
    const failing = await runBackfill(job('widen_fail', 'fail'));
    expect(failing).toMatchObject({ done: 0, failed: 1 });
    expect(failing.chunks.find((c) => c.outcome === 'failed')?.error).toContain('column "amount" changed type from INTEGER to BIGINT (a widening)');
    expect(await pgColumns('widen_fail')).toMatchObject({ amount: 'integer' });
    expect(await runBackfill(job('widen_evolve', 'evolve'))).toMatchObject({ done: 1, failed: 0 });
    expect(await pgColumns('widen_evolve')).toMatchObject({ amount: 'bigint' });
    const max = await client.query<{ m: string }>(`SELECT max(amount)::text AS m FROM ${SCHEMA}.widen_evolve`);
    expect(max.rows[0]?.m).toBe('5000000002');
  });
});

describe('schema drift into a Parquet lake and DuckDB', () => {
  function lakeJob(dir: string, mode: 'fail' | 'evolve', pruneBy: 'filename' | 'none'): ReturnType<typeof defineJob> {
    return defineJob(
      {
        name: `lake-${mode}-${pruneBy}`,
        source: { type: 'csv', path: 'events-*.csv*', pruneBy },
        chunk: { column: 'ts', every: '1 day' },
        target: { type: 'parquet', path: `lake-${mode}-${pruneBy}` },
        retries: { attempts: 1 },
        schemaChanges: mode,
      },
      { baseDir: dir },
    );
  }

  it('per-chunk files: fails the changed chunks by default; with evolve new files carry the column and union_by_name reads NULL for older ones', async () => {
    const dir = tempDir('drift-lake');
    writeDays(dir, [1, 2], ['id', 'ts', 'amount'], base);
    writeDays(dir, [3], ['id', 'ts', 'amount', 'note'], (d, i) => [...base(d, i), `n${d}${i}`]);
    // The changed day is gzip-compressed: its header is read through the decompressor.
    const plain = join(dir, 'events-2024-01-03.csv');
    writeFileSync(`${plain}.gz`, gzipSync(readFileSync(plain)));
    rmSync(plain);
    const failing = await runBackfill(lakeJob(dir, 'fail', 'filename'));
    expect(failing).toMatchObject({ done: 2, failed: 1 });
    expect(failing.chunks.find((c) => c.outcome === 'failed')?.error).toContain('added column "note"');
    const files = await query<{ n: string }>(`SELECT count(*) AS n FROM glob('${join(dir, 'lake-fail-filename')}/**/*.parquet')`);
    expect(Number(files[0]?.n)).toBe(2);
    expect(await runBackfill(lakeJob(dir, 'evolve', 'filename'))).toMatchObject({ done: 3, failed: 0 });
    const rows = await query<{ id: string; note: string | null }>(
      `SELECT id, note FROM read_parquet('${join(dir, 'lake-evolve-filename')}/**/*.parquet', union_by_name = true) ORDER BY id`,
    );
    expect(rows.map((r) => r.note)).toEqual([null, null, null, null, null, null, 'n30', 'n31', 'n32']);
  });

  it('one pass over all files (no per-chunk files): a change fails the whole run before anything is written; evolve writes every chunk', async () => {
    const dir = tempDir('drift-onepass');
    writeDays(dir, [1, 2], ['id', 'ts', 'amount'], base);
    writeDays(dir, [3], ['id', 'ts', 'amount', 'note'], (d, i) => [...base(d, i), `n${d}${i}`]);
    await expect(runBackfill(lakeJob(dir, 'fail', 'none'))).rejects.toThrow(/events-2024-01-03\.csv: added column "note" \(VARCHAR\)\. Nothing was written/);
    const none = await query<{ n: string }>(`SELECT count(*) AS n FROM glob('${join(dir, 'lake-fail-none')}/**/*.parquet')`);
    expect(Number(none[0]?.n)).toBe(0);
    const evolved = await runBackfill(lakeJob(dir, "evolve", "none"));
    expect(evolved.chunks.map((c) => c.error ?? "")).toEqual(["", "", ""]);
    expect(evolved).toMatchObject({ done: 3, failed: 0 });
    const rows = await query<{ n: string; notes: string }>(
      `SELECT count(*) AS n, count(note) AS notes FROM read_parquet('${join(dir, 'lake-evolve-none')}/**/*.parquet', union_by_name = true)`,
    );
    expect(rows[0]).toEqual({ n: '9', notes: '3' });
  });

  it('a DuckDB target gains the column with evolve', async () => {
    const dir = tempDir('drift-duck');
    writeDays(dir, [1, 2], ['id', 'ts', 'amount'], base);
    const job = (): ReturnType<typeof defineJob> =>
      defineJob(
        {
          name: 'duck', source: { type: 'csv', path: 'events-*.csv', pruneBy: 'filename' }, chunk: { column: 'ts', every: '1 day' },
          target: { type: 'duckdb', database: 't.duckdb', table: 'events' }, schemaChanges: 'evolve', retries: { attempts: 1 },
        },
        { baseDir: dir },
      );
    expect(await runBackfill(job())).toMatchObject({ done: 2 });
    writeDays(dir, [3], ['id', 'ts', 'amount', 'note'], (d, i) => [...base(d, i), `n${d}${i}`]);
    expect(await runBackfill(job())).toMatchObject({ done: 1, failed: 0 });
    const rows = await query<{ n: string; notes: string }>(`ATTACH '${join(dir, 't.duckdb')}' AS t (READ_ONLY); SELECT count(*) AS n, count(note) AS notes FROM t.events`);
    expect(rows[rows.length - 1]).toEqual({ n: '9', notes: '3' });
  });
});

describe('schema drift of a database source between runs', () => {
  it('a PostgreSQL source table that gains a column fails the next run before any write; evolve adds it to the target', async () => {
    const dir = tempDir('drift-pgsrc');
    await client.query(`CREATE TABLE ${SCHEMA}.src (id bigint PRIMARY KEY, v text)`);
    await client.query(`INSERT INTO ${SCHEMA}.src SELECT i, 'v' || i FROM generate_series(1, 30) i`);
    const job = (mode: 'fail' | 'evolve', name: string): ReturnType<typeof defineJob> =>
      defineJob(
        {
          name, source: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.src` }, chunk: { column: 'id', size: 10 },
          target: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.${name}`, create: true }, write: { mode: 'merge', key: ['id'] },
          schemaChanges: mode, retries: { attempts: 1 },
        },
        { baseDir: dir },
      );
    expect(await runBackfill(job('fail', 'pgsrc_fail'))).toMatchObject({ done: 4 });
    expect(await runBackfill(job('evolve', 'pgsrc_evolve'))).toMatchObject({ done: 4 });
    await client.query(`ALTER TABLE ${SCHEMA}.src ADD COLUMN extra integer`);
    await client.query(`UPDATE ${SCHEMA}.src SET extra = id * 2, v = v || '+'`);
    await expect(runBackfill(job('fail', 'pgsrc_fail'), { restate: true })).rejects.toThrow(/added column "extra" \(INTEGER\)\. Nothing was written/);
    expect((await client.query(`SELECT count(*)::int AS n FROM ${SCHEMA}.pgsrc_fail WHERE v LIKE '%+'`)).rows[0]).toEqual({ n: 0 });
    expect(await runBackfill(job('evolve', 'pgsrc_evolve'), { restate: true })).toMatchObject({ done: 4, failed: 0 });
    expect(await pgColumns('pgsrc_evolve')).toMatchObject({ extra: 'integer' });
    expect((await client.query(`SELECT sum(extra)::int AS s FROM ${SCHEMA}.pgsrc_evolve`)).rows[0]).toEqual({ s: 930 });
  });
});

describe('schema drift into MySQL', () => {
  const DB = `drift_${Math.random().toString(36).slice(2, 8)}`;
  let admin: mysql.Connection;
  beforeAll(async () => {
    await ensureMariadb();
    admin = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root' });
    await admin.query(`CREATE DATABASE \`${DB}\``);
  });
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS \`${DB}\``);
    await admin.end();
  });

  it('with evolve a MySQL target gains the column; earlier rows read NULL', async () => {
    const dir = tempDir('drift-mysql');
    writeDays(dir, [1, 2], ['id', 'ts', 'amount'], base);
    writeDays(dir, [3], ['id', 'ts', 'amount', 'note'], (d, i) => [...base(d, i), `n${d}${i}`]);
    const job = defineJob(
      {
        name: 'drift-mysql', source: { type: 'csv', path: 'events-*.csv', pruneBy: 'filename' }, chunk: { column: 'ts', every: '1 day' },
        target: { type: 'mysql', connection: { host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', database: DB }, table: 'events', create: true },
        schemaChanges: 'evolve', retries: { attempts: 1 },
      },
      { baseDir: dir },
    );
    expect(await runBackfill(job)).toMatchObject({ done: 3, failed: 0 });
    const [rows] = await admin.query(`SELECT count(*) AS n, count(note) AS notes FROM \`${DB}\`.events`);
    expect((rows as { n: number; notes: number }[])[0]).toEqual({ n: 9, notes: 3 });
  });
});

