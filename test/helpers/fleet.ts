// Fleet tests: a database of their own, daily CSV history, worker processes followed by their JSON lines and stopped by pid, a throwaway Redis.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Queue, createPostgresBackend, withBackend } from 'bullmq';
import { BIN, startCli } from './cli.js';
import { pgQuery, POSTGRES_URL } from './services.js';

/** A fresh database on the tests' PostgreSQL; its URL. */
export async function freshDatabase(name: string): Promise<string> {
  await pgQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await pgQuery(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** `days` daily files `data/e-<day>.csv` from 2024-01-01, `rows` rows each, ids unique across files. */
export function writeHistory(dir: string, days: number, rows: number): number {
  mkdirSync(join(dir, 'data'), { recursive: true });
  let id = 0;
  for (let d = 0; d < days; d += 1) {
    const day = new Date(Date.UTC(2024, 0, 1 + d)).toISOString().slice(0, 10);
    const lines: string[] = [];
    for (let i = 0; i < rows; i += 1) {
      id += 1;
      const s = Math.floor((i * 86_400) / rows);
      const hh = String(Math.floor(s / 3600)).padStart(2, '0');
      const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
      const ss = String(s % 60).padStart(2, '0');
      lines.push(`${id},${day} ${hh}:${mm}:${ss},${(id * 7) % 1000},name-${id}`);
    }
    writeFileSync(join(dir, 'data', `e-${day}.csv`), `id,ts,v,label\n${lines.join('\n')}\n`);
  }
  return id;
}

/** A job over that history into `table` of `db`, its ledger there too; `extra` lines are appended (queue:, …). */
export function fleetJob(options: { name: string; db: string; table: string; mode?: string; ledger?: string | null; extra?: string }): string {
  const ledger = options.ledger === null ? '' : `ledger: "${options.ledger ?? options.db}"\n`;
  return `name: ${options.name}
source: { type: csv, path: data/e-*.csv, pruneBy: filename }
chunk: { column: ts, every: 1 day }
target: { type: postgres, connection: "${options.db}", table: public.${options.table}, create: true }
write: { mode: ${options.mode ?? 'replace'} }
backup: never
retries: { attempts: 5, backoff: 100ms, maxBackoff: 1s }
shutdownTimeout: 5s
${ledger}${options.extra ?? ''}
`;
}

/** Rows of `a` missing from `b`, rows of `b` not in `a` (as multisets), and ids held twice in `b`. */
export async function compareTables(db: string, a: string, b: string): Promise<{ rows: number; lost: number; extra: number; duplicateIds: number }> {
  const [r] = await pgQuery<{ rows: string; lost: string; extra: string; dup: string }>(`SELECT
    (SELECT count(*) FROM public.${b}) AS rows,
    (SELECT count(*) FROM (SELECT * FROM public.${a} EXCEPT ALL SELECT * FROM public.${b}) x) AS lost,
    (SELECT count(*) FROM (SELECT * FROM public.${b} EXCEPT ALL SELECT * FROM public.${a}) x) AS extra,
    (SELECT count(*) FROM (SELECT id FROM public.${b} GROUP BY id HAVING count(*) > 1) x) AS dup`, [], { url: db });
  return { rows: Number(r?.rows), lost: Number(r?.lost), extra: Number(r?.extra), duplicateIds: Number(r?.dup) };
}

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every stdout line so far, parsed when it is JSON. */
  readonly events: Record<string, unknown>[];
  stderr(): string;
  /** Resolve at the first event (already seen or to come) that `match` accepts. */
  waitFor(match: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  /** SIGTERM, then wait for the exit; SIGKILL if it is still there after `ms`. */
  stop(ms?: number): Promise<number | null>;
}

/** Start the CLI with `--json` (inside `netns` when given); its events collected as they arrive. */
export function startJson(args: readonly string[], options: { cwd?: string; env?: Record<string, string>; netns?: string } = {}): Proc {
  const child =
    options.netns === undefined
      ? startCli([...args, '--json'], options)
      : spawn('ip', ['netns', 'exec', options.netns, process.execPath, BIN, ...args, '--json'], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  const waiters: { match: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffer += d.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        e = { event: 'text', line };
      }
      events.push(e);
      for (const w of [...waiters]) if (w.match(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const proc: Proc = {
    child, pid: child.pid ?? -1, events, stderr: () => err, exited,
    waitFor(match) {
      const seen = events.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    async stop(ms = 30_000) {
      if (child.exitCode === null && child.signalCode === null) process.kill(proc.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(proc.pid, 'SIGKILL');
      }, ms);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  return proc;
}

function openTestQueue(url: string, name: string): Queue {
  const connection = url.startsWith('redis') ? { host: new URL(url).hostname, port: Number(new URL(url).port || 6379) } : { connectionString: url, migrate: true };
  const QueueClass = url.startsWith('redis') ? Queue : (withBackend(createPostgresBackend).Queue as unknown as typeof Queue);
  return new QueueClass(name, { connection, prefix: 'backfill' });
}

/** Queue jobs by state, read with BullMQ itself. */
export async function queueCounts(url: string, name: string): Promise<Record<string, number>> {
  const queue = openTestQueue(url, name);
  try {
    return await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
  } finally {
    await queue.close();
  }
}

/** When each completed queue job started on a worker (epoch ms), in order. */
export async function jobStarts(url: string, name: string): Promise<number[]> {
  const queue = openTestQueue(url, name);
  try {
    return (await queue.getJobs(['completed'])).map((j) => j.processedOn ?? 0).sort((a, b) => a - b);
  } finally {
    await queue.close();
  }
}

/** The data of every waiting queue job. */
export async function queuedJobs(url: string, name: string): Promise<Record<string, unknown>[]> {
  const queue = openTestQueue(url, name);
  try {
    return (await queue.getJobs(['waiting', 'prioritized'])).map((j) => j.data as Record<string, unknown>);
  } finally {
    await queue.close();
  }
}

/** Remove a test's queue and everything in it (the shared Redis outlives the test). */
export async function dropQueue(url: string, name: string): Promise<void> {
  const queue = openTestQueue(url, name);
  try {
    await queue.obliterate({ force: true });
  } finally {
    await queue.close();
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A redis-server of the test's own on `port`, without persistence: a restart loses every queue job. */
export async function startRedis(port: number): Promise<{ pid: number; stop(): Promise<void> }> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  for (let i = 0; i < 200 && !(await portOpen(port)); i += 1) await new Promise((r) => setTimeout(r, 50));
  return {
    pid: child.pid ?? -1,
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      await exited;
    },
  };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
