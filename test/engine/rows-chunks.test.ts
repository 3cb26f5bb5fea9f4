// chunk.rows on time and integer columns of a skewed PostgreSQL table: chunks sized by the data, recorded, stable, extended past the end.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, planBackfill, profileJob, runBackfill, SqliteLedger, type Job, type JobInput } from '../../src/index.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { ensurePostgres, POSTGRES_URL, pgQuery } from '../helpers/services.js';

const SUFFIX = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const SCHEMA = `rows_${SUFFIX}`;
const ROWS = 2000;
const dirs: string[] = [];

/** Rows of month m (0–11) of 2023: the last month holds 100× the first. */
const perMonth = (m: number): number => Math.round(200 * Math.pow(100, m / 11));
const TOTAL = Array.from({ length: 12 }, (_, m) => perMonth(m)).reduce((a, b) => a + b, 0);

function jobOf(name: string, chunk: JobInput['chunk'], dir = tempDir(`rows-${name}`)): Job {
  dirs.push(dir);
  return defineJob(
    {
      name,
      source: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.events` },
      target: { type: 'duckdb', database: `${dir}/target.duckdb`, table: 'events' },
      chunk,
    },
    { baseDir: dir },
  );
}

async function chunkRecords(job: Job): Promise<{ key: string; kind: string; rowsWritten: number | null }[]> {
  const ledger = SqliteLedger.open(job.ledgerPath);
  try {
    return (await ledger.listChunks(job.name)).map((c) => ({ key: c.key, kind: c.kind, rowsWritten: c.rowsWritten }));
  } finally {
    await ledger.close();
  }
}

async function targetRows(job: Job): Promise<number> {
  const t = job.target as { database: string };
  const rows = await query<{ n: string }>(`ATTACH '${t.database}' AS t (READ_ONLY); SELECT count(*) AS n, count(DISTINCT id) AS d FROM t.events`);
  return Number(rows[0]?.n);
}

beforeAll(async () => {
  await ensurePostgres();
  await pgQuery(`CREATE SCHEMA ${SCHEMA}`);
  await pgQuery(`CREATE TABLE ${SCHEMA}.events (id bigint PRIMARY KEY, ts timestamptz NOT NULL, v int)`);
  await pgQuery(`CREATE INDEX ON ${SCHEMA}.events (ts)`);
  // Month m gets perMonth(m) rows spread over its days.
  for (let m = 0; m < 12; m++) {
    const n = perMonth(m);
    await pgQuery(
      `INSERT INTO ${SCHEMA}.events SELECT ${m * 1_000_000} + i, make_timestamptz(2023, ${m + 1}, 1, 0, 0, 0, 'UTC') + (i * interval '27 days') / ${n}, i % 97
       FROM generate_series(1, ${n}) AS g(i)`,
    );
  }
  await pgQuery(`ANALYZE ${SCHEMA}.events`);
});

afterAll(async () => {
  await pgQuery(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('chunk.rows on a timestamp whose last month holds 100× the first', () => {
  const job = (): Job => jobOf('rows-ts', { column: 'ts', rows: ROWS, timezone: 'Europe/Berlin' });
  let first: Job;

  it('cuts chunks of at most 2× the target, all rows loaded once', async () => {
    first = job();
    const result = await runBackfill(first);
    expect(result).toMatchObject({ status: 'done', failed: 0, rowsWritten: TOTAL });
    const chunks = await chunkRecords(first);
    expect(chunks.every((c) => c.kind === 'time')).toBe(true);
    const sizes = chunks.map((c) => c.rowsWritten ?? 0);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2 * ROWS);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(TOTAL);
    // Far more chunks in the busy months than in the quiet ones: January fits in one or two.
    expect(chunks.length).toBeGreaterThanOrEqual(Math.floor(TOTAL / ROWS));
    expect(await targetRows(first)).toBe(TOTAL);
  });

  it('plans the same chunks on every later run, and a rerun does nothing', async () => {
    const before = (await chunkRecords(first)).map((c) => c.key);
    const plan = await planBackfill(first);
    expect(plan.chunks.map((c) => c.key)).toEqual(before);
    expect(plan.chunking).toMatch(/recorded in the ledger/);
    expect(await runBackfill(first)).toMatchObject({ done: 0, rowsWritten: 0 });
  });

  it('gives rows past the end new chunks without moving the old ones', async () => {
    const before = (await chunkRecords(first)).map((c) => c.key);
    await pgQuery(`INSERT INTO ${SCHEMA}.events SELECT 90000000 + i, timestamptz '2024-02-01 00:00Z' + i * interval '1 minute', 1 FROM generate_series(1, 3000) AS g(i)`);
    try {
      const result = await runBackfill(first);
      expect(result).toMatchObject({ status: 'done', rowsWritten: 3000 });
      const after = (await chunkRecords(first)).map((c) => c.key);
      expect(after.slice(0, before.length)).toEqual(before);
      expect(after.length).toBeGreaterThan(before.length + 1);
      expect(await targetRows(first)).toBe(TOTAL + 3000);
    } finally {
      await pgQuery(`DELETE FROM ${SCHEMA}.events WHERE id > 90000000`);
    }
  });

  it('refuses a changed rows target while chunks are recorded, and says the way out', async () => {
    const changed = jobOf('rows-ts', { column: 'ts', rows: 500, timezone: 'Europe/Berlin' }, first.baseDir);
    await expect(runBackfill(changed)).rejects.toThrow(/recorded \d+ chunks cut for column ts, rows 2000.*now says column ts, rows 500.*put chunk back as it was/);
  });
});

describe('chunk.rows on an integer key', () => {
  it('cuts key chunks on round multiples, each within 2× the target', async () => {
    const job = jobOf('rows-id', { column: 'id', rows: ROWS });
    const result = await runBackfill(job);
    expect(result).toMatchObject({ status: 'done', rowsWritten: TOTAL });
    const chunks = await chunkRecords(job);
    expect(chunks.every((c) => c.kind === 'key')).toBe(true);
    expect(Math.max(...chunks.map((c) => c.rowsWritten ?? 0))).toBeLessThanOrEqual(2 * ROWS);
    // Boundaries between months fall on round numbers (ids jump by a million there).
    expect(chunks.some((c) => /000000\//.test(c.key))).toBe(true);
  });

  it('profile reports the rows of each cut chunk', async () => {
    const job = jobOf('rows-id-profile', { column: 'id', rows: ROWS });
    const report = await profileJob(job, { estimate: false });
    expect(report.rows?.value).toBe(TOTAL);
    expect(Math.max(...report.perChunk.chunks.map((c) => c.rows))).toBeLessThanOrEqual(2 * ROWS);
    expect(report.chunking).toMatch(/about 2,000 rows/);
  });
});
