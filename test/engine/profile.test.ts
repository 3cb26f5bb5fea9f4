// `backfill profile` against real sources: a skewed PostgreSQL table, a MariaDB table, a DuckDB file, a Parquet file and daily CSV files;
// default (statistics) rows per chunk checked against exact counts, --exact equal to them, NULLs, duplicate keys, missing indexes, DST, --json, the CLI.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, profileJob, type ProfileReport } from '../../src/index.js';
import { runCli, tempDir, writeJob } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { ensureMariadb, ensurePostgres, mysqlQuery, POSTGRES_URL, pgQuery } from '../helpers/services.js';

const SUFFIX = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const PG_SCHEMA = `profile_${SUFFIX}`;
const MYSQL_DB = `profile_${SUFFIX}`;
const MYSQL_URL = `mysql://root@127.0.0.1:3306/${MYSQL_DB}`;
const dir = tempDir('profile');

/**
 * Tolerance of estimates from statistics: each chunk within 3% of all rows plus 15% of its own count
 * (PostgreSQL's ANALYZE samples 30,000 rows; EXPLAIN and line sampling are estimates too).
 */
function expectClose(estimated: readonly number[], exact: readonly number[]): void {
  const total = exact.reduce((a, b) => a + b, 0);
  expect(estimated).toHaveLength(exact.length);
  exact.forEach((n, i) => expect(Math.abs((estimated[i] ?? 0) - n), `chunk ${i}: ${estimated[i]} vs ${n}`).toBeLessThanOrEqual(0.03 * total + 0.15 * n));
}
const rowsOf = (r: ProfileReport): number[] => r.perChunk.chunks.map((c) => c.rows);

/** Six months; the last holds 100× the rows of the first (rows per day grow geometrically by month). */
const PER_DAY = [10, 25, 60, 150, 400, 1000];

beforeAll(async () => {
  await ensurePostgres();
  await ensureMariadb();
  await pgQuery(`CREATE SCHEMA ${PG_SCHEMA}`);
  await mysqlQuery(`CREATE DATABASE \`${MYSQL_DB}\``);
});
afterAll(async () => {
  await pgQuery(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`);
  await mysqlQuery(`DROP DATABASE IF EXISTS \`${MYSQL_DB}\``);
});

const lake = (name: string): Record<string, unknown> => ({ type: 'parquet', path: join(dir, 'lake', name) });

describe('PostgreSQL source', () => {
  const table = `${PG_SCHEMA}.events`;
  beforeAll(async () => {
    await pgQuery(`CREATE TABLE ${table} (id bigint, ts timestamp, v int)`);
    for (const [m, perDay] of PER_DAY.entries()) {
      await pgQuery(
        `INSERT INTO ${table} SELECT 0, d + (s * interval '1 minute'), s FROM generate_series(timestamp '2024-0${m + 1}-01', timestamp '2024-0${m + 1}-01' + interval '1 month' - interval '1 day', interval '1 day') d, generate_series(1, ${perDay}) s`,
      );
    }
    await pgQuery(`UPDATE ${table} SET id = t.n FROM (SELECT ctid AS c, row_number() OVER () AS n FROM ${table}) t WHERE ctid = t.c`);
    // Seven rows without a chunk value, three keys twice.
    await pgQuery(`INSERT INTO ${table} SELECT 1000000 + s, NULL, 0 FROM generate_series(1, 7) s`);
    await pgQuery(`INSERT INTO ${table} SELECT id, ts, v FROM ${table} WHERE id IN (5, 6, 7)`);
    await pgQuery(`ANALYZE ${table}`);
  });
  const job = (): ReturnType<typeof defineJob> =>
    defineJob(
      {
        name: 'pg-profile',
        source: { type: 'postgres', connection: POSTGRES_URL, table },
        chunk: { column: 'ts', every: '1 month', timezone: 'Europe/Paris' },
        target: lake('pg'),
        write: { mode: 'merge', key: ['id'] },
      },
      { baseDir: dir },
    );

  it('--exact counts each month in one query; the default from pg_stats lands within tolerance; NULLs, duplicates, the index and DST are reported', async () => {
    const exact = await profileJob(job(), { exact: true, estimate: false });
    const truth = await pgQuery<{ n: string }>(
      `SELECT count(*)::text AS n FROM generate_series(0, 5) m LEFT JOIN ${table} e ON e.ts >= (timestamp '2024-01-01' + m * interval '1 month') AT TIME ZONE 'Europe/Paris' AT TIME ZONE 'UTC' AND e.ts < (timestamp '2024-02-01' + m * interval '1 month') AT TIME ZONE 'Europe/Paris' AT TIME ZONE 'UTC' GROUP BY m ORDER BY m`,
    );
    expect(rowsOf(exact)).toEqual(truth.map((r) => Number(r.n)));
    expect(exact.perChunk.source).toBe('exact count');
    expect(exact.nullRows?.value).toBe(7);
    expect(exact.duplicates?.value).toBe(3);
    expect(exact.duplicates?.examples.map((e) => e.key).sort()).toEqual(['5', '6', '7']);
    const codes = exact.problems.map((p) => p.code);
    expect(codes).toEqual(expect.arrayContaining(['source-chunk-index', 'null-chunk-values', 'duplicate-keys', 'zoneless-dst', 'skew']));
    expect(exact.problems.find((p) => p.code === 'source-chunk-index')?.fix).toBe(`CREATE INDEX ON "${PG_SCHEMA}"."events" ("ts");`);
    expect(exact.skew.ratio).toBeGreaterThan(5);

    const cheap = await profileJob(job(), { estimate: false });
    expect(cheap.perChunk.source).toBe('pg_stats histogram');
    expect(cheap.rows?.source).toBe('pg_class.reltuples');
    expectClose(rowsOf(cheap), rowsOf(exact));
    expect(Math.abs((cheap.nullRows?.value ?? 0) - 7)).toBeLessThanOrEqual(10);
  });

  it('an index that leads with the chunk column silences the problem', async () => {
    await pgQuery(`CREATE INDEX ON ${table} (ts)`);
    const report = await profileJob(job(), { estimate: false });
    expect(report.problems.map((p) => p.code)).not.toContain('source-chunk-index');
  });
});

describe('MariaDB source', () => {
  beforeAll(async () => {
    await mysqlQuery(`CREATE TABLE \`${MYSQL_DB}\`.events (id bigint, ts datetime(3), v int)`);
    await mysqlQuery(
      `INSERT INTO \`${MYSQL_DB}\`.events SELECT seq, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (seq * seq DIV 2000) MINUTE, seq FROM \`${MYSQL_DB}\`.seq_1_to_20000`,
    );
    await mysqlQuery(`INSERT INTO \`${MYSQL_DB}\`.events VALUES (1, NULL, 0), (2, NULL, 0)`);
  });
  const job = (): ReturnType<typeof defineJob> =>
    defineJob(
      {
        name: 'my-profile',
        source: { type: 'mysql', connection: MYSQL_URL, table: 'events' },
        chunk: { column: 'ts', every: '1 week', timezone: 'UTC' },
        target: lake('my'),
        write: { mode: 'merge', key: ['id'] },
      },
      { baseDir: dir },
    );

  it('without an index: exact counts, the ALTER TABLE that adds one, NULLs and duplicate keys; with it: EXPLAIN estimates within tolerance', async () => {
    const exact = await profileJob(job(), { exact: true, estimate: false });
    const truth = await mysqlQuery<{ n: number }>(
      `SELECT COUNT(*) AS n FROM \`${MYSQL_DB}\`.events WHERE ts IS NOT NULL GROUP BY FLOOR(TIMESTAMPDIFF(SECOND, '2024-01-01', ts) / 604800) ORDER BY 1`,
    );
    expect(rowsOf(exact).filter((n) => n > 0).sort((a, b) => a - b)).toEqual(truth.map((r) => Number(r.n)).sort((a, b) => a - b));
    expect(exact.nullRows?.value).toBe(2);
    expect(exact.duplicates?.value).toBe(2);
    expect(exact.problems.find((p) => p.code === 'source-chunk-index')?.fix).toBe(`ALTER TABLE \`events\` ADD INDEX (\`ts\`);`);
    await mysqlQuery(`ALTER TABLE \`${MYSQL_DB}\`.events ADD INDEX (ts)`);
    const cheap = await profileJob(job(), { estimate: false });
    expect(cheap.perChunk.source).toMatch(/^EXPLAIN row estimates/);
    expectClose(rowsOf(cheap), rowsOf(exact));
    expect(cheap.problems.map((p) => p.code)).not.toContain('source-chunk-index');
    // The sample runs on the profile's own source (its connections to MariaDB) and reads every row of its slices.
    const sampled = await profileJob(job());
    if (sampled.estimate.seconds === undefined) throw new Error(`no estimate: ${sampled.estimate.source}`);
    const { lo, hi, points } = sampled.estimate.sample;
    const [inside] = await mysqlQuery<{ n: number }>(
      `SELECT COUNT(*) AS n FROM \`${MYSQL_DB}\`.events WHERE ts >= '${lo.replace('T', ' ').replace('Z', '')}' AND ts < '${hi.replace('T', ' ').replace('Z', '')}'`,
    );
    expect(points.filter((p) => p.role !== 'warm').reduce((a, p) => a + p.rows, 0)).toBe(Number(inside?.n));
  });
});

describe('files and DuckDB', () => {
  const rows = `SELECT i AS id, TIMESTAMP '2024-01-01' + to_minutes(CAST(i * i // 4000 AS BIGINT)) AS ts, i % 7 AS v FROM range(1, 40001) t(i)`;
  beforeAll(async () => {
    await query(`COPY (${rows} UNION ALL SELECT 0, NULL, 0) TO '${join(dir, 'events.parquet')}' (FORMAT parquet, ROW_GROUP_SIZE 2048)`);
    await query(`ATTACH '${join(dir, 'events.duckdb')}' AS db; CREATE TABLE db.events AS ${rows}; DETACH db`);
    mkdirSync(join(dir, 'csv'));
    const days = await query<{ d: string }>(`SELECT DISTINCT strftime(ts, '%Y-%m-%d') AS d FROM (${rows}) ORDER BY 1`);
    for (const { d } of days) {
      await query(`COPY (SELECT * FROM (${rows}) WHERE strftime(ts, '%Y-%m-%d') = '${d}') TO '${join(dir, 'csv', `events-${d}.csv`)}' (HEADER)`);
    }
    // The same days with every third file gzipped, as the demo writes them.
    mkdirSync(join(dir, 'csv-gz'));
    for (const [i, { d }] of days.entries()) {
      const gz = i % 3 === 2;
      await query(`COPY (SELECT * FROM (${rows}) WHERE strftime(ts, '%Y-%m-%d') = '${d}') TO '${join(dir, 'csv-gz', `events-${d}.csv${gz ? '.gz' : ''}`)}' (HEADER${gz ? ', COMPRESSION gzip' : ''})`);
    }
  });
  const job = (name: string, source: Record<string, unknown>, every = '1 week'): ReturnType<typeof defineJob> =>
    defineJob({ name, source, chunk: { column: 'ts', every, timezone: 'UTC' }, target: lake(name), write: { mode: 'replace' } }, { baseDir: dir });
  const sources: Record<string, Record<string, unknown>> = {
    parquet: { type: 'parquet', path: 'events.parquet' },
    duckdb: { type: 'duckdb', database: 'events.duckdb', table: 'events' },
    csv: { type: 'csv', path: 'csv/events-*.csv', pruneBy: 'filename' },
  };
  for (const [name, source] of Object.entries(sources)) {
    it(`${name}: the default lands within tolerance of --exact, which equals the truth`, async () => {
      const exact = await profileJob(job(`${name}-profile`, source), { exact: true, estimate: false });
      const truth = await query<{ n: string }>(`SELECT count(*)::BIGINT::VARCHAR AS n FROM (${rows}) GROUP BY date_trunc('week', ts) ORDER BY date_trunc('week', ts)`);
      expect(rowsOf(exact).filter((n) => n > 0)).toEqual(truth.map((r) => Number(r.n)));
      const cheap = await profileJob(job(`${name}-profile`, source), { estimate: false });
      expectClose(rowsOf(cheap), rowsOf(exact));
    });
  }
  it('duckdb: the sample runs on the profile\'s own session and source, set up on the sample run\'s connections too', async () => {
    // A query naming its table unqualified resolves through the connection's search path, which the source sets on
    // each; the run reads the transform's plan on its own connection.
    const report = await profileJob(
      defineJob(
        { name: 'duckdb-sampled', source: { type: 'duckdb', database: 'events.duckdb', query: 'SELECT * FROM events' }, transform: 'select * from source', chunk: { column: 'ts', every: '1 week', timezone: 'UTC' }, target: lake('duckdb-sampled'), write: { mode: 'replace' } },
        { baseDir: dir },
      ),
    );
    if (report.estimate.seconds === undefined) throw new Error(`no estimate: ${report.estimate.source}`);
    const { lo, hi, points } = report.estimate.sample;
    const [inside] = await query<{ n: string }>(`SELECT count(*)::BIGINT::VARCHAR AS n FROM (${rows}) WHERE ts >= TIMESTAMP '${lo.replace('Z', '')}' AND ts < TIMESTAMP '${hi.replace('Z', '')}'`);
    expect(points.filter((p) => p.role !== 'warm').reduce((a, p) => a + p.rows, 0)).toBe(Number(inside?.n));
  });
  it('parquet: rows and NULLs come exactly from the footers', async () => {
    const report = await profileJob(job('pq-footers', sources['parquet'] as Record<string, unknown>), { estimate: false });
    expect(report.rows).toEqual({ value: 40001, source: 'parquet footers' });
    expect(report.nullRows).toEqual({ value: 1, source: 'parquet footers' });
    expect(report.perChunk.source).toMatch(/^parquet footers/);
  });
  it('csv with every third file gzipped: gzip and plain files each get their own bytes per line', async () => {
    const report = await profileJob(job('csv-gz', { type: 'csv', path: 'csv-gz/events-*.csv*', pruneBy: 'filename' }), { estimate: false });
    expect(Math.abs((report.rows?.value ?? 0) - 40000)).toBeLessThanOrEqual(0.05 * 40000);
  });
  it('csv: rows per chunk from the dates in file names and their sizes', async () => {
    const report = await profileJob(job('csv-names', sources['csv'] as Record<string, unknown>), { estimate: false });
    expect(report.perChunk.source).toBe('dates in file names × file sizes');
    expect(report.bytes?.source).toBe('file sizes');
  });

  it('csv pruned by file name: the sampled slices hold whole daily files, every row of them', async () => {
    const report = await profileJob(job('csv-whole', sources['csv'] as Record<string, unknown>, '1 month'));
    if (report.estimate.seconds === undefined) throw new Error(`no estimate: ${report.estimate.source}`);
    expect(report.estimate.source).toMatch(/^slices of \S+ … \S+ on whole files \(/);
    const { lo, hi, rows: sampled, slices, points } = report.estimate.sample;
    expect(slices).toBe(3 * report.estimate.fit.slots);
    // Each slice's rows, time and start, for --json.
    for (const role of ['warm', 'small', 'large']) expect(points.filter((p) => p.role === role)).toHaveLength(report.estimate.fit.slots);
    expect(points.reduce((a, p) => a + p.rows, 0)).toBe(sampled);
    for (const p of points) expect(p.seconds > 0 && p.at >= 0).toBe(true);
    for (const edge of [lo, hi]) expect(Date.parse(edge) % 86_400_000, edge).toBe(0);
    // lo … hi is the range of the measured slices.
    const [inside] = await query<{ n: string }>(`SELECT count(*)::BIGINT::VARCHAR AS n FROM (${rows}) WHERE ts >= TIMESTAMP '${lo.replace('Z', '')}' AND ts < TIMESTAMP '${hi.replace('Z', '')}'`);
    expect(points.filter((p) => p.role !== 'warm').reduce((a, p) => a + p.rows, 0)).toBe(Number(inside?.n));
  });
  it('csv pruned by file name: the warm-up runs on the smallest plain files outside the sampled month', async () => {
    // February: 3,000 rows a day, every other file gzipped; March: 6,000 rows a day, the heaviest month;
    // April: one day of 100 rows, a chunk smaller than a large slice, so small slices and a warm-up are wanted.
    mkdirSync(join(dir, 'csv-warm'));
    const daily = (d: string, n: number) => `SELECT i AS id, TIMESTAMP '${d}' + to_seconds(CAST(i * 86399 // ${n} AS BIGINT)) AS ts, i % 7 AS v FROM range(${n}) t(i)`;
    for (let day = 1; day <= 29; day++) {
      const d = `2024-02-${String(day).padStart(2, '0')}`;
      const gz = day % 2 === 0 && day !== 20;
      await query(`COPY (${daily(d, day === 20 ? 2800 : 3000)}) TO '${join(dir, 'csv-warm', `events-${d}.csv${gz ? '.gz' : ''}`)}' (HEADER${gz ? ', COMPRESSION gzip' : ''})`);
    }
    for (let day = 1; day <= 31; day++) {
      const d = `2024-03-${String(day).padStart(2, '0')}`;
      await query(`COPY (${daily(d, 6000)}) TO '${join(dir, 'csv-warm', `events-${d}.csv`)}' (HEADER)`);
    }
    await query(`COPY (${daily('2024-04-01', 100)}) TO '${join(dir, 'csv-warm', 'events-2024-04-01.csv')}' (HEADER)`);
    const report = await profileJob(job('csv-warm', { type: 'csv', path: 'csv-warm/events-*.csv*', pruneBy: 'filename' }, '1 month'));
    if (report.estimate.seconds === undefined) throw new Error(`no estimate: ${report.estimate.source}`);
    expect(report.estimate.source).toMatch(/^slices of 2024-03-01T00:00:00Z … 2024-04-01T00:00:00Z on whole files .* to warm up on the smallest plain files\)/);
    const { points, lo } = report.estimate.sample;
    // The smallest plain files that hold half a warm-up's rows (2,800 rows, February 20th, and 3,000): not
    // gzipped, not in March (April's 100 rows are too few).
    expect(points.filter((p) => p.role === 'warm').map((p) => p.rows).sort()).toEqual([2800, 3000]);
    expect(lo >= '2024-03-01').toBe(true);
    expect(points.filter((p) => p.role === 'small')).toHaveLength(report.estimate.fit.slots);
    // Without April every month holds more rows than a large slice: no small slices, and so no warm-up.
    rmSync(join(dir, 'csv-warm', 'events-2024-04-01.csv'));
    const months = await profileJob(job('csv-warm', { type: 'csv', path: 'csv-warm/events-*.csv*', pruneBy: 'filename' }, '1 month'));
    if (months.estimate.seconds === undefined) throw new Error(`no estimate: ${months.estimate.source}`);
    expect(months.estimate.sample.points.map((p) => p.role)).toEqual(Array.from({ length: months.estimate.fit.slots }, () => 'large'));
    expect(months.estimate.source).not.toMatch(/warm up/);
  });

  it('the CLI prints bars and problems, and --json carries every figure with its source and a measured estimate', async () => {
    const file = writeJob(dir, 'cli.yaml', `name: cli-profile\nsource: { type: parquet, path: events.parquet }\nchunk: { column: ts, every: 1 day, timezone: Europe/Paris }\ntarget: { type: parquet, path: lake/cli }\nwrite: { mode: replace }\n`);
    const text = await runCli(['profile', file], { cwd: dir });
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/rows per chunk \(every 1 day; parquet footers \(\d+ row groups' min\/max\)\):/);
    expect(text.stdout).toMatch(/#{10,}/);
    expect(text.stdout).toMatch(/fix: store the column with its zone/);
    const json = await runCli(['profile', file, '--json', '--exact'], { cwd: dir });
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as ProfileReport;
    expect(report.rows).toEqual({ value: 40001, source: 'exact count' });
    expect(report.nullRows).toEqual({ value: 1, source: 'exact count' });
    expect(report.perChunk.chunks.reduce((a, c) => a + c.rows, 0)).toBe(40000);
    expect(report.perChunk.chunks[0]).toEqual({ lo: expect.any(String), hi: expect.any(String), rows: expect.any(Number) });
    expect(report.skew.heaviest).toHaveLength(5);
    expect(report.estimate.seconds).toBeGreaterThan(0);
    expect(report.estimate.source).toMatch(/^slices of .* run into a scratch target/);
    // A warm-up, a small and a large slice per chunk in flight; the first warm-up fails on the NULL
    // chunk value (the job allows no rejects), which costs the estimate nothing.
    if (report.estimate.seconds === undefined) throw new Error(`no estimate: ${report.estimate.source}`);
    expect(report.estimate.sample.slices).toBe(3 * report.estimate.fit.slots - 1);
    expect(report.estimate.source).not.toMatch(/bad rows set aside/);
    expect(report.recommended?.setting).toBe('chunk.every: 1 year');
    expect(report.problems.map((p) => p.code)).toContain('zoneless-dst');
  });
});
