// Hostile identifiers: quotes, backticks, semicolons, spaces and unicode as table, chunk, key and source names — no injection, backfills still work.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, runBackfill } from '../../src/index.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { ensureMariadb, ensurePostgres, MARIADB_HOST, MARIADB_PORT, POSTGRES_URL } from '../helpers/services.js';

const SUFFIX = Math.random().toString(36).slice(2, 8);
const SCHEMA = `sec_ident_${SUFFIX}`;
const DB = `sec_ident_${SUFFIX}`;

// Each would end the statement and drop the canary if it reached SQL unquoted.
const TABLE = `we"ird'; DROP TABLE canary;-- \`x\``;
const SOURCE_TABLE = `src "tbl"; DROP TABLE canary;--`;
const CHUNK_COL = `t's "ts"; DROP TABLE canary;--`;
const KEY_COL = `naïve 列 \`id\``;
const VALUE_COL = `v"; DELETE FROM canary; --`;

/** Quoting done the test's own way, not the code under test's. */
const pq = (name: string): string => `"${name.split('"').join('""')}"`;
const mq = (name: string): string => '`' + name.split('`').join('``') + '`';

let client: pg.Client;
let admin: mysql.Connection;

beforeAll(async () => {
  await Promise.all([ensurePostgres(), ensureMariadb()]);
  client = new pg.Client({ connectionString: POSTGRES_URL, application_name: SCHEMA });
  await client.connect();
  await client.query(`CREATE SCHEMA ${SCHEMA}`);
  await client.query(`CREATE TABLE ${SCHEMA}.canary (x int)`);
  await client.query(`INSERT INTO ${SCHEMA}.canary VALUES (1)`);
  await client.query(
    `CREATE TABLE ${SCHEMA}.${pq(SOURCE_TABLE)} (${pq(KEY_COL)} bigint PRIMARY KEY, ${pq(CHUNK_COL)} timestamptz NOT NULL, ${pq(VALUE_COL)} text)`,
  );
  await client.query(
    `INSERT INTO ${SCHEMA}.${pq(SOURCE_TABLE)} SELECT i, TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL '7 hours', 'v' || i || ''';--' FROM generate_series(1, 40) i`,
  );
  admin = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', dateStrings: true, supportBigNumbers: true, bigNumberStrings: true });
  await admin.query(`CREATE DATABASE ${mq(DB)} CHARACTER SET utf8mb4`);
  await admin.query(`USE ${mq(DB)}`);
  await admin.query(`CREATE TABLE canary (x int)`);
  await admin.query(`INSERT INTO canary VALUES (1)`);
  await admin.query(
    `CREATE TABLE ${mq(SOURCE_TABLE)} (${mq(KEY_COL)} BIGINT PRIMARY KEY, ${mq(CHUNK_COL)} DATETIME(6) NOT NULL, ${mq(VALUE_COL)} TEXT, KEY chunk_idx (${mq(CHUNK_COL)})) CHARACTER SET utf8mb4`,
  );
  for (let i = 1; i <= 40; i++) {
    await admin.query(`INSERT INTO ${mq(SOURCE_TABLE)} VALUES (?, ?, ?)`, [i, new Date(Date.UTC(2024, 0, 1) + i * 7 * 3_600_000).toISOString().slice(0, 19).replace('T', ' '), `v${i}';--`]);
  }
});

afterAll(async () => {
  await client?.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client?.end();
  await admin?.query(`DROP DATABASE IF EXISTS ${mq(DB)}`);
  await admin?.end();
});

async function pgCanary(): Promise<number> {
  return (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${SCHEMA}.canary`)).rows[0]?.n ?? -1;
}

async function myCanary(): Promise<number> {
  const [rows] = await admin.query(`SELECT count(*) AS n FROM canary`);
  return Number((rows as { n: string }[])[0]?.n);
}

describe('hostile identifiers', () => {
  for (const route of ['in-database', 'engine'] as const) {
    it(`PostgreSQL → PostgreSQL (${route}): hostile source table, chunk, key and target names; merge; canary intact`, async () => {
      const dir = tempDir(`ident-pg-${route}`);
      const target = `${TABLE} ${route}`;
      const job = defineJob(
        {
          name: `ident-pg-${route}`,
          source: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.${SOURCE_TABLE}` },
          chunk: { column: CHUNK_COL, every: '1 day' },
          target: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.${target}`, create: true },
          write: { mode: 'merge', key: [KEY_COL] },
          ...(route === 'engine' ? { transform: `select * from source` } : {}),
        },
        { baseDir: dir },
      );
      const first = await runBackfill(job);
      expect(first.failed).toBe(0);
      expect(first.done).toBeGreaterThan(5);
      // Replace mode deletes by the hostile chunk column's range; a re-run changes nothing.
      const again = await runBackfill({ ...job, write: { mode: 'replace', key: [] } }, { restate: true });
      expect(again.failed).toBe(0);
      const rows = await client.query<{ n: number; v: string }>(
        `SELECT count(*)::int AS n, min(${pq(VALUE_COL)}) AS v FROM ${SCHEMA}.${pq(target)}`,
      );
      expect(rows.rows[0]).toEqual({ n: 40, v: "v1';--" });
      expect(await pgCanary()).toBe(1);
    });
  }

  it('MySQL → MySQL: hostile source table, chunk, key and target names; merge and replace; canary intact', async () => {
    const dir = tempDir('ident-my');
    const connection = { host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', database: DB };
    const job = defineJob(
      {
        name: 'ident-my',
        source: { type: 'mysql', connection, table: SOURCE_TABLE },
        chunk: { column: CHUNK_COL, every: '1 day' },
        target: { type: 'mysql', connection, table: TABLE, create: true },
        write: { mode: 'merge', key: [KEY_COL] },
      },
      { baseDir: dir },
    );
    const first = await runBackfill(job);
    expect(first.chunks.filter((c) => c.outcome === 'failed')).toEqual([]);
    const again = await runBackfill({ ...job, write: { mode: "replace", key: [] } }, { restate: true });
    expect(again.chunks.filter((c) => c.outcome === "failed")).toEqual([]);
    const [rows] = await admin.query(`SELECT count(*) AS n, min(${mq(VALUE_COL)}) AS v FROM ${mq(TABLE)}`);
    expect((rows as { n: string; v: string }[])[0]).toEqual({ n: '40', v: "v1';--" });
    expect(await myCanary()).toBe(1);
  });

  it('CSV → DuckDB and a Parquet lake partitioned by a hostile column', async () => {
    const dir = tempDir('ident-files');
    const header = [KEY_COL, CHUNK_COL, VALUE_COL].map((c) => pq(c)).join(',');
    const lines = Array.from({ length: 30 }, (_, i) => `${i + 1},2024-01-0${1 + (i % 3)} 0${i % 10}:00:00,"v${i}';--"`);
    writeFileSync(join(dir, 'data.csv'), `${header}\n${lines.join('\n')}\n`);
    const common = { source: { type: 'csv', path: 'data.csv' }, chunk: { column: CHUNK_COL, every: '1 day' } } as const;
    const duck = defineJob(
      { name: 'ident-duck', ...common, target: { type: 'duckdb', database: 'out.duckdb', table: TABLE }, write: { mode: 'merge', key: [KEY_COL] } },
      { baseDir: dir },
    );
    expect(await runBackfill(duck)).toMatchObject({ done: 3, failed: 0 });
    const duckRows = await query<{ n: string }>(`ATTACH '${join(dir, 'out.duckdb')}' AS o (READ_ONLY); SELECT count(*) AS n FROM o.main.${pq(TABLE)}`);
    expect(duckRows[duckRows.length - 1]?.n).toBe('30');
    const lake = defineJob(
      {
        name: 'ident-lake', ...common,
        transform: `select *, strftime(${pq(CHUNK_COL)}, '%Y-%m-%d') as ${pq(`day "${TABLE}`)} from source`,
        target: { type: 'parquet', path: 'lake', partitionBy: [`day "${TABLE}`] },
      },
      { baseDir: dir },
    );
    expect(await runBackfill(lake)).toMatchObject({ done: 3, failed: 0 });
    const lakeRows = await query<{ n: string }>(`SELECT count(*) AS n FROM read_parquet('${join(dir, 'lake')}/**/*.parquet', hive_partitioning = true)`);
    expect(lakeRows[0]?.n).toBe('30');
  });
});
