// Database faults mid-run against a throwaway PostgreSQL cluster: a server restart, and the engine's own connections terminated.
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { pgQuery } from '../helpers/services.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, tempDir, writeJob } from '../helpers/cli.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../helpers/throwaway-postgres.js';

let server: ThrowawayPostgres;
let url: string;
let dir: string;

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

const job = (name: string, table: string, mode: string, connection = url): string => `
name: ${name}
source: { type: csv, path: data/e-*.csv, pruneBy: filename }
chunk: { column: ts, every: 1 day }
transform: select id, ts, v from source
target: { type: postgres, connection: "${connection}", table: public.${table}, create: true }
write: { mode: ${mode}${mode === 'merge' ? ', key: [id]' : ''} }
concurrency: 2
retries: { attempts: 30, backoff: 100ms, maxBackoff: 1s }
`;

function sql<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  return pgQuery<T>(text, [], { url });
}

/** Run the CLI; call `strike` once, at the first chunk done, while the other chunks are still to come. */
async function runWithFault(file: string, strike: () => Promise<number>): Promise<{ code: number | null; retries: number; struck: number; stderr: string }> {
  const child = startCli(['run', file, '--json']);
  let out = '';
  let stderr = '';
  let striking: Promise<number> | undefined;
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    if (striking === undefined && out.includes('"chunk:done"')) striking = strike();
  });
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  const struck = (await striking) ?? 0;
  const retries = out.split('\n').filter((l) => l.includes('"chunk:retry"')).length;
  return { code, retries, struck, stderr };
}

async function compare(table: string): Promise<{ rows: number; lost: number; extra: number; duplicateKeys: number }> {
  const [r] = await sql<{ rows: string; lost: string; extra: string; dup: string }>(`SELECT
    (SELECT count(*) FROM public.${table}) AS rows,
    (SELECT count(*) FROM (SELECT * FROM public.ref EXCEPT ALL SELECT * FROM public.${table}) x) AS lost,
    (SELECT count(*) FROM (SELECT * FROM public.${table} EXCEPT ALL SELECT * FROM public.ref) x) AS extra,
    (SELECT count(*) FROM (SELECT id FROM public.${table} GROUP BY id HAVING count(*) > 1) x) AS dup`);
  return { rows: Number(r?.rows), lost: Number(r?.lost), extra: Number(r?.extra), duplicateKeys: Number(r?.dup) };
}

/** The simple-query message `COMMIT` as the client sends it. */
const COMMIT = Buffer.from([0x51, 0, 0, 0, 11, ...Buffer.from('COMMIT\0')]);

/**
 * A TCP proxy to the cluster that loses the server's reply to the `cutAt`-th COMMIT: the
 * COMMIT reaches the server and commits, then both sides of that connection are cut.
 */
function commitReplyLosingProxy(port: number, cutAt: number): Promise<{ port: number; cuts: () => number; close: () => void }> {
  let commits = 0;
  let cuts = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    let cutting = false;
    client.on('data', (d: Buffer) => {
      if (!cutting && d.includes(COMMIT)) {
        commits += 1;
        if (commits === cutAt) {
          cutting = true;
          setTimeout(() => {
            cuts += 1;
            client.destroy();
            upstream.destroy();
          }, 300);
        }
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!cutting) client.write(d);
    });
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ port: (server.address() as net.AddressInfo).port, cuts: () => cuts, close: () => server.close() });
    });
  });
}

beforeAll(async () => {
  server = startThrowawayPostgres(await freePort());
  url = `postgres://postgres@127.0.0.1:${server.port}/postgres`;
  dir = tempDir('faults');
  mkdirSync(join(dir, 'data'));
  // 24 daily chunks of 100 rows: enough chunks still to come when the fault strikes.
  for (let d = 0; d < 24; d += 1) {
    const day = new Date(Date.UTC(2024, 0, 1 + d)).toISOString().slice(0, 10);
    const lines = Array.from({ length: 100 }, (_, i) => `${d * 1000 + i},${day} ${String(i % 24).padStart(2, '0')}:00:00,v${i}`);
    writeFileSync(join(dir, 'data', `e-${day}.csv`), `id,ts,v\n${lines.join('\n')}\n`);
  }
  const ref = await runCli(['run', writeJob(dir, 'ref.yaml', job('ref', 'ref', 'append'))]);
  expect(ref.code, ref.stderr).toBe(0);
}, 120_000);
afterAll(() => server?.stop());

describe('PostgreSQL target faults: the run retries and ends identical to a clean run', () => {
  for (const [mode, how] of [['append', 'fast'], ['replace', 'immediate'], ['merge', 'fast']] as const) {
    it(`the server restarted mid-run (pg_ctl restart -m ${how}), ${mode}`, async () => {
      const table = `restart_${mode}`;
      const file = writeJob(dir, `${table}.yaml`, job(table, table, mode));
      const res = await runWithFault(file, async () => {
        server.restart(how);
        return 1;
      });
      expect(res.code, res.stderr).toBe(0);
      expect(res.struck).toBe(1);
      expect(res.retries).toBeGreaterThan(0);
      expect(await compare(table)).toEqual({ rows: 2400, lost: 0, extra: 0, duplicateKeys: 0 });
    });
  }

  for (const mode of ['append', 'replace', 'merge'] as const) {
    it(`the engine's own connections terminated mid-chunk (pg_terminate_backend), ${mode}`, async () => {
      const table = `terminate_${mode}`;
      const file = writeJob(dir, `${table}.yaml`, job(table, table, mode));
      const res = await runWithFault(file, async () => {
        // Only this run's target connections: by application_name, in this throwaway cluster's database.
        let n = 0;
        for (let i = 0; i < 10; i += 1) {
          const rows = await sql<{ n: string }>(`SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
            WHERE application_name = 'backfill-target' AND datname = 'postgres'`).catch(() => [{ n: '0' }]);
          n += Number(rows[0]?.n ?? 0);
          await new Promise((r) => setTimeout(r, 20));
        }
        return n;
      });
      expect(res.code, res.stderr).toBe(0);
      expect(res.struck).toBeGreaterThan(0);
      expect(await compare(table)).toEqual({ rows: 2400, lost: 0, extra: 0, duplicateKeys: 0 });
    });
  }

  it('the reply to a COMMIT lost with its connection: the retry finds the commit marker and does not append the chunk twice', async () => {
    const proxy = await commitReplyLosingProxy(server.port, 3);
    try {
      const file = writeJob(dir, 'lost-commit.yaml', job('lost-commit', 'lost_commit', 'append', `postgres://postgres@127.0.0.1:${proxy.port}/postgres`));
      const res = await runCli(['run', file, '--json']);
      expect(res.code, res.stderr).toBe(0);
      expect(proxy.cuts()).toBe(1);
      expect(res.stdout).toMatch(/had committed although its attempt failed; recorded it as done/);
      expect(await compare('lost_commit')).toEqual({ rows: 2400, lost: 0, extra: 0, duplicateKeys: 0 });
    } finally {
      proxy.close();
    }
  });
});
