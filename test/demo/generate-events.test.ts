// Checks the demo event generator: file layout, compression, exact row count, ids, day boundaries, determinism.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import { generateEvents } from '../../src/demo/generate-events.js';
import type { GenerateEventsResult } from '../../src/demo/generate-events.js';

const ROWS = 20_000;
const DAYS = 10;
const FROM = '2024-02-25'; // spans Feb 29 so a leap day is covered

const expectedDays = Array.from({ length: DAYS }, (_, d) =>
  new Date(Date.parse(`${FROM}T00:00:00Z`) + d * 86_400_000).toISOString().slice(0, 10),
);
// Every 3rd day (the 3rd, 6th, 9th) is gzipped.
const expectedNames = expectedDays.map((day, d) => `events-${day}.csv${(d + 1) % 3 === 0 ? '.gz' : ''}`);

function sql(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

async function queryAll(sqlText: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const con = await instance.connect();
  try {
    return (await con.runAndReadAll(sqlText)).getRowObjectsJson();
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}

describe('generateEvents', () => {
  let root = '';
  let dirA = '';
  let result: GenerateEventsResult | undefined;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'generate-events-'));
    dirA = path.join(root, 'a', 'nested'); // must be created by the generator
    result = await generateEvents({ dir: dirA, rows: ROWS, from: FROM, days: DAYS, seed: 7, threads: 2 });
  }, 60_000);

  afterAll(async () => {
    if (root !== '') await rm(root, { recursive: true, force: true });
  });

  it('reports what it wrote', () => {
    expect(result).toMatchObject({ files: DAYS, rows: ROWS, from: FROM, to: '2024-03-06' });
    expect(result?.bytes).toBeGreaterThan(0);
  });

  it('writes exactly one correctly named file per day and nothing else', async () => {
    expect((await readdir(dirA)).sort()).toEqual([...expectedNames].sort());
  });

  it('gzips exactly the every-3rd-day files', async () => {
    for (const name of expectedNames) {
      const head = (await readFile(path.join(dirA, name))).subarray(0, 2);
      const isGzip = head[0] === 0x1f && head[1] === 0x8b;
      expect(isGzip, name).toBe(name.endsWith('.gz'));
    }
  });

  it('has the header, column order and timestamp format', async () => {
    const text = await readFile(path.join(dirA, expectedNames[0] ?? ''), 'utf8');
    const [header, first] = text.split('\n');
    expect(header).toBe('event_id,ts,user_id,event_type,amount,country,device,session_id');
    expect(first).toMatch(
      /^1,2024-02-25 \d{2}:\d{2}:\d{2}\.\d{6},\d+,(page_view|click|add_to_cart|purchase|signup),(\d+\.\d{2})?,[A-Z]{2},(web|ios|android),[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('reads back with exact row count, unique ids 1..rows, ts inside its file day and in id order', async () => {
    const [stats] = await queryAll(`
      WITH t AS (
        SELECT *, regexp_extract(filename, 'events-(\\d{4}-\\d{2}-\\d{2})\\.csv', 1)::DATE AS file_day
        FROM read_csv(${sql(path.join(dirA, 'events-*.csv*'))}, header = true, filename = true,
          columns = {'event_id': 'BIGINT', 'ts': 'TIMESTAMP', 'user_id': 'BIGINT', 'event_type': 'VARCHAR',
                     'amount': 'DECIMAL(12,2)', 'country': 'VARCHAR', 'device': 'VARCHAR', 'session_id': 'VARCHAR'})
      )
      SELECT count(*) AS n,
        count(DISTINCT event_id) AS distinct_ids,
        min(event_id) AS min_id,
        max(event_id) AS max_id,
        count(DISTINCT file_day) AS file_days,
        count(*) FILTER (WHERE ts < file_day OR ts >= file_day + INTERVAL 1 DAY) AS outside_day,
        count(*) FILTER (WHERE (amount IS NULL) <> (event_type NOT IN ('purchase', 'add_to_cart'))) AS bad_amounts,
        (SELECT count(*) FROM (SELECT ts < lag(ts) OVER (ORDER BY event_id) AS back FROM t) WHERE back) AS ts_backwards,
        (SELECT count(*) FROM (SELECT session_id FROM t GROUP BY ALL HAVING count(DISTINCT user_id) > 1)) AS shared_sessions
      FROM t`);
    expect(stats).toEqual({
      n: String(ROWS),
      distinct_ids: String(ROWS),
      min_id: '1',
      max_id: String(ROWS),
      file_days: String(DAYS),
      outside_day: '0',
      bad_amounts: '0',
      ts_backwards: '0',
      shared_sessions: '0',
    });
  });

  it('produces identical bytes for the same seed and different data for another seed', async () => {
    const dirB = path.join(root, 'b');
    const dirC = path.join(root, 'c');
    await generateEvents({ dir: dirB, rows: ROWS, from: FROM, days: DAYS, seed: 7, threads: 2 });
    await generateEvents({ dir: dirC, rows: ROWS, from: FROM, days: DAYS, seed: 8, threads: 2 });
    for (const name of expectedNames) {
      const a = await readFile(path.join(dirA, name));
      const b = await readFile(path.join(dirB, name));
      expect(a.equals(b), name).toBe(true);
    }
    const a0 = await readFile(path.join(dirA, expectedNames[0] ?? ''));
    const c0 = await readFile(path.join(dirC, expectedNames[0] ?? ''));
    expect(a0.equals(c0)).toBe(false);
  }, 60_000);

  it('writes header-only files for days that get no rows and honours gzipEveryNthDay = 0', async () => {
    const dir = path.join(root, 'sparse');
    const sparse = await generateEvents({ dir, rows: 3, from: FROM, days: 5, gzipEveryNthDay: 0 });
    expect(sparse).toMatchObject({ files: 5, rows: 3 });
    const names = (await readdir(dir)).sort();
    expect(names).toEqual(expectedDays.slice(0, 5).map((day) => `events-${day}.csv`));
    const lines = await Promise.all(
      names.map(async (name) => (await readFile(path.join(dir, name), 'utf8')).trim().split('\n').length - 1),
    );
    expect(lines.reduce((sum, n) => sum + n, 0)).toBe(3);
  });
});
