import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEvents } from '../../src/demo/generate-events.js';
import { runCli, tempDir, writeJob } from '../helpers/cli.js';
import { lakeGlob, query } from '../helpers/lake.js';
import { ensurePostgres, pgQuery, POSTGRES_URL } from '../helpers/services.js';

const JOB = `
name: events
source:
  type: csv
  path: data/events-*.csv*
  pruneBy: filename
chunk:
  column: ts
  every: 1 week
transform: select *, strftime(ts, '%Y-%m') as month from source
target:
  type: parquet
  path: lake
  partitionBy: [month]
write:
  mode: replace
concurrency: 2
retries: { attempts: 2, backoff: 10ms }
`;

describe('backfill CLI: plan, run, status, restate, retry-failed', () => {
  let dir: string;
  let job: string;

  beforeAll(async () => {
    dir = tempDir('cli');
    await generateEvents({ dir: join(dir, 'data'), rows: 60_000, from: '2023-01-02', days: 42, threads: 1 });
    job = writeJob(dir, 'job.yaml', JOB);
  });

  it('runs a job end to end and reports through plan and status', async () => {
    const before = await runCli(['plan', job, '--json']);
    expect(before.code).toBe(0);
    const plan = JSON.parse(before.stdout) as { counts: { total: number; missing: number }; strategy: string; chunks: { lo: string; hi: string }[] };
    expect(plan.counts).toMatchObject({ total: 6, missing: 6 });
    expect(plan.strategy).toBe('prune');
    expect(plan.chunks[0]?.lo).toBe('2023-01-02T00:00:00Z'); // weeks start on Monday
    for (let i = 1; i < plan.chunks.length; i++) expect(plan.chunks[i]?.lo).toBe(plan.chunks[i - 1]?.hi);

    const run = await runCli(['run', job]);
    expect(run.stderr).toContain('6 of 6 chunks to do');
    expect(run.stdout).toContain('done: 6 chunks done, 0 failed');
    expect(run.code).toBe(0);

    const rows = await query<{ n: string; ids: string }>(`SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM read_parquet('${lakeGlob(join(dir, 'lake'))}')`);
    expect(rows[0]).toEqual({ n: '60000', ids: '60000' });

    const status = await runCli(['status', job, '--json']);
    const s = JSON.parse(status.stdout) as { counts: { done: number; total: number }; rows: { read: number; written: number } };
    expect(s.counts).toMatchObject({ total: 6, done: 6 });
    expect(s.rows).toMatchObject({ read: 60_000, written: 60_000 });

    const after = await runCli(['plan', job]);
    expect(after.stdout).toContain('6 chunks: 6 done, 0 missing');
  });

  it('does no data work when everything is done', async () => {
    const lakeBefore = await query(`SELECT filename, size, last_modified FROM read_blob('${lakeGlob(join(dir, 'lake'))}') ORDER BY filename`);
    const again = await runCli(['run', job, '--json']);
    expect(again.code).toBe(0);
    const result = JSON.parse(again.stdout.trim().split('\n').pop() as string) as { done: number; rowsWritten: number };
    expect(result).toMatchObject({ done: 0, rowsWritten: 0 });
    const lakeAfter = await query(`SELECT filename, size, last_modified FROM read_blob('${lakeGlob(join(dir, 'lake'))}') ORDER BY filename`);
    expect(lakeAfter).toEqual(lakeBefore);
  });

  it('restates exactly the chunks in --from/--to', async () => {
    const run = await runCli(['run', job, '--from', '2023-01-16', '--to', '2023-01-30', '--restate', '--json']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; chunk?: { key: string } });
    const redone = lines.filter((l) => l.event === 'chunk:done').map((l) => l.chunk?.key);
    expect(redone.sort()).toEqual(['2023-01-16T00:00:00Z/2023-01-23T00:00:00Z', '2023-01-23T00:00:00Z/2023-01-30T00:00:00Z']);
    const rows = await query<{ n: string; ids: string }>(`SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM read_parquet('${lakeGlob(join(dir, 'lake'))}')`);
    expect(rows[0]).toEqual({ n: '60000', ids: '60000' });
  });

  it('fails a chunk whose file holds rows of another period, then --retry-failed redoes only that chunk', async () => {
    const file = join(dir, 'data', 'events-2023-01-11.csv');
    const original = readFileSync(file, 'utf8');
    appendFileSync(file, '999999999,2023-02-05 10:00:00,1,click,,US,web,bad-session\n');
    const restate = await runCli(['run', job, '--restate']);
    expect(restate.code).toBe(1);
    expect(restate.stdout).toContain('1 failed');
    expect(restate.stdout).toContain('events-2023-01-11.csv');
    expect(restate.stdout).toContain('outside the period its file name gives');

    const status = await runCli(['status', job]);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/failed 2023-01-09T00:00:00Z\/2023-01-16T00:00:00Z after \d+ attempt/);

    writeFileSync(file, original);
    const retry = await runCli(['run', job, '--retry-failed', '--json']);
    expect(retry.code).toBe(0);
    const done = retry.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; chunk?: { key: string } }).filter((l) => l.event === 'chunk:done');
    expect(done.map((d) => d.chunk?.key)).toEqual(['2023-01-09T00:00:00Z/2023-01-16T00:00:00Z']);
    const rows = await query<{ n: string }>(`SELECT count(*) AS n FROM read_parquet('${lakeGlob(join(dir, 'lake'))}')`);
    expect(rows[0]?.n).toBe('60000');
  });

  it('rejects an invalid job file before any work, naming the fields', async () => {
    const bad = writeJob(dir, 'bad.yaml', JOB.replace('every: 1 week', 'every: 1 fortnight').replace('mode: replace', 'mode: upsert').replace('concurrency: 2', 'concurrency: 2\nparallel: 4'));
    const res = await runCli(['run', bad]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('bad.yaml');
    expect(res.stderr).toContain('parallel: unknown field');
    expect(res.stderr).toContain('write.mode');
    expect(res.stderr).toContain('chunk.every: unknown unit "fortnight"');
  });

  it('names a missing chunk column and lists the columns there are', async () => {
    const bad = writeJob(dir, 'nocol.yaml', JOB.replace('column: ts', 'column: timestamp'));
    const res = await runCli(['plan', bad]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('chunk.column "timestamp" is not a column');
    expect(res.stderr).toContain('event_id');
  });

  it('reports a missing job file', async () => {
    const res = await runCli(['status', join(dir, 'nope.yaml')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('no such file');
  });
});

describe('backfill CLI: bytes a target cannot tell are shown as unknown, never as 0', () => {
  const schema = `cli_bytes_${process.pid}`;
  let dir: string;

  beforeAll(async () => {
    await ensurePostgres();
    await pgQuery(`CREATE SCHEMA ${schema}`);
    await pgQuery(`CREATE TABLE ${schema}.src AS SELECT i AS id, i * 2 AS v FROM generate_series(0, 99) i`);
    dir = tempDir('cli-bytes');
    await query(`COPY (SELECT i AS id, i * 2 AS v FROM range(0, 100) t(i)) TO '${join(dir, 'rows.csv')}' (HEADER)`);
  });
  afterAll(async () => {
    await pgQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  const jobFile = (name: string, source: string, target: string): string =>
    writeJob(dir, `${name}.yaml`, `name: ${name}\nsource: ${source}\nchunk: { column: id, size: 50 }\ntarget: ${target}\nwrite: { mode: append }\nledger: ${name}.sqlite\n`);
  const statusOf = async (job: string): Promise<{ json: { bytes: number | null; bytesUnknown: number; counts: { done: number } }; text: string }> => {
    const json = await runCli(['status', job, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const text = await runCli(['status', job]);
    return { json: JSON.parse(json.stdout) as never, text: text.stdout };
  };

  for (const [label, name, source, target] of [
    ['CSV → DuckDB table', 'bytes_duckdb', '{ type: csv, path: rows.csv }', '{ type: duckdb, database: target.duckdb, table: t }'],
    ['PostgreSQL → PostgreSQL in one database (INSERT … SELECT)', 'bytes_indb', `{ type: postgres, connection: "${POSTGRES_URL}", table: ${schema}.src }`, `{ type: postgres, connection: "${POSTGRES_URL}", table: ${schema}.indb, create: true }`],
  ] as const) {
    it(`${label}: status --json gives null bytes and counts the chunks; the text says size unknown`, async () => {
      const job = jobFile(name, source, target);
      const run = await runCli(['run', job]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain('100 written');
      expect(run.stdout).toContain('size unknown');
      expect(run.stdout).not.toMatch(/\b0 B\b/);
      const { json, text } = await statusOf(job);
      expect(json.counts.done).toBe(2);
      expect(json).toMatchObject({ bytes: null, bytesUnknown: 2 });
      expect(text).toContain('size unknown');
      expect(text).not.toMatch(/\b0 B\b/);
    });
  }

  it('CSV → PostgreSQL: the bytes COPY sent are known', async () => {
    const job = jobFile('bytes_copy', '{ type: csv, path: rows.csv }', `{ type: postgres, connection: "${POSTGRES_URL}", table: ${schema}.copied, create: true }`);
    const run = await runCli(['run', job]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).not.toContain('unknown');
    const { json, text } = await statusOf(job);
    expect(json.bytesUnknown).toBe(0);
    expect(json.bytes).toBeGreaterThan(0);
    expect(text).not.toContain('unknown');
  });
});
