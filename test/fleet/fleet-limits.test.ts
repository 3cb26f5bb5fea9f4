// Fleet-wide limits live in the queue, above each worker's own concurrency: chunks in flight across the fleet, and chunks started per time unit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeJob } from '../helpers/cli.js';
import { dropQueue, fleetJob, freshDatabase, jobStarts, startJson, writeHistory, type Proc } from '../helpers/fleet.js';
import { ensurePostgres, ensureRedis, pgQuery } from '../helpers/services.js';

const DAYS = 6;
const REDIS = 'redis://127.0.0.1:6379';
const tag = `fleet-limits-${process.pid}-${Date.now()}`;

let db: string;
let dir: string;
const procs: Proc[] = [];

beforeAll(async () => {
  await ensurePostgres();
  await ensureRedis();
  db = await freshDatabase('fleet_limits');
  dir = tempDir('fleet-limits');
  writeHistory(dir, DAYS, 2000);
}, 60_000);

afterAll(async () => {
  for (const p of procs) await p.stop(5_000);
  for (const name of ['in_flight_redis', 'rate_redis']) await dropQueue(REDIS, `${tag}-${name}`).catch(() => {});
});

/** Each chunk's claim and completion as the ledger stamped them, in claim order. */
async function spans(job: string): Promise<{ start: number; end: number }[]> {
  const rows = await pgQuery<{ started_at: string; finished_at: string }>(
    "SELECT started_at, finished_at FROM backfill.backfill_chunks WHERE job = $1 AND status = 'done' ORDER BY started_at", [job], { url: db });
  return rows.map((r) => ({ start: Number(r.started_at), end: Number(r.finished_at) }));
}

/** Two workers of two chunks each under the job's queue limits; the run's exit code. */
async function runFleet(name: string, queueUrl: string, limits: string): Promise<void> {
  const file = writeJob(dir, `${name}.yaml`, fleetJob({ name, db, table: name, extra: `queue: { url: "${queueUrl}", name: ${tag}-${name}, ${limits} }` }));
  const workers = [startJson(['worker', file, '--concurrency', '2']), startJson(['worker', file, '--concurrency', '2'])];
  procs.push(...workers);
  const run = await runCli(['run', file, '--quiet']);
  expect(run.code, run.stderr).toBe(0);
  for (const w of workers) expect(await w.stop()).toBe(0);
}

describe('fleet-wide limits', () => {
  it.each([
    ['redis', () => REDIS],
    ['postgres', () => db],
  ])('inFlight: 1 on %s: four worker slots, yet no two chunks ever overlap', async (backend, url) => {
    const name = `in_flight_${backend}`;
    await runFleet(name, url(), 'inFlight: 1');
    const s = await spans(name);
    expect(s).toHaveLength(DAYS);
    for (let i = 1; i < s.length; i += 1) expect(s[i]?.start).toBeGreaterThanOrEqual(s[i - 1]?.end ?? Infinity);
  }, 120_000);

  it('rate: 2 chunks per second across the fleet: six chunks cannot all start within two seconds', async () => {
    const name = 'rate_redis';
    await runFleet(name, REDIS, 'rate: { max: 2, per: 1s }');
    // Starts as the queue saw them (a worker takes a job, then claims its chunk in the ledger).
    const starts = await jobStarts(REDIS, `${tag}-${name}`);
    expect(starts).toHaveLength(DAYS);
    // A limit only ever slows the fleet down: whatever the machine's speed, the last start is at least two windows after the first.
    expect((starts.at(-1) ?? 0) - (starts[0] ?? 0)).toBeGreaterThanOrEqual(2 * 1000 - 50);
  }, 120_000);
});
