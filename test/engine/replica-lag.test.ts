// maxReplicaLag against a real primary and streaming replica, both throwaway clusters made by this test (pg_basebackup):
// lag made by pausing replay on the replica, read from the primary (pg_stat_replication) and on the replica itself.
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, EventBus, runBackfill, type Job } from '../../src/index.js';
import type { ThrottleReason } from '../../src/core/throttle.js';
import { pauseJob, resumeJob } from '../../src/engine/limits/pause-job.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { pgQuery } from '../helpers/services.js';
import { startThrowawayPostgres, startThrowawayStandby, type ThrowawayPostgres } from '../helpers/throwaway-postgres.js';

const ROWS = 4000;
let primary: ThrowawayPostgres | undefined;
let standby: ThrowawayPostgres | undefined;
const urlOf = (server: ThrowawayPostgres | undefined, user = 'postgres'): string => `postgres://${user}@127.0.0.1:${server?.port ?? 0}/postgres`;
const onPrimary = (text: string): Promise<unknown[]> => pgQuery(text, [], { url: urlOf(primary) });
const onStandby = <T extends Record<string, unknown>>(text: string): Promise<T[]> => pgQuery<T>(text, [], { url: urlOf(standby) });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function until(test: () => Promise<boolean>): Promise<void> {
  while (!(await test())) await new Promise((resolve) => setTimeout(resolve, 100));
}

beforeAll(async () => {
  // The standby reports its replay position every second (the copy carries this setting to it).
  primary = startThrowawayPostgres(await freePort(), { settings: ['wal_level = replica', 'max_wal_senders = 5', 'wal_receiver_status_interval = 1s'] });
  await onPrimary(`CREATE TABLE events AS SELECT i AS id, 'row ' || i AS name FROM generate_series(0, ${ROWS - 1}) AS g(i)`);
  await onPrimary('CREATE INDEX ON events (id)');
  await onPrimary('CREATE TABLE churn (id serial, at timestamptz DEFAULT now())');
  await onPrimary('CREATE ROLE plain LOGIN');
  await onPrimary('GRANT SELECT ON events TO plain');
  standby = startThrowawayStandby(primary, await freePort());
  await until(async () => (await onStandby<{ n: string }>('SELECT count(*) AS n FROM events').catch(() => []))[0]?.n === String(ROWS));
}, 120_000);

afterAll(() => {
  standby?.stop();
  primary?.stop();
});

function job(dir: string, url: string): Job {
  return defineJob(
    {
      name: 'lag', source: { type: 'postgres', connection: url, table: 'events' }, chunk: { column: 'id', size: 500 },
      target: { type: 'duckdb', database: 't.duckdb', table: 't' }, concurrency: 1, limits: { maxReplicaLag: '1s', checkInterval: '200ms' },
    },
    { baseDir: dir },
  );
}

async function targetRows(dir: string): Promise<{ n: string; ids: string }> {
  const rows = await query<{ n: string; ids: string }>(`ATTACH '${join(dir, 't.duckdb')}' AS t (READ_ONLY); SELECT count(*) AS n, count(DISTINCT id) AS ids FROM t.t`);
  return rows[rows.length - 1] as { n: string; ids: string };
}

/**
 * Replay paused on the replica and WAL written after it: the run (held by the job's pause until the
 * lag shows, so no chunk can slip through first) is throttled by replica lag alone once the pause is
 * lifted, takes no chunk, and completes with every row once replay resumes.
 */
async function throttledUntilReplayResumes(url: string, detail: RegExp): Promise<void> {
  const dir = tempDir('replica-lag');
  const lagJob = job(dir, url);
  await onStandby('SELECT pg_wal_replay_pause()');
  await onPrimary("INSERT INTO churn (id) SELECT generate_series(1, 1000)");
  await pauseJob(lagJob);
  const events = new EventBus();
  const starts: ThrottleReason[][] = [];
  let chunksStarted = 0;
  let resolveLag: () => void = () => {};
  let resolveThrottled: () => void = () => {};
  const lagShown = new Promise<void>((resolve) => (resolveLag = resolve));
  const throttledOnly = new Promise<void>((resolve) => (resolveThrottled = resolve));
  events.on('chunk:start', () => chunksStarted++);
  events.on('throttle:start', (e) => {
    starts.push([...e.reasons]);
    if (e.reasons.some((r) => r.limit === 'maxReplicaLag')) resolveLag();
    if (e.state === 'throttled' && e.reasons.every((r) => r.limit === 'maxReplicaLag')) resolveThrottled();
  });
  const run = runBackfill(lagJob, { events });
  try {
    await lagShown;
    await resumeJob(lagJob);
    await throttledOnly;
    expect(chunksStarted).toBe(0);
    const lag = starts[starts.length - 1]?.[0];
    expect(lag).toMatchObject({ limit: 'maxReplicaLag', threshold: 1000 });
    expect(lag?.value).toBeGreaterThan(1000);
    expect(lag?.text).toMatch(/^replica lag \d+(\.\d)? s > 1 s \(/);
    expect(lag?.text).toMatch(detail);
  } finally {
    await onStandby('SELECT pg_wal_replay_resume()');
    await resumeJob(lagJob);
  }
  const result = await run;
  expect(result).toMatchObject({ status: 'done', done: 8, rowsWritten: ROWS });
  expect(result.limits?.throttledMs).toBeGreaterThan(0);
  expect(await targetRows(dir)).toEqual({ n: String(ROWS), ids: String(ROWS) });
}

describe('maxReplicaLag on PostgreSQL', () => {
  it('reading the primary: throttles on its replica stuck in replay (pg_stat_replication), completes after pg_wal_replay_resume()', async () => {
    await throttledUntilReplayResumes(urlOf(primary), /\(replica /);
  }, 120_000);

  it('reading the replica itself: throttles on its own replay lag, completes after pg_wal_replay_resume()', async () => {
    await throttledUntilReplayResumes(urlOf(standby), /\(this standby, now − pg_last_xact_replay_timestamp\(\)\)/);
  }, 120_000);

  it("refuses to start when the role cannot read the replicas' positions, saying which privilege it lacks", async () => {
    await expect(runBackfill(job(tempDir('replica-priv'), urlOf(primary, 'plain')))).rejects.toThrow(
      /limits\.maxReplicaLag cannot be checked on postgres source .*: .*the role cannot read the replicas' positions in pg_stat_replication .*pg_monitor or pg_read_all_stats/,
    );
  });
});
