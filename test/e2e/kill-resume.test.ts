import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateEvents } from '../../src/demo/generate-events.js';
import { runCli, startCli, tempDir, writeJob } from '../helpers/cli.js';
import { compareLakes, query } from '../helpers/lake.js';

const job = (lake: string, ledger: string): string => `
name: events
source:
  type: csv
  path: ../data/events-*.csv*
  pruneBy: filename
chunk:
  column: ts
  every: 1 day
transform: select *, strftime(ts, '%Y-%m') as month from source
target:
  type: parquet
  path: ${lake}
  partitionBy: [month]
write:
  mode: replace
concurrency: 2
ledger: ${ledger}
`;

function doneChunks(ledger: string): number {
  if (!existsSync(ledger)) return 0;
  const db = new Database(ledger, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM backfill_chunks WHERE status = 'done'`).get() as { n: number }).n;
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

describe('a run killed with SIGKILL resumes to the same lake as an uninterrupted run', () => {
  let root: string;

  beforeAll(async () => {
    root = tempDir('kill');
    await generateEvents({ dir: join(root, 'data'), rows: 400_000, from: '2023-01-01', days: 90, threads: 1 });
    mkdirSync(join(root, 'clean'));
    const clean = writeJob(join(root, 'clean'), 'job.yaml', job('lake', 'ledger.sqlite'));
    const res = await runCli(['run', clean]);
    expect(res.code, res.stderr).toBe(0);
  }, 180_000);

  it('kill while publishing a one-pass write of a single CSV file, resume, compare row for row', async () => {
    const dir = join(root, 'one-file');
    mkdirSync(dir, { recursive: true });
    await query(`COPY (SELECT * FROM read_csv('${join(root, 'data')}/events-*.csv*')) TO '${join(dir, 'all.csv')}' (HEADER)`);
    const file = writeJob(dir, 'job.yaml', job('lake', 'ledger.sqlite').replace('../data/events-*.csv*', 'all.csv').replace('pruneBy: filename', 'pruneBy: none'));
    const child = startCli(['run', file, '--json']);
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"chunk:done"')) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    expect(out).toContain('"pass":"one-pass"');
    const resume = await runCli(['run', file]);
    expect(resume.code, resume.stderr).toBe(0);
    const cmp = await compareLakes(join(root, 'clean', 'lake'), join(dir, 'lake'));
    expect(cmp).toEqual({ rowsA: 400_000, rowsB: 400_000, onlyA: 0, onlyB: 0 });
  });

  for (const trial of [1, 2, 3]) {
    it(`trial ${trial}: kill after some chunks, resume, compare row for row`, async () => {
      const dir = join(root, `trial-${trial}`);
      mkdirSync(dir, { recursive: true });
      const file = writeJob(dir, 'job.yaml', job('lake', 'ledger.sqlite'));
      const ledger = join(dir, 'ledger.sqlite');
      const child = startCli(['run', file]);
      const target = 10 + trial * 20;
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      for (;;) {
        if (doneChunks(ledger) >= target) break;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill('SIGKILL');
      await exited;
      const before = doneChunks(ledger);
      expect(before).toBeLessThan(90);

      const resume = await runCli(['run', file, '--json']);
      expect(resume.code, resume.stderr).toBe(0);
      const result = JSON.parse(resume.stdout.trim().split('\n').pop() as string) as { done: number; failed: number };
      expect(result.failed).toBe(0);
      // Only chunks not recorded as done are redone.
      expect(result.done).toBe(90 - before);

      const cmp = await compareLakes(join(root, 'clean', 'lake'), join(dir, 'lake'));
      expect(cmp).toEqual({ rowsA: 400_000, rowsB: 400_000, onlyA: 0, onlyB: 0 });

      // No chunk was started more than twice: at most the ones in flight at the kill were redone.
      const db = new Database(ledger, { readonly: true });
      const redone = (db.prepare(`SELECT count(*) AS n FROM backfill_chunks WHERE attempts > 1`).get() as { n: number }).n;
      db.close();
      expect(redone).toBeLessThanOrEqual(2);
    });
  }
});
