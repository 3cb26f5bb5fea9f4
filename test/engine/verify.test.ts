// `backfill verify` and `verify: true` against every target: clean runs match; a deleted, changed or duplicated row is found.
import { createWriteStream, readdirSync, renameSync, rmSync } from 'node:fs';
import avsc from 'avsc';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, planBackfill, runBackfill, verifyBackfill, type Job, type JobInput } from '../../src/index.js';
import { runCli, tempDir as makeTempDir, writeJob } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { ensureMariadb, ensurePostgres, MARIADB_HOST, MARIADB_PORT, POSTGRES_URL, pgQuery } from '../helpers/services.js';

const SUFFIX = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const SCHEMA = `verify_${SUFFIX}`;
const MYDB = `backfill_verify_${SUFFIX}`;
const dirs: string[] = [];
let admin: mysql.Connection;

function tempDir(prefix: string): string {
  const dir = makeTempDir(prefix);
  dirs.push(dir);
  return dir;
}

const pgSql = pgQuery;

/** 300 rows over three days (100 a day), with NULLs, decimals, doubles and text that needs quoting. */
async function makeSource(dir: string): Promise<string> {
  const file = join(dir, 'events.parquet');
  await query(`COPY (
    SELECT i AS id, TIMESTAMP '2024-01-01' + to_seconds(i * 864) AS ts, i * 1.5 AS v,
      CAST(CASE WHEN i % 9 = 0 THEN NULL ELSE i / 7 END AS DECIMAL(12,2)) AS amount,
      CASE WHEN i % 11 = 0 THEN NULL ELSE 'row "' || i || '", ok' END AS label
    FROM range(300) t(i)) TO '${file}' (FORMAT parquet)`);
  return file;
}

type TargetKind = 'parquet' | 'avro' | 'duckdb' | 'postgres' | 'mysql';

function targetOf(kind: TargetKind, dir: string, table: string): JobInput['target'] {
  switch (kind) {
    case 'parquet':
    case 'avro':
      return { type: kind, path: join(dir, 'lake'), partitionBy: ['day'] };
    case 'duckdb':
      return { type: 'duckdb', database: join(dir, 'target.duckdb'), table };
    case 'postgres':
      return { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.${table}`, create: true };
    case 'mysql':
      return { type: 'mysql', connection: { host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', database: MYDB }, table, create: true };
  }
}

function jobFor(kind: TargetKind, dir: string, source: string, table: string, extra: Partial<JobInput> = {}): Job {
  return defineJob(
    {
      name: `verify-${kind}-${table}`,
      source: { type: 'parquet', path: source },
      chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-04' },
      transform: kind === 'parquet' || kind === 'avro' ? "select *, strftime(ts, '%Y-%m-%d') as day from source" : undefined,
      target: targetOf(kind, dir, table),
      write: { mode: 'replace' },
      concurrency: 2,
      retries: { attempts: 2, backoff: '10ms', maxBackoff: '20ms' },
      ...extra,
    } as JobInput,
    { baseDir: dir },
  );
}

/** Damage the target: remove one row, change one value, or add a copy of a row — each in chunk 2024-01-02. */
async function tamper(kind: TargetKind, job: Job, how: 'delete' | 'change' | 'duplicate'): Promise<void> {
  const id = 150;
  if (kind === 'postgres') {
    const t = `${SCHEMA}."${(job.target as { table: string }).table.split('.')[1]}"`;
    if (how === 'delete') await pgSql(`DELETE FROM ${t} WHERE id = ${id}`);
    if (how === 'change') await pgSql(`UPDATE ${t} SET label = label || '!' WHERE id = ${id}`);
    if (how === 'duplicate') await pgSql(`INSERT INTO ${t} SELECT * FROM ${t} WHERE id = ${id}`);
  } else if (kind === 'mysql') {
    const t = `\`${MYDB}\`.\`${(job.target as { table: string }).table}\``;
    if (how === 'delete') await admin.query(`DELETE FROM ${t} WHERE id = ${id}`);
    if (how === 'change') await admin.query(`UPDATE ${t} SET v = v + 1 WHERE id = ${id}`);
    if (how === 'duplicate') await admin.query(`INSERT INTO ${t} SELECT * FROM ${t} WHERE id = ${id}`);
  } else if (kind === 'duckdb') {
    const db = (job.target as { database: string }).database;
    const table = (job.target as { table: string }).table;
    const edit = how === 'delete' ? `DELETE FROM t.${table} WHERE id = ${id}` : how === 'change' ? `UPDATE t.${table} SET amount = amount + 0.01 WHERE id = ${id}` : `INSERT INTO t.${table} SELECT * FROM t.${table} WHERE id = ${id}`;
    await query(`ATTACH '${db}' AS t; ${edit}; DETACH t`);
  } else if (kind === 'avro') {
    // The Avro lake: the chunk's file rewritten by avsc with one value changed, under the same name.
    const folder = join((job.target as { path: string }).path, 'day=2024-01-02');
    const file = join(folder, readdirSync(folder).find((f) => f.endsWith('.avro')) as string);
    const header = avsc.extractFileHeader(file) as { meta: { 'avro.schema': avsc.Schema } };
    const records: Record<string, unknown>[] = [];
    for await (const r of avsc.createFileDecoder(file)) records.push(r as Record<string, unknown>);
    const encoder = new avsc.streams.BlockEncoder(header.meta['avro.schema'], { codec: 'deflate' });
    const out = createWriteStream(`${file}.tmp`);
    const done = new Promise<void>((resolve, reject) => out.on('close', () => resolve()).on('error', reject));
    encoder.pipe(out);
    for (const r of records) encoder.write(r['id'] === id ? { ...r, label: `${String(r['label'])}!` } : r);
    encoder.end();
    await done;
    renameSync(`${file}.tmp`, file);
  } else {
    // The lake: rewrite the chunk's file with the damage.
    const folder = join((job.target as { path: string }).path, 'day=2024-01-02');
    const file = join(folder, readdirSync(folder).find((f) => f.endsWith('.parquet')) as string);
    const select =
      how === 'delete' ? `SELECT * FROM read_parquet('${file}') WHERE id <> ${id}`
      : how === 'change' ? `SELECT * REPLACE (CASE WHEN id = ${id} THEN ts + INTERVAL 1 SECOND ELSE ts END AS ts) FROM read_parquet('${file}')`
      : `SELECT * FROM read_parquet('${file}') UNION ALL SELECT * FROM read_parquet('${file}') WHERE id = ${id}`;
    await query(`COPY (${select}) TO '${file}.tmp' (FORMAT parquet)`);
    renameSync(`${file}.tmp`, file);
  }
}

beforeAll(async () => {
  await Promise.all([ensurePostgres(), ensureMariadb()]);
  await pgSql(`CREATE SCHEMA ${SCHEMA}`);
  admin = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root' });
  await admin.query(`CREATE DATABASE \`${MYDB}\` CHARACTER SET utf8mb4`);
});

afterAll(async () => {
  await pgSql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => {});
  await admin?.query(`DROP DATABASE IF EXISTS \`${MYDB}\``).catch(() => {});
  await admin?.end();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('backfill verify', () => {
  const kinds: TargetKind[] = ['parquet', 'avro', 'duckdb', 'postgres', 'mysql'];
  const damage = { parquet: 'delete', avro: 'change', duckdb: 'change', postgres: 'duplicate', mysql: 'change' } as const;
  for (const kind of kinds) {
    it(`passes after a clean backfill into ${kind} and finds a ${damage[kind]}d row`, async () => {
      const dir = tempDir(`verify-${kind}`);
      const job = jobFor(kind, dir, await makeSource(dir), `clean_${kind}`);
      expect((await runBackfill(job)).done).toBe(3);
      const clean = await verifyBackfill(job);
      expect(clean.ok).toBe(true);
      expect(clean.counts).toEqual({ total: 3, matched: 3, mismatched: 0 });
      expect(clean.chunks.map((c) => c.target.rows)).toEqual([100, 100, 100]);
      expect(clean.chunks.every((c) => c.source.checksum === c.target.checksum)).toBe(true);

      await tamper(kind, job, damage[kind]);
      const after = await verifyBackfill(job);
      expect(after.ok).toBe(false);
      expect(after.counts.mismatched).toBe(1);
      const bad = after.chunks.find((c) => !c.match);
      expect(bad?.lo).toBe('2024-01-02T00:00:00Z');
      expect(bad?.source.rows).toBe(100);
      expect(bad?.target.rows).toBe(damage[kind] === 'delete' ? 99 : damage[kind] === 'duplicate' ? 101 : 100);
      expect(bad?.source.checksum).not.toBe(bad?.target.checksum);
    });
  }

  it('finds each kind of damage in PostgreSQL, the checksum alone telling a changed value', async () => {
    const dir = tempDir('verify-pg-kinds');
    const job = jobFor('postgres', dir, await makeSource(dir), 'kinds');
    await runBackfill(job);
    const baseline = (await verifyBackfill(job)).chunks[1];
    for (const how of ['delete', 'change', 'duplicate'] as const) {
      await runBackfill(job, { restate: true, from: '2024-01-02', to: '2024-01-03' });
      expect((await verifyBackfill(job)).ok).toBe(true);
      await tamper('postgres', job, how);
      const bad = (await verifyBackfill(job)).chunks[1];
      expect(bad?.match).toBe(false);
      expect(bad?.target.rows).toBe(how === 'delete' ? 99 : how === 'duplicate' ? 101 : 100);
      expect(bad?.target.checksum).not.toBe(baseline?.target.checksum);
    }
  });

  it('checks only done chunks by default, every planned chunk with all, and the range with from/to', async () => {
    const dir = tempDir('verify-select');
    const job = jobFor('duckdb', dir, await makeSource(dir), 'sel');
    await runBackfill(job, { from: '2024-01-01', to: '2024-01-02' });
    expect((await verifyBackfill(job)).chunks.map((c) => c.lo)).toEqual(['2024-01-01T00:00:00Z']);
    const all = await verifyBackfill(job, { all: true });
    expect(all.counts).toEqual({ total: 3, matched: 1, mismatched: 2 });
    expect(all.chunks[2]?.target.rows).toBe(0);
    const ranged = await verifyBackfill(job, { all: true, from: '2024-01-03' });
    expect(ranged.chunks.map((c) => c.lo)).toEqual(['2024-01-03T00:00:00Z']);
  });

  it('exits 0 when everything matches and 1 on a mismatch, with a table and JSON', async () => {
    const dir = tempDir('verify-cli');
    const source = await makeSource(dir);
    const file = writeJob(dir, 'job.yaml', `name: verify-cli
source: { type: parquet, path: events.parquet }
chunk: { column: ts, every: 1 day, from: 2024-01-01, to: 2024-01-04 }
transform: select *, strftime(ts, '%Y-%m-%d') as day from source
target: { type: parquet, path: lake, partitionBy: [day] }
`);
    expect(source).toContain(dir);
    expect((await runCli(['run', file, '--quiet'])).code).toBe(0);
    const ok = await runCli(['verify', file]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('3 chunks verified (300 target rows): 3 match, 0 differ');
    await tamper('parquet', jobFor('parquet', dir, source, 'x'), 'duplicate');
    const bad = await runCli(['verify', file]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/2024-01-02T00:00:00Z\s+2024-01-03T00:00:00Z\s+100\s+101\s+[0-9a-f]{16} ≠ [0-9a-f]{16}/);
    const json = await runCli(['verify', file, '--json']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as { ok: boolean; chunks: { match: boolean; target: { rows: number } }[] };
    expect(report.ok).toBe(false);
    expect(report.chunks.filter((c) => !c.match).map((c) => c.target.rows)).toEqual([101]);
  });
});

describe('verify: true', () => {
  it('passes every chunk of a clean run, from a source staged in one pass', async () => {
    const dir = tempDir('gate-clean');
    await query(`COPY (SELECT * FROM read_parquet('${await makeSource(dir)}')) TO '${join(dir, 'events.csv')}' (FORMAT csv, HEADER true)`);
    const job = defineJob(
      {
        name: 'gate-clean',
        source: { type: 'csv', path: 'events.csv' },
        chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-04' },
        transform: "select *, strftime(ts, '%Y-%m-%d') as day from source",
        target: { type: 'parquet', path: 'lake', partitionBy: ['day'] },
        verify: true,
      },
      { baseDir: dir },
    );
    const result = await runBackfill(job);
    expect(result.done).toBe(3);
    expect(result.failed).toBe(0);
  });

  for (const kind of ['duckdb', 'mysql'] as const) {
    it(`passes every chunk of a clean run into ${kind}`, async () => {
      const dir = tempDir(`gate-${kind}`);
      const result = await runBackfill(jobFor(kind, dir, await makeSource(dir), `gate_${kind}`, { verify: true }));
      expect(result.chunks.filter((c) => c.outcome !== 'done')).toEqual([]);
      expect([result.done, result.failed]).toEqual([3, 0]);
    });
  }

  for (const ledger of ['sqlite', 'postgres'] as const) {
    it(`fails a chunk whose target row a trigger altered, and leaves it not done (${ledger} ledger)`, async () => {
      const dir = tempDir(`gate-${ledger}`);
      const table = `gate_${ledger}`;
      await pgSql(`CREATE TABLE ${SCHEMA}.${table} (id bigint, ts timestamp, v double precision, amount numeric(12,2), label text)`);
      // The target quietly changes one row of the second day on its way in.
      await pgSql(`CREATE FUNCTION ${SCHEMA}.${table}_fn() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.id = 150 THEN NEW.v := NEW.v + 1; END IF; RETURN NEW; END $$`);
      await pgSql(`CREATE TRIGGER ${table}_tr BEFORE INSERT ON ${SCHEMA}.${table} FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.${table}_fn()`);
      const job = jobFor('postgres', dir, await makeSource(dir), table, {
        verify: true,
        ...(ledger === 'postgres' ? { ledger: `${POSTGRES_URL}?schema=${SCHEMA}_ledger` } : {}),
      });
      const result = await runBackfill(job);
      expect(result.done).toBe(2);
      expect(result.failed).toBe(1);
      const failed = result.chunks.find((c) => c.outcome === 'failed');
      expect(failed?.key).toBe('2024-01-02T00:00:00Z/2024-01-03T00:00:00Z');
      expect(failed?.error).toMatch(/verify: chunk .* differs after its write: source 100 rows \(checksum [0-9a-f]{16}\), target 100 rows \(checksum [0-9a-f]{16}\)/);
      const plan = await planBackfill(job);
      expect(plan.chunks.map((c) => c.status)).toEqual(['done', 'failed', 'done']);
      // Not retried: the check would fail the same way.
      expect(plan.chunks[1]?.attempts).toBe(1);
      if (ledger === 'postgres') await pgSql(`DROP SCHEMA IF EXISTS ${SCHEMA}_ledger CASCADE`);
    });
  }
});
