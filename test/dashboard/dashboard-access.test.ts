// `backfill ui` off loopback asks for its token; no page or API shows a secret; the API's status is `status --json`'s document.

import type { ChildProcess } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeJob } from '../helpers/cli.js';
import { ensurePostgres, pgQuery } from '../helpers/services.js';
import { openBrowser } from './browser.js';
import { eventsFolder, eventsJob, exitOf, startUi } from './dashboard-fixture.js';

const SECRET = 'hunter2-not-for-pages';
// The tests' PostgreSQL trusts local connections: the password is carried, never checked.
const LEDGER = `postgres://postgres:${SECRET}@127.0.0.1:5432/test?schema=backfill_ui_access`;
const JOB = 'ui-access';

describe('backfill ui: token and secrets', () => {
  let dir: string;
  let ui: { child: ChildProcess; url: string };
  let base: string;
  let token: string;

  beforeAll(async () => {
    await ensurePostgres();
    await pgQuery('DROP SCHEMA IF EXISTS backfill_ui_access CASCADE');
    dir = await eventsFolder('ui-access');
    // A chunk fails with an error that quotes a URL with the password.
    eventsJob(dir, {
      name: JOB,
      transform: `select *, strftime(ts, '%Y-%m') as month, case when ts >= TIMESTAMP '2023-02-06' then error('cannot reach postgres://loader:${SECRET}@db.internal/dw') end as c from source`,
      extra: `ledger: ${LEDGER}\nretries: { attempts: 1 }\nmaxRejects: 10`,
    });
    // A line whose time cannot be read, in the second week: set aside as a rejected row.
    const plain = readdirSync(join(dir, 'data')).find((f) => /^events-2023-01-1[0-5]\.csv$/.test(f)) as string;
    appendFileSync(join(dir, 'data', plain), '999999,not-a-time,1,click,,US,web,bad\n');
    const run = await runCli(['run', 'job.yaml'], { cwd: dir });
    expect(run.code).toBe(1);
    // 127.0.0.2 is loopback too, but not one of the addresses served without a token.
    ui = await startUi(dir, ['job.yaml', '--host', '127.0.0.2']);
    const url = new URL(ui.url);
    token = url.searchParams.get('token') ?? '';
    base = `${url.protocol}//${url.host}`;
  });

  afterAll(async () => {
    if (ui !== undefined && ui.child.exitCode === null) {
      ui.child.kill('SIGTERM');
      await exitOf(ui.child);
    }
    await pgQuery('DROP SCHEMA IF EXISTS backfill_ui_access CASCADE');
  });

  it('prints a token and refuses requests without it or with a wrong one', async () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    for (const path of ['/', '/api/jobs', `/api/jobs/${JOB}/status`, '/api/events', '/assets/app.js']) {
      const response = await fetch(`${base}${path}`);
      expect(response.status, path).toBe(401);
      expect(await response.text()).not.toContain(JOB);
    }
    expect((await fetch(`${base}/api/jobs?token=wrong${token.slice(5)}`)).status).toBe(401);
    expect((await fetch(`${base}/api/jobs`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
  });

  it('accepts the token in the address, as a bearer, or as the cookie the page gets', async () => {
    const first = await fetch(`${base}/?token=${token}`);
    expect(first.status).toBe(200);
    const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    expect(cookie).toBe(`backfill_token=${token}`);
    expect(first.headers.get('set-cookie')).toContain('HttpOnly');
    expect((await fetch(`${base}/api/jobs`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const jobs = (await (await fetch(`${base}/api/jobs`, { headers: { cookie } })).json()) as { job: string }[];
    expect(jobs.map((j) => j.job)).toEqual([JOB]);
  });

  it('serves the status document `status --json` prints, with no secret anywhere', async () => {
    const auth = { headers: { authorization: `Bearer ${token}` } };
    const api = await (await fetch(`${base}/api/jobs/${JOB}/status`, auth)).text();
    const cli = await runCli(['status', 'job.yaml', '--json'], { cwd: dir });
    expect(JSON.parse(api)).toEqual(JSON.parse(cli.stdout));
    expect((JSON.parse(api) as { ledger: string }).ledger).toContain('postgres://postgres:***@127.0.0.1');

    const view = await (await fetch(`${base}/api/jobs/${JOB}/view`, auth)).text();
    expect(view).toContain('"status":"failed"');
    const page = await (await fetch(`${base}/`, auth)).text();
    const events = await firstEvent(`${base}/api/events`, token);
    expect(events).toContain('event: snapshot');
    for (const [name, text] of Object.entries({ api, view, page, events })) expect(text, name).not.toContain(SECRET);
    expect((await fetch(`${base}/api/jobs/nope/status`, auth)).status).toBe(404);
  });

  it('shows the page in a browser opened at the printed address, with no secret in it', async () => {
    const browser = await openBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(ui.url);
      await page.waitForSelector('[data-testid="heatmap"] [data-status="failed"]', { timeout: 30_000 });
      // The token left the address bar once the cookie was set.
      expect(page.url()).not.toContain(token);
      await page.hover('[data-testid="heatmap"] [data-status="failed"]');
      const text = (await page.locator('body').innerText()) + (await page.content());
      expect(text).toContain('postgres://loader:***@db.internal/dw');
      // The rejected row: its chunk ringed on the map, listed with the file that keeps it.
      const week2 = '2023-01-09T00:00:00Z/2023-01-16T00:00:00Z';
      expect(await page.locator(`[data-testid="heatmap"] [data-key="${week2}"]`).getAttribute('class')).toContain('rej');
      const rejects = (await page.locator('[data-testid="rejects"]').textContent()) ?? '';
      expect(rejects).toContain('Rejected rows (1 chunk)');
      expect(rejects).toContain(week2);
      expect(rejects).toMatch(/\.jsonl/);
      await page.hover(`[data-testid="heatmap"] [data-key="${week2}"]`);
      expect(await page.locator('#tip').textContent()).toMatch(/read = [\d,]+ written \+ 1 rejected/);
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(token);
    } finally {
      await browser.close();
    }
  });

  it('shows several jobs; on loopback needs no token but refuses a request naming another host', async () => {
    writeFileSync(join(dir, 'second.yaml'), readFileSync(join(dir, 'job.yaml'), 'utf8').replace(`name: ${JOB}`, 'name: second').replace(/^ledger: .*$/m, ''));
    const local = await startUi(dir, ['job.yaml', 'second.yaml']);
    try {
      const url = new URL(local.url);
      expect(url.search).toBe('');
      const jobs = (await (await fetch(`${url.origin}/api/jobs`)).json()) as { job: string; counts: { total: number } }[];
      expect(jobs.map((j) => [j.job, j.counts.total])).toEqual([[JOB, 6], ['second', 0]]);
      // A job that never ran: the same stub `status --json` prints.
      const never = await runCli(['status', 'second.yaml', '--json'], { cwd: dir });
      expect(await (await fetch(`${url.origin}/api/jobs/second/status`)).json()).toEqual(JSON.parse(never.stdout));
      // fetch() will not send another Host header; node:http will, as a browser does for a DNS name pointed at 127.0.0.1.
      expect(await statusWithHost(url, `attacker.example:${url.port}`)).toBe(403);
      expect(await statusWithHost(url, `localhost:${url.port}`)).toBe(200);
    } finally {
      local.child.kill('SIGTERM');
      expect(await exitOf(local.child)).toBe(0);
    }
  });
});

describe('backfill ui arguments', () => {
  it('refuses two files naming the same job', async () => {
    const dir = tempDir('ui-twice');
    writeJob(dir, 'a.yaml', 'name: same\nsource: { type: csv, path: a.csv }\nchunk: { column: ts, every: 1 day }\ntarget: { type: parquet, path: lake }\n');
    writeJob(dir, 'b.yaml', 'name: same\nsource: { type: csv, path: b.csv }\nchunk: { column: ts, every: 1 day }\ntarget: { type: parquet, path: lake2 }\n');
    const r = await runCli(['ui', 'a.yaml', 'b.yaml', '--port', '0'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('two job files name the job "same"');
  });
});

function statusWithHost(url: URL, host: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: '/api/jobs', headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The stream's first event, then hang up. */
async function firstEvent(url: string, token: string): Promise<string> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  while (!/\n\n[^]*\n\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  controller.abort();
  return text;
}
