// Limits against real sources (docs/limits.md): the pause file, the job's pause, load and critical load read by a query the
// test controls, the rate limit (counted from chunk start times, never timed), database limits refused where they cannot be read.
import { jobMetrics } from '../../src/dashboard/run-metrics.js';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, EventBus, readStatus, runBackfill, type Job } from '../../src/index.js';
import { JobSpecError } from '../../src/core/errors.js';
import { MIN_LEVEL, type ThrottleReason } from '../../src/core/throttle.js';
import { pauseJob, resumeJob } from '../../src/engine/limits/pause-job.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { ensureMariadb, ensurePostgres, mysqlQuery, pgQuery, POSTGRES_URL } from '../helpers/services.js';

const SCHEMA = `limits_${process.pid}_${Date.now().toString(36)}`;
const MYSQL_TABLE = `limits_${process.pid}`;
const ROWS = 4000;

beforeAll(async () => {
  await ensurePostgres();
  await pgQuery(`CREATE SCHEMA ${SCHEMA}`);
  await pgQuery(`CREATE TABLE ${SCHEMA}.events AS SELECT i AS id, 'row ' || i AS name FROM generate_series(0, ${ROWS - 1}) AS g(i)`);
  await pgQuery(`CREATE INDEX ON ${SCHEMA}.events (id)`);
  // The "load" the tests set: the limits' queries read it.
  await pgQuery(`CREATE TABLE ${SCHEMA}.load (name text PRIMARY KEY, value int NOT NULL)`);
  await pgQuery(`INSERT INTO ${SCHEMA}.load VALUES ('load', 0), ('critical', 0)`);
});

afterAll(async () => {
  await pgQuery(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
});

const setLoad = (name: 'load' | 'critical', value: number): Promise<unknown> => pgQuery(`UPDATE ${SCHEMA}.load SET value = $1 WHERE name = $2`, [value, name]);

/** 8 key chunks of 500 rows from a Parquet file into a DuckDB table. */
async function fileJob(dir: string, extra: Record<string, unknown> = {}): Promise<Job> {
  await query(`COPY (SELECT i AS id, 'row ' || i AS name FROM range(${ROWS}) t(i)) TO '${join(dir, 'in.parquet')}' (FORMAT parquet)`);
  return defineJob(
    { name: 'files', source: { type: 'parquet', path: 'in.parquet' }, chunk: { column: 'id', size: 500 }, target: { type: 'duckdb', database: 't.duckdb', table: 't' }, write: { mode: 'replace' }, concurrency: 1, ...extra },
    { baseDir: dir },
  );
}

/** The PostgreSQL table above, 8 key chunks, into a DuckDB table; `limits` as given. */
function pgJob(dir: string, limits: Record<string, unknown>, extra: Record<string, unknown> = {}): Job {
  return defineJob(
    {
      name: 'pg', source: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.events` }, chunk: { column: 'id', size: 500 },
      target: { type: 'duckdb', database: 't.duckdb', table: 't' }, write: { mode: 'replace' }, concurrency: 1, limits: { checkInterval: '200ms', ...limits }, ...extra,
    },
    { baseDir: dir },
  );
}

async function targetRows(dir: string): Promise<{ n: string; ids: string }> {
  const rows = await query<{ n: string; ids: string }>(`ATTACH '${join(dir, 't.duckdb')}' AS t (READ_ONLY); SELECT count(*) AS n, count(DISTINCT id) AS ids FROM t.t`);
  return rows[rows.length - 1] as { n: string; ids: string };
}

/** Every event by name, in order, and a promise for the first one a test waits on. */
function record(events: EventBus): { seen: { event: string; at: number; payload: unknown }[]; when: (test: (event: string, payload: unknown) => boolean) => Promise<void> } {
  const seen: { event: string; at: number; payload: unknown }[] = [];
  const waits: { test: (event: string, payload: unknown) => boolean; resolve: () => void }[] = [];
  events.onAny((event, payload) => {
    seen.push({ event, at: Date.now(), payload });
    for (const w of waits.filter((x) => x.test(event, payload))) {
      waits.splice(waits.indexOf(w), 1);
      w.resolve();
    }
  });
  return {
    seen,
    when: (test) => (seen.some((s) => test(s.event, s.payload)) ? Promise.resolve() : new Promise((resolve) => waits.push({ test, resolve }))),
  };
}

const reasonsOf = (payload: unknown): ThrottleReason[] => (payload as { reasons: ThrottleReason[] }).reasons;

describe('the job file', () => {
  it('refuses the database limits on a file source, naming each one', () => {
    const spec = {
      name: 'f', source: { type: 'csv', path: 'x.csv' }, chunk: { column: 'id', size: 10 }, target: { type: 'duckdb', database: 't.duckdb', table: 't' },
      concurrency: 'adaptive', limits: { maxReplicaLag: '5s', maxLoad: { query: 'select 1', above: 1 }, criticalLoad: { query: 'select 1', above: 2 }, pauseFile: 'p', rowsPerSecond: 10 },
    };
    let error: unknown;
    try {
      defineJob(spec);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(JobSpecError);
    const paths = (error as JobSpecError).issues.map((i) => i.path);
    expect(paths.sort()).toEqual(['concurrency', 'limits.criticalLoad', 'limits.maxLoad', 'limits.maxReplicaLag']);
    expect((error as JobSpecError).message).toMatch(/needs a database source .*postgres.*a csv source has no replicas/);
  });

  it('resolves limits: durations in ms, the pause file against the job folder, adaptive concurrency with its maximum', () => {
    const job = pgJob('/data/jobs', { maxReplicaLag: '5s', pauseFile: 'backfill.pause', rowsPerSecond: 200000 }, { concurrency: { adaptive: { max: 6 } } });
    expect(job.limits).toEqual({ rowsPerSecond: 200000, maxReplicaLagMs: 5000, maxLoad: undefined, criticalLoad: undefined, pauseFile: '/data/jobs/backfill.pause', checkIntervalMs: 200 });
    expect([job.concurrency, job.adaptiveConcurrency]).toEqual([6, true]);
    expect(() => pgJob('/d', { maxLoad: { query: 'select 1' } })).toThrow(/limits\.maxLoad\.above/);
    expect(() => pgJob('/d', { maxReplicaLag: 'soon' })).toThrow(/limits\.maxReplicaLag/);
  });
});

describe('pause file and pause', () => {
  it('takes no chunk while the pause file exists, also when it appears between chunks, and completes after it goes', async () => {
    const dir = tempDir('pausefile');
    const pauseFile = join(dir, 'backfill.pause');
    const job = await fileJob(dir, { limits: { pauseFile: 'backfill.pause', checkInterval: '100ms' } });
    writeFileSync(pauseFile, '');
    const events = new EventBus();
    const { seen, when } = record(events);
    // Paused from the start: then lifted, and paused again once the second chunk is done.
    let done = 0;
    events.on('chunk:done', () => {
      if (++done === 2) writeFileSync(pauseFile, '');
    });
    const metrics = jobMetrics(job, events);
    const run = runBackfill(job, { events });
    await when((e) => e === 'throttle:start');
    expect(seen.filter((s) => s.event === 'chunk:start')).toHaveLength(0);
    expect(await metrics.registry.getSingleMetricAsString('backfill_throttled')).toContain('backfill_throttled{job="files",state="paused"} 1');
    expect(reasonsOf(seen.find((s) => s.event === 'throttle:start')?.payload)).toEqual([
      { limit: 'pauseFile', value: null, threshold: null, text: `pause file ${pauseFile} exists` },
    ]);
    rmSync(pauseFile);
    await when((e, p) => e === 'throttle:start' && seen.filter((s) => s.event === 'chunk:done').length === 2 && (p as { state: string }).state === 'paused');
    const startedWhilePaused = seen.filter((s) => s.event === 'chunk:start').length;
    expect(startedWhilePaused).toBe(2);
    const status = await readStatus(job);
    expect(status?.throttle.runs[0]).toMatchObject({ state: 'paused', reasons: [{ limit: 'pauseFile' }] });
    expect(seen.filter((s) => s.event === 'chunk:start')).toHaveLength(startedWhilePaused);
    rmSync(pauseFile);
    const result = await run;
    expect(result).toMatchObject({ status: 'done', done: 8, rowsWritten: ROWS });
    expect(result.limits?.pausedMs).toBeGreaterThan(0);
    expect(result.limits?.throttledMs).toBe(0);
    expect(seen.filter((s) => s.event === 'throttle:end')).toHaveLength(2);
    expect(await targetRows(dir)).toEqual({ n: String(ROWS), ids: String(ROWS) });
    // The Prometheus series count the same held time the events report, as paused, and nothing holds at the end.
    const heldMs = seen.filter((s) => s.event === 'throttle:end').reduce((sum, s) => sum + (s.payload as { ms: number }).ms, 0);
    const text = await metrics.registry.metrics();
    expect(Number(/backfill_throttled_seconds_total\{job="files",state="paused"\} ([0-9.e-]+)/.exec(text)?.[1])).toBeCloseTo(heldMs / 1000, 6);
    expect(text).toContain('backfill_throttled_seconds_total{job="files",state="throttled"} 0');
    expect(text).toContain('backfill_throttled{job="files",state="paused"} 0');
    await metrics.close();
  });

  it('obeys `pause` given through the ledger, and shows who paused in status until `resume`', async () => {
    const dir = tempDir('pause');
    const job = await fileJob(dir, { limits: { checkInterval: '100ms' } });
    expect(await pauseJob(job, { reason: 'month-end close', by: 'ops@test' })).toMatchObject({ changed: true, pause: { pausedBy: 'ops@test', reason: 'month-end close' } });
    expect((await pauseJob(job)).changed).toBe(false);
    const events = new EventBus();
    const { seen, when } = record(events);
    const run = runBackfill(job, { events });
    await when((e) => e === 'run:start');
    await when((e) => e === 'throttle:start');
    expect(reasonsOf(seen.find((s) => s.event === 'throttle:start')?.payload)[0]?.text).toMatch(/^paused by ops@test at .*: month-end close/);
    const status = await readStatus(job);
    expect(status?.throttle.paused).toMatchObject({ by: 'ops@test', reason: 'month-end close' });
    expect(status?.throttle.runs).toHaveLength(1);
    expect(seen.filter((s) => s.event === 'chunk:start')).toHaveLength(0);
    expect((await resumeJob(job)).changed).toBe(true);
    expect(await run).toMatchObject({ status: 'done', done: 8 });
    expect((await readStatus(job))?.throttle.paused).toBeNull();
  });

  it('a stop while paused ends the run at once, its chunks left to do', async () => {
    const dir = tempDir('pause-stop');
    const job = await fileJob(dir);
    await pauseJob(job);
    const events = new EventBus();
    const { when } = record(events);
    const stop = new AbortController();
    const run = runBackfill(job, { events, signal: stop.signal });
    await when((e) => e === 'throttle:start');
    stop.abort('test stop');
    expect(await run).toMatchObject({ status: 'interrupted', done: 0, interrupted: 8 });
    await resumeJob(job);
  });
});

describe('rate limit', () => {
  it('spaces chunk starts so rows read stay under rowsPerSecond: chunk k starts no earlier than the rows of the chunks before it allow', async () => {
    const dir = tempDir('rate');
    // 500 rows a chunk at 2500 rows/s: 200 ms of budget each.
    const job = await fileJob(dir, { concurrency: 2, limits: { rowsPerSecond: 2500 } });
    const events = new EventBus();
    const { seen } = record(events);
    const result = await runBackfill(job, { events });
    expect(result).toMatchObject({ status: 'done', done: 8, rowsRead: ROWS });
    const begun = seen.find((s) => s.event === 'run:start')!.at;
    const starts = seen.filter((s) => s.event === 'chunk:start').map((s) => s.at);
    expect(starts).toHaveLength(8);
    // The first chunk's cost is unknown until it ends, so up to two (the pool) start together; every
    // later start waits for the rows charged before it. A slow machine only spreads them further.
    for (let k = 2; k < starts.length; k++) expect(starts[k]! - begun).toBeGreaterThanOrEqual((k - 1) * 200 - 5);
    expect(result.limits?.rateWaitMs).toBeGreaterThan(0);
  });

  it('holds across processes sharing a PostgreSQL ledger: two runs of one job together stay under the rate', async () => {
    const dir = tempDir('rate-fleet');
    const ledger = `${POSTGRES_URL}?schema=${SCHEMA}_ledger`;
    const job = await fileJob(dir, { concurrency: 2, ledger, limits: { rowsPerSecond: 2500 } });
    const events = new EventBus();
    const { seen } = record(events);
    const [a, b] = await Promise.all([runBackfill(job, { events }), runBackfill(job, { events })]);
    expect(a.done + b.done).toBe(8);
    const begun = Math.min(...seen.filter((s) => s.event === 'run:start').map((s) => s.at));
    const starts = seen.filter((s) => s.event === 'chunk:start').map((s) => s.at).sort((x, y) => x - y);
    expect(starts).toHaveLength(8);
    // Four chunks may start before any cost is known (two runs, two slots each); then 200 ms per chunk.
    for (let k = 4; k < starts.length; k++) expect(starts[k]! - begun).toBeGreaterThanOrEqual((k - 3) * 200 - 5);
    await pgQuery(`DROP SCHEMA IF EXISTS ${SCHEMA}_ledger CASCADE`);
  });
});

describe('load and critical load (PostgreSQL source, queries the test controls)', () => {
  it('holds new chunks while the load query is above its threshold, shows it in status, and completes once it falls', async () => {
    const dir = tempDir('load');
    await setLoad('load', 52);
    const job = pgJob(dir, { maxLoad: { query: `SELECT value FROM ${SCHEMA}.load WHERE name = 'load'`, above: 40 } });
    const events = new EventBus();
    const { seen, when } = record(events);
    const run = runBackfill(job, { events });
    await when((e) => e === 'run:start');
    await when((e) => e === 'throttle:start');
    expect(seen.find((s) => s.event === 'throttle:start')?.payload).toMatchObject({ state: 'throttled', reasons: [{ limit: 'maxLoad', value: 52, threshold: 40, text: 'load 52 > 40' }] });
    const status = await readStatus(job);
    expect(status?.throttle.runs[0]).toMatchObject({ state: 'throttled', reasons: [{ limit: 'maxLoad', value: 52, threshold: 40 }], concurrency: 1 });
    expect(status?.throttle.limits.maxLoad).toEqual({ query: `SELECT value FROM ${SCHEMA}.load WHERE name = 'load'`, above: 40 });
    expect(seen.filter((s) => s.event === 'chunk:start')).toHaveLength(0);
    await setLoad('load', 3);
    const result = await run;
    expect(result).toMatchObject({ status: 'done', done: 8, rowsWritten: ROWS });
    expect(result.limits?.throttledMs).toBeGreaterThan(0);
    expect(await targetRows(dir)).toEqual({ n: String(ROWS), ids: String(ROWS) });
  });

  it('stops the run on critical load, chunks in flight interrupted; a later run completes the data exactly once', async () => {
    const dir = tempDir('critical');
    await setLoad('critical', 0);
    const job = pgJob(dir, { criticalLoad: { query: `SELECT value FROM ${SCHEMA}.load WHERE name = 'critical'`, above: 200 } });
    const events = new EventBus();
    const stopping: string[] = [];
    events.on('run:stopping', (e) => stopping.push(e.reason));
    let done = 0;
    // Critical load arrives after the second chunk: the run must stop before the last.
    events.on('chunk:done', () => {
      if (++done === 2) void setLoad('critical', 250);
    });
    const result = await runBackfill(job, { events });
    expect(result.status).toBe('interrupted');
    expect(result.done).toBeGreaterThanOrEqual(2);
    expect(result.done).toBeLessThan(8);
    expect(stopping).toEqual(['critical load 250 > 200 (limits.criticalLoad): chunks in flight are interrupted and roll back']);
    expect((await readStatus(job))?.runs[0]).toMatchObject({ status: 'interrupted', error: stopping[0] });
    await setLoad('critical', 0);
    expect(await runBackfill(job)).toMatchObject({ status: 'done', done: 8 - result.done });
    expect(await targetRows(dir)).toEqual({ n: String(ROWS), ids: String(ROWS) });
  });

  it('refuses to start when a load query does not return a number, naming the limit and the query', async () => {
    const dir = tempDir('load-bad');
    const job = pgJob(dir, { maxLoad: { query: "SELECT 'busy'", above: 1 } });
    await expect(runBackfill(job)).rejects.toThrow(/^limits\.maxLoad cannot be checked on postgres source .*: the load query returned "busy", not a number: SELECT 'busy'/);
  });

  it('refuses maxReplicaLag on a primary with no replica, saying so', async () => {
    const dir = tempDir('lag-none');
    const job = pgJob(dir, { maxReplicaLag: '5s' });
    await expect(runBackfill(job)).rejects.toThrow(/limits\.maxReplicaLag cannot be checked on postgres source .*no streaming replica \(pg_stat_replication is empty\)/);
  });

  it('adaptive concurrency measures a baseline and completes the run, its level within [MIN_LEVEL, max]', async () => {
    const dir = tempDir('adaptive');
    const job = pgJob(dir, {}, { concurrency: { adaptive: { max: 3 } } });
    const events = new EventBus();
    const levels: number[] = [];
    events.on('throttle:concurrency', (e) => levels.push(e.concurrency));
    const result = await runBackfill(job, { events });
    expect(result).toMatchObject({ status: 'done', done: 8 });
    for (const n of levels) expect(n >= MIN_LEVEL && n <= 3).toBe(true);
    const status = await readStatus(job);
    expect(status?.throttle.limits).toMatchObject({ concurrency: 3, adaptiveConcurrency: true });
    // The run's last reading kept the level it ran at, starting from one chunk.
    expect(status?.runs[0]?.throttle?.concurrency).toBe(levels.length === 0 ? 1 : levels[levels.length - 1]);
    expect(await targetRows(dir)).toEqual({ n: String(ROWS), ids: String(ROWS) });
  });
});

describe('adaptive concurrency on the tail of the latency', () => {
  it('is the default for a database source; concurrency: auto or a number, and any file source, run unthrottled', async () => {
    const pgDefault = defineJob(
      { name: 'pg', source: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.events` }, chunk: { column: 'id', size: 500 }, target: { type: 'duckdb', database: 't.duckdb', table: 't' } },
      { baseDir: '/d' },
    );
    expect([pgDefault.adaptiveConcurrency, pgDefault.concurrency >= 2]).toEqual([true, true]);
    expect(pgJob('/d', {}, { concurrency: 'auto' }).adaptiveConcurrency).toBe(false);
    expect(pgJob('/d', {}, { concurrency: 3 })).toMatchObject({ adaptiveConcurrency: false, concurrency: 3 });
    const files = defineJob({ name: 'f', source: { type: 'parquet', path: 'in.parquet' }, chunk: { column: 'id', size: 500 }, target: { type: 'duckdb', database: 't.duckdb', table: 't' } }, { baseDir: '/d' });
    expect(files.adaptiveConcurrency).toBe(false);
  });

  it('spaces chunks below one at a time when the probe\'s tail rises, and still loads every row', async () => {
    const dir = tempDir('adaptive-tail');
    await setLoad('load', 0);
    // The probe sleeps as many milliseconds as the load row says: 0 while the baseline is taken, then 25.
    const probe = `select pg_sleep(value / 1000.0) from ${SCHEMA}.load where name = 'load'`;
    const job = defineJob(
      {
        name: 'pg-tail', source: { type: 'postgres', connection: POSTGRES_URL, query: `SELECT e.* FROM ${SCHEMA}.events e CROSS JOIN (SELECT pg_sleep(0.25)) w` },
        chunk: { column: 'id', size: 500 }, target: { type: 'duckdb', database: 't.duckdb', table: 't' }, write: { mode: 'replace' },
        concurrency: { adaptive: { max: 2, probe } },
      },
      { baseDir: dir },
    );
    const events = new EventBus();
    const moves: { concurrency: number; latencyMs: number; baselineMs: number }[] = [];
    events.on('throttle:concurrency', (e) => {
      moves.push(e);
      // Once it backed off, the source is quiet again: the run grows back and finishes.
      if (e.concurrency < 1) void setLoad('load', 0);
    });
    let started = false;
    events.on('chunk:start', () => {
      if (!started) void setLoad('load', 25);
      started = true;
    });
    try {
      const result = await runBackfill(job, { events });
      expect(result).toMatchObject({ status: 'done', done: 8 });
      // The slow probe halved the level below one chunk at a time, judged on a tail of at least 25 ms against a baseline under it.
      const below = moves.find((m) => m.concurrency < 1);
      expect(below).toBeDefined();
      expect(below?.latencyMs).toBeGreaterThanOrEqual(25);
      expect(below?.baselineMs).toBeLessThan(25);
      // Below one chunk, chunks waited for their share of time.
      expect(result.limits?.rateWaitMs).toBeGreaterThan(0);
      expect(await targetRows(dir)).toEqual({ n: String(ROWS), ids: String(ROWS) });
    } finally {
      await setLoad('load', 0);
    }
  }, 60_000);
});

describe('MySQL source', () => {
  it('refuses maxReplicaLag on a server that is not a replica, with the reason', async () => {
    await ensureMariadb();
    await mysqlQuery(`CREATE TABLE IF NOT EXISTS test.${MYSQL_TABLE} (id int PRIMARY KEY)`);
    try {
      const dir = tempDir('mysql-lag');
      const job = defineJob(
        {
          name: 'my', source: { type: 'mysql', connection: 'mysql://root@127.0.0.1:3306/test', table: MYSQL_TABLE }, chunk: { column: 'id', size: 10 },
          target: { type: 'duckdb', database: 't.duckdb', table: 't' }, limits: { maxReplicaLag: '5s' },
        },
        { baseDir: dir },
      );
      await expect(runBackfill(job)).rejects.toThrow(
        /limits\.maxReplicaLag cannot be checked on mysql source .*: .*it is not a replica \(SHOW REPLICA STATUS is empty\), and a MySQL primary does not know its replicas' lag/,
      );
    } finally {
      await mysqlQuery(`DROP TABLE IF EXISTS test.${MYSQL_TABLE}`);
    }
  });
});
