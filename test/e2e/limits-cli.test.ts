// `backfill pause` / `resume` across processes, and how limits show in `run` (lines and --json) and `status --json`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { query } from '../helpers/lake.js';
import { runCli, startCli, tempDir, writeJob } from '../helpers/cli.js';

async function prepare(prefix: string, limits: string): Promise<{ dir: string; file: string }> {
  const dir = tempDir(prefix);
  await query(`COPY (SELECT i AS id, 'row ' || i AS name FROM range(4000) t(i)) TO '${join(dir, 'in.parquet')}' (FORMAT parquet)`);
  const file = writeJob(dir, 'job.yaml', `
name: cli-limits
source: { type: parquet, path: in.parquet }
chunk: { column: id, size: 500 }
target: { type: duckdb, database: t.duckdb, table: t }
concurrency: 1
limits:
  checkInterval: 100ms
${limits}
`);
  return { dir, file };
}

/** Resolve once the child's output holds a line `test` accepts. */
function waitForLine(stream: NodeJS.ReadableStream, test: (line: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    let buffer = '';
    const onData = (d: Buffer): void => {
      buffer += d.toString();
      const line = buffer.split('\n').find(test);
      if (line !== undefined) {
        stream.off('data', onData);
        resolve(line);
      }
    };
    stream.on('data', onData);
  });
}

describe('pause and resume across processes', () => {
  it('a run started paused waits, shows in status --json, and finishes after `backfill resume` from another process', async () => {
    const { file } = await prepare('cli-pause', '');
    const paused = await runCli(['pause', file, '--reason', 'maintenance window']);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(/^job cli-limits paused; running processes obey within 100 ms/);
    expect((await runCli(['pause', file])).stdout).toMatch(/^job cli-limits already paused by .* at /);

    const child = startCli(['run', file, '--json']);
    let stdout = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const held = JSON.parse(await waitForLine(child.stdout!, (l) => l.includes('"throttle:start"'))) as { state: string; reasons: { limit: string; text: string }[] };
    expect(held).toMatchObject({ event: 'throttle:start', state: 'paused', reasons: [{ limit: 'pause' }] });
    expect(held.reasons[0]?.text).toMatch(/: maintenance window \(backfill resume lifts it\)$/);
    // The run's record (which status reads) is made before it announces its start.
    while (!stdout.includes('"run:start"')) await new Promise((resolve) => setTimeout(resolve, 50));

    const status = await runCli(['status', file, '--json']);
    const doc = JSON.parse(status.stdout) as { throttle: { paused: { reason: string } | null; runs: { state: string }[]; limits: { checkIntervalMs: number } } };
    expect(doc.throttle.paused).toMatchObject({ reason: 'maintenance window' });
    expect(doc.throttle.runs.map((r) => r.state)).toEqual(['paused']);
    expect(doc.throttle.limits.checkIntervalMs).toBe(100);
    const text = await runCli(['status', file]);
    expect(text.stdout).toMatch(/^PAUSED by .* since .*: maintenance window \(backfill resume lifts it\)$/m);
    expect(text.stdout).toMatch(/^run \w+ paused for .*: paused by .*; 1 chunk\(s\) at a time$/m);
    expect(stdout).not.toContain('"chunk:start"');

    const resumed = await runCli(['resume', file]);
    expect(resumed.stdout).toMatch(/^job cli-limits resumed; running processes obey within 100 ms/);
    expect(await exited).toBe(0);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; done?: number; limits?: { pausedMs: number; workingMs: number } });
    const names = lines.map((l) => l.event);
    expect(names.indexOf('throttle:end')).toBeLessThan(names.indexOf('chunk:start'));
    const result = lines[lines.length - 1];
    expect(result).toMatchObject({ event: 'result', done: 8 });
    expect(result?.limits?.pausedMs).toBeGreaterThan(0);
    expect((await runCli(['resume', file])).stdout).toMatch(/was not paused/);
  }, 60_000);

  it('prints what throttles in the progress lines and the time held in the result', async () => {
    const { dir, file } = await prepare('cli-lines', '  pauseFile: stop-now');
    writeFileSync(join(dir, 'stop-now'), '');
    const child = startCli(['run', file]);
    let stdout = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const line = await waitForLine(child.stderr!, (l) => l.startsWith('paused:'));
    expect(line).toBe(`paused: pause file ${join(dir, 'stop-now')} exists (chunks in flight finish; no new one starts)`);
    const { rmSync } = await import('node:fs');
    rmSync(join(dir, 'stop-now'));
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/^limits: .* working, .* paused, 0 ms throttled; 0 ms waited between chunks \(rate limit, adaptive spacing\)$/m);
  }, 60_000);
});

describe('job file errors', () => {
  it('names a database limit on a file source at load, with exit 2', async () => {
    const { file } = await prepare('cli-refuse', '  maxLoad: { query: "select 1", above: 5 }');
    const r = await runCli(['run', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/limits\.maxLoad: needs a database source that reports it \(postgres, mysql\); a parquet source has no replicas, load or query latency to read/);
  });
});
