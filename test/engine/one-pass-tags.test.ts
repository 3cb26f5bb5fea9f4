// Runs over an unprunable CSV into a Parquet lake, tagged per row in the one pass: every row lands in its own chunk's files, re-runs and restates keep the lake exact.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defineJob, runBackfill, type JobInput } from '../../src/index.js';
import { tempDir as makeTempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = makeTempDir('backfill-one-pass-tags-');
  dirs.push(dir);
  return dir;
}

/** `20210328T010000Z` → epoch ms. */
function tagMs(compact: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})?Z$/.exec(compact);
  if (m === null) throw new Error(`not a chunk tag bound: ${compact}`);
  return Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7] ?? '000'}Z`);
}

/** Every lake row with its value as epoch ms (a date as its UTC midnight) and the bounds of the chunk whose file holds it. */
async function placed(lake: string, column: string, isDate: boolean): Promise<{ v: number; lo: number; hi: number }[]> {
  const value = isDate ? `epoch_ms(CAST(${column} AS TIMESTAMP))` : `epoch_ms(${column})`;
  const rows = await query<{ v: string; file: string }>(
    `SELECT CAST(${value} AS VARCHAR) AS v, filename AS file FROM read_parquet('${join(lake, '**', '*.parquet')}', filename = true, hive_partitioning = false)`,
  );
  return rows.map((r) => {
    const m = /part-(\w+?)_(\w+?)-\d+\.parquet$/.exec(r.file);
    if (m === null) throw new Error(`unexpected file ${r.file}`);
    return { v: Number(r.v), lo: tagMs(m[1] as string), hi: tagMs(m[2] as string) };
  });
}

interface Case {
  readonly name: string;
  readonly header: string;
  readonly lines: readonly string[];
  readonly chunk: JobInput['chunk'];
  readonly types: Record<string, string>;
  readonly isDate: boolean;
  /** A chunk-column value as the lake gives it back, in epoch ms, for each non-NULL line (same order). */
  readonly expected: readonly number[];
  readonly restate: { readonly from: string; readonly to: string };
}

const BERLIN_LINES = [
  '2021-03-27 22:59:59.999999', '2021-03-27 23:00:00', '2021-03-28 00:30:00', '2021-03-28 21:59:59.999999', '2021-03-28 22:00:00',
  '2021-10-30 21:59:59', '2021-10-30 22:00:00', '2021-10-31 01:30:00', '2021-10-31 22:59:59', '2021-10-31 23:00:00', '2021-11-01 12:00:00',
];

const CASES: Case[] = [
  {
    // Bounds known only after the pass: the unit tag (months of a DATE) runs before planning.
    name: 'UTC months of a DATE column, before planning',
    header: 'id,d',
    lines: ['1,2020-12-31', '2,2021-01-01', '3,2021-01-31', '4,', '5,2021-02-01', '6,2021-03-15', '7,2021-03-31'],
    chunk: { column: 'd', every: '1 month', timezone: 'UTC' },
    types: { d: 'DATE' },
    isDate: true,
    expected: ['2020-12-31', '2021-01-01', '2021-01-31', '2021-02-01', '2021-03-15', '2021-03-31'].map((d) => Date.parse(`${d}T00:00:00Z`)),
    restate: { from: '2021-01-01', to: '2021-02-01' },
  },
  {
    // Days in Berlin: bounds from a min/max query, then the lookup tag over DST-shortened and -lengthened days.
    name: 'Berlin days across both DST changes, TIMESTAMP column',
    header: 'id,ts',
    lines: [...BERLIN_LINES.map((ts, i) => `${i + 1},${ts}`), '99,'],
    chunk: { column: 'ts', every: '1 day', timezone: 'Europe/Berlin' },
    types: { ts: 'TIMESTAMP' },
    isDate: false,
    expected: BERLIN_LINES.map((ts) => Date.parse(`${ts.replace(' ', 'T')}Z`)),
    restate: { from: '2021-03-28', to: '2021-03-29' },
  },
];

describe('one pass tags over an unprunable CSV', () => {
  for (const c of CASES) {
    it(`places every row in its chunk, and re-runs and restates keep the lake exact: ${c.name}`, async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'events.csv'), `${c.header}\n${c.lines.join('\n')}\n`);
      const job = defineJob(
        {
          name: 'tags',
          source: { type: 'csv', path: 'events.csv', pruneBy: 'none', options: { types: c.types } },
          chunk: c.chunk,
          target: { type: 'parquet', path: 'lake' },
          write: { mode: 'replace' },
          maxRejects: 10,
        },
        { baseDir: dir },
      );
      const lake = join(dir, 'lake');
      const column = Object.keys(c.types)[0] as string;
      const check = async (): Promise<void> => {
        const rows = await placed(lake, column, c.isDate);
        expect(rows.map((r) => r.v).sort((a, b) => a - b)).toEqual([...c.expected].sort((a, b) => a - b));
        for (const r of rows) {
          expect(r.v >= r.lo && r.v < r.hi, `${new Date(r.v).toISOString()} in [${new Date(r.lo).toISOString()}, ${new Date(r.hi).toISOString()})`).toBe(true);
        }
      };

      const first = await runBackfill(job);
      expect(first.status).toBe('done');
      expect(first.rowsWritten).toBe(c.expected.length);
      expect(first.rowsRejected).toBe(1);
      await check();

      // Bounds now come from the ledger's cache; nothing is left to do.
      const again = await runBackfill(job);
      expect(again.status).toBe('done');
      expect(again.total).toBe(first.total);
      expect(again.rowsWritten).toBe(0);
      await check();

      const restated = await runBackfill(job, { ...c.restate, restate: true });
      expect(restated.status).toBe('done');
      expect(restated.done).toBeGreaterThan(0);
      expect(restated.total).toBe(first.total);
      await check();
    });
  }
});
