// Every source type read through the engine: staged CSV, JSON lines, hive Parquet, DuckDB tables with key chunks.
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defineJob, EventBus, planBackfill, runBackfill } from '../../src/index.js';
import { tempDir } from '../helpers/cli.js';
import { lakeGlob, query } from '../helpers/lake.js';

async function writeRows(path: string, format: string, rows = 5000): Promise<void> {
  await query(`COPY (SELECT i AS id, TIMESTAMP '2024-03-01' + to_microseconds(CAST(i AS BIGINT) * 3600000000 // 10) AS ts,
      i % 7 AS bucket, CASE WHEN i % 100 = 0 THEN NULL ELSE 'v' || i END AS note
    FROM range(${rows}) t(i)) TO '${path}' (${format})`);
}

describe('sources', () => {
  it('stages a single CSV file once and commits chunk by chunk', async () => {
    const dir = tempDir('src-csv');
    await writeRows(join(dir, 'all.csv'), 'FORMAT csv, HEADER');
    const job = defineJob(
      {
        name: 'staged', source: { type: 'csv', path: 'all.csv' }, chunk: { column: 'ts', every: '1 day' },
        target: { type: 'parquet', path: 'lake' }, concurrency: 2,
      },
      { baseDir: dir },
    );
    const plan = await planBackfill(job);
    expect(plan.strategy).toBe('stage');
    expect(plan.bounds).toEqual({ min: '2024-03-01T00:00:00.000Z', max: '2024-03-21T19:54:00.000Z' });
    expect(plan.counts.total).toBe(21);
    const events = new EventBus();
    const staged: number[] = [];
    events.on('stage:done', (e) => staged.push(e.rows));
    const result = await runBackfill(job, { events });
    expect(staged).toEqual([5000]);
    expect(result).toMatchObject({ status: 'done', done: 21, rowsRead: 5000, rowsWritten: 5000 });
    const rows = await query<{ n: string; nulls: string }>(`SELECT count(*) AS n, count(*) FILTER (note IS NULL) AS nulls FROM read_parquet('${lakeGlob(join(dir, 'lake'))}')`);
    expect(rows[0]).toEqual({ n: '5000', nulls: '50' });
    // The bounds were measured once and kept: a second plan does not scan again, and finds the same.
    expect((await planBackfill(job)).bounds).toEqual(plan.bounds);
  });

  it('writes a whole unprunable source in one pass when the transform maps rows one by one, and splits it otherwise', async () => {
    const dir = tempDir('src-onepass');
    await writeRows(join(dir, 'all.csv'), 'FORMAT csv, HEADER');
    const run = async (name: string, transform: string, target: object): Promise<{ pass: string | undefined; result: Awaited<ReturnType<typeof runBackfill>> }> => {
      const job = defineJob({ name, source: { type: 'csv', path: 'all.csv' }, chunk: { column: 'ts', every: '1 week' }, transform, target }, { baseDir: dir });
      const events = new EventBus();
      let pass: string | undefined;
      events.on('stage:done', (e) => (pass = e.pass));
      const result = await runBackfill(job, { events });
      return { pass, result };
    };
    // Row by row: one pass writes the lake; every chunk's share is published under its own name.
    const rowwise = await run('rowwise', "select *, bucket * 2 as b2, strftime(ts, '%Y-%m-%d') as day from source", { type: 'parquet', path: 'lake1', partitionBy: ['day'] });
    expect(rowwise.pass).toBe('one-pass');
    expect(rowwise.result).toMatchObject({ status: 'done', done: 4, rowsRead: 5000, rowsWritten: 5000 });
    const lake1 = await query<{ n: string; s: string }>(`SELECT count(*) AS n, CAST(sum(b2) AS VARCHAR) AS s FROM read_parquet('${lakeGlob(join(dir, 'lake1'))}')`);
    const expected = await query<{ s: string }>(`SELECT CAST(sum(bucket * 2) AS VARCHAR) AS s FROM read_csv('${join(dir, 'all.csv')}')`);
    expect(lake1[0]).toEqual({ n: '5000', s: expected[0]?.s });
    // Restated, with the bounds now known, the pass writes exactly the chunks asked for.
    const again = defineJob({ name: 'rowwise', source: { type: 'csv', path: 'all.csv' }, chunk: { column: 'ts', every: '1 week' },
      transform: "select *, bucket * 2 as b2, strftime(ts, '%Y-%m-%d') as day from source", target: { type: 'parquet', path: 'lake1', partitionBy: ['day'] } }, { baseDir: dir });
    const restated = await runBackfill(again, { restate: true, from: '2024-03-11', to: '2024-03-18' });
    expect(restated).toMatchObject({ status: 'done', done: 1 });
    const lake1b = await query<{ n: string; s: string }>(`SELECT count(*) AS n, CAST(sum(b2) AS VARCHAR) AS s FROM read_parquet('${lakeGlob(join(dir, 'lake1'))}')`);
    expect(lake1b[0]).toEqual(lake1[0]);
    // An aggregate must see one chunk at a time: the engine splits the rows per chunk first.
    const agg = await run('agg', 'select min(ts) as ts, bucket, count(*) as n from source group by bucket', { type: 'parquet', path: 'lake2' });
    expect(agg.pass).toBe('split');
    expect(agg.result).toMatchObject({ status: 'done', done: 4, rowsRead: 5000, rowsWritten: 4 * 7 });
    const lake2 = await query<{ n: string }>(`SELECT CAST(sum(n) AS VARCHAR) AS n FROM read_parquet('${lakeGlob(join(dir, 'lake2'))}')`);
    expect(lake2[0]?.n).toBe('5000');
    // A filter drops rows, so rows read and written differ: also split per chunk, counted exactly.
    const filtered = await run('filtered', 'select * from source where bucket = 3', { type: 'parquet', path: 'lake3' });
    expect(filtered.pass).toBe('split');
    expect(filtered.result).toMatchObject({ status: 'done', rowsRead: 5000 });
    expect(filtered.result.rowsWritten).toBe(Math.floor(5000 / 7) + (5000 % 7 > 3 ? 1 : 0));
  });

  it('reads many CSV files whose detected types differ between files', async () => {
    const dir = tempDir('src-sniff');
    mkdirSync(join(dir, 'in'));
    // Day 1 holds whole numbers, day 3 decimals: a type pinned from the first file alone would fail on day 3.
    await query(`COPY (SELECT TIMESTAMP '2024-05-01 10:00:00' AS ts, 7 AS v) TO '${join(dir, 'in', 'm-2024-05-01.csv')}' (HEADER)`);
    await query(`COPY (SELECT TIMESTAMP '2024-05-02 10:00:00' AS ts, 8 AS v) TO '${join(dir, 'in', 'm-2024-05-02.csv')}' (HEADER)`);
    await query(`COPY (SELECT TIMESTAMP '2024-05-03 10:00:00' AS ts, 2.5 AS v) TO '${join(dir, 'in', 'm-2024-05-03.csv')}' (HEADER)`);
    const job = defineJob(
      { name: 'sniff', source: { type: 'csv', path: 'in/*.csv', pruneBy: 'filename' }, chunk: { column: 'ts', every: '1 day' }, target: { type: 'duckdb', database: 'o.duckdb', table: 't' } },
      { baseDir: dir },
    );
    const result = await runBackfill(job);
    expect(result).toMatchObject({ status: 'done', done: 3, rowsWritten: 3 });
    const rows = await query<{ s: string }>(`ATTACH '${join(dir, 'o.duckdb')}' AS o (READ_ONLY); SELECT CAST(sum(v) AS VARCHAR) AS s FROM o.t`);
    expect(Number(rows[rows.length - 1]?.s)).toBe(17.5);
  });

  it('reads CSV files of another dialect among them: the middle file, with semicolons, is detected on its own', async () => {
    const dir = tempDir('src-dialect');
    mkdirSync(join(dir, 'in'));
    // The first file sets the delimiter the others are checked with; the middle one read so would be one column.
    await query(`COPY (SELECT TIMESTAMP '2024-05-01 10:00:00' AS ts, 7 AS v, 'a' AS k) TO '${join(dir, 'in', 'm-2024-05-01.csv')}' (HEADER)`);
    await query(`COPY (SELECT TIMESTAMP '2024-05-02 10:00:00' AS ts, 8 AS v, 'b' AS k) TO '${join(dir, 'in', 'm-2024-05-02.csv')}' (HEADER, DELIMITER ';')`);
    await query(`COPY (SELECT TIMESTAMP '2024-05-03 10:00:00' AS ts, 9 AS v, 'c' AS k) TO '${join(dir, 'in', 'm-2024-05-03.csv')}' (HEADER)`);
    const job = defineJob(
      { name: 'dialect', source: { type: 'csv', path: 'in/*.csv', pruneBy: 'filename' }, chunk: { column: 'ts', every: '1 day' }, target: { type: 'duckdb', database: 'o.duckdb', table: 't' } },
      { baseDir: dir },
    );
    const result = await runBackfill(job);
    expect(result).toMatchObject({ status: 'done', done: 3, rowsWritten: 3 });
    const rows = await query<{ s: string }>(`ATTACH '${join(dir, 'o.duckdb')}' AS o (READ_ONLY); SELECT string_agg(k || v, ',' ORDER BY ts) AS s FROM o.t`);
    expect(rows[rows.length - 1]?.s).toBe('a7,b8,c9');
  });
  it('reads CSV files the way the sniffer found them: single quotes around values holding the delimiter, day/month/year timestamps, lines before the header', async () => {
    const dir = tempDir('src-quoted');
    mkdirSync(join(dir, 'in'));
    for (const day of [1, 2, 3]) {
      const lines = ['exported by a tool', `on day ${day}`, 'id;ts;note', ...Array.from({ length: 30 }, (_, i) => `${day * 100 + i};0${day}/05/2024 1${i % 10}:00:00;'a; b ${i}'`)];
      writeFileSync(join(dir, 'in', `m-2024-05-0${day}.csv`), `${lines.join('\n')}\n`);
    }
    const job = defineJob(
      { name: 'quoted', source: { type: 'csv', path: 'in/*.csv', pruneBy: 'filename' }, chunk: { column: 'ts', every: '1 day' }, target: { type: 'duckdb', database: 'o.duckdb', table: 't' } },
      { baseDir: dir },
    );
    const result = await runBackfill(job);
    expect(result).toMatchObject({ status: 'done', done: 3, rowsWritten: 90, rowsRejected: 0 });
    const rows = await query<{ ts: string; note: string }>(`ATTACH '${join(dir, 'o.duckdb')}' AS o (READ_ONLY); SELECT CAST(ts AS VARCHAR) AS ts, note FROM o.t WHERE id = 305`);
    expect(rows[rows.length - 1]).toEqual({ ts: '2024-05-03 15:00:00', note: 'a; b 5' });
  });

  it('CSV files below a preamble are grouped by the header under it: a file the sniff did not see, with a column more, gains it', async () => {
    const dir = tempDir('src-preamble');
    mkdirSync(join(dir, 'in'));
    // Five days; the sniff sees days 1, 3 and 5. Day 2 has a column more, under the same preamble line.
    for (const day of [1, 2, 3, 4, 5]) {
      const extra = day === 2;
      const lines = ['exported by a tool', `${extra ? 'id,ts,note' : 'id,ts'}`, ...Array.from({ length: 20 }, (_, i) => `${day * 100 + i},2024-05-0${day} 1${i % 10}:00:00${extra ? `,n${i}` : ''}`)];
      writeFileSync(join(dir, 'in', `m-2024-05-0${day}.csv`), `${lines.join('\n')}\n`);
    }
    const job = defineJob(
      {
        name: 'preamble', source: { type: 'csv', path: 'in/*.csv', pruneBy: 'filename' }, chunk: { column: 'ts', every: '1 day' },
        target: { type: 'duckdb', database: 'o.duckdb', table: 't' }, schemaChanges: 'evolve', retries: { attempts: 1 },
      },
      { baseDir: dir },
    );
    const result = await runBackfill(job);
    expect(result.chunks.map((c) => c.error ?? '')).toEqual(['', '', '', '', '']);
    expect(result).toMatchObject({ status: 'done', done: 5, rowsWritten: 100 });
    const rows = await query<{ n: string; notes: string }>(`ATTACH '${join(dir, 'o.duckdb')}' AS o (READ_ONLY); SELECT count(*) AS n, count(note) AS notes FROM o.t`);
    expect(rows[rows.length - 1]).toEqual({ n: '100', notes: '20' });
  });

  it('reads JSON lines with a transform and counts rows read and written separately', async () => {
    const dir = tempDir('src-jsonl');
    await writeRows(join(dir, 'events.jsonl'), 'FORMAT json');
    const job = defineJob(
      {
        name: 'jsonl', source: { type: 'jsonl', path: '*.jsonl' }, chunk: { column: 'ts', every: '1 week', from: '2024-03-04', to: '2024-03-18' },
        transform: 'select id, ts, bucket from source where bucket = 0', target: { type: 'duckdb', database: 'out.duckdb', table: 'analytics.events' },
      },
      { baseDir: dir },
    );
    const result = await runBackfill(job);
    expect(result.done).toBe(2);
    const expected = await query<{ read: string; kept: string }>(`SELECT count(*) AS read, count(*) FILTER (bucket = 0) AS kept FROM read_json('${join(dir, 'events.jsonl')}')
      WHERE ts >= TIMESTAMP '2024-03-04' AND ts < TIMESTAMP '2024-03-18'`);
    expect(result.rowsRead).toBe(Number(expected[0]?.read));
    expect(result.rowsWritten).toBe(Number(expected[0]?.kept));
    const stored = await query<{ n: string }>(`ATTACH '${join(dir, 'out.duckdb')}' AS o (READ_ONLY); SELECT count(*) AS n FROM o.analytics.events`);
    expect(stored[stored.length - 1]?.n).toBe(expected[0]?.kept);
  });

  it('prunes a hive-partitioned Parquet lake source and chunks a DuckDB table by key', async () => {
    const dir = tempDir('src-hive');
    mkdirSync(join(dir, 'in'));
    await writeRows(join(dir, 'in'), 'FORMAT parquet, PARTITION_BY (bucket)');
    const hive = defineJob(
      { name: 'hive', source: { type: 'parquet', path: 'in/**/*.parquet' }, chunk: { column: 'ts', every: '3 days' }, target: { type: 'duckdb', database: 'db.duckdb', table: 'events' } },
      { baseDir: dir },
    );
    expect((await planBackfill(hive)).strategy).toBe('prune');
    const first = await runBackfill(hive);
    expect(first).toMatchObject({ status: 'done', rowsWritten: 5000 });

    const byKey = defineJob(
      {
        name: 'bykey', source: { type: 'duckdb', database: 'db.duckdb', table: 'events' }, chunk: { column: 'id', size: 1000 },
        target: { type: 'parquet', path: 'lake', partitionBy: ['bucket'] }, write: { mode: 'merge', key: ['id'] },
      },
      { baseDir: dir },
    );
    const plan = await planBackfill(byKey);
    expect(plan.chunks.map((c) => [c.lo, c.hi])).toEqual([['0', '1000'], ['1000', '2000'], ['2000', '3000'], ['3000', '4000'], ['4000', '5000']]);
    const second = await runBackfill(byKey);
    expect(second).toMatchObject({ status: 'done', done: 5, rowsRead: 5000, rowsWritten: 5000 });
    const rows = await query<{ n: string; ids: string; b: string }>(
      `SELECT count(*) AS n, count(DISTINCT id) AS ids, count(DISTINCT bucket) AS b FROM read_parquet('${lakeGlob(join(dir, 'lake'))}', hive_partitioning = true)`,
    );
    expect(rows[0]).toEqual({ n: '5000', ids: '5000', b: '7' });
  });

  it('follows a named time zone across DST: daily chunks are local days of 23 and 25 hours', async () => {
    const dir = tempDir('src-tz');
    await query(`COPY (SELECT i AS id, TIMESTAMPTZ '2021-03-13 00:00:00+00' + to_microseconds(CAST(i AS BIGINT) * 60000000) AS ts
      FROM range(60 * 24 * 4) t(i)) TO '${join(dir, 'in.parquet')}' (FORMAT parquet)`);
    const job = defineJob(
      {
        name: 'tz', source: { type: 'parquet', path: 'in.parquet' }, chunk: { column: 'ts', every: '1 day', timezone: 'America/New_York' },
        target: { type: 'duckdb', database: 'tz.duckdb', table: 't' },
      },
      { baseDir: dir },
    );
    const plan = await planBackfill(job);
    const hours = plan.chunks.map((c) => (Date.parse(c.hi) - Date.parse(c.lo)) / 3_600_000);
    expect(plan.chunks[0]?.lo).toBe('2021-03-12T05:00:00Z'); // local midnight, EST
    expect(hours).toContain(23); // 2021-03-14, spring forward
    const result = await runBackfill(job);
    expect(result.rowsWritten).toBe(60 * 24 * 4);
  });

  it('reads CSV in small buffers under duckdb.memoryLimit, but never smaller than the job\'s own max_line_size', async () => {
    const dir = tempDir('src-capped');
    // 12 MB of CSV: many 4 MiB buffers, with rows across their edges.
    await query(`COPY (SELECT i AS id, DATE '2024-01-01' + CAST(i // 20000 AS INTEGER) AS day, repeat('y', 100 + i % 57) AS pad FROM range(100000) t(i))
      TO '${join(dir, 'big.csv')}' (FORMAT csv, HEADER)`);
    const big = defineJob(
      { name: 'capped', source: { type: 'csv', path: 'big.csv' }, chunk: { column: 'id', size: 25000 }, target: { type: 'parquet', path: 'lake-big' }, duckdb: { memoryLimit: '200MB' } },
      { baseDir: dir },
    );
    expect(await runBackfill(big)).toMatchObject({ status: 'done', rowsRead: 100000, rowsWritten: 100000 });
    const rows = await query<{ n: string; pad: string }>(`SELECT count(DISTINCT id) AS n, sum(length(pad)) AS pad FROM read_parquet('${lakeGlob(join(dir, 'lake-big'))}')`);
    expect(rows[0]).toEqual({ n: '100000', pad: String(Array.from({ length: 100000 }, (_, i) => 100 + (i % 57)).reduce((a, b) => a + b, 0)) });
    // A 5 MB line needs a larger max_line_size, which needs a larger buffer than the capped default.
    writeFileSync(join(dir, 'long.csv'), `id,txt\n1,${'x'.repeat(5_000_000)}\n2,short\n`);
    const long = defineJob(
      {
        name: 'capped-long', source: { type: 'csv', path: 'long.csv', options: { max_line_size: 8_000_000 } }, chunk: { column: 'id', size: 10 },
        target: { type: 'parquet', path: 'lake-long' }, duckdb: { memoryLimit: '200MB' },
      },
      { baseDir: dir },
    );
    expect(await runBackfill(long)).toMatchObject({ status: 'done', rowsWritten: 2 });
  });

  it('passes duckdb.settings to the run\'s DuckDB, and names a setting DuckDB does not know', async () => {
    const dir = tempDir('src-settings');
    await writeRows(join(dir, 'rows.csv'), 'FORMAT csv, HEADER', 100);
    const spec = (settings: Record<string, string | number | boolean>) =>
      defineJob(
        {
          name: 'settings', source: { type: 'csv', path: 'rows.csv' }, chunk: { column: 'id', size: 1000 },
          transform: "select id, current_setting('allocator_bulk_deallocation_flush_threshold') as flush, current_setting('enable_object_cache') as cache from source",
          target: { type: 'parquet', path: 'lake-settings' }, duckdb: { settings },
        },
        { baseDir: dir },
      );
    expect(await runBackfill(spec({ allocator_bulk_deallocation_flush_threshold: '16MiB', enable_object_cache: true }))).toMatchObject({ status: 'done', rowsWritten: 100 });
    const rows = await query<{ flush: string; cache: boolean }>(`SELECT DISTINCT flush, cache FROM read_parquet('${lakeGlob(join(dir, 'lake-settings'))}')`);
    expect(rows).toEqual([{ flush: '16.0 MiB', cache: true }]);
    await expect(runBackfill(spec({ no_such_setting_here: 1 }))).rejects.toThrow(/cannot start DuckDB \(duckdb\.settings: no_such_setting_here\)/);
  });
});
