// Indexes for range writes: a created PostgreSQL or MySQL table gets one that leads with the chunk column, and an
// existing table without one makes `plan` and `run` warn once with the exact statement, which silences the warning.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, EventBus, planBackfill, runBackfill, type Job } from '../../src/index.js';
import { tempDir } from '../helpers/cli.js';
import { ensureMariadb, ensurePostgres, mysqlQuery, POSTGRES_URL, pgQuery } from '../helpers/services.js';

const SUFFIX = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const PG_SCHEMA = `target_indexes_${SUFFIX}`;
const MYSQL_DB = `target_indexes_${SUFFIX}`;
const MYSQL_URL = `mysql://root@127.0.0.1:3306/${MYSQL_DB}`;

beforeAll(async () => {
  await ensurePostgres();
  await ensureMariadb();
  await pgQuery(`CREATE SCHEMA ${PG_SCHEMA}`);
  await mysqlQuery(`CREATE DATABASE \`${MYSQL_DB}\``);
});
afterAll(async () => {
  await pgQuery(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`);
  await mysqlQuery(`DROP DATABASE IF EXISTS \`${MYSQL_DB}\``);
});

type Db = 'postgres' | 'mysql';

function jobFor(db: Db, table: string, create: boolean): Job {
  const dir = tempDir(`idx-${db}`);
  const lines = ['id,ts,v', ...Array.from({ length: 30 }, (_, i) => `${i},2024-01-0${1 + Math.floor(i / 10)} 0${i % 10}:00:00,v${i}`)];
  writeFileSync(join(dir, 'rows.csv'), `${lines.join('\n')}\n`);
  return defineJob(
    {
      name: `idx_${db}_${table}`,
      source: { type: 'csv', path: 'rows.csv' },
      target: db === 'postgres' ? { type: 'postgres', connection: POSTGRES_URL, table: `${PG_SCHEMA}.${table}`, create } : { type: 'mysql', connection: MYSQL_URL, table: `${MYSQL_DB}.${table}`, create },
      chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-04' },
      write: { mode: 'replace' },
      concurrency: 1,
    },
    { baseDir: dir },
  );
}

/** The columns that lead an index of the table, from the catalog. */
async function leadingColumns(db: Db, table: string): Promise<string[]> {
  if (db === 'postgres') {
    const rows = await pgQuery<{ name: string }>(
      `SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass($1)`,
      [`${PG_SCHEMA}.${table}`],
    );
    return rows.map((r) => r.name).sort();
  }
  const rows = await mysqlQuery<{ name: string }>(
    'SELECT COLUMN_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND SEQ_IN_INDEX = 1',
    [MYSQL_DB, table],
  );
  return rows.map((r) => r.name).sort();
}

async function runWarnings(job: Job): Promise<string[]> {
  const events = new EventBus();
  const warnings: string[] = [];
  events.on('warning', (e) => warnings.push(e.message));
  expect(await runBackfill(job, { events, restate: true })).toMatchObject({ status: 'done', done: 3 });
  return warnings;
}

for (const db of ['postgres', 'mysql'] as const) {
  describe(`${db} target`, () => {
    it('creates the table with an index that leads with the chunk column, and warns about nothing', async () => {
      const job = jobFor(db, 'created', true);
      expect(await runWarnings(job)).toEqual([]);
      expect(await leadingColumns(db, 'created')).toContain('ts');
      expect((await planBackfill(job)).warnings).toEqual([]);
    });

    it('warns once in plan and in run about an existing table without one, with the exact statement that silences it', async () => {
      const table = 'existing';
      if (db === 'postgres') await pgQuery(`CREATE TABLE ${PG_SCHEMA}.${table} (id bigint PRIMARY KEY, ts timestamp, v text)`);
      else await mysqlQuery(`CREATE TABLE \`${MYSQL_DB}\`.\`${table}\` (id BIGINT PRIMARY KEY, ts DATETIME(6), v TEXT)`);
      const job = jobFor(db, table, false);
      const statement =
        db === 'postgres'
          ? `CREATE INDEX "existing_ts_backfill_idx" ON "${PG_SCHEMA}"."existing" ("ts")`
          : `CREATE INDEX backfill_chunk ON \`${MYSQL_DB}\`.\`existing\` (\`ts\`)`;

      const plan = await planBackfill(job);
      expect(plan.warnings).toHaveLength(1);
      expect(plan.warnings[0]).toContain('no index that leads with the chunk column "ts"');
      expect(plan.warnings[0]).toContain(`Add one: ${statement};`);
      const warned = await runWarnings(job);
      expect(warned.filter((w) => w.includes('chunk column'))).toEqual([plan.warnings[0]]);

      if (db === 'postgres') await pgQuery(statement);
      else await mysqlQuery(statement);
      expect(await leadingColumns(db, table)).toEqual(['id', 'ts']);
      expect((await planBackfill(job)).warnings).toEqual([]);
      expect(await runWarnings(job)).toEqual([]);
    });
  });
}

describe('postgres target, merge mode', () => {
  it('warns once about a table without a unique index on the merge key, with the statement that silences it', async () => {
    const table = 'merged';
    await pgQuery(`CREATE TABLE ${PG_SCHEMA}.${table} (id bigint, ts timestamp, v text)`);
    await pgQuery(`CREATE INDEX ON ${PG_SCHEMA}.${table} (ts)`);
    const base = jobFor('postgres', table, false);
    const job = defineJob(
      { name: base.name, source: { type: 'csv', path: 'rows.csv' }, target: base.target, chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-04' }, write: { mode: 'merge', key: ['id'] }, concurrency: 1 },
      { baseDir: base.baseDir },
    );
    const planned = (await planBackfill(job)).warnings;
    expect(planned).toHaveLength(1);
    const statement = /Add one: (CREATE UNIQUE INDEX .*);$/.exec(planned[0] ?? '')?.[1];
    expect(statement).toBe(`CREATE UNIQUE INDEX ON "${PG_SCHEMA}"."${table}" ("id")`);
    expect(await runWarnings(job)).toEqual(planned);
    await pgQuery(statement as string);
    expect((await planBackfill(job)).warnings).toEqual([]);
    expect(await runWarnings(job)).toEqual([]);
  });
});
