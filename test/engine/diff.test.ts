// `backfill plan --diff`: exact insert/update/delete counts per chunk for replace and merge, and the target left untouched.
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, diffBackfill, runBackfill, type Job, type JobInput, type WriteMode } from '../../src/index.js';
import { runCli, tempDir as makeTempDir, writeJob } from '../helpers/cli.js';
import { lakeGlob, query } from '../helpers/lake.js';
import { ensureMariadb, ensurePostgres, MARIADB_HOST, MARIADB_PORT, POSTGRES_URL, pgQuery } from '../helpers/services.js';

const SCHEMA = `diff_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const MYDB = `backfill_${SCHEMA}`;
const dirs: string[] = [];
let admin: mysql.Connection;

type Kind = 'postgres' | 'parquet' | 'duckdb' | 'mysql';

function tempDir(prefix: string): string {
  const dir = makeTempDir(prefix);
  dirs.push(dir);
  return dir;
}

const pgSql = pgQuery;

/**
 * Version 1: ids 0–299, 100 a day over three days. Version 2 changes the second day: ids 100–104
 * get a new label, 105–107 disappear, 1000–1003 are new, and id 10 moves there from the first day.
 */
async function writeSource(file: string, version: 1 | 2): Promise<void> {
  const v1 = `SELECT i AS id, TIMESTAMP '2024-01-01' + to_seconds(i * 864) AS ts, i * 1.5 AS v,
      CASE WHEN i % 11 = 0 THEN NULL ELSE 'row ' || i END AS label FROM range(300) t(i)`;
  const v2 = `SELECT id, CASE WHEN id = 10 THEN TIMESTAMP '2024-01-02 06:00:00' ELSE ts END AS ts, v,
      CASE WHEN id BETWEEN 100 AND 104 THEN 'changed' ELSE label END AS label
    FROM (${v1}) WHERE id NOT BETWEEN 105 AND 107
    UNION ALL SELECT 1000 + k, TIMESTAMP '2024-01-02 12:00:00' + to_seconds(k), k, 'new' FROM range(4) t(k)`;
  await query(`COPY (${version === 1 ? v1 : v2}) TO '${file}' (FORMAT parquet)`);
}

function jobFor(kind: Kind, dir: string, mode: WriteMode, key: string[] | undefined, table: string): Job {
  const targets: Record<Kind, JobInput['target']> = {
    postgres: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.${table}`, create: true },
    parquet: { type: 'parquet', path: join(dir, 'lake'), partitionBy: ['day'] },
    duckdb: { type: 'duckdb', database: join(dir, 'target.duckdb'), table },
    mysql: { type: 'mysql', connection: { host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', database: MYDB }, table, create: true },
  };
  const target = targets[kind];
  return defineJob(
    {
      name: `diff-${kind}-${table}`,
      source: { type: 'parquet', path: 'events.parquet' },
      chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-04' },
      transform: kind === 'parquet' ? "select *, strftime(ts, '%Y-%m-%d') as day from source" : undefined,
      target,
      write: { mode, ...(key === undefined ? {} : { key }) },
      concurrency: 2,
    },
    { baseDir: dir },
  );
}

/** Everything a reader of the target could see, as one comparable value. */
async function snapshot(kind: Kind, job: Job): Promise<unknown> {
  const table = (job.target as { table: string }).table;
  if (kind === 'postgres') return pgSql(`SELECT count(*) AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS h FROM ${table} AS t`);
  if (kind === 'mysql') {
    const [rows] = await admin.query(`SELECT count(*) AS n, sum(crc32(concat_ws('|', id, ts, v, coalesce(label, '-')))) AS h FROM \`${MYDB}\`.\`${table}\``);
    return rows;
  }
  if (kind === 'duckdb') {
    const db = (job.target as { database: string }).database;
    return query(`ATTACH '${db}' AS t (READ_ONLY); SELECT count(*) AS n, md5(string_agg(CAST(x AS VARCHAR), '|' ORDER BY CAST(x AS VARCHAR))) AS h FROM t.${table} AS x`);
  }
  const lake = (job.target as { path: string }).path;
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else files.push(`${relative(lake, join(d, e.name))}@${statSync(join(d, e.name)).mtimeMs}`);
    }
  };
  walk(lake);
  const rows = await query(`SELECT count(*) AS n, md5(string_agg(CAST(t AS VARCHAR), '|' ORDER BY CAST(t AS VARCHAR))) AS h FROM read_parquet('${lakeGlob(lake)}', hive_partitioning = true) AS t`);
  return { files: files.sort(), rows };
}

type Counts = { inserted: number; updated: number; deleted: number; unchanged: number };
const SAME = (n: number): Counts => ({ inserted: 0, updated: 0, deleted: 0, unchanged: n });

/** After version 2 of the source, per chunk (day 1, 2, 3). */
const EXPECTED: Record<string, Counts[]> = {
  // Keyed replace: id 10 leaves day 1 (deleted) and arrives in day 2 (inserted).
  'replace-key': [{ inserted: 0, updated: 0, deleted: 1, unchanged: 99 }, { inserted: 5, updated: 5, deleted: 3, unchanged: 92 }, SAME(100)],
  // Whole rows: a changed row is one deleted and one inserted.
  'replace-row': [{ inserted: 0, updated: 0, deleted: 1, unchanged: 99 }, { inserted: 10, updated: 0, deleted: 8, unchanged: 92 }, SAME(100)],
  // A database merge finds id 10 where it is (day 1) and updates it; nothing is deleted.
  'merge-db': [SAME(99), { inserted: 4, updated: 6, deleted: 0, unchanged: 92 }, SAME(100)],
  // The lake merges within the chunk's own files: id 10 is new there.
  'merge-lake': [SAME(99), { inserted: 5, updated: 5, deleted: 0, unchanged: 92 }, SAME(100)],
};

beforeAll(async () => {
  await Promise.all([ensurePostgres(), ensureMariadb()]);
  await pgSql(`CREATE SCHEMA ${SCHEMA}`);
  admin = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', dateStrings: true });
  await admin.query(`CREATE DATABASE \`${MYDB}\` CHARACTER SET utf8mb4`);
});

afterAll(async () => {
  await pgSql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => {});
  await admin?.query(`DROP DATABASE IF EXISTS \`${MYDB}\``).catch(() => {});
  await admin?.end();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('plan --diff', () => {
  const cases: { kind: Kind; mode: WriteMode; key?: string[]; expect: string }[] = [
    { kind: 'postgres', mode: 'replace', key: ['id'], expect: 'replace-key' },
    { kind: 'postgres', mode: 'merge', key: ['id'], expect: 'merge-db' },
    { kind: 'parquet', mode: 'replace', key: ['id'], expect: 'replace-key' },
    { kind: 'parquet', mode: 'replace', expect: 'replace-row' },
    { kind: 'parquet', mode: 'merge', key: ['id'], expect: 'merge-lake' },
    { kind: 'duckdb', mode: 'merge', key: ['id'], expect: 'merge-db' },
    { kind: 'mysql', mode: 'merge', key: ['id'], expect: 'merge-db' },
    { kind: 'mysql', mode: 'replace', expect: 'replace-row' },
  ];
  for (const c of cases) {
    it(`counts exactly what ${c.mode}${c.key === undefined ? '' : ' by key'} into ${c.kind} would change, and changes nothing`, async () => {
      const dir = tempDir(`diff-${c.kind}-${c.mode}`);
      const source = join(dir, 'events.parquet');
      await writeSource(source, 1);
      const job = jobFor(c.kind, dir, c.mode, c.key, `${c.mode}_${c.key === undefined ? 'rows' : 'key'}`);
      expect((await runBackfill(job)).done).toBe(3);
      // Nothing to do right after the run.
      const idle = await diffBackfill(job);
      expect(idle.chunks.map(({ inserted, updated, deleted, unchanged }) => ({ inserted, updated, deleted, unchanged }))).toEqual([SAME(100), SAME(100), SAME(100)]);

      await writeSource(source, 2);
      const before = await snapshot(c.kind, job);
      const diff = await diffBackfill(job);
      expect(diff.chunks.map(({ inserted, updated, deleted, unchanged }) => ({ inserted, updated, deleted, unchanged }))).toEqual(EXPECTED[c.expect]);
      expect(diff.chunks.map((d) => d.rows)).toEqual([99, 102, 100]);
      expect(await snapshot(c.kind, job)).toEqual(before);

      // The run does what the diff said: a merge reports the rows it inserted or changed, and afterwards nothing is left to do.
      const run = await runBackfill(job, { restate: true });
      if (c.kind === 'postgres' && c.mode === 'merge') expect(run.rowsWritten).toBe(diff.totals.inserted + diff.totals.updated);
      const after = await diffBackfill(job);
      expect(after.totals.inserted + after.totals.updated + after.totals.deleted).toBe(0);
    });
  }

  it('counts every row as inserted in append mode', async () => {
    const dir = tempDir('diff-append');
    await writeSource(join(dir, 'events.parquet'), 1);
    const job = jobFor('postgres', dir, 'append', undefined, 'append_rows');
    await runBackfill(job);
    const diff = await diffBackfill(job, { from: '2024-01-02' });
    expect(diff.matchBy).toBe('none');
    expect(diff.chunks.map((d) => [d.rows, d.inserted, d.deleted])).toEqual([[100, 100, 0], [100, 100, 0]]);
  });

  it('prints a table and JSON from the command line', async () => {
    const dir = tempDir('diff-cli');
    await writeSource(join(dir, 'events.parquet'), 1);
    const file = writeJob(dir, 'job.yaml', `name: diff-cli
source: { type: parquet, path: events.parquet }
chunk: { column: ts, every: 1 day, from: 2024-01-01, to: 2024-01-04 }
target: { type: postgres, connection: "${POSTGRES_URL}", table: ${SCHEMA}.cli, create: true }
write: { mode: merge, key: [id] }
`);
    expect((await runCli(['run', file, '--quiet'])).code).toBe(0);
    await writeSource(join(dir, 'events.parquet'), 2);
    const text = await runCli(['plan', file, '--diff', '--from', '2024-01-02', '--to', '2024-01-03']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/2024-01-02T00:00:00Z\s+2024-01-03T00:00:00Z\s+102\s+4\s+6\s+0\s+92/);
    expect(text.stdout).toContain('1 chunks: 4 to insert, 6 to update, 0 to delete, 92 unchanged');
    const json = await runCli(['plan', file, '--diff', '--json']);
    const report = JSON.parse(json.stdout) as { totals: Counts & { rows: number } };
    expect(report.totals).toEqual({ rows: 301, inserted: 4, updated: 6, deleted: 0, unchanged: 291 });
  });
});
