// Crash recovery details the kill trials cannot aim at precisely: a commit whose ledger mark was lost, and graceful stops.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { defineJob, EventBus, runBackfill, type Job } from '../../src/index.js';
import { generateEvents } from '../../src/demo/generate-events.js';
import { runCli, startCli, tempDir, writeJob } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';

async function duckJob(dir: string): Promise<Job> {
  await query(`COPY (SELECT i AS id, TIMESTAMP '2024-01-01' + to_microseconds(CAST(i AS BIGINT) * 86400000) AS ts FROM range(5000) t(i))
    TO '${join(dir, 'in.parquet')}' (FORMAT parquet)`);
  return defineJob(
    { name: 'recover', source: { type: 'parquet', path: 'in.parquet' }, chunk: { column: 'ts', every: '1 day' }, target: { type: 'duckdb', database: 't.duckdb', table: 't' }, write: { mode: 'append' } },
    { baseDir: dir },
  );
}

describe('recovery', () => {
  it('adopts a chunk whose data committed in the target before its process died, instead of appending it twice', async () => {
    const dir = tempDir('adopt');
    const job = await duckJob(dir);
    expect(await runBackfill(job)).toMatchObject({ done: 5, rowsWritten: 5000 });
    // Make the ledger look as if the process died between the target's commit and the ledger mark:
    // the chunk is `running` again under the lease that committed it (read back from the target's
    // commit marker), and that lease has expired.
    const key = '2024-01-03T00:00:00Z/2024-01-04T00:00:00Z';
    const marker = await query<{ lease: string }>(`ATTACH '${join(dir, 't.duckdb')}' AS t (READ_ONLY); SELECT lease FROM t.backfill_chunk_commits WHERE chunk_key = '${key}'`);
    const lease = marker[marker.length - 1]?.lease as string;
    const [owner, token] = [lease.slice(0, lease.lastIndexOf('#')), Number(lease.slice(lease.lastIndexOf('#') + 1))];
    const db = new Database(job.ledgerPath);
    db.prepare(`UPDATE backfill_chunks SET status = 'running', lease_owner = ?, fencing_token = ?, lease_expires_at = 0 WHERE chunk_key = ?`).run(owner, token, key);
    db.close();
    const events = new EventBus();
    const warnings: string[] = [];
    events.on('warning', (e) => warnings.push(e.message));
    const resumed = await runBackfill(job, { events });
    expect(resumed.done).toBe(0);
    expect(warnings.join('\n')).toContain('had committed before its process stopped');
    const rows = await query<{ n: string }>(`ATTACH '${join(dir, 't.duckdb')}' AS t (READ_ONLY); SELECT count(*) AS n FROM t.t`);
    expect(rows[rows.length - 1]?.n).toBe('5000');
  });

  it('does not adopt a commit marker left by another run with the same token (e.g. an older ledger)', async () => {
    const dir = tempDir('foreign');
    const job = await duckJob(dir);
    await runBackfill(job);
    // A fresh ledger restarts its tokens: the target's markers must not be taken for its claims.
    const { rmSync } = await import('node:fs');
    rmSync(job.ledgerPath, { force: true });
    const key = '2024-01-03T00:00:00Z/2024-01-04T00:00:00Z';
    await runBackfill(job, { to: '2024-01-03' });
    const db = new Database(job.ledgerPath);
    const marker = await query<{ lease: string }>(`ATTACH '${join(dir, 't.duckdb')}' AS t (READ_ONLY); SELECT lease FROM t.backfill_chunk_commits WHERE chunk_key = '${key}'`);
    const token = Number((marker[marker.length - 1]?.lease as string).split('#').pop());
    db.prepare(`UPDATE backfill_chunks SET status = 'running', lease_owner = 'elsewhere:1:other-run', fencing_token = ?, lease_expires_at = 0 WHERE chunk_key = ?`).run(token, key);
    db.close();
    const resumed = await runBackfill(job);
    // The chunk is redone (append mode: its rows are written again), not adopted.
    expect(resumed.chunks.map((c) => c.key)).toContain(key);
  });

  it('redoes a running chunk of a dead process when the target holds no commit of it', async () => {
    const dir = tempDir('redo');
    const job = await duckJob(dir);
    await runBackfill(job, { to: '2024-01-03' });
    const db = new Database(job.ledgerPath);
    // Chunk 3 was claimed (token 99) but its transaction never committed.
    db.prepare(`UPDATE backfill_chunks SET status = 'running', fencing_token = 99, lease_owner = 'gone:1:x', lease_expires_at = 0
      WHERE chunk_key = '2024-01-03T00:00:00Z/2024-01-04T00:00:00Z'`).run();
    db.close();
    const resumed = await runBackfill(job);
    expect(resumed.done).toBe(3);
    const rows = await query<{ n: string; ids: string }>(`ATTACH '${join(dir, 't.duckdb')}' AS t (READ_ONLY); SELECT count(*) AS n, count(DISTINCT id) AS ids FROM t.t`);
    expect(rows[rows.length - 1]).toEqual({ n: '5000', ids: '5000' });
  });

  it('stops taking chunks on SIGINT, lets in-flight chunks finish, and leaves nothing running', async () => {
    const dir = tempDir('sigint');
    await generateEvents({ dir: join(dir, 'data'), rows: 300_000, from: '2023-01-01', days: 120, threads: 1 });
    const file = writeJob(dir, 'job.yaml', `
name: sigint
source: { type: csv, path: data/*.csv*, pruneBy: filename }
chunk: { column: ts, every: 1 day }
target: { type: parquet, path: lake }
concurrency: 1
`);
    const child = startCli(['run', file, '--json']);
    let out = '';
    let started = false;
    const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    const threeDone = new Promise<void>((resolve) => {
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (!started && (out.match(/"chunk:done"/g) ?? []).length >= 3) {
          started = true;
          resolve();
        }
      });
    });
    await threeDone;
    // `status` reads the ledger while the run writes it.
    const during = JSON.parse((await runCli(['status', file, '--json'])).stdout) as { counts: { done: number }; runs: { status: string; alive: boolean }[] };
    expect(during.counts.done).toBeGreaterThanOrEqual(3);
    expect(during.runs[0]).toMatchObject({ status: 'running', alive: true });
    child.kill('SIGINT');
    const code = await closed;
    expect(code).toBe(130);
    expect(out).toContain('"run:stopping"');
    const result = JSON.parse(out.trim().split('\n').pop() as string) as { status: string; done: number; interrupted: number };
    expect(result.status).toBe('interrupted');
    expect(result.interrupted).toBeGreaterThan(0);
    const status = JSON.parse((await runCli(['status', file, '--json'])).stdout) as { counts: { running: number; done: number }; runs: { status: string }[] };
    expect(status.counts.running).toBe(0);
    expect(status.counts.done).toBe(result.done);
    expect(status.runs[0]?.status).toBe('interrupted');
    const resumed = await runCli(['run', file, '--json']);
    expect(resumed.code).toBe(0);
    const final = JSON.parse(resumed.stdout.trim().split('\n').pop() as string) as { done: number };
    expect(final.done + result.done).toBe(120);
  });
});
