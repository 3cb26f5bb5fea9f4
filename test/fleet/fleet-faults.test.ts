// Faults a fleet must survive, against the real Redis and PostgreSQL: a worker killed or frozen mid-chunk, Redis restarted (losing every queue job), the ledger's connections terminated.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeJob } from '../helpers/cli.js';
import { compareTables, dropQueue, fleetJob, freePort, freshDatabase, queueCounts, startJson, startRedis, writeHistory, type Proc } from '../helpers/fleet.js';
import { ensurePostgres, ensureRedis, pgQuery } from '../helpers/services.js';

const DAYS = 6;
const ROWS = 30_000;
const REDIS = 'redis://127.0.0.1:6379';
const tag = `fleet-faults-${process.pid}-${Date.now()}`;

let db: string;
let dir: string;
const procs: Proc[] = [];
const queues: string[] = [];

beforeAll(async () => {
  await ensurePostgres();
  await ensureRedis();
  db = await freshDatabase('fleet_faults');
  dir = tempDir('fleet-faults');
  writeHistory(dir, DAYS, ROWS);
  const ref = writeJob(dir, 'ref.yaml', fleetJob({ name: 'ref', db, table: 'ref', ledger: null, mode: 'append' }));
  const r = await runCli(['run', ref, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  for (const p of procs) await p.stop(5_000);
  for (const q of queues) await dropQueue(REDIS, q).catch(() => {});
});

/** Append mode: a chunk written twice would show as duplicate rows. Short stall and lease times so faults resolve quickly. */
function jobFile(name: string, queueUrl = REDIS): string {
  queues.push(`${tag}-${name}`);
  return writeJob(dir, `${name}.yaml`, fleetJob({ name, db, table: name, mode: 'append', extra: `queue: { url: "${queueUrl}", name: ${tag}-${name}, stalledAfter: 2s, lease: 3s }` }));
}

function start(args: string[]): Proc {
  const p = startJson(args);
  procs.push(p);
  return p;
}

interface Leased {
  key: string;
  token: number;
}

async function chunk(job: string, key: string): Promise<{ status: string; attempts: number; token: number; owner: string | null }> {
  const [r] = await pgQuery<{ status: string; attempts: number; fencing_token: string; lease_owner: string | null }>(
    'SELECT status, attempts, fencing_token, lease_owner FROM backfill.backfill_chunks WHERE job = $1 AND chunk_key = $2', [job, key], { url: db });
  return { status: r?.status ?? 'missing', attempts: Number(r?.attempts), token: Number(r?.fencing_token), owner: r?.lease_owner ?? null };
}

/** Freeze `worker` (SIGSTOP) at a moment it holds a chunk's lease; the chunk and its token. It is left frozen. */
async function freezeMidChunk(worker: Proc, job: string): Promise<Leased> {
  const tried = new Set<string>();
  for (;;) {
    const e = (await worker.waitFor((x) => x.event === 'chunk:start' && !tried.has((x.chunk as { key: string }).key))) as { chunk: { key: string } };
    tried.add(e.chunk.key);
    process.kill(worker.pid, 'SIGSTOP');
    const [held] = await pgQuery<{ chunk_key: string; fencing_token: string }>(
      "SELECT chunk_key, fencing_token FROM backfill.backfill_chunks WHERE job = $1 AND status = 'running' AND lease_owner LIKE $2",
      [job, `%:${worker.pid}:%`], { url: db });
    if (held !== undefined) return { key: held.chunk_key, token: Number(held.fencing_token) };
    process.kill(worker.pid, 'SIGCONT');
  }
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 200));
}

describe('a fleet under faults', () => {
  it('a worker killed with SIGKILL mid-chunk: the chunk is delivered again and redone; nothing lost or duplicated', async () => {
    const name = 'killed';
    const file = jobFile(name);
    const run = start(['run', file]);
    const a = start(['worker', file, '--concurrency', '1']);
    const b = start(['worker', file, '--concurrency', '1']);
    const held = await freezeMidChunk(a, name);
    process.kill(a.pid, 'SIGKILL');
    expect(await run.exited, run.stderr()).toBe(0);
    const after = await chunk(name, held.key);
    expect(after.status).toBe('done');
    expect(after.attempts).toBeGreaterThanOrEqual(2);
    expect(after.token).toBeGreaterThan(held.token);
    expect(await compareTables(db, 'ref', name)).toEqual({ rows: DAYS * ROWS, lost: 0, extra: 0, duplicateIds: 0 });
    expect(await b.stop()).toBe(0);
  }, 240_000);

  it('a worker frozen past its lease, its chunk taken over, then thawed: its late commit is refused by fencing', async () => {
    const name = 'frozen';
    const file = jobFile(name);
    const run = start(['run', file]);
    const a = start(['worker', file, '--concurrency', '1']);
    const held = await freezeMidChunk(a, name);
    const b = start(['worker', file, '--concurrency', '1']);
    // The queue delivers the frozen worker's chunk to the other one, which takes it over once the lease expires.
    await until(async () => (await chunk(name, held.key)).status === 'done');
    const taken = await chunk(name, held.key);
    expect(taken.token).toBeGreaterThan(held.token);
    process.kill(a.pid, 'SIGCONT');
    // The thawed worker finds its lease gone: its write is refused and its queue job ends without effect.
    const refused = await a.waitFor((e) => e.event === 'warning' && /lost the lease on chunk .*token \d+/.test(String(e.message)));
    expect(String(refused.message)).toContain(`token ${held.token}`);
    expect(await run.exited, run.stderr()).toBe(0);
    expect(await chunk(name, held.key)).toMatchObject({ status: 'done', token: taken.token });
    expect(await compareTables(db, 'ref', name)).toEqual({ rows: DAYS * ROWS, lost: 0, extra: 0, duplicateIds: 0 });
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  }, 240_000);

  it('Redis restarted mid-run without persistence (every queue job lost): the fleet resumes and completes', async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    const url = `redis://127.0.0.1:${port}`;
    const name = 'redis_restart';
    const file = jobFile(name, url);
    try {
      const run = start(['run', file]);
      const workers = [start(['worker', file, '--concurrency', '1']), start(['worker', file, '--concurrency', '1'])];
      await run.waitFor((e) => e.event === 'chunk:done');
      await redis.stop();
      redis = await startRedis(port);
      expect(await run.exited, run.stderr()).toBe(0);
      expect(await compareTables(db, 'ref', name)).toEqual({ rows: DAYS * ROWS, lost: 0, extra: 0, duplicateIds: 0 });
      // The restarted server started empty: the chunks it completed were enqueued again from the ledger.
      expect((await queueCounts(url, `${tag}-${name}`)).completed).toBeGreaterThan(0);
      for (const w of workers) expect(await w.stop()).toBe(0);
    } finally {
      await redis.stop();
    }
  }, 240_000);

  it("the ledger's connections terminated mid-run: the fleet resumes and completes", async () => {
    const name = 'ledger_cut';
    const file = jobFile(name);
    const run = start(['run', file]);
    const workers = [start(['worker', file, '--concurrency', '2']), start(['worker', file, '--concurrency', '2'])];
    await run.waitFor((e) => e.event === 'chunk:done');
    const cut = await pgQuery<{ ok: boolean }>(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'backfill-ledger' AND datname = 'fleet_faults'", [], { url: db });
    expect(cut.length).toBeGreaterThan(0);
    expect(await run.exited, run.stderr()).toBe(0);
    expect(await compareTables(db, 'ref', name)).toEqual({ rows: DAYS * ROWS, lost: 0, extra: 0, duplicateIds: 0 });
    for (const w of workers) expect(await w.stop()).toBe(0);
  }, 240_000);
});
