// Incremental runs against a real PostgreSQL source: the full backfill, then windows past the
// watermark — ties at the boundary, microseconds, late rows within and beyond the lookback, a
// cursor without a time zone written in New York, an integer cursor into DuckDB, rollback of a
// window, gaps in `status`, what `plan` shows, and the job errors.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, planBackfill, readStatus, rollbackRun, runBackfill, SqliteLedger, type Job } from '../../src/index.js';
import { runCli, tempDir, writeJob } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { ensureMariadb, ensurePostgres, MARIADB_HOST, MARIADB_PORT, mysqlQuery, POSTGRES_URL, pgQuery } from '../helpers/services.js';

const SUFFIX = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const SCHEMA = `incremental_${SUFFIX}`;

beforeAll(async () => {
  await ensurePostgres();
  await sql(`CREATE SCHEMA ${SCHEMA}`);
});
afterAll(async () => {
  await sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
});

function sql<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, values: unknown[] = [], timezone = 'UTC'): Promise<T[]> {
  return pgQuery<T>(text, values, { timezone });
}

const at = (iso: string): number => Date.parse(iso);
const parseYaml = (file: string): unknown => parse(readFileSync(file, 'utf8'));

function pgJob(dir: string, name: string, table: string, incremental: Record<string, unknown>, extra: Record<string, unknown> = {}): Job {
  return defineJob(
    {
      name,
      source: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.${table}` },
      chunk: { column: 'id', size: 1000 },
      target: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.${table}_out`, create: true },
      write: { mode: 'merge', key: ['id'] },
      incremental,
      concurrency: 2,
      retries: { attempts: 1 },
      ...extra,
    },
    { baseDir: dir },
  );
}

/** Every column of both tables, as text, in key order: equal means equal row for row. */
async function rows(table: string, cursor: string): Promise<string[]> {
  const out = await sql<{ r: string }>(`SELECT concat_ws('|', id, v, ${cursor}::text) AS r FROM ${SCHEMA}.${table} ORDER BY id`);
  return out.map((x) => x.r);
}

describe('a timestamptz cursor', () => {
  const T0 = '2026-01-10T00:00:00Z';
  const N1 = at('2026-01-10T02:00:00Z');
  const N2 = at('2026-01-10T03:00:00Z');
  const N3 = at('2026-01-10T03:30:00Z');
  let dir: string;
  let job: Job;
  const runs: string[] = [];

  beforeAll(async () => {
    dir = tempDir('incremental-tz');
    await sql(`CREATE TABLE ${SCHEMA}.events (id bigint PRIMARY KEY, v text NOT NULL, updated_at timestamptz(6) NOT NULL)`);
    await sql(`INSERT INTO ${SCHEMA}.events SELECT i, 'v' || i, timestamptz '${T0}' + i * interval '1 second' FROM generate_series(1, 3000) i`);
    job = pgJob(dir, `inc_tz_${SUFFIX}`, 'events', { cursor: 'updated_at', lookback: '2 hours', every: '1 hour' });
  });

  it('first runs the full backfill and sets the watermark where the cursor stood when it began', async () => {
    const result = await runBackfill(job, { now: N1 });
    expect(result).toMatchObject({ status: 'done', done: 4, rowsWritten: 3000 });
    expect(result.incremental).toMatchObject({ phase: 'history', cursor: 'updated_at', kind: 'time', watermarkAfter: '2026-01-10T02:00:00.000Z' });
    runs.push(result.runId);
    expect(await rows('events_out', 'updated_at')).toEqual(await rows('events', 'updated_at'));
  });

  it('never splits 1,500 rows sharing the boundary value, and keeps microseconds apart', async () => {
    await sql(`INSERT INTO ${SCHEMA}.events SELECT i, 'tie' || i, timestamptz '2026-01-10T03:00:00Z' FROM generate_series(10001, 11500) i`);
    await sql(`INSERT INTO ${SCHEMA}.events VALUES (20001, 'just before', timestamptz '2026-01-10T02:59:59.999999Z'), (20002, 'just after', timestamptz '2026-01-10T03:00:00.000001Z')`);
    // The window ends exactly on the tied value: none of them yet, the row a microsecond before it is in.
    const second = await runBackfill(job, { now: N2 });
    expect(second.incremental).toMatchObject({ phase: 'window', window: { lo: '2026-01-10T00:00:00.000Z', hi: '2026-01-10T03:00:00.000Z' }, watermarkAfter: '2026-01-10T03:00:00.000Z' });
    expect(second.rowsWritten).toBe(1);
    runs.push(second.runId);
    const ids = async (): Promise<number[]> => (await sql<{ id: string }>(`SELECT id FROM ${SCHEMA}.events_out WHERE id > 10000 ORDER BY id`)).map((r) => Number(r.id));
    expect(await ids()).toEqual([20001]);
    // The next window starts below it (lookback): all 1,500 and the row a microsecond after, each once.
    const third = await runBackfill(job, { now: N2 + 1 });
    expect(third.rowsWritten).toBe(1501);
    runs.push(third.runId);
    expect((await ids()).length).toBe(1502);
    expect(await rows('events_out', 'updated_at')).toEqual(await rows('events', 'updated_at'));
  });

  it('merges late rows within the lookback and changed rows; a row later than the lookback is not read', async () => {
    await sql(`UPDATE ${SCHEMA}.events SET v = 'changed', updated_at = timestamptz '2026-01-10T03:29:00Z' WHERE id = 5`);
    await sql(`INSERT INTO ${SCHEMA}.events VALUES (30001, 'late 90 min', timestamptz '2026-01-10T01:30:00Z'), (30002, 'late 3 h', timestamptz '2026-01-10T00:00:00Z')`);
    const fourth = await runBackfill(job, { now: N3 });
    runs.push(fourth.runId);
    // Rows read again inside the lookback are unchanged, so the merge writes only the two that changed.
    expect(fourth.rowsWritten).toBe(2);
    expect(fourth.rowsRead).toBeGreaterThan(1500);
    const source = (await rows('events', 'updated_at')).filter((r) => !r.startsWith('30002|'));
    expect(await rows('events_out', 'updated_at')).toEqual(source);
    expect(await sql(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM ${SCHEMA}.events_out`)).toEqual([{ n: source.length, d: source.length }]);
  });

  it('status shows the watermark and the last window; plan shows the next window', async () => {
    const status = await readStatus(job);
    expect(status?.incremental).toMatchObject({ cursor: 'updated_at', phase: 'incremental', watermark: '2026-01-10T03:30:00.000Z', window: { lo: '2026-01-10T01:00:00.001Z', hi: '2026-01-10T03:30:00.000Z' } });
    expect(status?.counts).toMatchObject({ total: 4, done: 4 });
    expect(status?.gaps).toEqual([]);
    const plan = await planBackfill(job, { now: at('2026-01-10T04:10:00Z') });
    expect(plan.incremental).toMatchObject({ phase: 'window', watermark: '2026-01-10T03:30:00.000Z', window: { lo: '2026-01-10T01:30:00.000Z', hi: '2026-01-10T04:10:00.000Z' } });
    expect(plan.chunks.map((c) => [c.lo, c.hi])).toEqual([
      ['2026-01-10T01:30:00Z', '2026-01-10T02:00:00Z'],
      ['2026-01-10T02:00:00Z', '2026-01-10T03:00:00Z'],
      ['2026-01-10T03:00:00Z', '2026-01-10T04:00:00Z'],
      ['2026-01-10T04:00:00Z', '2026-01-10T04:10:00Z'],
    ]);
  });

  it('rolls back the newest window only: the watermark goes back and the next run reads it again', async () => {
    // An older window overlaps the newer ones: restoring it would undo their changes.
    await expect(rollbackRun(job, { runId: runs[2]! })).rejects.toThrow(/a later run \(.*\) has written|later windows .* have read past it/);
    const rolled = await rollbackRun(job, { runId: runs[3]! });
    expect(rolled.status).toBe('rolled-back');
    expect(await sql(`SELECT v FROM ${SCHEMA}.events_out WHERE id IN (5, 30001) ORDER BY id`)).toEqual([{ v: 'v5' }]);
    const status = await readStatus(job);
    expect(Date.parse(status!.incremental!.watermark)).toBeLessThanOrEqual(at('2026-01-10T01:00:00.001Z'));
    // Rewound below the rolled-back window's start, the next window reaches back far enough to
    // take the row that was too late before (30002) besides the two the rollback removed.
    const again = await runBackfill(job, { now: N3 });
    expect(again.rowsWritten).toBe(3);
    expect(await rows('events_out', 'updated_at')).toEqual(await rows('events', 'updated_at'));
  });
});

describe('a timestamp cursor without a time zone', () => {
  it('holds New York wall-clock times: windows end at the wall clock there, not at UTC', async () => {
    const dir = tempDir('incremental-naive');
    await sql(`CREATE TABLE ${SCHEMA}.naive (id bigint PRIMARY KEY, v text NOT NULL, changed timestamp(6) NOT NULL)`);
    // Written by sessions in New York with localtimestamp: wall-clock times there.
    await sql(`INSERT INTO ${SCHEMA}.naive SELECT i, 'v' || i, timestamp '2026-01-10 08:00:00' + i * interval '1 minute' FROM generate_series(1, 100) i`, [], 'America/New_York');
    const job = pgJob(dir, `inc_naive_${SUFFIX}`, 'naive', { cursor: 'changed', lookback: '2 hours', timezone: 'America/New_York' });
    const history = await runBackfill(job, { now: at('2026-01-10T15:00:00Z') });
    expect(history.incremental?.watermarkAfter).toBe('2026-01-10T10:00:00.000Z'); // 15:00Z is 10:00 in New York
    await sql(`INSERT INTO ${SCHEMA}.naive VALUES (201, 'noon', timestamp '2026-01-10 12:00:00'), (202, 'an hour late', timestamp '2026-01-10 11:00:00')`);
    // 16:59:59.999Z is 11:59:59.999 in New York: the noon row is not due yet, the late one is.
    const early = await runBackfill(job, { now: at('2026-01-10T16:59:59.999Z') });
    expect(early.rowsWritten).toBe(1);
    expect(await sql(`SELECT id FROM ${SCHEMA}.naive_out WHERE id > 200 ORDER BY id`)).toEqual([{ id: '202' }]);
    const due = await runBackfill(job, { now: at('2026-01-10T17:00:00.001Z') });
    expect(due.rowsWritten).toBe(1);
    expect(await rows('naive_out', 'changed')).toEqual(await rows('naive', 'changed'));
  });

  it('a timestamptz cursor written by a session in Tokyo needs no zone: its values are instants', async () => {
    const dir = tempDir('incremental-tokyo');
    await sql(`CREATE TABLE ${SCHEMA}.tokyo (id bigint PRIMARY KEY, v text NOT NULL, changed timestamptz NOT NULL)`);
    await sql(`INSERT INTO ${SCHEMA}.tokyo VALUES (1, 'a', '2026-01-10 09:00:00')`, [], 'Asia/Tokyo'); // 00:00Z
    const job = pgJob(dir, `inc_tokyo_${SUFFIX}`, 'tokyo', { cursor: 'changed', lookback: '10 minutes' });
    await runBackfill(job, { now: at('2026-01-10T01:00:00Z') });
    await sql(`INSERT INTO ${SCHEMA}.tokyo VALUES (2, 'b', '2026-01-10 12:00:00')`, [], 'Asia/Tokyo'); // 03:00Z
    expect((await runBackfill(job, { now: at('2026-01-10T02:59:00Z') })).rowsWritten).toBe(0);
    expect((await runBackfill(job, { now: at('2026-01-10T03:00:00.001Z') })).rowsWritten).toBe(1);
    expect(await rows('tokyo_out', 'changed')).toEqual(await rows('tokyo', 'changed'));
  });
});

describe('an integer cursor', () => {
  it('reads up to the largest value, ties included, and late values within the lookback, into DuckDB', async () => {
    const dir = tempDir('incremental-int');
    await sql(`CREATE TABLE ${SCHEMA}.versions (id bigint PRIMARY KEY, v text NOT NULL, version bigint NOT NULL)`);
    await sql(`INSERT INTO ${SCHEMA}.versions SELECT i, 'v' || i, i FROM generate_series(1, 2000) i`);
    const job = defineJob(
      {
        name: `inc_int_${SUFFIX}`,
        source: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.versions` },
        chunk: { column: 'id', size: 500 },
        target: { type: 'duckdb', database: 'out.duckdb', table: 'versions' },
        write: { mode: 'merge', key: ['id'] },
        incremental: { cursor: 'version', lookback: 10, size: 300 },
        retries: { attempts: 1 },
      },
      { baseDir: dir },
    );
    const history = await runBackfill(job);
    expect(history.incremental).toMatchObject({ phase: 'history', kind: 'key', watermarkAfter: '2001' });
    await sql(`INSERT INTO ${SCHEMA}.versions SELECT i, 'tie', 2050 FROM generate_series(5001, 6500) i`);
    const ties = await runBackfill(job);
    expect(ties.incremental).toMatchObject({ window: { lo: '1991', hi: '2051' }, watermarkAfter: '2051' });
    expect(ties.rowsWritten).toBe(1500);
    // Committed late with versions below the watermark: 2045 is within the lookback of 10, 2030 is not.
    await sql(`INSERT INTO ${SCHEMA}.versions VALUES (7001, 'late', 2045), (7002, 'too late', 2030)`);
    await sql(`UPDATE ${SCHEMA}.versions SET v = 'changed', version = 2051 WHERE id = 7`);
    const late = await runBackfill(job);
    expect(late.rowsWritten).toBe(2);
    const out = await query(`ATTACH '${join(dir, 'out.duckdb')}' AS o (READ_ONLY); SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS d, max(CASE WHEN id = 7 THEN v END) AS v7, count(*) FILTER (WHERE id IN (7001, 7002))::INT AS late FROM o.versions`);
    expect(out.find((r) => 'n' in r)).toEqual({ n: 3501, d: 3501, v7: 'changed', late: 1 });
    // Nothing new: the window reads the lookback again and writes nothing.
    expect((await runBackfill(job)).rowsWritten).toBe(0);
  });
});

describe('a window killed between a chunk\'s commit and its ledger mark', () => {
  it('resumes: the next run reads the window again from the old watermark and the target equals the source', async () => {
    const dir = tempDir('incremental-kill');
    await sql(`CREATE TABLE ${SCHEMA}.killed (id bigint PRIMARY KEY, v text NOT NULL, updated_at timestamptz NOT NULL)`);
    await sql(`INSERT INTO ${SCHEMA}.killed SELECT i, 'v' || i, now() - interval '3 hours' + i * interval '1 second' FROM generate_series(1, 2000) i`);
    const file = writeJob(dir, 'job.yaml', `
name: killed_${SUFFIX}
source: { type: postgres, connection: "${POSTGRES_URL}", table: ${SCHEMA}.killed }
chunk: { column: id, size: 1000 }
target: { type: postgres, connection: "${POSTGRES_URL}", table: ${SCHEMA}.killed_out, create: true }
write: { mode: merge, key: [id] }
incremental: { cursor: updated_at, lookback: 4 hours, every: 1 hour }
concurrency: 1
`);
    expect((await runCli(['run', file, '--quiet'])).code).toBe(0);
    const before = (await readStatus(defineJob(parseYaml(file), { baseDir: dir })))!.incremental!.watermark;
    await sql(`UPDATE ${SCHEMA}.killed SET v = 'changed', updated_at = now() WHERE id % 100 = 0`);
    await sql(`UPDATE ${SCHEMA}.killed SET v = 'changed early', updated_at = now() - interval '150 minutes' WHERE id = 7`);
    // The window's chunks: the second commit kills the process before its ledger mark and before the watermark moves past it.
    const killed = await runCli(['run', file, '--quiet'], { env: { BACKFILL_FAULT: 'after-commit:2' } });
    expect(killed.signal).toBe('SIGKILL');
    const job = defineJob(parseYaml(file), { baseDir: dir });
    const mid = (await readStatus(job))!.incremental!;
    // The chunk that holds the watermark (the window's last) never committed: it has not moved.
    expect(mid.watermark).toBe(before);
    expect(mid.windowChunks.running + mid.windowChunks.done).toBeGreaterThanOrEqual(2);
    const resumed = await runCli(['run', file, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await rows('killed_out', 'updated_at')).toEqual(await rows('killed', 'updated_at'));
    expect(Date.parse((await readStatus(job))!.incremental!.watermark)).toBeGreaterThan(Date.parse(before));
  });
});

describe('window chunk records', () => {
  const MYDB = `incremental_${SUFFIX}`;
  const my = mysqlQuery;
  beforeAll(async () => {
    await ensureMariadb();
    await my(`CREATE DATABASE \`${MYDB}\``);
  });
  afterAll(async () => {
    await my(`DROP DATABASE IF EXISTS \`${MYDB}\``);
  });

  /** The chunk keys of the job's commit markers in the target. */
  const markerKeys = async (target: string, dir: string, job: string): Promise<string[]> => {
    if (target === 'postgres') return (await sql<{ key: string }>('SELECT chunk_key AS key FROM backfill.chunk_commits WHERE job = $1', [job])).map((r) => r.key);
    if (target === 'mysql') return (await my<{ key: string }>(`SELECT chunk_key AS \`key\` FROM \`${MYDB}\`.backfill_chunk_commits WHERE job = ?`, [job])).map((r) => r.key);
    const rows = await query<{ key: string }>(`ATTACH '${join(dir, 'out.duckdb')}' AS o (READ_ONLY); SELECT chunk_key AS key FROM o.main.backfill_chunk_commits WHERE job = '${job}'`);
    return rows.map((r) => r.key).filter((k) => k !== undefined);
  };

  it.each(['duckdb', 'postgres', 'mysql'] as const)('are kept for the latest 20 window runs only, when no backup needs them, with their commit markers in a %s target', async (kind) => {
    const dir = tempDir(`incremental-prune-${kind}`);
    const table = `prune_${kind}`;
    await sql(`CREATE TABLE ${SCHEMA}.${table} (id bigint PRIMARY KEY, v text NOT NULL, version bigint NOT NULL)`);
    await sql(`INSERT INTO ${SCHEMA}.${table} SELECT i, 'v', i FROM generate_series(1, 10) i`);
    const job = defineJob(
      {
        name: `inc_prune_${kind}_${SUFFIX}`,
        source: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.${table}` },
        chunk: { column: 'id', size: 100 },
        target:
          kind === 'duckdb'
            ? { type: 'duckdb', database: 'out.duckdb', table: 'prune' }
            : kind === 'postgres'
              ? { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.${table}_out`, create: true }
              : { type: 'mysql', connection: { host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', database: MYDB }, table: 'prune_out', create: true },
        write: { mode: 'merge', key: ['id'] },
        incremental: { cursor: 'version', lookback: 0, size: 1000 },
        backup: 'never',
      },
      { baseDir: dir },
    );
    await runBackfill(job);
    const windowRuns = async (): Promise<number> => {
      const ledger = SqliteLedger.open(job.ledgerPath);
      try {
        return new Set((await ledger.listChunks(job.name)).filter((c) => c.key.startsWith('window ')).map((c) => c.runId)).size;
      } finally {
        await ledger.close();
      }
    };
    for (let i = 1; i <= 23; i++) {
      await sql(`INSERT INTO ${SCHEMA}.${table} VALUES (${100 + i}, 'w', ${100 + i})`);
      expect((await runBackfill(job)).rowsWritten).toBe(1);
    }
    expect(await windowRuns()).toBe(20);
    expect((await readStatus(job))?.counts).toMatchObject({ total: 1, done: 1 });
    // The target's commit markers of the forgotten window chunks are gone too; the history chunk's stays.
    const keys = await markerKeys(kind, dir, job.name);
    expect(keys.filter((k) => k.startsWith('window ')).length).toBe(20);
    expect(keys.filter((k) => !k.startsWith('window ')).length).toBe(1);
  });
});

describe('gaps and errors', () => {
  it('status names the history no done chunk covers', async () => {
    const dir = tempDir('incremental-gaps');
    await sql(`CREATE TABLE ${SCHEMA}.plain (id bigint PRIMARY KEY, v text NOT NULL, updated_at timestamptz NOT NULL)`);
    await sql(`INSERT INTO ${SCHEMA}.plain SELECT i, 'v', now() FROM generate_series(0, 4999) i`);
    const file = writeJob(dir, 'job.yaml', `
name: gaps_${SUFFIX}
source: { type: postgres, connection: "${POSTGRES_URL}", table: ${SCHEMA}.plain }
chunk: { column: id, size: 1000 }
target: { type: postgres, connection: "${POSTGRES_URL}", table: ${SCHEMA}.plain_out, create: true }
write: { mode: merge, key: [id] }
`);
    expect((await runCli(['run', file, '--from', '0', '--to', '1000', '--quiet'])).code).toBe(0);
    expect((await runCli(['run', file, '--from', '3000', '--to', '4000', '--quiet'])).code).toBe(0);
    const status = await runCli(['status', file, '--json']);
    expect(JSON.parse(status.stdout).gaps).toEqual([
      { lo: '1000', hi: '3000', chunks: 2 },
      { lo: '4000', hi: '5000', chunks: 1 },
    ]);
    const text = await runCli(['status', file]);
    expect(text.stdout).toMatch(/gaps \(history no done chunk covers\):\n {2}1000 … 3000 \(2 chunks not done\)\n {2}4000 … 5000 \(1 chunk not done\)/);
  });

  it('refuses what incremental runs cannot do, naming the field', async () => {
    const dir = tempDir('incremental-errors');
    await sql(`CREATE TABLE ${SCHEMA}.errs (id bigint PRIMARY KEY, v text NOT NULL, updated_at timestamptz NOT NULL)`);
    expect(() => pgJob(dir, 'e1', 'errs', { cursor: 'updated_at' }, { write: { mode: 'replace' } })).toThrow(/write\.mode: incremental runs read rows again inside the lookback, so they merge by key/);
    expect(() => pgJob(dir, 'e2', 'errs', { cursor: 'updated_at', timezone: 'Mars/Olympus' })).toThrow(/incremental\.timezone: unknown time zone "Mars\/Olympus"/);
    await expect(runBackfill(pgJob(dir, 'e3', 'errs', { cursor: 'changed_at' }))).rejects.toThrow(/incremental\.cursor "changed_at" is not a column of .*; it has: id, v, updated_at/);
    await expect(runBackfill(pgJob(dir, 'e4', 'errs', { cursor: 'v' }))).rejects.toThrow(/incremental\.cursor "v" .* has type VARCHAR; a cursor is a TIMESTAMP, TIMESTAMPTZ, DATE or integer column/);
    await expect(runBackfill(pgJob(dir, 'e5', 'errs', { cursor: 'updated_at', lookback: 7200 }))).rejects.toThrow(/incremental\.lookback: .* a duration such as "2 hours", not a number/);
    const lake = pgJob(dir, 'e6', 'errs', { cursor: 'updated_at' }, { target: { type: 'parquet', path: 'lake' } });
    await expect(runBackfill(lake)).rejects.toThrow(/merges only within a chunk's own files; use a database target/);
    // A change-data-capture source streams every change: windows on top of it are refused, and it has no chunk plan.
    const cdcFile = writeJob(dir, 'cdc.yaml', `
name: e8
source: { type: postgres, connection: "${POSTGRES_URL}", table: ${SCHEMA}.errs, cdc: true }
chunk: { column: id, size: 1000 }
target: { type: postgres, connection: "${POSTGRES_URL}", table: ${SCHEMA}.errs_out, create: true }
write: { mode: merge, key: [id] }
incremental: { cursor: updated_at }
`);
    const both = await runCli(['run', cdcFile, '--until-caught-up']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/incremental: a cdc source streams every change from the log/);
    const plan = await runCli(['plan', cdcFile]);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toMatch(/captures changes \(source\.cdc\): it has no chunk plan/);
    // A watermark recorded for another cursor is not used for this one.
    const first = pgJob(dir, 'e7', 'errs', { cursor: 'updated_at' });
    await runBackfill(first);
    await expect(runBackfill(pgJob(dir, 'e7', 'errs', { cursor: 'id', lookback: 5 }))).rejects.toThrow(/the ledger's watermark belongs to cursor "updated_at" \(time\)/);
  });
});
