// A fleet over both of BullMQ's backends, against the real Redis and PostgreSQL: workers complete a job exactly as one process does, enqueueing twice adds nothing, a SQLite ledger is refused.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeJob } from '../helpers/cli.js';
import { compareTables, dropQueue, fleetJob, freshDatabase, queueCounts, queuedJobs, startJson, writeHistory, type Proc } from '../helpers/fleet.js';
import { ensurePostgres, ensureRedis, pgQuery } from '../helpers/services.js';

const DAYS = 8;
const REDIS = 'redis://127.0.0.1:6379';
// Queue names of this file, unique per run: the shared Redis outlives the test.
const tag = `fleet-basic-${process.pid}-${Date.now()}`;

let db: string;
let dir: string;
const workers: Proc[] = [];

beforeAll(async () => {
  await ensurePostgres();
  await ensureRedis();
  db = await freshDatabase('fleet_basic');
  dir = tempDir('fleet-basic');
  writeHistory(dir, DAYS, 4000);
  // The single-process run every fleet's rows are compared with: no queue, the embedded ledger.
  const ref = writeJob(dir, 'ref.yaml', fleetJob({ name: 'ref', db, table: 'ref', ledger: null }));
  const r = await runCli(['run', ref, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  for (const w of workers) await w.stop();
  for (const name of ['two_redis', 'twice_redis', 'interrupted', 'one_bad', 'secrets']) await dropQueue(REDIS, `${tag}-${name}`);
});

function startWorker(file: string, ...args: string[]): Proc {
  const w = startJson(['worker', file, ...args]);
  workers.push(w);
  return w;
}

describe.each([
  ['redis', () => REDIS],
  ['postgres', () => db],
])('a fleet on %s', (backend, queueUrl) => {
  it('two workers complete the job; its rows equal the single-process run, row for row', async () => {
    const name = `two_${backend}`;
    const file = writeJob(dir, `${name}.yaml`, fleetJob({ name, db, table: name, extra: `queue: { url: "${queueUrl()}", name: ${tag}-${name}, stalledAfter: 5s }` }));
    const a = startWorker(file, '--concurrency', '2');
    const b = startWorker(file, '--concurrency', '2');
    const run = await runCli(['run', file, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { done: number; failed: number; status: string };
    expect(result).toMatchObject({ status: 'done', done: DAYS, failed: 0 });
    expect(await compareTables(db, 'ref', name)).toEqual({ rows: DAYS * 4000, lost: 0, extra: 0, duplicateIds: 0 });

    // status: each worker with its host, pid and heartbeat; the queue's counts.
    const status = await runCli(['status', file, '--json']);
    const fleet = (JSON.parse(status.stdout) as { fleet: { workers: { pid: number; host: string; heartbeatAt: number | null; inFlight: number }[]; queued: Record<string, number> } }).fleet;
    expect(fleet.workers.map((w) => w.pid).sort()).toEqual([a.pid, b.pid].sort());
    expect(fleet.workers.every((w) => w.host.length > 0 && w.inFlight === 0)).toBe(true);
    expect(fleet.queued).toMatchObject({ waiting: 0, active: 0, completed: DAYS, failed: 0 });

    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
    const done = [a, b].map((w) => (w.events.find((e) => e.event === 'result') as { chunks: { done: number } }).chunks.done);
    expect((done[0] ?? 0) + (done[1] ?? 0)).toBe(DAYS);
  }, 180_000);

  it('enqueueing the same chunks twice adds nothing; a run that follows them finishes them', async () => {
    const name = `twice_${backend}`;
    const queueName = `${tag}-${name}`;
    const file = writeJob(dir, `${name}.yaml`, fleetJob({ name, db, table: name, extra: `queue: { url: "${queueUrl()}", name: ${queueName} }` }));
    for (let i = 0; i < 2; i += 1) {
      const r = await runCli(['run', file, '--detach']);
      expect(r.code, r.stderr).toBe(0);
      const counts = await queueCounts(queueUrl(), queueName);
      expect((counts.waiting ?? 0) + (counts.prioritized ?? 0)).toBe(DAYS);
    }
    const w = startWorker(file);
    const run = await runCli(['run', file, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(await compareTables(db, 'ref', name)).toEqual({ rows: DAYS * 4000, lost: 0, extra: 0, duplicateIds: 0 });
    // Nothing is left waiting or failed. A busy machine can make the run's reconciliation hand a chunk out once more;
    // that delivery finds the chunk done in the ledger and ends without effect (the rows above are exact).
    const counts = await queueCounts(queueUrl(), queueName);
    expect(counts).toMatchObject({ waiting: 0, active: 0, failed: 0 });
    expect(counts.completed).toBeGreaterThanOrEqual(DAYS);
    expect(await w.stop()).toBe(0);
  }, 180_000);
});

describe('a fleet started and stopped from one command', () => {
  it('run --workers 2 starts two local workers, finishes the job and stops them', async () => {
    const name = 'local_workers';
    const file = writeJob(dir, `${name}.yaml`, fleetJob({ name, db, table: name }));
    const run = await runCli(['run', file, '--queue', REDIS, '--workers', '2', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(await compareTables(db, 'ref', name)).toEqual({ rows: DAYS * 4000, lost: 0, extra: 0, duplicateIds: 0 });
    // Both workers ran as records of their own in the ledger, and both are finished now.
    const status = JSON.parse((await runCli(['status', file, '--queue', REDIS, '--json'])).stdout) as { runs: { options: string | null; status: string }[]; fleet: { workers: unknown[] } };
    const workerRuns = status.runs.filter((r) => (r.options ?? '').includes('"worker":true'));
    expect(workerRuns.map((r) => r.status)).toEqual(['done', 'done']);
    expect(status.fleet.workers).toEqual([]);
    // --restate: every chunk again, under the next generation's queue ids.
    const again = await runCli(['run', file, '--queue', REDIS, '--workers', '1', '--restate', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout.trim().split('\n').at(-1) ?? '{}')).toMatchObject({ status: 'done', done: DAYS });
    expect(await compareTables(db, 'ref', name)).toEqual({ rows: DAYS * 4000, lost: 0, extra: 0, duplicateIds: 0 });
    expect(await queueCounts(REDIS, name)).toMatchObject({ completed: 2 * DAYS, failed: 0 });
    await dropQueue(REDIS, name);
  }, 180_000);

  it('Ctrl-C on the run stops enqueueing: what waits in the queue is withdrawn, chunks in flight finish, the ledger holds none running', async () => {
    const name = 'interrupted';
    const queueName = `${tag}-${name}`;
    const file = writeJob(dir, `${name}.yaml`, fleetJob({ name, db, table: name, extra: `queue: { url: "${REDIS}", name: ${queueName} }` }));
    const w = startWorker(file, '--concurrency', '1');
    const run = startJson(['run', file]);
    await run.waitFor((e) => e.event === 'chunk:done');
    process.kill(run.pid, 'SIGINT');
    expect(await run.exited).toBe(130);
    const result = run.events.find((e) => e.event === 'result') as { status: string; done: number; interrupted: number };
    expect(result.status).toBe('interrupted');
    expect(result.done).toBeGreaterThan(0);
    expect(result.done + result.interrupted).toBe(DAYS);
    const counts = await queueCounts(REDIS, queueName);
    expect((counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.active ?? 0)).toBe(0);
    const running = await pgQuery<{ n: string }>("SELECT count(*) AS n FROM backfill.backfill_chunks WHERE job = $1 AND status = 'running'", [name], { url: db });
    expect(Number(running[0]?.n)).toBe(0);
    expect(await w.stop()).toBe(0);
    // A later run finishes what is left, and the rows are exactly the single-process run's.
    const again = await runCli(['run', file, '--workers', '1', '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    expect(await compareTables(db, 'ref', name)).toEqual({ rows: DAYS * 4000, lost: 0, extra: 0, duplicateIds: 0 });
  }, 180_000);
});

describe('a chunk that fails for good', () => {
  it('is reported failed by the run, which exits 1 once the others are done', async () => {
    const name = 'one_bad';
    const queueName = `${tag}-${name}`;
    const bad = tempDir('fleet-bad');
    writeHistory(bad, 3, 100);
    // A malformed line (one field too many): with maxRejects 0 the second day's chunk fails, every attempt.
    appendFileSync(join(bad, 'data', 'e-2024-01-02.csv'), '999999,2024-01-02 23:59:59,1,x,one field too many\n');
    const file = writeJob(bad, `${name}.yaml`, fleetJob({ name, db, table: name, extra: `queue: { url: "${REDIS}", name: ${queueName} }\nretries: { attempts: 2, backoff: 10ms, maxBackoff: 10ms }` }).replace(/^retries: .*$\n/m, ''));
    const w = startWorker(file);
    const run = await runCli(['run', file, '--json']);
    expect(run.code, run.stderr).toBe(1);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { status: string; done: number; failed: number; chunks: { key: string; outcome: string }[] };
    expect(result).toMatchObject({ status: 'failed', done: 2, failed: 1 });
    expect(result.chunks.find((c) => c.outcome === 'failed')?.key).toBe('2024-01-02T00:00:00Z/2024-01-03T00:00:00Z');
    expect(await w.stop()).toBe(0);
    await dropQueue(REDIS, queueName);
  }, 120_000);
});

describe('what a queue job carries', () => {
  it("the job file's text before ${VAR} interpolation and the chunk's identity: no resolved secret, no rows", async () => {
    const name = 'secrets';
    const queueName = `${tag}-${name}`;
    const secret = db;
    const text = fleetJob({ name, db: '${FLEET_SECRET_URL}', table: name, extra: `queue: { url: "${REDIS}", name: ${queueName} }` });
    const file = writeJob(dir, `${name}.yaml`, text);
    const r = await runCli(['run', file, '--detach'], { env: { FLEET_SECRET_URL: secret } });
    expect(r.code, r.stderr).toBe(0);
    const jobs = await queuedJobs(REDIS, queueName);
    expect(jobs).toHaveLength(DAYS);
    for (const data of jobs) {
      expect(JSON.stringify(data)).not.toContain(secret);
      expect(data).toMatchObject({ job: name, spec: text, generation: 0 });
      expect(Object.keys(data).sort()).toEqual(['chunk', 'enqueuedAt', 'generation', 'job', 'runId', 'spec']);
    }
    await dropQueue(REDIS, queueName);
  }, 60_000);
});

describe('a queue with an embedded ledger', () => {
  it('is refused with the reason, in the job and on the command line', async () => {
    const inJob = writeJob(dir, 'sqlite-queue.yaml', fleetJob({ name: 'sq', db, table: 'sq', ledger: null, extra: `queue: ${REDIS}` }));
    for (const args of [['run', inJob], ['worker', inJob], ['run', writeJob(dir, 'sqlite.yaml', fleetJob({ name: 'sq2', db, table: 'sq2', ledger: null })), '--queue', REDIS]]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/queue: a fleet needs a PostgreSQL ledger .*other hosts cannot see an embedded SQLite ledger/);
    }
  });
});
