// A `.gz` source file cut short (an interrupted copy): DuckDB alone would read it as far as it
// inflates and report success; the run must fail naming the file, with nothing written.
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { defineJob, profileJob, runBackfill } from '../../src/index.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';

function dayCsv(day: string, rows: number): string {
  const lines = ['ts,id,payload'];
  for (let i = 0; i < rows; i++) lines.push(`${day}T${String(i % 24).padStart(2, '0')}:00:00Z,${i},payload-${day}-${i}-${'x'.repeat(i % 40)}`);
  return lines.join('\n') + '\n';
}

function jobIn(dir: string, pruneBy: 'filename' | 'none' = 'none', maxRejects = 0) {
  return defineJob(
    {
      name: 'truncated-gzip',
      maxRejects,
      source: { type: 'csv', path: 'data/events-*.csv*', pruneBy },
      chunk: { column: 'ts', every: '1 day' },
      target: { type: 'parquet', path: 'lake' },
      write: { mode: 'replace' },
      retries: { attempts: 1 },
    },
    { baseDir: dir },
  );
}

describe('a truncated .gz source file', () => {
  it('fails the run naming the file, before any row is written; the whole file then loads', async () => {
    const dir = tempDir('truncated-gzip');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'events-2024-01-01.csv'), dayCsv('2024-01-01', 5_000));
    // Two gzip members, the second cut short: the reader by itself reads the first member and part of the second, and says nothing.
    const first = gzipSync(dayCsv('2024-01-02', 25_000));
    const second = gzipSync(dayCsv('2024-01-02', 25_000).split('\n').slice(1).join('\n'));
    const whole = Buffer.concat([first, second]);
    const cut = join(dir, 'data', 'events-2024-01-02.csv.gz');
    writeFileSync(cut, whole.subarray(0, first.length + Math.floor(second.length / 2)));
    const partial = await query(`SELECT count(*) AS n FROM read_csv('${cut}')`);
    expect(Number(partial[0]?.n)).toBeGreaterThanOrEqual(25_000);
    expect(Number(partial[0]?.n)).toBeLessThan(50_000);

    await expect(runBackfill(jobIn(dir))).rejects.toThrow(/events-2024-01-02\.csv\.gz is not a whole gzip stream \(unexpected end of file\)/);
    expect(existsSync(join(dir, 'lake'))).toBe(false);

    writeFileSync(cut, whole);
    const result = await runBackfill(jobIn(dir));
    expect(result.status).toBe('done');
    expect(result.rowsWritten).toBe(55_000);
    const rows = await query(`SELECT count(*) AS n FROM read_parquet('${join(dir, 'lake')}/**/*.parquet')`);
    expect(Number(rows[0]?.n)).toBe(55_000);
    expect(readFileSync(cut).length).toBe(whole.length);

    // The file found whole is remembered in the job's state folder (later runs do not inflate it again) …
    const record = JSON.parse(readFileSync(join(dir, '.backfill', 'gzip-whole', 'truncated-gzip.json'), 'utf8')) as string[];
    expect(record.some((id) => id.startsWith(`${cut}\0${whole.length}\0`))).toBe(true);
    // … by its size and modification time: cut again, with its old modification time put back, it is checked again and refused.
    const { atime, mtime } = statSync(cut);
    writeFileSync(cut, whole.subarray(0, whole.length - 100));
    utimesSync(cut, atime, mtime);
    await expect(runBackfill(jobIn(dir), { restate: true })).rejects.toThrow(/events-2024-01-02\.csv\.gz is not a whole gzip stream/);
  });

  it('names the cut file even when the cut ends mid-line and the reader complains about that line first', async () => {
    const dir = tempDir('truncated-gzip-midline');
    mkdirSync(join(dir, 'data'), { recursive: true });
    const whole = gzipSync(dayCsv('2024-01-02', 50_000));
    writeFileSync(join(dir, 'data', 'events-2024-01-02.csv.gz'), whole.subarray(0, Math.floor(whole.length / 2)));
    await expect(runBackfill(jobIn(dir))).rejects.toThrow(/events-2024-01-02\.csv\.gz is not a whole gzip stream/);
    expect(existsSync(join(dir, 'lake'))).toBe(false);
  });

  it('pruned by file name: a look inflates nothing; the run fails only the chunk that reads the cut file, naming it, and loads the others', async () => {
    const dir = tempDir('truncated-gzip-pruned');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'events-2024-01-01.csv'), dayCsv('2024-01-01', 5_000));
    writeFileSync(join(dir, 'data', 'events-2024-01-03.csv.gz'), gzipSync(dayCsv('2024-01-03', 7_000)));
    const whole = gzipSync(dayCsv('2024-01-02', 50_000));
    const cut = join(dir, 'data', 'events-2024-01-02.csv.gz');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const record = join(dir, '.backfill', 'gzip-whole', 'truncated-gzip.json');

    // The profile reads the files' sizes and first lines, not their whole contents: nothing is found whole or refused.
    const profile = await profileJob(jobIn(dir, 'filename'), { estimate: false });
    expect(profile.perChunk.chunks.length).toBe(3);
    expect(existsSync(record)).toBe(false);

    const result = await runBackfill(jobIn(dir, 'filename'));
    expect(result.status).toBe('failed');
    const failed = result.chunks.filter((c) => c.outcome === 'failed');
    expect(failed.map((c) => c.key)).toEqual([expect.stringContaining('2024-01-02')]);
    expect(failed[0]?.error).toMatch(/events-2024-01-02\.csv\.gz is not a whole gzip stream/);
    const rows = await query(`SELECT count(*) AS n FROM read_parquet('${join(dir, 'lake')}/**/*.parquet')`);
    expect(Number(rows[0]?.n)).toBe(12_000);
    // The two whole files are remembered, the cut one is not.
    const ids = JSON.parse(readFileSync(record, 'utf8')) as string[];
    expect(ids.some((id) => id.includes('events-2024-01-03.csv.gz'))).toBe(true);
    expect(ids.some((id) => id.includes('events-2024-01-02.csv.gz'))).toBe(false);

    writeFileSync(cut, whole);
    const retried = await runBackfill(jobIn(dir, 'filename'), { retryFailed: true });
    expect(retried.status).toBe('done');
    const all = await query(`SELECT count(*) AS n FROM read_parquet('${join(dir, 'lake')}/**/*.parquet')`);
    expect(Number(all[0]?.n)).toBe(62_000);
  });

  it('with bad lines allowed (maxRejects), a chunk still checks its gzip files before reading: the cut file fails its chunk, nothing of it written', async () => {
    const dir = tempDir('truncated-gzip-rejects');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'events-2024-01-01.csv'), dayCsv('2024-01-01', 5_000));
    const whole = gzipSync(dayCsv('2024-01-02', 50_000));
    writeFileSync(join(dir, 'data', 'events-2024-01-02.csv.gz'), whole.subarray(0, Math.floor(whole.length / 2)));
    const result = await runBackfill(jobIn(dir, 'filename', 5));
    const failed = result.chunks.filter((c) => c.outcome === 'failed');
    expect(failed.map((c) => c.key)).toEqual([expect.stringContaining('2024-01-02')]);
    expect(failed[0]?.error).toMatch(/events-2024-01-02\.csv\.gz is not a whole gzip stream/);
    const rows = await query(`SELECT count(*) AS n FROM read_parquet('${join(dir, 'lake')}/**/*.parquet')`);
    expect(Number(rows[0]?.n)).toBe(5_000);
  });
});
