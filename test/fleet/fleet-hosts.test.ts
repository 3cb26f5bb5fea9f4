// Several hosts: workers in network namespaces reach a Redis and a PostgreSQL that the test starts on the veth addresses; one host's link is cut mid-chunk and restored. The rows equal a single-process run's.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeJob } from '../helpers/cli.js';
import { compareTables, fleetJob, freePort, startJson, writeHistory, type Proc } from '../helpers/fleet.js';
import { createHosts, type Host } from '../helpers/netns.js';
import { pgQuery } from '../helpers/services.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../helpers/throwaway-postgres.js';

const DAYS = 8;
const ROWS = 30_000;
const tag = `bf${process.pid % 10_000}`;

let hosts: Host[];
let removeHosts: () => void = () => {};
let server: ThrowawayPostgres | undefined;
let redis: { pid: number; stop(): Promise<void> } | undefined;
let dir: string;
let pgPort: number;
let redisPort: number;
const procs: Proc[] = [];

/** The database as a host at `gateway` reaches it. */
const dbAt = (gateway: string): string => `postgres://postgres@${gateway}:${pgPort}/postgres`;

beforeAll(async () => {
  ({ hosts, remove: removeHosts } = createHosts(tag, 2));
  const gateways = hosts.map((h) => h.gateway);
  pgPort = await freePort();
  server = startThrowawayPostgres(pgPort, { settings: [`listen_addresses = '${['127.0.0.1', ...gateways].join(',')}'`] });
  appendFileSync(join(server.dir, 'data', 'pg_hba.conf'), '\nhost all all 10.231.0.0/16 trust\n');
  await pgQuery('SELECT pg_reload_conf()', [], { url: dbAt('127.0.0.1') });
  redisPort = await freePort();
  const child = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', ...gateways, '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  redis = { pid: child.pid ?? -1, stop: async () => { if (child.exitCode === null && child.signalCode === null) process.kill(child.pid ?? -1, 'SIGKILL'); await exited; } };
  dir = tempDir('fleet-hosts');
  writeHistory(dir, DAYS, ROWS);
  const ref = writeJob(dir, 'ref.yaml', fleetJob({ name: 'ref', db: dbAt('127.0.0.1'), table: 'ref', mode: 'append', ledger: null }));
  const r = await runCli(['run', ref, '--quiet']);
  expect(r.code, r.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  for (const p of procs) await p.stop(5_000);
  await redis?.stop();
  server?.stop();
  removeHosts();
});

async function chunk(key: string): Promise<{ status: string; token: number }> {
  const [r] = await pgQuery<{ status: string; fencing_token: string }>(
    'SELECT status, fencing_token FROM backfill.backfill_chunks WHERE job = $1 AND chunk_key = $2', ['hosts', key], { url: dbAt('127.0.0.1') });
  return { status: r?.status ?? 'missing', token: Number(r?.fencing_token) };
}

describe('a fleet on two hosts', () => {
  it("one host's link cut while it holds a chunk, then restored: the other host takes the chunk over; rows equal the single-process run", async () => {
    // Each host resolves the job's ${VARS} from its own environment: its own way to the services.
    const text = fleetJob({
      name: 'hosts', db: 'postgres://postgres@${FLEET_GATEWAY}:' + String(pgPort) + '/postgres', table: 'hosts', mode: 'append',
      extra: `queue: { url: "redis://\${FLEET_GATEWAY}:${redisPort}", name: hosts, stalledAfter: 2s, lease: 3s }`,
    });
    const file = writeJob(dir, 'hosts.yaml', text);
    const [h1, h2] = hosts as [Host, Host];
    const start = (host: Host): Proc => {
      const p = startJson(['worker', file, '--concurrency', '1'], { netns: host.ns, env: { FLEET_GATEWAY: host.gateway } });
      procs.push(p);
      return p;
    };
    const w1 = start(h1);
    const w2 = start(h2);
    // The run stays on this machine, which reaches the services on its loopback whatever happens to the hosts' links.
    const run = startJson(['run', file], { env: { FLEET_GATEWAY: '127.0.0.1' } });
    procs.push(run);

    // Cut host 1 off at a moment it holds a chunk's lease.
    let held: { key: string; token: number } | undefined;
    const tried = new Set<string>();
    while (held === undefined) {
      const e = (await w1.waitFor((x) => x.event === 'chunk:start' && !tried.has((x.chunk as { key: string }).key))) as { chunk: { key: string } };
      tried.add(e.chunk.key);
      h1.link(false);
      const [row] = await pgQuery<{ chunk_key: string; fencing_token: string }>(
        "SELECT chunk_key, fencing_token FROM backfill.backfill_chunks WHERE job = 'hosts' AND status = 'running' AND lease_owner LIKE $1",
        [`%:${w1.pid}:%`], { url: dbAt('127.0.0.1') });
      if (row !== undefined) held = { key: row.chunk_key, token: Number(row.fencing_token) };
      else h1.link(true);
    }
    // Host 2 gets the chunk again from the queue and takes it over once host 1's lease expires.
    while ((await chunk(held.key)).status !== 'done') await new Promise((r) => setTimeout(r, 200));
    expect((await chunk(held.key)).token).toBeGreaterThan(held.token);
    h1.link(true);

    expect(await run.exited, run.stderr()).toBe(0);
    expect(await compareTables(dbAt('127.0.0.1'), 'ref', 'hosts')).toEqual({ rows: DAYS * ROWS, lost: 0, extra: 0, duplicateIds: 0 });
    // Host 1, back on the network, gave up the chunk it had lost: its token was refused.
    const lost = `lost the lease on chunk ${held.key} (token ${held.token})`;
    await w1.waitFor((e) => e.event === 'warning' && String(e.message).includes(lost));
    expect(await w1.stop()).toBe(0);
    expect(await w2.stop()).toBe(0);
  }, 300_000);
});
