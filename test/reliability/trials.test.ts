// Crash trials in small: the trial harness per target (kill, resume, compare), and the after-commit fault point itself.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, tempDir, writeJob } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { ensureMariadb, ensurePostgres } from '../helpers/services.js';

const SCRIPT = resolve(import.meta.dirname, '..', '..', 'scripts', 'trials.mjs');

interface TargetSummary {
  readonly trials: number;
  readonly passed: number;
  readonly modes: Record<string, number>;
  readonly kills: number;
  readonly lostRows: number;
  readonly extraRows: number;
  readonly duplicateKeys: number;
  readonly maxRedone: number;
  readonly redoneDone: number;
  readonly concurrency: number;
  readonly details: readonly { readonly refRows: number; readonly rows: number; readonly finished: boolean }[];
}

function trials(args: readonly string[]): Promise<{ code: number | null; report: { ok: boolean; targets: Record<string, TargetSummary> }; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolvePromise({ code, report: JSON.parse(stdout), stderr });
      } catch (err) {
        reject(new Error(`trials printed no report (exit ${code}): ${stderr}`, { cause: err }));
      }
    });
  });
}

describe('crash trials: SIGKILL at random moments, resume, compare with a clean run', () => {
  beforeAll(async () => {
    await ensurePostgres();
    await ensureMariadb();
  });

  for (const target of ['parquet', 'avro', 'duckdb', 'postgres', 'mysql']) {
    it(`${target}: every write mode, 0 lost, 0 duplicated, at most one chunk redone per worker`, async () => {
      const { code, report, stderr } = await trials(['--target', target, '--count', '3', '--rows', '800', '--days', '8', '--seed', '7']);
      const s = report.targets[target] as TargetSummary;
      expect(s.passed, stderr).toBe(3);
      expect(code).toBe(0);
      expect(s.modes).toEqual({ append: 1, replace: 1, merge: 1 });
      expect(s.kills).toBeGreaterThan(0);
      expect({ lost: s.lostRows, extra: s.extraRows, duplicateKeys: s.duplicateKeys, redoneDone: s.redoneDone }).toEqual({ lost: 0, extra: 0, duplicateKeys: 0, redoneDone: 0 });
      expect(s.maxRedone).toBeLessThanOrEqual(s.concurrency);
      for (const t of s.details) expect(t).toMatchObject({ finished: true, refRows: 800, rows: 800 });
    }, 300_000);
  }

  it('rejects an unknown target before doing anything', async () => {
    const res = await trials(['--target', 'oracle']).catch((err: Error) => err);
    expect(String((res as Error).message)).toMatch(/unknown target "oracle"/);
  });
});

describe('BACKFILL_FAULT=after-commit:<n>', () => {
  it('kills the run right after the n-th commit and before its ledger mark; the resumed run adopts that chunk instead of redoing it', async () => {
    const dir = tempDir('fault-point');
    mkdirSync(join(dir, 'data'));
    for (let d = 1; d <= 6; d += 1) {
      writeFileSync(join(dir, 'data', `e-2024-02-0${d}.csv`), `id,ts\n${d * 10},2024-02-0${d} 10:00:00\n${d * 10 + 1},2024-02-0${d} 11:00:00\n`);
    }
    const job = writeJob(dir, 'job.yaml', `
name: fault-point
source: { type: csv, path: data/e-*.csv, pruneBy: filename }
chunk: { column: ts, every: 1 day }
target: { type: duckdb, database: out.duckdb, table: events }
write: { mode: append }
concurrency: 1
`);
    const child = startCli(['run', job, '--json'], { env: { BACKFILL_FAULT: 'after-commit:3' } });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const signal = await new Promise((r) => child.on('close', (_code, sig) => r(sig)));
    expect(signal).toBe('SIGKILL');
    expect(out.split('\n').filter((l) => l.includes('"chunk:done"'))).toHaveLength(2);
    // Three chunks' rows are in the target, but the ledger records two as done.
    const ledger = new Database(join(dir, '.backfill', 'fault-point.ledger.sqlite'), { readonly: true });
    const done = (ledger.prepare(`SELECT count(*) AS n FROM backfill_chunks WHERE status = 'done'`).get() as { n: number }).n;
    ledger.close();
    expect(done).toBe(2);
    const rows = await query<{ n: string }>(`ATTACH '${join(dir, 'out.duckdb')}' AS o (READ_ONLY); SELECT count(*) AS n FROM o.events`);
    expect(Number(rows[0]?.n)).toBe(6);

    const resume = await runCli(['run', job, '--json']);
    expect(resume.code, resume.stderr).toBe(0);
    expect(resume.stdout).toMatch(/chunk \S*2024-02-03\S* had committed before its process stopped/);
    const result = JSON.parse(resume.stdout.trim().split('\n').pop() as string) as { done: number };
    expect(result.done).toBe(3);
    const after = await query<{ n: string; ids: string }>(`ATTACH '${join(dir, 'out.duckdb')}' AS o (READ_ONLY); SELECT count(*) AS n, count(DISTINCT id) AS ids FROM o.events`);
    expect(after[0]).toEqual({ n: '12', ids: '12' });
  });
});
