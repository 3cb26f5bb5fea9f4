// `backfill ui`: a read-only HTTP server for the page, its JSON API and a Server-Sent Events stream of ledger changes.

import { readFileSync, existsSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { UsageError } from '../core/errors.js';
import type { Job } from '../job/job.js';
import { checkAccess, isLoopbackHost, newToken, tokenCookie } from './access-guard.js';
import { JobWatcher, type ViewUpdate } from './job-watcher.js';

export interface DashboardOptions {
  /** The jobs shown, each with its file as the user named it. */
  readonly jobs: readonly { readonly job: Job; readonly file: string }[];
  /** Default 8787; 0 picks a free port (read it back from `url`). */
  readonly port?: number;
  /** Default 127.0.0.1. On any other address requests must carry the token. */
  readonly host?: string;
  /** The token to require off loopback; default a random one. */
  readonly token?: string;
  readonly pollMs?: number;
  readonly onError?: (message: string) => void;
}

export interface Dashboard {
  /** The address to open, with `?token=` when one is required. */
  readonly url: string;
  readonly port: number;
  /** Undefined on loopback. */
  readonly token: string | undefined;
  close(): Promise<void>;
}

/** Where `npm run build` puts the bundled page: dist/dashboard/page, reached from src/dashboard and dist/dashboard alike. */
const PAGE_DIR = new URL('../../dist/dashboard/page/', import.meta.url);
const ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const names = options.jobs.map((j) => j.job.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new UsageError(`two job files name the job "${twice}": the dashboard shows each job once`);
  if (!existsSync(new URL('index.html', PAGE_DIR))) throw new UsageError('the dashboard page is not built: run `npm run build`');
  const host = options.host ?? '127.0.0.1';
  const token = isLoopbackHost(host) ? undefined : (options.token ?? newToken());
  const watchers = new Map(options.jobs.map(({ job, file }) => [job.name, new JobWatcher(job, file, { pollMs: options.pollMs, onError: options.onError })]));
  const streams = new Set<ServerResponse>();
  const app = Fastify({ logger: false, forceCloseConnections: true });

  app.addHook('onRequest', async (request, reply) => {
    const verdict = checkAccess({ url: request.url, headers: request.headers }, token);
    if (!verdict.ok) return reply.code(verdict.status).type('text/plain; charset=utf-8').send(`${verdict.reason}\n`);
    if (verdict.setCookie && token !== undefined) void reply.header('set-cookie', tokenCookie(token));
    void reply.headers({
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
      'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
    });
    return undefined;
  });

  app.get('/', async (_request, reply) => reply.type(ASSETS['index.html'] as string).send(asset('index.html')));
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());
  app.get<{ Params: { file: string } }>('/assets/:file', async (request, reply) => {
    const type = ASSETS[request.params.file];
    if (type === undefined || request.params.file === 'index.html') return reply.code(404).send({ error: 'no such file' });
    return reply.type(type).send(asset(request.params.file));
  });

  app.get('/api/jobs', async () => {
    const views = await Promise.all([...watchers.values()].map((w) => w.current()));
    return views.map((v) => ({ job: v.summary.job, file: v.summary.file, counts: v.summary.status.counts }));
  });
  app.get<{ Params: { name: string } }>('/api/jobs/:name/status', async (request, reply) => {
    const watcher = watchers.get(request.params.name);
    if (watcher === undefined) return reply.code(404).send({ error: `no job "${request.params.name}" here` });
    return (await watcher.current()).summary.status;
  });
  app.get<{ Params: { name: string } }>('/api/jobs/:name/view', async (request, reply) => {
    const watcher = watchers.get(request.params.name);
    if (watcher === undefined) return reply.code(404).send({ error: `no job "${request.params.name}" here` });
    return watcher.current();
  });

  app.get('/api/events', (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 1000\n\n');
    const send = (update: ViewUpdate): void => {
      res.write(`event: ${update.type}\ndata: ${JSON.stringify(update)}\n\n`);
    };
    const offs = [...watchers.values()].map((w) => w.subscribe(send));
    // A comment now and then keeps proxies and idle timeouts from closing a quiet stream.
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000).unref();
    streams.add(res);
    request.raw.on('close', () => {
      clearInterval(ping);
      offs.forEach((off) => off());
      streams.delete(res);
    });
  });

  await Promise.all([...watchers.values()].map((w) => w.start()));
  try {
    await app.listen({ port: options.port ?? 8787, host });
  } catch (err) {
    await Promise.all([...watchers.values()].map((w) => w.close()));
    throw err;
  }
  const port = (app.server.address() as { port: number }).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shown}:${port}/${token === undefined ? '' : `?token=${token}`}`,
    port,
    token,
    close: () => (closing ??= closeAll(app, streams, watchers)),
  };
}

async function closeAll(app: FastifyInstance, streams: Set<ServerResponse>, watchers: Map<string, JobWatcher>): Promise<void> {
  for (const res of streams) res.end();
  streams.clear();
  await app.close();
  await Promise.all([...watchers.values()].map((w) => w.close()));
}

function asset(file: string): Buffer {
  return readFileSync(new URL(file, PAGE_DIR));
}
