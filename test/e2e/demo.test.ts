// The README's first command, at a small size: generate the history and backfill it into the lake.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.js';
import { lakeGlob, query } from '../helpers/lake.js';

describe('backfill demo', () => {
  it('generates daily files and backfills them into a month-partitioned lake, then resumes with nothing to do', async () => {
    const dir = tempDir('demo');
    const first = await runCli(['demo', '--dir', dir, '--rows', '30000', '--days', '40']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('generated 40 daily CSV files');
    expect(first.stdout).toMatch(/done: 2 chunks done, 0 failed; 30,000 rows/);
    const rows = await query<{ n: string; months: string }>(
      `SELECT count(*) AS n, count(DISTINCT month) AS months FROM read_parquet('${lakeGlob(join(dir, 'lake', 'events'))}', hive_partitioning = true)`,
    );
    expect(rows[0]).toEqual({ n: '30000', months: '2' });
    const again = await runCli(['demo', '--dir', dir, '--rows', '30000', '--days', '40']);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain('generating');
    expect(again.stdout).toMatch(/done: 0 chunks done, 0 failed; 0 rows/);
  });
});
