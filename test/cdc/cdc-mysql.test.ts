// Change data capture from PostgreSQL (a throwaway cluster with wal_level = logical) into MariaDB:
// the initial copy, inserts, updates, deletes, a key change, unchanged TOASTed values and a truncate.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCdc } from '../../src/engine/cdc/cdc-run.js';
import { loadJobFile } from '../../src/job/job-loader.js';
import { tempDir } from '../helpers/cli.js';
import { ensureMariadb, MARIADB_HOST, MARIADB_PORT } from '../helpers/services.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../helpers/throwaway-postgres.js';

const PORT = 55467;
const DB = `backfill_cdc_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
let server: ThrowawayPostgres;
let source: pg.Pool;
let target: mysql.Connection;

beforeAll(async () => {
  await ensureMariadb();
  server = startThrowawayPostgres(PORT, { settings: ['wal_level = logical'] });
  source = new pg.Pool({ host: '127.0.0.1', port: PORT, user: 'postgres', database: 'postgres', max: 2 });
  target = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
  await target.query(`CREATE DATABASE \`${DB}\` CHARACTER SET utf8mb4`);
  await target.query(`USE \`${DB}\``);
}, 120_000);

afterAll(async () => {
  await target?.query(`DROP DATABASE IF EXISTS \`${DB}\``);
  await target?.end();
  await source?.end();
  server?.stop();
});

/** Both sides printed the same way, every column. */
async function compare(): Promise<void> {
  const src = await source.query(
    `SELECT id::text AS id, name, amount::text AS amount, flag::int::text AS flag, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS ts,
            encode(raw, 'hex') AS raw, doc::text AS doc, body FROM public.orders ORDER BY id`,
  );
  const [dst] = await target.query(
    `SELECT CAST(id AS CHAR) AS id, name, CAST(amount AS CHAR) AS amount, CAST(flag AS CHAR) AS flag, DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f') AS ts,
            LOWER(HEX(raw)) AS raw, CAST(doc AS CHAR) AS doc, body FROM orders ORDER BY id`,
  );
  const normal = (rows: Record<string, unknown>[]): Record<string, unknown>[] => rows.map((r) => ({ ...r, raw: r.raw === '' ? null : r.raw }));
  expect(normal(dst as Record<string, unknown>[])).toEqual(normal(src.rows));
}

describe('cdc from PostgreSQL into MariaDB', () => {
  it('copies, streams every kind of change, and ends equal row for row', async () => {
    await source.query(`CREATE TABLE public.orders (id bigint PRIMARY KEY, name text, amount numeric(12,2), flag boolean, ts timestamptz, raw bytea, doc jsonb, body text)`);
    await source.query(`ALTER TABLE public.orders ALTER COLUMN body SET STORAGE EXTERNAL`);
    await source.query(
      `INSERT INTO public.orders SELECT g, CASE WHEN g % 9 = 0 THEN NULL ELSE 'o ' || g || E'\\t"q",\\n\\\\ NULL naïve 列' END, g / 4.0, g % 2 = 0,
         timestamptz '2024-03-01 12:00:00.5+00' + g * interval '1 hour 0.000007 s', CASE WHEN g % 4 = 0 THEN NULL ELSE '\\x00ff0a2c22'::bytea END,
         jsonb_build_object('g', g), CASE WHEN g % 100 = 0 THEN (SELECT string_agg(md5(k::text), '') FROM generate_series(1, 200) k) ELSE 'short' END
       FROM generate_series(1, 1500) g`,
    );
    const dir = tempDir('cdc-mysql');
    const file = join(dir, 'orders.yaml');
    writeFileSync(
      file,
      `name: orders-mysql
source: { type: postgres, connection: "postgres://postgres@127.0.0.1:${PORT}/postgres", table: public.orders, cdc: { batch: { rows: 300, wait: 200ms } } }
chunk: { column: id, size: 400 }
target: { type: mysql, connection: "mysql://root@${MARIADB_HOST}:${MARIADB_PORT}/${DB}", table: orders, create: true }
write: { mode: merge, key: [id] }
`,
    );
    const job = loadJobFile(file);
    const first = await runCdc(job, { untilCaughtUp: true });
    expect(first.snapshot).toMatchObject({ done: true, chunksTotal: 4, rowsCopied: 1500 });
    await compare();

    await source.query(`UPDATE public.orders SET name = 'changed', amount = amount + 1 WHERE id % 5 = 0`);
    await source.query(`UPDATE public.orders SET flag = NOT flag WHERE id % 100 = 0`); // body is TOASTed and not resent
    await source.query(`DELETE FROM public.orders WHERE id BETWEEN 200 AND 260`);
    await source.query(`UPDATE public.orders SET id = id + 10000 WHERE id = 7`);
    await source.query(`INSERT INTO public.orders (id, name, ts) VALUES (20000, 'late', now())`);
    const second = await runCdc(job, { untilCaughtUp: true });
    expect(second.deleted).toBe(62);
    await compare();

    await source.query(`TRUNCATE public.orders`);
    await source.query(`INSERT INTO public.orders (id, name, amount) VALUES (1, 'again', 2.5)`);
    await runCdc(job, { untilCaughtUp: true });
    await compare();
  });
});
