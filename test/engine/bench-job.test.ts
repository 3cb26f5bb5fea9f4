// `backfill bench` against real files, a real PostgreSQL and real processes: every strategy writes
// the same sample rows into a scratch target, and the real target is never touched.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEvents } from '../../src/demo/generate-events.js';
import type { BenchReport } from '../../src/engine/bench/bench-job.js';
import { runCli, tempDir, writeJob } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { ensurePostgres, POSTGRES_URL, pgQuery } from '../helpers/services.js';

const SCHEMA = `bench_${process.pid}_${Date.now().toString(36)}`;

const sql = pgQuery;

beforeAll(async () => {
  await ensurePostgres();
  await sql(`CREATE SCHEMA ${SCHEMA}`);
});

afterAll(async () => {
  await sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
});

describe('backfill bench', () => {
  it('runs each strategy on the same sample of daily files into a scratch lake, and leaves nothing behind', async () => {
    const dir = tempDir('bench-files');
    await generateEvents({ dir: join(dir, 'data'), rows: 30_000, from: '2023-01-01', days: 6, threads: 1 });
    const file = writeJob(dir, 'job.yaml', `
name: bench-files
source: { type: csv, path: data/*.csv*, pruneBy: filename }
chunk: { column: ts, every: 1 day }
target: { type: parquet, path: lake, compression: zstd }
write: { mode: replace }
`);
    const res = await runCli(['bench', file, '--json', '--chunks', '1', '--only', 'chunk-size,compression']);
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as BenchReport;
    // A chunk from the middle of six days.
    expect(report.sample).toEqual({ lo: '2023-01-03T00:00:00Z', hi: '2023-01-04T00:00:00Z', chunks: 1 });
    const expected = await query<{ n: bigint }>(`SELECT count(*) AS n FROM read_csv('${join(dir, 'data')}/*.csv*', union_by_name = true)
      WHERE ts >= TIMESTAMP '2023-01-03' AND ts < TIMESTAMP '2023-01-04'`);
    const rows = Number(expected[0]?.n);
    expect(rows).toBeGreaterThan(0);
    expect(report.rows.map((r) => r.label)).toEqual([
      'as written', 'chunks of 1 hour', 'chunks of 1 week', 'compression snappy', 'compression gzip', 'compression uncompressed',
    ]);
    for (const r of report.rows) {
      expect(r.status, r.error).toBe('ok');
      expect(r.rowsWritten).toBe(rows);
      expect(r.rowsPerSecond).toBeGreaterThan(0);
      expect(r.peakRssBytes).toBeGreaterThan(0);
      expect(r.outputBytes).toBeGreaterThan(0);
    }
    const byLabel = new Map(report.rows.map((r) => [r.label, r]));
    expect(byLabel.get('chunks of 1 hour')?.chunks).toBe(24);
    expect(byLabel.get('chunks of 1 week')?.chunks).toBe(1);
    expect(byLabel.get('compression uncompressed')?.outputBytes).toBeGreaterThan(byLabel.get('as written')?.outputBytes ?? Infinity);
    // The real lake was never written, and the scratch folders are gone.
    expect(existsSync(join(dir, 'lake'))).toBe(false);
    expect(existsSync(join(dir, '.backfill', 'bench'))).toBe(false);
    const table = await runCli(['bench', file, '--chunks', '1', '--only', 'concurrency']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/strategy\s+target\s+chunks\s+rows\/s\s+MB\/s\s+peak memory\s+output/);
    expect(table.stdout).toMatch(/concurrency 1\s+empty\s+1\s/);
    expect(table.stdout).toMatch(/recommended:/);
    const bad = await runCli(['bench', file, '--only', 'colour']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--only: unknown dimension "colour"/);
  });

  it('compares PostgreSQL merge statements over loaded rows in a scratch table shaped like the real one', async () => {
    const dir = tempDir('bench-pg');
    await query(`COPY (SELECT i AS id, 'note ' || i AS note, i % 7 AS grp FROM range(8000) t(i)) TO '${join(dir, 'rows.csv')}' (HEADER)`);
    const table = `${SCHEMA}.real_t`;
    await sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, note text NOT NULL, grp int)`);
    await sql(`CREATE INDEX ON ${table} (grp)`);
    await sql(`INSERT INTO ${table} VALUES (-1, 'untouched', 0)`);
    const file = writeJob(dir, 'job.yaml', `
name: bench-pg
source: { type: csv, path: rows.csv }
chunk: { column: id, size: 1000 }
target: { type: postgres, connection: "${POSTGRES_URL}", table: ${table} }
write: { mode: merge, key: [id] }
`);
    const res = await runCli(['bench', file, '--json', '--chunks', '3', '--only', 'write-method']);
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as BenchReport;
    expect(report.sample).toEqual({ lo: '2000', hi: '5000', chunks: 3 });
    expect(report.rows.map((r) => `${r.label}/${r.scenario}`)).toEqual([
      'as written/empty', 'as written/loaded', 'INSERT … ON CONFLICT/loaded', 'MERGE/loaded', 'delete + insert (replace mode)/loaded',
    ]);
    for (const r of report.rows) {
      expect(r.status, r.error).toBe('ok');
      expect(r.rowsRead).toBe(3000);
      // A table with its indexes: the scratch copy kept the real one's shape.
      expect(r.outputBytes).toBeGreaterThan(0);
    }
    // Merging rows that are already there changes nothing; delete + insert rewrites them all.
    expect(report.rows.find((r) => r.label === 'MERGE')?.rowsWritten).toBe(0);
    expect(report.rows.find((r) => r.label === 'INSERT … ON CONFLICT')?.rowsWritten).toBe(0);
    expect(report.rows.find((r) => r.label.startsWith('delete'))?.rowsWritten).toBe(3000);
    expect(await sql(`SELECT id, note FROM ${table}`)).toEqual([{ id: '-1', note: 'untouched' }]);
    expect(await sql(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'backfill_bench_%'`)).toEqual([]);
    expect(await sql(`SELECT job FROM backfill.chunk_commits WHERE job LIKE 'bench-pg-bench-%'`)).toEqual([]);
    expect(readdirSync(join(dir, '.backfill')).includes('bench')).toBe(false);
  });

  it('compares text and binary COPY for a PostgreSQL source in another database', async () => {
    const dir = tempDir('bench-copy');
    // The source sits in another database of the same server, so chunks travel as a COPY stream.
    const sourceUrl = POSTGRES_URL.replace(/\/[^/?]+$/, '/root');
    const source = new pg.Client({ connectionString: sourceUrl });
    await source.connect();
    try {
      await source.query(`CREATE SCHEMA ${SCHEMA}`);
      await source.query(`CREATE TABLE ${SCHEMA}.src AS SELECT i::bigint AS id, 'note ' || i AS note, (i * 1.5)::numeric(12,2) AS amount, timestamp '2024-01-01' + i * interval '1 second' AS ts FROM generate_series(0, 7999) i`);
      await sql(`CREATE TABLE ${SCHEMA}.copy_t (id bigint PRIMARY KEY, note text, amount numeric(12,2), ts timestamp)`);
      const file = writeJob(dir, 'job.yaml', `
name: bench-copy
source: { type: postgres, connection: "${sourceUrl}", table: ${SCHEMA}.src }
chunk: { column: id, size: 1000 }
target: { type: postgres, connection: "${POSTGRES_URL}", table: ${SCHEMA}.copy_t }
write: { mode: append }
`);
      const res = await runCli(['bench', file, '--json', '--chunks', '3', '--only', 'write-method']);
      expect(res.code, res.stderr).toBe(0);
      const report = JSON.parse(res.stdout) as BenchReport;
      expect(report.rows.map((r) => `${r.label}/${r.scenario}`)).toEqual(['as written/empty', 'COPY text/empty', 'COPY binary/empty']);
      for (const r of report.rows) {
        expect(r.status, r.error).toBe('ok');
        expect(r.rowsWritten).toBe(3000);
      }
      expect(await sql(`SELECT count(*)::int AS n FROM ${SCHEMA}.copy_t`)).toEqual([{ n: 0 }]);
    } finally {
      await source.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => {});
      await source.end();
    }
  });
});
