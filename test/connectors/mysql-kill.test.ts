// A SIGKILL in the middle of a backfill into MySQL, then a resume: the table equals an uninterrupted run.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEvents } from '../../src/demo/generate-events.js';
import { runCli, startCli, tempDir, writeJob } from '../helpers/cli.js';
import { ensureMariadb, mysqlQuery } from '../helpers/services.js';

const DB = `kill_${process.pid}_${Date.now().toString(36)}`;

const my = mysqlQuery;

beforeAll(async () => {
  await ensureMariadb();
  await my(`CREATE DATABASE \`${DB}\``);
});
afterAll(async () => {
  await my(`DROP DATABASE IF EXISTS \`${DB}\``);
});

describe('mysql target', () => {
  it('resumes after SIGKILL to the same table as an uninterrupted run', async () => {
    const dir = tempDir('my-kill');
    await generateEvents({ dir: join(dir, 'data'), rows: 150_000, from: '2023-01-01', days: 45, threads: 1 });
    const job = (table: string): string => `
name: ${table}
source: { type: csv, path: data/*.csv*, pruneBy: filename }
chunk: { column: ts, every: 1 day }
target: { type: mysql, connection: "mysql://root@127.0.0.1:3306/${DB}", table: ${table}, create: true }
write: { mode: merge, key: [event_id] }
concurrency: 2
ledger: ${table}.sqlite
`;
    const clean = await runCli(['run', writeJob(dir, 'clean.yaml', job('clean'))]);
    expect(clean.code, clean.stderr).toBe(0);

    const file = writeJob(dir, 'killed.yaml', job('killed'));
    const child = startCli(['run', file, '--json']);
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if ((out.match(/"chunk:done"/g) ?? []).length >= 10) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    expect((out.match(/"chunk:done"/g) ?? []).length).toBeLessThan(45);
    const resumed = await runCli(['run', file]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const cols = 'event_id, ts, user_id, event_type, amount, country, device, session_id';
    const [diff] = await my<{ n: number; a: number; b: number }>(`SELECT
      (SELECT count(*) FROM \`${DB}\`.killed) AS n,
      (SELECT count(*) FROM \`${DB}\`.clean c WHERE NOT EXISTS (SELECT 1 FROM \`${DB}\`.killed k WHERE (${cols.split(', ').map((x) => `k.${x} <=> c.${x}`).join(' AND ')}))) AS a,
      (SELECT count(*) - count(DISTINCT event_id) FROM \`${DB}\`.killed) AS b`);
    expect(diff).toEqual({ n: 150_000, a: 0, b: 0 });
  });
});
