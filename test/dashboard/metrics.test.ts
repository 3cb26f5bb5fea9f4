// `backfill run --metrics`: a Prometheus endpoint during a real run whose counters equal what the ledger holds.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { eventsFolder, eventsJob, exitOf, waitForOutput } from './dashboard-fixture.js';

/** `name{labels} value` lines of the Prometheus text format, keyed by `name{labels}`. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

describe('run --metrics', () => {
  let dir: string;
  let job: string;

  beforeAll(async () => {
    dir = await eventsFolder('metrics');
    // One retry, then a backoff of an hour: the run waits there while the test scrapes it.
    job = eventsJob(dir, { name: 'metered', extra: 'concurrency: 1\nretries: { attempts: 3, backoff: 1h, maxBackoff: 1h }' });
    // A file where the lake wants the month=2023-02 folder: the chunks holding February rows fail, retryably.
    mkdirSync(join(dir, 'lake'), { recursive: true });
    writeFileSync(join(dir, 'lake', 'month=2023-02'), '');
  });

  it('serves counters equal to the ledger while the run is going, and stops with it', async () => {
    const run = startCli(['run', job, '--json', '--metrics', '127.0.0.1:0'], { cwd: dir });
    const exited = exitOf(run);
    const [, url] = await waitForOutput(run, /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/);
    await waitForOutput(run, /"event":"chunk:retry"/);

    const response = await fetch(url as string);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const metrics = parseMetrics(await response.text());
    const status = JSON.parse((await runCli(['status', job, '--json'], { cwd: dir })).stdout) as {
      counts: Record<'total' | 'done' | 'pending' | 'running' | 'failed', number>; rows: { read: number; written: number; rejected: number }; bytes: number;
    };
    const at = (name: string): number | undefined => metrics.get(name);
    expect(status.counts.done).toBe(4);
    expect(at('backfill_rows_read_total{job="metered"}')).toBe(status.rows.read);
    expect(at('backfill_rows_written_total{job="metered"}')).toBe(status.rows.written);
    expect(at('backfill_rows_rejected_total{job="metered"}')).toBe(status.rows.rejected);
    expect(at('backfill_bytes_total{job="metered"}')).toBe(status.bytes);
    expect(at('backfill_chunks_done_total{job="metered"}')).toBe(status.counts.done);
    expect(at('backfill_chunk_duration_seconds_count{job="metered"}')).toBe(status.counts.done);
    for (const s of ['done', 'pending', 'running', 'failed'] as const) expect(at(`backfill_chunks{job="metered",status="${s}"}`), s).toBe(status.counts[s]);
    expect(at('backfill_chunk_retries_total{job="metered"}')).toBe(1);
    expect(at('backfill_chunks_failed_total{job="metered"}')).toBe(0);
    expect(status.rows.read).toBeGreaterThan(0);
    expect([...metrics.keys()].some((k) => k.startsWith('backfill_process_'))).toBe(true);
    expect(await (await fetch((url as string).replace('/metrics', '/other'))).status).toBe(404);

    // The first signal stops taking chunks, the second interrupts the one waiting to retry; the endpoint goes with the run.
    run.kill('SIGTERM');
    await waitForOutput(run, /"event":"run:stopping"/);
    run.kill('SIGTERM');
    expect(await exited).toBe(130);
    await expect(fetch(url as string)).rejects.toThrow();
  });

  it('refuses an address that is not [host:]port', async () => {
    const r = await runCli(['run', job, '--metrics', 'nine'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('expected [host:]port');
  });
});
