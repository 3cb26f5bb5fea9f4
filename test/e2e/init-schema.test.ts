// `backfill init` against real sources (PostgreSQL, MariaDB, a DuckDB file, CSV files) and
// `backfill schema` validating every example job of the docs.

import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEMO_JOB } from '../../src/cli/demo-command.js';
import { adviseEvery, adviseSize } from '../../src/engine/init/chunk-advice.js';
import { loadJobFile } from '../../src/job/job-loader.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { ensureMariadb, ensurePostgres, mysqlQuery, pgQuery } from '../helpers/services.js';

const SCHEMA = 'init_schema_e2e';
const PG_PASSWORD = 'pg-s3cret-value';
const TARGET_PASSWORD = 'tgt-s3cret-value';
const ROOT = join(import.meta.dirname, '..', '..');
const ENV = { BACKFILL_SOURCE_PASSWORD: 'unused-under-trust', BACKFILL_TARGET_PASSWORD: 'unused-under-trust' };

let dir: string;

beforeAll(async () => {
  dir = tempDir('init-schema');
  await ensurePostgres();
  await ensureMariadb();
  await pgQuery(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await pgQuery(`CREATE SCHEMA ${SCHEMA}`);
  await pgQuery(`CREATE TABLE ${SCHEMA}.init_orders_pg (id bigint PRIMARY KEY, note text, placed_at timestamptz NOT NULL, amount numeric(10,2))`);
  await pgQuery(`CREATE INDEX ON ${SCHEMA}.init_orders_pg (placed_at)`);
  await pgQuery(`INSERT INTO ${SCHEMA}.init_orders_pg SELECT g, 'n' || g, timestamptz '2024-01-01' + g * interval '1 minute', g % 100 FROM generate_series(1, 20000) g`);
  await pgQuery(`ANALYZE ${SCHEMA}.init_orders_pg`);

  await mysqlQuery(`DROP DATABASE IF EXISTS ${SCHEMA}`);
  await mysqlQuery(`CREATE DATABASE ${SCHEMA}`);
  await mysqlQuery(`CREATE TABLE ${SCHEMA}.init_items_my (id INT PRIMARY KEY, label VARCHAR(20))`);
  await mysqlQuery(`INSERT INTO ${SCHEMA}.init_items_my SELECT seq, CONCAT('x', seq) FROM ${SCHEMA}.seq_1_to_5000`);
  await mysqlQuery(`ANALYZE TABLE ${SCHEMA}.init_items_my`);

  await query(`ATTACH '${join(dir, 'sensors.duckdb')}' AS s;
    CREATE TABLE s.readings (sensor INTEGER, read_at TIMESTAMP, v DOUBLE);
    INSERT INTO s.readings SELECT i % 7, TIMESTAMP '2024-03-01' + INTERVAL (i) HOUR, i / 3 FROM range(1000) t(i);`);

  mkdirSync(join(dir, 'data'));
  for (const day of ['01', '02', '03']) {
    writeFileSync(join(dir, 'data', `events-2024-05-${day}.csv`), `event_id,kind,ts\n1${day},a,2024-05-${day} 10:00:00\n2${day},b,2024-05-${day} 11:30:00\n`);
  }
});

async function initAndPlan(args: readonly string[], file: string): Promise<{ text: string; stdout: string }> {
  const init = await runCli(['init', ...args, '-o', file], { cwd: dir });
  expect(init.stderr).toBe('');
  expect(init.code).toBe(0);
  const text = readFileSync(join(dir, file), 'utf8');
  const plan = await runCli(['plan', file], { cwd: dir, env: ENV });
  expect(plan.stderr).toBe('');
  expect(plan.code).toBe(0);
  expect(plan.stdout).toMatch(/[1-9]\d* chunks: 0 done, [1-9]\d* missing/);
  return { text, stdout: init.stdout };
}

describe('backfill init', () => {
  it('writes a PostgreSQL job on the indexed timestamp column, with the password as a variable', async () => {
    const url = `postgres://postgres:${PG_PASSWORD}@127.0.0.1:5432/test`;
    const { text, stdout } = await initAndPlan(['--source', url, '--table', `${SCHEMA}.init_orders_pg`, '--target', 'lake/orders'], 'jobs/orders.yaml');
    expect(text).not.toContain(PG_PASSWORD);
    expect(text).toContain('password: ${BACKFILL_SOURCE_PASSWORD}');
    expect(stdout).toContain('BACKFILL_SOURCE_PASSWORD');
    expect(text).toMatch(/# Chunk column placed_at: the first timestamp column an index leads with/);
    expect(text).toContain('about 20,000 rows (pg_class.reltuples)');
    const job = loadJobFile(join(dir, 'jobs/orders.yaml'), { env: ENV });
    expect(job.chunking).toMatchObject({ kind: 'time', column: 'placed_at', step: { n: 1, unit: 'year' } });
    expect(job.write).toEqual({ mode: 'merge', key: ['id'] });
    expect(job.target).toMatchObject({ type: 'parquet', path: join(dir, 'lake/orders') });
    // Paths are written relative to the job file's folder.
    expect(text).toContain('path: ../lake/orders');
  });

  it('writes a MariaDB job on the integer primary key, into a PostgreSQL table named after the source', async () => {
    const target = `postgres://postgres:${TARGET_PASSWORD}@127.0.0.1:5432/test`;
    const { text } = await initAndPlan(['--source', `mysql://root@127.0.0.1:3306/${SCHEMA}`, '--table', 'init_items_my', '--target', target], 'items.yaml');
    expect(text).not.toContain(TARGET_PASSWORD);
    expect(text).toContain('${BACKFILL_TARGET_PASSWORD}');
    expect(text).toMatch(/Chunk column id: no index leads with a timestamp column; the primary key is an integer/);
    expect(text).toContain('information_schema.tables');
    const job = loadJobFile(join(dir, 'items.yaml'), { env: ENV });
    expect(job.chunking).toMatchObject({ kind: 'key', column: 'id' });
    expect(job.target).toMatchObject({ type: 'postgres', table: 'init_items_my', create: true });
    expect(job.source).toMatchObject({ type: 'mysql', connection: `mysql://root@127.0.0.1:3306/${SCHEMA}`, table: 'init_items_my' });
  });

  it('writes a DuckDB-file job into MySQL, and a CSV-files job into a DuckDB file', async () => {
    const duck = await initAndPlan(['--source', 'sensors.duckdb', '--table', 'readings', '--target', `mysql://root@127.0.0.1:3306/${SCHEMA}`], 'sensors.yaml');
    expect(duck.text).toContain('column: read_at');
    expect(loadJobFile(join(dir, 'sensors.yaml')).target).toMatchObject({ type: 'mysql', table: 'readings', create: true });

    const csv = await initAndPlan(['--source', 'data/events-*.csv', '--target', 'warehouse.duckdb'], 'events.yaml');
    expect(csv.text).toContain('pruneBy: filename');
    const job = loadJobFile(join(dir, 'events.yaml'));
    expect(job.name).toBe('events');
    expect(job.chunking).toMatchObject({ kind: 'time', column: 'ts' });
    expect(job.target).toMatchObject({ type: 'duckdb', database: join(dir, 'warehouse.duckdb'), table: 'events' });
  });

  it('proposes rows: on a text primary key, and one chunk for reference data with neither a time column nor a key', async () => {
    await pgQuery(`CREATE TABLE ${SCHEMA}.init_codes_pg (tenant text, code text, label text, PRIMARY KEY (tenant, code))`);
    await pgQuery(`INSERT INTO ${SCHEMA}.init_codes_pg SELECT 't' || (g % 5), 'c' || g, 'l' || g FROM generate_series(1, 500) g`);
    const url = `postgres://postgres@127.0.0.1:5432/test`;
    const codes = await initAndPlan(['--source', url, '--table', `${SCHEMA}.init_codes_pg`, '--target', 'lake/codes'], 'codes.yaml');
    expect(codes.text).toMatch(/no integer primary key: chunks of about 1,000,000 rows cut on the primary key \(tenant, code\)/);
    expect(loadJobFile(join(dir, 'codes.yaml')).chunking).toMatchObject({ kind: 'rows', columns: ['tenant', 'code'], rows: 1_000_000 });

    writeFileSync(join(dir, 'currencies.csv'), 'code,name\nEUR,Euro\nUSD,US Dollar\n');
    const ref = await initAndPlan(['--source', 'currencies.csv', '--target', 'ref.duckdb'], 'currencies.yaml');
    expect(ref.text).not.toMatch(/^chunk:/m);
    expect(ref.text).toMatch(/a run loads it whole, as one chunk/);
    expect(loadJobFile(join(dir, 'currencies.yaml')).chunking).toEqual({ kind: 'all' });
  });

  it('sizes chunks for the busiest part of skewed history, not for the average', async () => {
    // 100,000 rows over two years, then 7,900,000 in December 2024: spread evenly, a year holds
    // 4 million rows; the last month alone holds 7.9 million.
    await query(`ATTACH '${join(dir, 'growth.duckdb')}' AS g;
      CREATE TABLE g.events (ts TIMESTAMP, v INTEGER);
      INSERT INTO g.events SELECT TIMESTAMP '2023-01-01' + INTERVAL (i * 600) SECOND, i FROM range(100000) t(i);
      INSERT INTO g.events SELECT TIMESTAMP '2024-12-01' + INTERVAL (i % 2678400) SECOND, i FROM range(7900000) t(i);`);
    const span = Date.parse('2024-12-31T23:59:59Z') - Date.parse('2023-01-01T00:00:00Z');
    expect(adviseEvery(8_000_000, span).every).toBe('1 year');
    const { text } = await initAndPlan(['--source', 'growth.duckdb', '--table', 'events', '--target', 'lake/growth'], 'growth.yaml');
    // One grouped count finds December: weekly chunks, the busiest (a week of December) under 5 million rows.
    expect(loadJobFile(join(dir, 'growth.yaml')).chunking).toMatchObject({ kind: 'time', column: 'ts', step: { n: 1, unit: 'week' } });
    const busiest = Number(/chunks of 1 week: the busiest would hold about ([\d,]+) rows/.exec(text)?.[1]?.replaceAll(',', ''));
    expect(busiest).toBeGreaterThan(1_500_000);
    expect(busiest).toBeLessThanOrEqual(5_000_000);
    expect(text).toMatch(/rows per chunk from exact count/);

    // Files without dates in their names carry nothing on how rows spread: the even guess stays, and says so.
    writeFileSync(join(dir, 'app-log.csv'), 'ts,level\n2024-01-01 00:00:00,info\n2024-06-01 00:00:00,warn\n');
    const flat = await initAndPlan(['--source', 'app-log.csv', '--target', 'lake/app'], 'app.yaml');
    expect(flat.text).toMatch(/chunks of 1 year hold about 2 rows each \(aim: 1–5 million\)\. Rows assumed even over the range: these files carry no statistics/);
  });

  it('never replaces an existing file without --force', async () => {
    const args = ['init', '--source', 'data/*.csv', '--target', 'lake/events', '-o', 'forced.yaml'];
    expect((await runCli(args, { cwd: dir })).code).toBe(0);
    appendFileSync(join(dir, 'forced.yaml'), '# edited by hand\n');
    const refused = await runCli(args, { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('forced.yaml exists; use --force');
    expect(readFileSync(join(dir, 'forced.yaml'), 'utf8')).toContain('# edited by hand');
    expect((await runCli([...args, '--force'], { cwd: dir })).code).toBe(0);
    expect(readFileSync(join(dir, 'forced.yaml'), 'utf8')).not.toContain('# edited by hand');
  });

  it('names what it cannot read', async () => {
    const r = await runCli(['init', '--source', 'nothing.xyz', '--target', 'lake'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--source: cannot tell what nothing.xyz is');
    const noTable = await runCli(['init', '--source', 'postgres://postgres@127.0.0.1:5432/test', '--target', 'lake'], { cwd: dir });
    expect(noTable.code).toBe(2);
    expect(noTable.stderr).toContain('--table is required');
  });

  it('sizes chunks to hold 1–5 million rows', () => {
    const twoYears = 2 * 365.25 * 86_400_000;
    const time = adviseEvery(100_000_000, twoYears);
    expect(time.every).toBe('1 month');
    expect(time.rowsPerChunk).toBeGreaterThan(1_000_000);
    expect(time.rowsPerChunk).toBeLessThan(5_000_000);
    expect(adviseEvery(2_000_000_000, twoYears).every).toBe('1 day');
    expect(adviseEvery(20_000_000_000, twoYears).every).toBe('1 hour');
    expect(adviseSize(50_000_000, 1, 50_000_000)).toEqual({ size: 2_000_000, rowsPerChunk: 2_000_000 });
  });
});

describe('backfill schema', () => {
  let validate: (data: unknown) => boolean;
  let validatePart: (data: unknown) => boolean;
  let errors: () => string;

  beforeAll(async () => {
    const r = await runCli(['schema', '-o', 'backfill.schema.json'], { cwd: dir });
    expect(r.code).toBe(0);
    const schema = JSON.parse(readFileSync(join(dir, 'backfill.schema.json'), 'utf8')) as Record<string, unknown>;
    const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });
    const full = ajv.compile(schema);
    // A fragment of a job (a source: block, a single setting) is checked field by field against the same schema.
    const part = ajv.compile({ ...schema, required: [] });
    validate = (data) => full(data);
    validatePart = (data) => part(data);
    errors = () => JSON.stringify([...(full.errors ?? []), ...(part.errors ?? [])].slice(0, 5));
  });

  const examples = (): { where: string; text: string }[] =>
    ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)].flatMap((file) =>
      [...readFileSync(join(ROOT, file), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m, i) => ({ where: `${file} #${i + 1}`, text: m[1] as string })),
    );

  it('validates every example job of the README and docs, and the demo job', () => {
    const found = examples();
    expect(found.length).toBeGreaterThan(5);
    for (const { where, text } of [...found, { where: 'DEMO_JOB', text: DEMO_JOB }]) {
      if (/^name:/m.test(text)) {
        expect(validate(parse(text)), `${where}: ${errors()}`).toBe(true);
        continue;
      }
      // Snippets show alternatives for one field one after the other: each top-level entry on its own.
      for (const entry of text.split(/\n(?=[A-Za-z])/)) {
        const value: unknown = parse(entry);
        if (value === null) continue;
        expect(validatePart(value), `${where}: ${entry.trim()} → ${errors()}`).toBe(true);
      }
    }
  });

  it('rejects a job with an unknown field, a bad enum, or both every and size', () => {
    const job = parse(DEMO_JOB) as Record<string, unknown>;
    expect(validate(job)).toBe(true);
    expect(validate({ ...job, parallel: 4 })).toBe(false);
    expect(errors()).toContain('parallel');
    expect(validate({ ...job, write: { mode: 'upsert' } })).toBe(false);
    expect(validate({ ...job, chunk: { column: 'ts', every: '1 day', size: 10 } })).toBe(false);
    expect(validate({ ...job, source: { type: 'csv', path: 'x.csv', delimiter: ';' } })).toBe(false);
  });

  it('prints the same schema to stdout, with descriptions', async () => {
    const r = await runCli(['schema'], { cwd: dir });
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.stdout) as { properties: Record<string, { description?: string }> };
    expect(printed).toEqual(JSON.parse(readFileSync(join(dir, 'backfill.schema.json'), 'utf8')));
    expect(printed.properties['timeout']?.description).toContain('chunk attempt');
  });
});
