// The Parquet lake's file options: Bloom filters (off by default, on when asked), file size and
// row group size, on both write routes — chunk by chunk, and the one pass over an unprunable CSV.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defineJob, runBackfill, type JobInput } from '../../src/index.js';
import { tempDir as makeTempDir } from '../helpers/cli.js';
import { lakeGlob, query } from '../helpers/lake.js';

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = makeTempDir(prefix);
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** 20,000 rows over two months; `user_id` has few distinct values, so it is dictionary-encoded. */
async function makeCsv(dir: string): Promise<string> {
  const file = join(dir, 'events.csv');
  await query(`COPY (SELECT i AS id, TIMESTAMP '2024-01-01' + to_seconds(i * 300) AS ts, i % 50 AS user_id, 'note ' || (i % 7) AS note
    FROM range(20000) t(i)) TO '${file}' (FORMAT csv, HEADER)`);
  return file;
}

async function runInto(dir: string, file: string, target: Partial<JobInput['target']>, name: string): Promise<string> {
  const lake = join(dir, `lake-${name}`);
  const job = defineJob(
    {
      name,
      source: file.endsWith('.parquet') ? { type: 'parquet', path: file } : { type: 'csv', path: file },
      chunk: { column: 'ts', every: '1 month' },
      transform: "select *, strftime(ts, '%Y-%m') as month from source",
      target: { type: 'parquet', path: lake, partitionBy: ['month'], ...target } as JobInput['target'],
      write: { mode: 'replace' },
      ledger: join(dir, `${name}.sqlite`),
    },
    { baseDir: dir },
  );
  const result = await runBackfill(job);
  expect(result.status).toBe('done');
  expect(result.rowsWritten).toBe(20000);
  return lake;
}

interface ColumnChunk {
  file_name: string;
  row_group_id: string;
  path_in_schema: string;
  bloom_filter_offset: string | null;
  row_group_num_rows: string;
}

async function columnChunks(lake: string): Promise<ColumnChunk[]> {
  return query<ColumnChunk>(`SELECT file_name, row_group_id, path_in_schema, bloom_filter_offset, row_group_num_rows FROM parquet_metadata('${lakeGlob(lake)}')`);
}

describe('Parquet lake file options', () => {
  it('writes no Bloom filters by default, on the one-pass route and chunk by chunk', async () => {
    const dir = tempDir('lake-bloom-off');
    const csv = await makeCsv(dir);
    // One unprunable CSV file: the one pass writes every chunk. The same rows in Parquet prune by
    // row-group statistics, so they are read and written chunk by chunk.
    const onePass = await columnChunks(await runInto(dir, csv, {}, 'one-pass'));
    expect(onePass.length).toBeGreaterThan(0);
    expect(onePass.filter((c) => c.bloom_filter_offset !== null)).toEqual([]);
    const parquet = join(dir, 'events.parquet');
    await query(`COPY (SELECT * FROM read_csv('${csv}')) TO '${parquet}' (FORMAT parquet)`);
    const perChunk = await columnChunks(await runInto(dir, parquet, {}, 'per-chunk'));
    expect(perChunk.length).toBeGreaterThan(0);
    expect(perChunk.filter((c) => c.bloom_filter_offset !== null)).toEqual([]);
  });

  it('writes Bloom filters for dictionary-encoded columns with bloomFilters: true', async () => {
    const dir = tempDir('lake-bloom-on');
    const csv = await makeCsv(dir);
    const chunks = await columnChunks(await runInto(dir, csv, { bloomFilters: true }, 'bloom'));
    const withBloom = new Set(chunks.filter((c) => c.bloom_filter_offset !== null).map((c) => c.path_in_schema));
    expect(withBloom.has('user_id')).toBe(true);
    expect(withBloom.has('note')).toBe(true);
  });

  it('honours rowGroupSize and fileSize', async () => {
    const dir = tempDir('lake-sizes');
    const csv = await makeCsv(dir);
    const chunks = await columnChunks(await runInto(dir, csv, { rowGroupSize: 2048 }, 'row-groups'));
    const rowGroups = new Map(chunks.map((c) => [`${c.file_name}#${c.row_group_id}`, Number(c.row_group_num_rows)]));
    expect(Math.max(...rowGroups.values())).toBeLessThanOrEqual(2048);
    // fileSize rolls files over in a lake without partition folders; the unprunable CSV then takes
    // per-chunk staging (the one pass partitions by chunk, which cannot roll over).
    const lake = await runInto(dir, csv, { partitionBy: [], fileSize: '64KB', rowGroupSize: 2048 }, 'small-files');
    const files = new Set((await columnChunks(lake)).map((c) => c.file_name));
    // Two monthly chunks of about 10,000 rows each, rolled over at 64 KB: more than one file per chunk.
    expect(files.size).toBeGreaterThan(2);
    const rows = await query<{ n: string; ids: string }>(`SELECT count(*) AS n, count(DISTINCT id) AS ids FROM read_parquet('${lakeGlob(lake)}')`);
    expect(rows[0]).toEqual({ n: '20000', ids: '20000' });
  });

  it('refuses fileSize with partitionBy before any work, naming the field', () => {
    const dir = tempDir('lake-size-partitions');
    expect(() =>
      defineJob(
        {
          name: 'sizes',
          source: { type: 'csv', path: join(dir, 'x.csv') },
          chunk: { column: 'id', size: 10 },
          target: { type: 'parquet', path: join(dir, 'lake'), partitionBy: ['month'], fileSize: '256MB' },
        },
        { baseDir: dir },
      ),
    ).toThrow(/target\.fileSize: cannot be combined with partitionBy/);
  });

  it('rejects a bloomFilters value that is not true or false, naming the field', () => {
    const dir = tempDir('lake-bad');
    writeFileSync(join(dir, 'x.csv'), 'id\n1\n');
    expect(() =>
      defineJob(
        {
          name: 'bad',
          source: { type: 'csv', path: join(dir, 'x.csv') },
          chunk: { column: 'id', size: 10 },
          target: { type: 'parquet', path: join(dir, 'lake'), bloomFilters: 'yes' } as unknown as JobInput['target'],
        },
        { baseDir: dir },
      ),
    ).toThrow(/target\.bloomFilters/);
  });
});
