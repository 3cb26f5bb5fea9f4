// An incremental job on the dashboard and in the metrics: watermark, phase, last window and lag, from a real PostgreSQL source.

import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/events.js';
import { loadJobFile } from '../../src/job/job-loader.js';
import { jobMetrics } from '../../src/dashboard/run-metrics.js';
import { runCli, tempDir, writeJob } from '../helpers/cli.js';
import { ensurePostgres, pgQuery, POSTGRES_URL } from '../helpers/services.js';
import { openBrowser } from './browser.js';
import { exitOf, startUi } from './dashboard-fixture.js';

const SCHEMA = `ui_incremental_${process.pid}`;

interface Incremental { phase: string; cursor: string; watermark: string; behindMs: number; window: { lo: string; hi: string } }

describe('an incremental job in backfill ui and --metrics', () => {
  let dir: string;
  let ui: { child: ChildProcess; url: string };

  beforeAll(async () => {
    await ensurePostgres();
    await pgQuery(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await pgQuery(`CREATE SCHEMA ${SCHEMA}`);
    await pgQuery(`CREATE TABLE ${SCHEMA}.orders (id bigint PRIMARY KEY, v text NOT NULL, updated_at timestamptz(6) NOT NULL)`);
    await pgQuery(`INSERT INTO ${SCHEMA}.orders SELECT i, 'v' || i, timestamptz '2026-01-10T00:00:00Z' + i * interval '1 second' FROM generate_series(1, 3000) i`);
    dir = tempDir('ui-incremental');
    writeJob(dir, 'orders.yaml', `name: orders
source: { type: postgres, connection: "${POSTGRES_URL}", table: ${SCHEMA}.orders }
chunk: { column: id, size: 1000 }
target: { type: postgres, connection: "${POSTGRES_URL}", table: ${SCHEMA}.orders_out, create: true }
write: { mode: merge, key: [id] }
incremental: { cursor: updated_at, lookback: 1 hour, every: 1 hour }
retries: { attempts: 1 }
`);
    // The full backfill, then a window past the watermark.
    expect((await runCli(['run', 'orders.yaml'], { cwd: dir })).code).toBe(0);
    await pgQuery(`INSERT INTO ${SCHEMA}.orders VALUES (5001, 'late', timestamptz '2026-01-10T00:59:00Z')`);
    expect((await runCli(['run', 'orders.yaml'], { cwd: dir })).code).toBe(0);
    ui = await startUi(dir, ['orders.yaml']);
  });

  afterAll(async () => {
    if (ui !== undefined && ui.child.exitCode === null) {
      ui.child.kill('SIGTERM');
      await exitOf(ui.child);
    }
    await pgQuery(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  });

  it('serves the watermark, the last window and the lag, and shows them with the window chunks', async () => {
    const view = (await (await fetch(`${ui.url}api/jobs/orders/view`)).json()) as { summary: { status: { incremental: Incremental } }; cells: { window: boolean; status: string }[] };
    const inc = view.summary.status.incremental;
    expect(inc).toMatchObject({ phase: 'incremental', cursor: 'updated_at' });
    expect(inc.behindMs).toBeGreaterThan(0);
    expect(view.cells.filter((c) => c.window).length).toBeGreaterThan(0);
    expect(view.cells.filter((c) => !c.window).map((c) => c.status)).toEqual(['done', 'done', 'done', 'done']);

    const browser = await openBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(ui.url);
      const panel = page.locator('[data-testid="incremental"]');
      await panel.waitFor({ timeout: 30_000 });
      const text = (await panel.textContent()) ?? '';
      expect(text).toContain('updated_at');
      expect(text).toContain(inc.watermark);
      expect(text).toContain(`${inc.window.lo} … ${inc.window.hi}`);
      expect(text).toMatch(/behind now/);
      expect(await page.locator('[data-testid="heatmap"]').textContent()).toContain('incremental windows');
      expect(await page.locator('[data-testid="heatmap"] .strip [data-status="done"]').count()).toBeGreaterThan(0);
    } finally {
      await browser.close();
    }
  });

  it('reports the watermark lag in the metrics, between two readings of status', async () => {
    const job = loadJobFile(`${dir}/orders.yaml`);
    const metrics = jobMetrics(job, new EventBus());
    try {
      const before = JSON.parse((await runCli(['status', 'orders.yaml', '--json'], { cwd: dir })).stdout) as { incremental: Incremental };
      const text = await metrics.registry.metrics();
      const after = JSON.parse((await runCli(['status', 'orders.yaml', '--json'], { cwd: dir })).stdout) as { incremental: Incremental };
      const lag = Number(/^backfill_watermark_lag_seconds\{job="orders"\} (\S+)$/m.exec(text)?.[1]);
      expect(lag).toBeGreaterThanOrEqual(before.incremental.behindMs / 1000);
      expect(lag).toBeLessThanOrEqual(after.incremental.behindMs / 1000);
      expect(text).toMatch(/^backfill_chunks\{job="orders",status="done"\} [1-9]/m);
    } finally {
      await metrics.close();
    }
  });
});
