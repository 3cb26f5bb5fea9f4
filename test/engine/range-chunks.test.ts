// chunk.rows on columns that are neither a time nor an integer: text in a collation, UUID, decimal; PostgreSQL, MariaDB, DuckDB and CSV sources, checked row for row.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, planBackfill, readStatus, runBackfill, SqliteLedger, verifyBackfill, type ChunkRecord, type Job, type JobInput } from '../../src/index.js';
import { historyGaps } from '../../src/engine/status/read-status.js';
import { rangeValues } from '../../src/core/chunk.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { ensureMariadb, ensurePostgres, MARIADB_HOST, MARIADB_PORT, POSTGRES_URL, pgQuery } from '../helpers/services.js';

const SUFFIX = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const SCHEMA = `range_${SUFFIX}`;
const MYDB = `backfill_range_${SUFFIX}`;
const ROWS = 400;
const N = 3000;
const dirs: string[] = [];
let admin: mysql.Connection;

const MY = { host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', database: MYDB };

function jobOf(name: string, input: Omit<JobInput, 'name' | 'target'> & { target?: JobInput['target'] }): Job {
  const dir = tempDir(`range-${name}`);
  dirs.push(dir);
  return defineJob({ name, target: { type: 'duckdb', database: join(dir, 'target.duckdb'), table: 't' }, ...input } as JobInput, { baseDir: dir });
}

async function chunkRecords(job: Job): Promise<ChunkRecord[]> {
  const ledger = SqliteLedger.open(job.ledgerPath);
  try {
    return await ledger.listChunks(job.name);
  } finally {
    await ledger.close();
  }
}

/** Every row of a relation as text, sorted: equal lists, equal contents (duplicates included). */
async function duckRows(job: Job, select: string): Promise<string[]> {
  const t = job.target as { database: string };
  const rows = await query<{ r: string }>(`ATTACH '${t.database}' AS t (READ_ONLY); SELECT ${select} AS r FROM t.t`);
  return rows.map((x) => x.r).sort();
}

async function pgRows(sql: string): Promise<string[]> {
  return (await pgQuery<{ r: string }>(sql)).map((x) => x.r).sort();
}

async function myRows(sql: string): Promise<string[]> {
  return ((await admin.query(sql))[0] as { r: string }[]).map((x) => String(x.r)).sort();
}

/** Chunks hold the target's share of rows and a value never appears in two of them. */
async function expectSized(job: Job, total: number): Promise<void> {
  const chunks = await chunkRecords(job);
  expect(chunks.every((c) => c.kind === 'range')).toBe(true);
  expect(chunks[0]?.lo).toBe('');
  expect(chunks.reduce((n, c) => n + (c.rowsWritten ?? 0), 0)).toBe(total);
  expect(Math.max(...chunks.map((c) => c.rowsWritten ?? 0))).toBeLessThanOrEqual(2 * ROWS);
  for (let i = 1; i < chunks.length; i++) expect(chunks[i]?.lo).toBe(chunks[i - 1]?.hi);
}

beforeAll(async () => {
  await ensurePostgres();
  await ensureMariadb();
  await pgQuery(`CREATE SCHEMA ${SCHEMA}`);
  // Mixed case: en-x-icu orders 'a' < 'B' < 'b', bytes order 'B' < 'a'.
  await pgQuery(`CREATE TABLE ${SCHEMA}.codes (code text COLLATE "en-x-icu" PRIMARY KEY, n int)`);
  await pgQuery(`INSERT INTO ${SCHEMA}.codes SELECT CASE WHEN i % 2 = 0 THEN upper(substr(md5(i::text), 1, 6)) ELSE substr(md5(i::text), 1, 6) END || i, i FROM generate_series(1, ${N}) g(i)`);
  await pgQuery(`CREATE TABLE ${SCHEMA}.uuids (id uuid PRIMARY KEY, v int)`);
  await pgQuery(`INSERT INTO ${SCHEMA}.uuids SELECT md5(i::text)::uuid, i FROM generate_series(1, ${N}) g(i)`);
  await pgQuery(`CREATE TABLE ${SCHEMA}.amounts (amount numeric(20,6) PRIMARY KEY, label text)`);
  // Skewed: most amounts below 1, a few very large; more digits than a double keeps.
  await pgQuery(`INSERT INTO ${SCHEMA}.amounts SELECT CASE WHEN i % 10 = 0 THEN 12345678901234 + i / 1000000.0 ELSE i / 1000000.0 END, 'a' || i FROM generate_series(1, ${N}) g(i)`);
  admin = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root' });
  await admin.query(`CREATE DATABASE ${MYDB}`);
  await admin.query(`USE ${MYDB}`);
  await admin.query(`CREATE TABLE ${MYDB}.codes (code varchar(20) COLLATE utf8mb4_bin PRIMARY KEY, n int)`);
  await admin.query(`INSERT INTO ${MYDB}.codes SELECT CONCAT(IF(seq % 2 = 0, UPPER(LEFT(MD5(seq), 6)), LEFT(MD5(seq), 6)), seq), seq FROM seq_1_to_${N}`);
  await admin.query(`CREATE TABLE ${MYDB}.ci_codes (code varchar(20) COLLATE utf8mb4_general_ci PRIMARY KEY, n int)`);
  await admin.query(`INSERT INTO ${MYDB}.ci_codes SELECT code, n FROM ${MYDB}.codes`);
});

afterAll(async () => {
  await pgQuery(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin?.query(`DROP DATABASE IF EXISTS ${MYDB}`);
  await admin?.end();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('PostgreSQL text key in a collation that is not byte order (en-x-icu)', () => {
  const source = { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.codes` } as const;

  it('cuts ranges in the collation: the first chunk ends below values that sort before it in bytes', async () => {
    const job = jobOf('codes-plan', { source, chunk: { column: 'code', rows: ROWS }, write: { mode: 'merge', key: ['code'] } });
    const plan = await planBackfill(job);
    const his = plan.chunks.map((c) => rangeValues(c.hi)?.[0] as string);
    const inCollation = await pgRows(`SELECT code AS r FROM ${SCHEMA}.codes ORDER BY code`);
    // The bounds are in the collation's order, which is not the byte order.
    const sorted = (await pgQuery<{ r: string }>(`SELECT r FROM unnest($1::text[]) r ORDER BY r COLLATE "en-x-icu"`, [his])).map((x) => x.r);
    expect(his).toEqual(sorted);
    // Ranges in bytes would hold other rows: the chunk (.., his[k]] differs as a set.
    const counts = await pgQuery<{ ours: string; bytes: string }>(
      `SELECT count(*) FILTER (WHERE code <= $1) AS ours, count(*) FILTER (WHERE code COLLATE "C" <= $1) AS bytes FROM ${SCHEMA}.codes`, [his[Math.floor(his.length / 2)]]);
    expect(counts[0]?.ours).not.toBe(counts[0]?.bytes);
    expect(his[his.length - 1]).toBe((await pgQuery<{ m: string }>(`SELECT max(code) AS m FROM ${SCHEMA}.codes`))[0]?.m);
    expect(inCollation).toHaveLength(N);
  });

  it('refuses replace, which would delete byte-order ranges in the target, and says what to do', async () => {
    const job = jobOf('codes-replace', { source, chunk: { column: 'code', rows: ROWS } });
    await expect(runBackfill(job)).rejects.toThrow(/collation en-x-icu.*write\.mode merge with write\.key/);
  });

  it('merges every row exactly once, row for row; a rerun does nothing', async () => {
    const job = jobOf('codes-merge', { source, chunk: { column: 'code', rows: ROWS }, write: { mode: 'merge', key: ['code'] } });
    expect(await runBackfill(job)).toMatchObject({ status: 'done', failed: 0, rowsWritten: N });
    await expectSized(job, N);
    expect(await duckRows(job, `code || ':' || n`)).toEqual(await pgRows(`SELECT code || ':' || n AS r FROM ${SCHEMA}.codes`));
    expect(await runBackfill(job)).toMatchObject({ done: 0, rowsWritten: 0 });
    expect((await readStatus(job))?.gaps).toEqual([]);
  });

  it('status names runs of range chunks not done, in plan order', async () => {
    const job = jobOf('codes-gaps', { source, chunk: { column: 'code', rows: ROWS }, write: { mode: 'merge', key: ['code'] } });
    await runBackfill(job);
    const records = await chunkRecords(job);
    const gaps = historyGaps(records.map((r, i) => (i === 1 || i === 2 || i === records.length - 1 ? { ...r, status: 'pending' } : r)));
    expect(gaps).toEqual([
      { lo: records[1]?.lo, hi: records[2]?.hi, chunks: 2 },
      { lo: records[records.length - 1]?.lo, hi: records[records.length - 1]?.hi, chunks: 1 },
    ]);
  });
});

describe('PostgreSQL UUID key', () => {
  it('replaces into PostgreSQL by UUID ranges, row for row; verify agrees; a rerun does nothing', async () => {
    const table = `${SCHEMA}.uuids_copy`;
    const job = jobOf('uuids', {
      source: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.uuids` },
      target: { type: 'postgres', connection: POSTGRES_URL, table, create: true },
      chunk: { column: 'id', rows: ROWS },
    });
    expect(await runBackfill(job)).toMatchObject({ status: 'done', rowsWritten: N });
    await expectSized(job, N);
    expect(await pgRows(`SELECT id || ':' || v AS r FROM ${table}`)).toEqual(await pgRows(`SELECT id || ':' || v AS r FROM ${SCHEMA}.uuids`));
    expect((await verifyBackfill(job)).ok).toBe(true);
    expect(await runBackfill(job, { restate: true })).toMatchObject({ status: 'done', rowsWritten: N });
    expect(await pgRows(`SELECT id || ':' || v AS r FROM ${table}`)).toHaveLength(N);
    expect(await runBackfill(job)).toMatchObject({ done: 0, rowsWritten: 0 });
  });
});

describe('PostgreSQL decimal key', () => {
  it('replaces into MariaDB by decimal ranges without rounding a bound, row for row', async () => {
    const job = jobOf('amounts', {
      source: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.amounts` },
      target: { type: 'mysql', connection: MY, table: 'amounts', create: true },
      chunk: { column: 'amount', rows: ROWS },
    });
    expect(await runBackfill(job)).toMatchObject({ status: 'done', rowsWritten: N });
    await expectSized(job, N);
    const source = await pgRows(`SELECT amount::text || ':' || label AS r FROM ${SCHEMA}.amounts`);
    expect(await myRows(`SELECT CONCAT(amount, ':', label) AS r FROM ${MYDB}.amounts`)).toEqual(source);
    // A restate deletes each chunk's decimal range in MariaDB and writes it again: still no duplicate.
    expect(await runBackfill(job, { restate: true })).toMatchObject({ status: 'done', rowsWritten: N });
    expect(await myRows(`SELECT CONCAT(amount, ':', label) AS r FROM ${MYDB}.amounts`)).toEqual(source);
  });
});

describe('MariaDB text keys', () => {
  it('a _bin column: replace by range into DuckDB, row for row, twice', async () => {
    const job = jobOf('my-codes', { source: { type: 'mysql', connection: MY, table: 'codes' }, chunk: { column: 'code', rows: ROWS } });
    expect(await runBackfill(job)).toMatchObject({ status: 'done', rowsWritten: N });
    await expectSized(job, N);
    const source = await myRows(`SELECT CONCAT(code, ':', n) AS r FROM ${MYDB}.codes`);
    expect(await duckRows(job, `code || ':' || n`)).toEqual(source);
    expect(await runBackfill(job, { restate: true })).toMatchObject({ status: 'done', rowsWritten: N });
    expect(await duckRows(job, `code || ':' || n`)).toEqual(source);
  });

  it('a case-insensitive collation: ranges cut in it, merged row for row; replace refused', async () => {
    const job = jobOf('my-ci', { source: { type: 'mysql', connection: MY, table: 'ci_codes' }, chunk: { column: 'code', rows: ROWS }, write: { mode: 'merge', key: ['code'] } });
    expect(await runBackfill(job)).toMatchObject({ status: 'done', rowsWritten: N });
    await expectSized(job, N);
    expect(await duckRows(job, `code || ':' || n`)).toEqual(await myRows(`SELECT CONCAT(code, ':', n) AS r FROM ${MYDB}.ci_codes`));
    const replace = jobOf('my-ci-replace', { source: { type: 'mysql', connection: MY, table: 'ci_codes' }, chunk: { column: 'code', rows: ROWS } });
    await expect(runBackfill(replace)).rejects.toThrow(/collation utf8mb4_general_ci/);
  });
});

describe('a composite key (tenant_id, id) compared as a tuple', () => {
  /** One big tenant and many small ones: a tenant's rows straddle chunks, compared by (tenant_id, id). */
  const fill = (table: string): string =>
    `INSERT INTO ${table} (tenant_id, id, v) SELECT CASE WHEN g <= 1500 THEN 7 ELSE g % 30 END, g, 'v' || g FROM ${'${SOURCE}'} g`;

  it('PostgreSQL → MariaDB: replace by tuple ranges, row for row, verify agrees, twice', async () => {
    await pgQuery(`CREATE TABLE ${SCHEMA}.orders (tenant_id int, id bigint, v text, PRIMARY KEY (tenant_id, id))`);
    await pgQuery(fill(`${SCHEMA}.orders`).replace('${SOURCE} g', `generate_series(1, ${N}) g`));
    const job = jobOf('pg-orders', {
      source: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.orders` },
      target: { type: 'mysql', connection: MY, table: 'orders', create: true },
      chunk: { column: ['tenant_id', 'id'], rows: ROWS },
    });
    expect(await runBackfill(job)).toMatchObject({ status: 'done', rowsWritten: N });
    await expectSized(job, N);
    expect(rangeValues((await chunkRecords(job))[0]?.hi as string)).toHaveLength(2);
    const source = await pgRows(`SELECT tenant_id || ':' || id || ':' || v AS r FROM ${SCHEMA}.orders`);
    expect(await myRows(`SELECT CONCAT(tenant_id, ':', id, ':', v) AS r FROM ${MYDB}.orders`)).toEqual(source);
    expect((await verifyBackfill(job)).ok).toBe(true);
    expect(await runBackfill(job, { restate: true })).toMatchObject({ status: 'done', rowsWritten: N });
    expect(await myRows(`SELECT CONCAT(tenant_id, ':', id, ':', v) AS r FROM ${MYDB}.orders`)).toEqual(source);
  });

  it('MariaDB → PostgreSQL: replace by tuple ranges, row for row; new rows past the end get new chunks', async () => {
    await admin.query(`CREATE TABLE ${MYDB}.my_orders (tenant_id int, id bigint, v varchar(20), PRIMARY KEY (tenant_id, id))`);
    await admin.query(`INSERT INTO ${MYDB}.my_orders SELECT IF(seq <= 1500, 7, seq % 30), seq, CONCAT('v', seq) FROM seq_1_to_${N}`);
    const table = `${SCHEMA}.my_orders_copy`;
    const job = jobOf('my-orders', {
      source: { type: 'mysql', connection: MY, table: 'my_orders' },
      target: { type: 'postgres', connection: POSTGRES_URL, table, create: true },
      chunk: { column: ['tenant_id', 'id'], rows: ROWS },
    });
    expect(await runBackfill(job)).toMatchObject({ status: 'done', rowsWritten: N });
    await expectSized(job, N);
    const rows = async (): Promise<string[]> => pgRows(`SELECT tenant_id || ':' || id || ':' || v AS r FROM ${table}`);
    expect(await rows()).toEqual(await myRows(`SELECT CONCAT(tenant_id, ':', id, ':', v) AS r FROM ${MYDB}.my_orders`));
    const before = (await chunkRecords(job)).length;
    await admin.query(`INSERT INTO ${MYDB}.my_orders SELECT 99, seq, 'new' FROM seq_1_to_500`);
    expect(await runBackfill(job)).toMatchObject({ status: 'done', rowsWritten: 500 });
    expect((await chunkRecords(job)).length).toBeGreaterThan(before);
    expect(await rows()).toEqual(await myRows(`SELECT CONCAT(tenant_id, ':', id, ':', v) AS r FROM ${MYDB}.my_orders`));
  });
});

describe('DuckDB and CSV sources chunked by a text code', () => {
  it('a DuckDB table: replace into DuckDB by text ranges, row for row, twice', async () => {
    const dir = tempDir('range-duck-src');
    dirs.push(dir);
    const db = join(dir, 'source.duckdb');
    await query(`ATTACH '${db}' AS s; CREATE TABLE s.codes AS SELECT CASE WHEN i % 2 = 0 THEN upper(md5(i::VARCHAR)[1:6]) ELSE md5(i::VARCHAR)[1:6] END || i AS code, i AS n FROM range(1, ${N + 1}) t(i)`);
    const job = jobOf('duck-codes', { source: { type: 'duckdb', database: db, table: 'codes' }, chunk: { column: 'code', rows: ROWS } });
    expect(await runBackfill(job)).toMatchObject({ status: 'done', rowsWritten: N });
    await expectSized(job, N);
    const source = (await query<{ r: string }>(`ATTACH '${db}' AS s2 (READ_ONLY); SELECT code || ':' || n AS r FROM s2.codes`)).map((x) => x.r).sort();
    expect(await duckRows(job, `code || ':' || n`)).toEqual(source);
    expect(await runBackfill(job, { restate: true })).toMatchObject({ status: 'done', rowsWritten: N });
    expect(await duckRows(job, `code || ':' || n`)).toEqual(source);
  });

  it('a DuckDB table by (region, n) as a tuple, and a CSV by (region, n) into a lake: row for row', async () => {
    const dir = tempDir('range-duck-tuple');
    dirs.push(dir);
    const db = join(dir, 'source.duckdb');
    await query(`ATTACH '${db}' AS s; CREATE TABLE s.sales AS SELECT CASE WHEN i <= 1500 THEN 'north' ELSE 'r' || (i % 17) END AS region, i AS n, i * 2 AS v FROM range(1, ${N + 1}) t(i)`);
    const duck = jobOf('duck-tuple', { source: { type: 'duckdb', database: db, table: 'sales' }, chunk: { column: ['region', 'n'], rows: ROWS } });
    expect(await runBackfill(duck)).toMatchObject({ status: 'done', rowsWritten: N });
    await expectSized(duck, N);
    const source = (await query<{ r: string }>(`ATTACH '${db}' AS s3 (READ_ONLY); SELECT region || ':' || n || ':' || v AS r FROM s3.sales`)).map((x) => x.r).sort();
    expect(await duckRows(duck, `region || ':' || n || ':' || v`)).toEqual(source);
    expect(await runBackfill(duck, { restate: true })).toMatchObject({ status: 'done', rowsWritten: N });
    expect(await duckRows(duck, `region || ':' || n || ':' || v`)).toEqual(source);

    const csv = join(dir, 'sales.csv');
    await query(`ATTACH '${db}' AS s4 (READ_ONLY); COPY (SELECT * FROM s4.sales) TO '${csv}' (HEADER)`);
    const lakeJob = jobOf('csv-tuple', { source: { type: 'csv', path: csv }, target: { type: 'parquet', path: join(dir, 'lake') }, chunk: { column: ['region', 'n'], rows: ROWS } });
    expect(await runBackfill(lakeJob)).toMatchObject({ status: 'done', rowsWritten: N });
    await expectSized(lakeJob, N);
    const lake = (await query<{ r: string }>(`SELECT region || ':' || n || ':' || v AS r FROM read_parquet('${dir}/lake/**/*.parquet')`)).map((x) => x.r).sort();
    expect(lake).toEqual(source);
  });

  it('a CSV into a PostgreSQL table whose text column sorts by en-x-icu: replace compares bytes there, twice, row for row', async () => {
    const dir = tempDir('range-csv-pg');
    dirs.push(dir);
    const csv = join(dir, 'codes.csv');
    writeFileSync(csv, ['code,n', ...Array.from({ length: N }, (_, i) => `${i % 2 === 0 ? 'K' : 'k'}${((i * 7919) % N).toString(36)}x${i},${i}`)].join('\n') + '\n');
    await pgQuery(`CREATE TABLE ${SCHEMA}.icu_codes (code text COLLATE "en-x-icu", n bigint)`);
    await pgQuery(`CREATE INDEX ON ${SCHEMA}.icu_codes (code)`);
    const job = jobOf('csv-icu', { source: { type: 'csv', path: csv }, target: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.icu_codes` }, chunk: { column: 'code', rows: ROWS } });
    expect(await runBackfill(job)).toMatchObject({ status: 'done', rowsWritten: N });
    const source = (await query<{ r: string }>(`SELECT code || ':' || n AS r FROM read_csv('${csv}')`)).map((x) => x.r).sort();
    expect(await pgRows(`SELECT code || ':' || n AS r FROM ${SCHEMA}.icu_codes`)).toEqual(source);
    // Each chunk's DELETE must take exactly its own rows, or a restate loses or doubles some.
    expect(await runBackfill(job, { restate: true })).toMatchObject({ status: 'done', rowsWritten: N });
    expect(await pgRows(`SELECT code || ':' || n AS r FROM ${SCHEMA}.icu_codes`)).toEqual(source);
    expect((await verifyBackfill(job)).ok).toBe(true);
  });

  it('a CSV into a Parquet lake: each chunk its own files, row for row; a rerun does nothing', async () => {
    const dir = tempDir('range-csv');
    dirs.push(dir);
    const csv = join(dir, 'codes.csv');
    writeFileSync(csv, ['code,n', ...Array.from({ length: N }, (_, i) => `${i % 2 === 0 ? 'K' : 'k'}${((i * 7919) % N).toString(36)}x${i},${i}`)].join('\n') + '\n');
    const job = jobOf('csv-codes', { source: { type: 'csv', path: csv }, target: { type: 'parquet', path: join(dir, 'lake') }, chunk: { column: 'code', rows: ROWS } });
    expect(await runBackfill(job)).toMatchObject({ status: 'done', rowsWritten: N });
    await expectSized(job, N);
    const lake = (await query<{ r: string }>(`SELECT code || ':' || n AS r FROM read_parquet('${dir}/lake/**/*.parquet')`)).map((x) => x.r).sort();
    const source = (await query<{ r: string }>(`SELECT code || ':' || n AS r FROM read_csv('${csv}')`)).map((x) => x.r).sort();
    expect(lake).toEqual(source);
    expect(await runBackfill(job)).toMatchObject({ done: 0, rowsWritten: 0 });
  });
});
