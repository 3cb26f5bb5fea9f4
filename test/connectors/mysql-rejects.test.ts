// Rows a MySQL/MariaDB target refuses (too long, duplicate key, CHECK) are isolated under savepoints,
// kept as rejected rows with the server's reason, and the rest of the chunk commits.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, runBackfill, type Job } from '../../src/index.js';
import { tempDir } from '../helpers/cli.js';
import { ensureMariadb, MARIADB_HOST, MARIADB_PORT } from '../helpers/services.js';

const DB = `backfill_myrej_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const connection = { host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', database: DB };
let admin: mysql.Connection;

beforeAll(async () => {
  await ensureMariadb();
  admin = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root' });
  await admin.query(`CREATE DATABASE \`${DB}\` CHARACTER SET utf8mb4`);
  await admin.query(`USE \`${DB}\``);
});

afterAll(async () => {
  await admin.query(`DROP DATABASE IF EXISTS \`${DB}\``);
  await admin.end();
});

function rejectsOf(job: Job): { chunk: string; key: string | null; raw: string; reason: string }[] {
  if (!existsSync(job.rejects.dir)) return [];
  return readdirSync(job.rejects.dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(job.rejects.dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as never));
}

describe('rows a MySQL target refuses', () => {
  it('are kept with the reason and key, the chunk commits the others; past maxRejects nothing of the chunk is written', async () => {
    await admin.query(`CREATE TABLE refuse (id BIGINT PRIMARY KEY, ts DATETIME(6) NOT NULL, name VARCHAR(5), qty INT, CONSTRAINT qty_ok CHECK (qty >= 0))`);
    await admin.query(`INSERT INTO refuse VALUES (7, '2024-01-01 07:00:00', 'old', 1)`);
    const dir = tempDir('myrej');
    const lines = ['id,ts,name,qty'];
    for (let i = 1; i <= 40; i++) {
      const name = i === 5 ? 'much too long' : `n${i}`;
      const qty = i === 12 ? -3 : i;
      lines.push(`${i},2024-01-0${1 + (i % 2)} ${String(i % 24).padStart(2, '0')}:00:00,${name},${qty}`);
    }
    writeFileSync(join(dir, 'rows.csv'), `${lines.join('\n')}\n`);
    const job = (maxRejects: number): Job =>
      defineJob(
        {
          name: `myrej-${maxRejects}`, source: { type: 'csv', path: 'rows.csv' }, chunk: { column: 'ts', every: '1 day' },
          target: { type: 'mysql', connection, table: 'refuse' }, write: { mode: 'append' }, backup: 'never', maxRejects, retries: { attempts: 1 },
        },
        { baseDir: dir },
      );
    const strict = await runBackfill(job(1));
    // Day 2024-01-02 holds odd ids: 5 (too long) and 7 (a key already there) — two refusals, over the limit.
    expect(strict.failed).toBe(1);
    expect(strict.chunks.find((c) => c.outcome === 'failed')?.error).toMatch(/maxRejects 1/);
    const [afterStrict] = await admin.query(`SELECT count(*) AS n FROM refuse`);
    // The even day went in without id 12 (its one refusal, within the limit); the odd day not at all.
    expect(Number((afterStrict as { n: number }[])[0]?.n)).toBe(1 + 19);

    await admin.query(`DELETE FROM refuse WHERE id <> 7`);
    const lenient = job(5);
    const result = await runBackfill(lenient);
    expect(result).toMatchObject({ status: 'done', done: 2, failed: 0, rowsRead: 40, rowsWritten: 37, rowsRejected: 3 });
    // Append mode has no key: the raw row names the id.
    const idOf = (raw: string): number => Number(raw.split(',')[0]);
    const kept = rejectsOf(lenient).sort((a, b) => idOf(a.raw) - idOf(b.raw));
    expect(kept.map((r) => idOf(r.raw))).toEqual([5, 7, 12]);
    expect(kept[0]?.reason).toMatch(/MySQL 1406|MySQL 1265|too long|truncated/i);
    expect(kept[1]?.reason).toMatch(/MySQL 1062|Duplicate/i);
    expect(kept[2]?.reason).toMatch(/MySQL 4025|CONSTRAINT|qty_ok/i);
    expect(kept[0]?.raw).toContain('much too long');
    const [rows] = await admin.query(`SELECT id, name FROM refuse ORDER BY id`);
    const ids = (rows as { id: number; name: string }[]).map((r) => Number(r.id));
    expect(ids).toHaveLength(38);
    expect(ids).not.toContain(5);
    expect(ids).not.toContain(12);
    expect((rows as { id: number; name: string }[]).find((r) => Number(r.id) === 7)?.name).toBe('old');
  });
});
