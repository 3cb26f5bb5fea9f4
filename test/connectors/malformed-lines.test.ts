// A malformed CSV line (an unterminated quote) and a truncated JSON line: named by file and line, or kept aside with maxRejects while every other row loads.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { defineJob, runBackfill, type Job } from '../../src/index.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';

const BAD_LINE = 502;
const DAYS = 1461;
const KINDS = ['drizzle', 'rain', 'sun', 'snow', 'fog'];

/** A weather-like CSV of four years, one day a line, with an unterminated quote as line 502. */
function weatherCsv(dir: string): string {
  const lines = ['date,precipitation,temp_max,temp_min,wind,weather'];
  for (let i = 0; i < DAYS; i++) {
    const day = new Date(Date.UTC(2012, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);
    lines.push(`${day},${(i % 7) * 0.5},${10 + (i % 15)},${2 + (i % 9)},${1 + (i % 5)},${KINDS[i % 5]}`);
  }
  lines.splice(BAD_LINE - 1, 0, '2013-05-16,"unterminated,1,2');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'seattle-weather.csv');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function weatherJob(dir: string, name: string, extra: { options?: Record<string, unknown>; maxRejects?: number } = {}): Job {
  return defineJob(
    {
      name,
      source: { type: 'csv', path: 'seattle-weather.csv', ...(extra.options === undefined ? {} : { options: extra.options }) },
      chunk: { column: 'date', every: '1 year' },
      target: { type: 'parquet', path: 'lake' },
      write: { mode: 'replace' },
      retries: { attempts: 1 },
      maxRejects: extra.maxRejects ?? 0,
    },
    { baseDir: dir },
  );
}

interface Reject {
  readonly source: string | null;
  readonly line: number | null;
  readonly raw: string;
  readonly reason: string;
}

function rejectsOf(job: Job): Reject[] {
  if (!existsSync(job.rejects.dir)) return [];
  return readdirSync(job.rejects.dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(job.rejects.dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Reject));
}

function ledgerTotals(job: Job): { chunks: number; bad: number; read: number; written: number; rejected: number } {
  const db = new Database(job.ledgerPath, { readonly: true });
  try {
    const rows = db.prepare(`SELECT status, rows_read, rows_written, rows_rejected FROM backfill_chunks`).all() as {
      status: string; rows_read: number; rows_written: number; rows_rejected: number;
    }[];
    return {
      chunks: rows.length,
      // A chunk whose counts do not add up, or that is not done.
      bad: rows.filter((r) => r.status !== 'done' || r.rows_read !== r.rows_written + r.rows_rejected).length,
      read: rows.reduce((n, r) => n + r.rows_read, 0),
      written: rows.reduce((n, r) => n + r.rows_written, 0),
      rejected: rows.reduce((n, r) => n + r.rows_rejected, 0),
    };
  } finally {
    db.close();
  }
}

describe('a malformed CSV line', () => {
  it('(a, d) sniffed dialect: one column hiding a delimiter is reported with the file, the line and the options that fix it', async () => {
    const dir = tempDir('malformed-sniffed');
    const file = weatherCsv(dir);
    const err = await runBackfill(weatherJob(dir, 'sniffed')).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toContain(`the CSV sniffer found one column named "date,precipitation,temp_max,temp_min,wind,weather" in ${file}`);
    expect(err?.message).toContain(`${file}:${BAD_LINE}: UNQUOTED VALUE in column precipitation`);
    expect(err?.message).toContain(`set options: { delim: ",", quote: '"' }`);
    expect(err?.message).not.toContain('is not a column of');
    expect(existsSync(join(dir, 'lake'))).toBe(false);
  });

  it('(b) given dialect, maxRejects 0: the chunk keeping the line fails naming file, line and field; no row after it is lost', async () => {
    const dir = tempDir('malformed-given');
    const file = weatherCsv(dir);
    const job = weatherJob(dir, 'given', { options: { delim: ',', quote: '"' } });
    const result = await runBackfill(job);
    expect(result.failed).toBe(1);
    const failed = result.chunks.find((c) => c.outcome === 'failed');
    expect(failed?.error).toContain(`first: ${file}:${BAD_LINE}: UNQUOTED VALUE in column precipitation`);
    // The other years are whole: the lines after the open quote were not swallowed by it.
    const years = await query<{ y: number; n: bigint }>(`SELECT year(date) AS y, count(*) AS n FROM read_parquet('${join(dir, 'lake')}/**/*.parquet') GROUP BY y ORDER BY y`);
    expect(years.map((r) => [Number(r.y), Number(r.n)])).toEqual([[2013, 365], [2014, 365], [2015, 365]]);
  });

  it('(c) maxRejects keeps exactly that line with its number and reason, and loads every other row; read = written + rejected', async () => {
    const dir = tempDir('malformed-kept');
    const file = weatherCsv(dir);
    const job = weatherJob(dir, 'kept', { options: { delim: ',', quote: '"' }, maxRejects: 5 });
    const result = await runBackfill(job);
    expect(result).toMatchObject({ failed: 0, rowsWritten: DAYS, rowsRejected: 1 });
    const kept = rejectsOf(job);
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({ source: file, line: BAD_LINE, raw: '2013-05-16,"unterminated,1,2' });
    expect(kept[0]?.reason).toMatch(/^UNQUOTED VALUE in column precipitation: .*unterminated quote/);
    const rows = await query<{ n: bigint; days: bigint }>(`SELECT count(*) AS n, count(DISTINCT date) AS days FROM read_parquet('${join(dir, 'lake')}/**/*.parquet')`);
    expect(Number(rows[0]?.n)).toBe(DAYS);
    expect(Number(rows[0]?.days)).toBe(DAYS);
    expect(ledgerTotals(job)).toEqual({ chunks: 4, bad: 0, read: DAYS + 1, written: DAYS, rejected: 1 });
  });
});

describe('a truncated last JSON line', () => {
  function jsonlJob(dir: string, maxRejects: number): { job: Job; file: string } {
    mkdirSync(dir, { recursive: true });
    const lines: string[] = [];
    for (let i = 0; i < 100; i++) {
      const day = new Date(Date.UTC(2012, 0, 1) + i * 7 * 86_400_000).toISOString().slice(0, 10);
      lines.push(JSON.stringify({ date: day, temp_max: 10 + (i % 5), weather: KINDS[i % 5] }));
    }
    const file = join(dir, 'weather.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n{"date":"2014-01-0`);
    const job = defineJob(
      {
        name: `jsonl${maxRejects}`,
        source: { type: 'jsonl', path: 'weather.jsonl' },
        chunk: { column: 'date', every: '1 year' },
        target: { type: 'parquet', path: 'lake' },
        write: { mode: 'replace' },
        retries: { attempts: 1 },
        maxRejects,
      },
      { baseDir: dir },
    );
    return { job, file };
  }

  it('(e) maxRejects 0: fails naming the file and line 101 as truncated', async () => {
    const { job, file } = jsonlJob(tempDir('jsonl-trunc0'), 0);
    const result = await runBackfill(job);
    expect(result.failed).toBe(1);
    expect(result.chunks.find((c) => c.outcome === 'failed')?.error).toContain(`first: ${file}:101: malformed JSON: the file ends inside this line (truncated)`);
  });

  it('(e) maxRejects: the truncated line is kept with its number, the 100 others load; read = written + rejected', async () => {
    const { job, file } = jsonlJob(tempDir('jsonl-trunc5'), 5);
    const result = await runBackfill(job);
    expect(result).toMatchObject({ failed: 0, rowsWritten: 100, rowsRejected: 1 });
    expect(rejectsOf(job)).toEqual([expect.objectContaining({ source: file, line: 101, raw: '{"date":"2014-01-0' })]);
    const totals = ledgerTotals(job);
    expect(totals).toMatchObject({ bad: 0, read: 101, written: 100, rejected: 1 });
  });
});
