import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateEvents } from '../../src/demo/generate-events.js';
import { runCli, startCli, tempDir, writeJob, type CliResult } from '../helpers/cli.js';
import { lakeGlob, query } from '../helpers/lake.js';

const DAYS = 120;
const ROWS = 24_000;

const job = (name: string, every: string): string => `
name: ${name}
source:
  type: csv
  path: data/events-*.csv*
  pruneBy: filename
chunk:
  column: ts
  every: ${every}
target:
  type: parquet
  path: lake-${name}
write:
  mode: replace
concurrency: 1
`;

const VERBS = ['plan', 'run', 'verify', 'status', 'rollback', 'backups', 'cdc', 'bench', 'demo'];

/**
 * Runs the CLI with one of its output pipes read by a reader that closes it after `lines`
 * lines (0: before anything is written), as `| head -n` does.
 */
function runCliClosing(args: readonly string[], stream: 'stdout' | 'stderr', lines: number, cwd?: string): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = startCli(args, { cwd });
    const closing = child[stream];
    const other = stream === 'stdout' ? child.stderr : child.stdout;
    if (closing === null || other === null) throw new Error('expected piped stdout and stderr');
    let read = '';
    let kept = '';
    if (lines === 0) closing.destroy();
    else {
      closing.on('data', (d: Buffer) => {
        read += d.toString();
        if (read.split('\n').length > lines) closing.destroy();
      });
    }
    other.on('data', (d: Buffer) => (kept += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const cut = read.split('\n').slice(0, lines).join('\n');
      resolvePromise(stream === 'stdout' ? { code, signal, stdout: cut, stderr: kept } : { code, signal, stdout: kept, stderr: cut });
    });
  });
}

interface Status {
  readonly counts: { readonly total: number; readonly done: number; readonly pending: number; readonly running: number; readonly failed: number };
}

async function status(file: string): Promise<Status> {
  const r = await runCli(['status', file, '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Status;
}

describe('backfill CLI manners: closed pipes, --version, --help', () => {
  let dir: string;
  let hourly: string;
  let daily: string;

  beforeAll(async () => {
    dir = tempDir('cli-manners');
    await generateEvents({ dir: join(dir, 'data'), rows: ROWS, from: '2023-01-01', days: DAYS, threads: 1 });
    hourly = writeJob(dir, 'hourly.yaml', job('hourly', '1 hour'));
    daily = writeJob(dir, 'daily.yaml', job('daily', '1 day'));
  });

  it('plan into a reader that closes after the first line: exit 0, no stack trace', async () => {
    // Thousands of lines: far more than a pipe buffer holds, so writes go on after the reader is gone.
    for (const extra of [[], ['--json']]) {
      const r = await runCliClosing(['plan', hourly, ...extra], 'stdout', 1);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
    }
  });

  it('status and --help into a reader that is already closed: exit 0, no stack trace', async () => {
    // status prints a few lines, which a pipe buffer takes whole: a reader closed before any
    // output is the case that makes the first write fail.
    for (const args of [['status', daily], ['status', daily, '--json'], ['--help'], ['plan', '--help']]) {
      const r = await runCliClosing(args, 'stdout', 0);
      expect({ args, stderr: r.stderr, code: r.code }).toEqual({ args, stderr: '', code: 0 });
    }
  });

  it('--version and -V print the version in package.json', async () => {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${pkg.version}\n`);
    }
  });

  it('--help lists every verb and exits 0; unknown verbs and flags exit non-zero with the reason', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const verb of VERBS) expect(help.stdout).toMatch(new RegExp(`^  ${verb} `, 'm'));
    expect(help.stdout).toContain('--version');
    for (const verb of VERBS) {
      const r = await runCli([verb, '--help']);
      expect({ verb, code: r.code }).toEqual({ verb, code: 0 });
      expect(r.stdout).toContain(`Usage: backfill ${verb}`);
    }
    const unknownVerb = await runCli(['nope']);
    expect(unknownVerb.code).toBe(2);
    expect(unknownVerb.stderr).toContain("error: unknown command 'nope'");
    const unknownFlag = await runCli(['plan', daily, '--nope']);
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toContain("error: unknown option '--nope'");
    const noVerb = await runCli([]);
    expect(noVerb.code).toBe(2);
    expect(noVerb.stderr).toContain('Usage: backfill');
  });

  it('a run whose output closes stops gracefully, and the next run finishes every chunk exactly once', async () => {
    const plan = await runCli(['plan', daily, '--json']);
    const total = (JSON.parse(plan.stdout) as { counts: { total: number } }).counts.total;
    expect(total).toBe(DAYS);

    // --json puts the events on stdout; the reader leaves after run:start.
    const first = await runCliClosing(['run', daily, '--json'], 'stdout', 1);
    expect(first.stderr).toBe('');
    expect(JSON.parse(first.stdout)).toMatchObject({ event: 'run:start', todo: total });
    expect(first.code).toBe(130); // interrupted: chunks remain, as after Ctrl-C
    const afterFirst = await status(daily);
    expect(afterFirst.counts).toMatchObject({ total, running: 0, failed: 0 });
    expect(afterFirst.counts.done).toBeLessThan(total);
    expect(afterFirst.counts.done + afterFirst.counts.pending).toBe(total);

    // Progress lines go to stderr: its reader leaving stops the run the same way.
    const second = await runCliClosing(['run', daily], 'stderr', 1);
    expect(second.stderr).toContain(`${total - afterFirst.counts.done} of ${total} chunks to do`);
    expect(second.stdout).toMatch(/^interrupted: \d+ chunks done, 0 failed/);
    expect(second.code).toBe(130);
    const afterSecond = await status(daily);
    expect(afterSecond.counts).toMatchObject({ total, running: 0, failed: 0 });
    expect(afterSecond.counts.done).toBeLessThan(total);

    const last = await runCli(['run', daily, '--json']);
    expect(last.stderr).toBe('');
    expect(last.code).toBe(0);
    const result = JSON.parse(last.stdout.trim().split('\n').pop() as string) as { status: string; done: number };
    expect(result).toMatchObject({ status: 'done', done: total - afterSecond.counts.done });
    expect((await status(daily)).counts).toMatchObject({ total, done: total, pending: 0, running: 0, failed: 0 });

    const rows = await query<{ n: string; ids: string }>(`SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM read_parquet('${lakeGlob(join(dir, 'lake-daily'))}')`);
    expect(rows[0]).toEqual({ n: String(ROWS), ids: String(ROWS) });
  });
});
