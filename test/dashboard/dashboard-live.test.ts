// `backfill ui` in a real browser: a run's chunks turn done on the open page while it goes, without a reload; a failed chunk shows its error and the command that retries it.

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { runCli, startCli, writeJob } from '../helpers/cli.js';
import { openBrowser } from './browser.js';
import { eventsFolder, eventsJob, exitOf, startUi, waitForOutput } from './dashboard-fixture.js';

const FAILING = `select *, strftime(ts, '%Y-%m') as month,
    case when ts >= TIMESTAMP '2023-01-30' and ts < TIMESTAMP '2023-02-06' then error('bad rows in week 5') end as check_
  from source`;
const FIXED = `select *, strftime(ts, '%Y-%m') as month, null as check_ from source`;
const WEEK5 = '2023-01-30T00:00:00Z/2023-02-06T00:00:00Z';

describe('backfill ui in a browser', () => {
  let dir: string;
  let browser: BrowserContext;
  let page: Page;
  let ui: { child: ChildProcess; url: string };

  beforeAll(async () => {
    dir = await eventsFolder('ui-live');
    eventsJob(dir, { name: 'weekly', transform: FAILING, extra: 'concurrency: 1\nretries: { attempts: 1 }' });
    // The first week only: the ledger then knows all six chunks, one done.
    const first = await runCli(['run', 'job.yaml', '--to', '2023-01-09'], { cwd: dir });
    expect(first.code).toBe(0);
    // A second job, in key ranges of event_id: shown as a strip, in a tab of its own.
    writeJob(dir, 'keys.yaml', 'name: by-key\nsource: { type: csv, path: data/events-*.csv* }\nchunk: { column: event_id, size: 5000 }\ntarget: { type: parquet, path: lake-keys }\nwrite: { mode: replace }\n');
    expect((await runCli(['run', 'keys.yaml'], { cwd: dir })).code).toBe(0);
    // A third job that has not run yet; its February chunks will fail retryably (a file stands where their folder goes).
    writeJob(dir, 'paused.yaml', `name: paused\nsource: { type: csv, path: data/events-*.csv*, pruneBy: filename }\nchunk: { column: ts, every: 1 week }
transform: "select *, strftime(ts, '%Y-%m') as month from source"\ntarget: { type: parquet, path: lake-paused, partitionBy: [month] }
write: { mode: replace }\nconcurrency: 1\nretries: { attempts: 3, backoff: 1h, maxBackoff: 1h }\n`);
    mkdirSync(join(dir, 'lake-paused'));
    writeFileSync(join(dir, 'lake-paused', 'month=2023-02'), '');
    ui = await startUi(dir, ['job.yaml', 'keys.yaml', 'paused.yaml']);
    browser = await openBrowser();
    page = await browser.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    if (ui !== undefined && ui.child.exitCode === null) ui.child.kill('SIGKILL');
  });

  const cells = (status: string): Promise<number> => page.locator(`#job [data-status="${status}"]`).count();

  it('shows the ledger as it is: six chunks, one done', async () => {
    await page.goto(ui.url);
    await page.waitForSelector('[data-testid="heatmap"] [data-status="done"]', { timeout: 30_000 });
    expect(await page.locator('[data-testid="heatmap"] .cell').count()).toBe(6);
    expect(await cells('done')).toBe(1);
    expect(await cells('pending')).toBe(5);
    expect(await page.locator('[data-testid="job-name"]').textContent()).toBe('weekly');
    await expect.poll(() => page.locator('#live').textContent(), { timeout: 30_000 }).toContain('live');
  });

  it('turns cells done as a run finishes them, without reloading, and shows the failed one with its error', async () => {
    // A mark on the page's global object: a reload would lose it.
    await page.evaluate(() => void ((globalThis as Record<string, unknown>)['loadedOnce'] = 'yes'));
    const run = await runCli(['run', 'job.yaml'], { cwd: dir });
    expect(run.code).toBe(1);
    await expect.poll(() => cells('done'), { timeout: 30_000 }).toBe(5);
    expect(await cells('failed')).toBe(1);
    expect(await page.evaluate(() => (globalThis as Record<string, unknown>)['loadedOnce'])).toBe('yes');

    const row = page.locator(`[data-testid="failed-row"][data-key="${WEEK5}"]`);
    expect(await row.locator('[data-testid="failed-error"]').textContent()).toContain('bad rows in week 5');
    expect(await page.locator('[data-testid="failed-count"]').textContent()).toBe('1 failed');
    expect(await row.locator('[data-testid="retry-cmd"]').textContent()).toBe('backfill run job.yaml --from 2023-01-30T00:00:00Z --to 2023-02-06T00:00:00Z');
    expect(await page.locator('[data-testid="retry-all"]').textContent()).toBe('backfill run job.yaml --retry-failed');

    // Hovering the red cell tells its bounds, attempts and error.
    await page.hover(`[data-testid="heatmap"] [data-key="${WEEK5}"]`);
    const tip = await page.locator('#tip').textContent();
    expect(tip).toContain('2023-01-30T00:00:00Z … 2023-02-06T00:00:00Z');
    expect(tip).toContain('failed, 1 attempt');
    expect(tip).toContain('bad rows in week 5');
    // A done cell tells its rows: read = written + rejected.
    await page.hover('[data-testid="heatmap"] [data-key="2023-01-09T00:00:00Z/2023-01-16T00:00:00Z"]');
    expect(await page.locator('#tip').textContent()).toMatch(/[\d,]+ read = [\d,]+ written \+ 0 rejected/);
  });

  it('runs the retry command it shows, and the cell turns done', async () => {
    const command = (await page.locator(`[data-testid="retry-cmd"][data-key="${WEEK5}"]`).textContent()) ?? '';
    eventsJob(dir, { name: 'weekly', transform: FIXED, extra: 'concurrency: 1\nretries: { attempts: 1 }' });
    const [program, ...args] = command.split(' ');
    expect(program).toBe('backfill');
    const retried = await runCli(args, { cwd: dir });
    expect(retried.stdout).toContain('done: 1 chunks done, 0 failed');
    await expect.poll(() => page.locator(`[data-testid="heatmap"] [data-key="${WEEK5}"]`).getAttribute('data-status'), { timeout: 30_000 }).toBe('done');
    expect(await cells('done')).toBe(6);
    expect(await page.locator('[data-testid="failed"]').textContent()).toContain('no failed chunks');
    expect(await page.locator('[data-testid="workers"] tr').count()).toBe(4); // a header and three runs
    expect(await page.evaluate(() => (globalThis as Record<string, unknown>)['loadedOnce'])).toBe('yes');
  });

  it('shows chunks done while the run that does them is still going', async () => {
    await page.click('nav button[data-job="paused"]');
    await expect.poll(() => page.locator('[data-testid="job-name"]').textContent(), { timeout: 30_000 }).toBe('paused');
    expect(await page.locator('[data-testid="heatmap"]').textContent()).toContain('no chunks in the ledger yet');
    const run = startCli(['run', 'paused.yaml', '--json'], { cwd: dir });
    const exited = exitOf(run);
    await waitForOutput(run, /"event":"chunk:retry"/);
    // The run now waits an hour before its next attempt: what the page shows, it received while the run goes.
    await expect.poll(() => cells('done'), { timeout: 30_000 }).toBe(4);
    expect(run.exitCode).toBe(null);
    expect(await page.locator('[data-testid="card-run"]').textContent()).toContain('running');
    run.kill('SIGTERM');
    await waitForOutput(run, /"event":"run:stopping"/);
    run.kill('SIGTERM');
    expect(await exited).toBe(130);
    await expect.poll(() => page.locator('[data-testid="card-run"]').textContent(), { timeout: 30_000 }).toContain('interrupted');
    expect(await cells('done')).toBe(4);
  });

  it('shows a job of key ranges as a strip in its own tab', async () => {
    await page.click('nav button[data-job="by-key"]');
    await expect.poll(() => page.locator('[data-testid="job-name"]').textContent(), { timeout: 30_000 }).toBe('by-key');
    const status = JSON.parse((await runCli(['status', 'keys.yaml', '--json'], { cwd: dir })).stdout) as { counts: { total: number; done: number } };
    expect(status.counts.total).toBeGreaterThan(5);
    const strip = page.locator('[data-testid="heatmap"] .strip .cell');
    expect(await strip.count()).toBe(status.counts.total);
    expect(await page.locator('[data-testid="heatmap"] .strip [data-status="done"]').count()).toBe(status.counts.done);
    expect(await page.locator('[data-testid="heatmap"]').textContent()).toMatch(/^key ranges 0 … \d+/);
    await strip.first().hover();
    expect(await page.locator('#tip').textContent()).toContain('0 … 5000');
    expect(await page.locator('nav button[data-job="weekly"]').textContent()).toBe('weekly6/6');
  });

  it('closes cleanly on SIGTERM', async () => {
    ui.child.kill('SIGTERM');
    expect(await exitOf(ui.child)).toBe(0);
  });
});
