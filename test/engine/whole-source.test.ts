// A job without chunk: is one chunk, the whole source: reference data with no time or integer column loads into every target, once, idempotently.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, planBackfill, profileJob, rollbackRun, runBackfill, verifyBackfill, type Job, type JobInput } from '../../src/index.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { ensureMariadb, ensurePostgres, MARIADB_HOST, MARIADB_PORT, POSTGRES_URL, pgQuery } from '../helpers/services.js';

const SUFFIX = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const SCHEMA = `whole_${SUFFIX}`;
const MYDB = `backfill_whole_${SUFFIX}`;
const dirs: string[] = [];
let admin: mysql.Connection;

type TargetKind = 'parquet' | 'duckdb' | 'postgres' | 'mysql';
const TARGETS: readonly TargetKind[] = ['parquet', 'duckdb', 'postgres', 'mysql'];

/** Currency codes: text keys, a decimal, a name with a comma; no time and no integer column. */
function currencies(rates: Readonly<Record<string, string>>): string {
  return ['code,name,rate', ...Object.entries(rates).map(([code, rate]) => `${code},"Currency ${code}, official",${rate}`)].join('\n') + '\n';
}

const V1: Record<string, string> = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`C${String.fromCharCode(65 + (i % 26))}${String.fromCharCode(65 + Math.floor(i / 26))}`, (1 + i / 8).toFixed(4)]));
/** V1 with one rate changed, one code gone and one added. */
const V2: Record<string, string> = { ...Object.fromEntries(Object.entries(V1).filter(([code]) => code !== 'CBA')), CAA: '9.9999', ZZZ: '0.5000' };

function targetOf(kind: TargetKind, dir: string): JobInput['target'] {
  switch (kind) {
    case 'parquet':
      return { type: 'parquet', path: join(dir, 'lake') };
    case 'duckdb':
      return { type: 'duckdb', database: join(dir, 'target.duckdb'), table: 'currencies' };
    case 'postgres':
      return { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.currencies_${dirs.length}`, create: true };
    case 'mysql':
      return { type: 'mysql', connection: { host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', database: MYDB }, table: `currencies_${dirs.length}`, create: true };
  }
}

function setup(kind: TargetKind, mode: 'replace' | 'merge' = 'replace'): { job: Job; csv: string } {
  const dir = tempDir(`whole-${kind}`);
  dirs.push(dir);
  const csv = join(dir, 'currencies.csv');
  writeFileSync(csv, currencies(V1));
  const job = defineJob(
    {
      name: `whole-${kind}-${mode}`,
      source: { type: 'csv', path: csv, options: { types: { rate: 'DECIMAL(10,4)' } } },
      target: targetOf(kind, dir),
      write: mode === 'merge' ? { mode, key: ['code'] } : { mode },
    },
    { baseDir: dir },
  );
  return { job, csv };
}

/** The target's rows as `code=rate`, sorted: equal lists, equal tables (no duplicates hide). */
async function contents(job: Job): Promise<string[]> {
  const t = job.target as { type: string; path?: string; database?: string; table?: string };
  let rows: { code: string; rate: string }[];
  if (t.type === 'parquet') rows = await query(`SELECT code, CAST(rate AS VARCHAR) AS rate FROM read_parquet('${t.path}/**/*.parquet')`);
  else if (t.type === 'duckdb') rows = await query(`ATTACH '${t.database}' AS t (READ_ONLY); SELECT code, CAST(rate AS VARCHAR) AS rate FROM t.currencies`);
  else if (t.type === 'postgres') rows = await pgQuery<{ code: string; rate: string }>(`SELECT code, rate::text AS rate FROM ${t.table}`);
  else rows = (await admin.query(`SELECT code, CAST(rate AS CHAR) AS rate FROM ${MYDB}.${t.table}`))[0] as { code: string; rate: string }[];
  return rows.map((r) => `${r.code}=${Number(r.rate).toFixed(4)}`).sort();
}

const expected = (rates: Record<string, string>): string[] => Object.entries(rates).map(([c, r]) => `${c}=${r}`).sort();

beforeAll(async () => {
  await ensurePostgres();
  await ensureMariadb();
  await pgQuery(`CREATE SCHEMA ${SCHEMA}`);
  admin = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root' });
  await admin.query(`CREATE DATABASE ${MYDB}`);
});

afterAll(async () => {
  await pgQuery(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await admin?.query(`DROP DATABASE IF EXISTS ${MYDB}`);
  await admin?.end();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a job without chunk:', () => {
  it('plans one chunk covering the whole source, and says so', async () => {
    const { job } = setup('duckdb');
    const plan = await planBackfill(job);
    expect(plan.chunks).toHaveLength(1);
    expect(plan.chunks[0]).toMatchObject({ kind: 'all', key: 'all', status: 'missing' });
    expect(plan.chunking).toMatch(/one chunk: the whole source/);
  });

  it('refuses --from/--to, which select part of a chunked history', async () => {
    const { job } = setup('duckdb');
    await expect(runBackfill(job, { from: '2024-01-01' })).rejects.toThrow(/no chunk: and is one chunk/);
  });

  for (const kind of TARGETS) {
    it(`${kind}: loads once, a rerun does nothing, a restate rewrites it without duplicates, verify agrees`, async () => {
      const { job, csv } = setup(kind);
      const first = await runBackfill(job);
      expect(first).toMatchObject({ status: 'done', done: 1, failed: 0, rowsWritten: 40 });
      expect(await contents(job)).toEqual(expected(V1));

      const again = await runBackfill(job);
      expect(again).toMatchObject({ done: 0, failed: 0, rowsRead: 0, rowsWritten: 0 });

      writeFileSync(csv, currencies(V2));
      const restated = await runBackfill(job, { restate: true });
      expect(restated).toMatchObject({ status: 'done', done: 1, rowsWritten: Object.keys(V2).length });
      expect(await contents(job)).toEqual(expected(V2));
      const verified = await verifyBackfill(job);
      expect(verified.counts).toEqual({ total: 1, matched: 1, mismatched: 0 });
      expect(verified.ok).toBe(true);
    });
  }

  it('postgres: a restate is backed up and rolled back whole', async () => {
    const { job, csv } = setup('postgres');
    await runBackfill(job);
    writeFileSync(csv, currencies(V2));
    const second = await runBackfill(job, { restate: true });
    expect(await contents(job)).toEqual(expected(V2));
    const rolled = await rollbackRun(job, { runId: second.runId });
    expect(rolled).toMatchObject({ status: 'rolled-back', rowsRestored: 40 });
    expect(await contents(job)).toEqual(expected(V1));
  });

  it('postgres, merge by key: a second version updates and adds rows, keeps the one gone from the source', async () => {
    const { job, csv } = setup('postgres', 'merge');
    await runBackfill(job);
    writeFileSync(csv, currencies(V2));
    await runBackfill(job, { restate: true });
    expect(await contents(job)).toEqual(expected({ ...V1, ...V2 }));
  });

  it('profile counts the rows and warns only past the one-chunk limit', async () => {
    const { job } = setup('duckdb');
    const report = await profileJob(job, { estimate: false });
    expect(report.rows?.value).toBe(40);
    expect(report.chunking).toMatch(/one chunk/);
    expect(report.problems.map((p) => p.code)).not.toContain('one-chunk');
  });

  it('profile warns, with the fix, when one chunk would hold more than 5,000,000 rows', async () => {
    const dir = tempDir('whole-big');
    dirs.push(dir);
    const db = join(dir, 'big.duckdb');
    await query(`ATTACH '${db}' AS b; CREATE TABLE b.codes AS SELECT 'c' || i AS code FROM range(5000001) t(i)`);
    const job = defineJob({ name: 'whole-big', source: { type: 'duckdb', database: db, table: 'codes' }, target: { type: 'parquet', path: join(dir, 'lake') } }, { baseDir: dir });
    const report = await profileJob(job, { estimate: false });
    expect(report.rows?.value).toBe(5_000_001);
    const problem = report.problems.find((p) => p.code === 'one-chunk');
    expect(problem?.message).toMatch(/one chunk of 5,000,001 rows/);
    expect(problem?.fix).toMatch(/rows: 1000000/);
  });
});
