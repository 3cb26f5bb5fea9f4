// One suite over every target × write mode: results, idempotent re-runs, restated changes, failed chunks.
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureMariadb, ensurePostgres, mysqlQuery, pgQuery, POSTGRES_URL } from '../helpers/services.js';
import { defineJob, runBackfill, type Job, type WriteMode } from '../../src/index.js';
import { tempDir } from '../helpers/cli.js';
import { lakeGlob, query } from '../helpers/lake.js';
import { TARGET_TYPES } from '../../src/connectors/registry.js';
import { readAvroLake } from '../helpers/avro.js';

// Every target the registry lists, in its order.
const TARGETS = TARGET_TYPES;
const MYSQL_DB = `conformance_${process.pid}_${Date.now().toString(36)}`;
const MYSQL_URL = `mysql://root@127.0.0.1:3306/${MYSQL_DB}`;
const PG_URL = POSTGRES_URL;
// Each run of this file writes into its own PostgreSQL schema.
const PG_SCHEMA = `conformance_${process.pid}_${Date.now().toString(36)}`;

beforeAll(async () => {
  await ensurePostgres();
  await ensureMariadb();
  await pgQuery(`CREATE SCHEMA ${PG_SCHEMA}`);
  await myQuery(`CREATE DATABASE \`${MYSQL_DB}\``);
});
afterAll(async () => {
  await pgQuery(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`);
  await myQuery(`DROP DATABASE IF EXISTS \`${MYSQL_DB}\``);
});

const myQuery = mysqlQuery;

const MODES: WriteMode[] = ['append', 'replace', 'merge'];

async function makeSource(file: string, version: number): Promise<void> {
  // 10 days × 1,000 rows; version 2 changes the values of day 3 only.
  await query(`COPY (
      SELECT i + 1 AS id, TIMESTAMP '2024-01-01' + to_microseconds(CAST(i AS BIGINT) * 86400000) AS ts,
        CASE WHEN ${version} = 2 AND i // 1000 = 2 THEN i * 10 ELSE i END AS v, 'row ' || i AS label
      FROM range(10000) t(i)) TO '${file}' (FORMAT parquet)`);
}

interface Counts {
  readonly n: number;
  readonly ids: number;
  readonly sumV: number;
}

/**
 * How the suite points a job at each target type and counts what landed. The suite runs over the
 * registry's targets: a connector added to the registry without a fixture here fails the suite.
 */
interface TargetFixture {
  block(mode: WriteMode): Record<string, unknown>;
  rows(dir: string, mode: WriteMode): Promise<Counts>;
}

const counts = (r: { n: unknown; ids: unknown; sumv?: unknown; sumV?: unknown } | undefined): Counts => ({
  n: Number(r?.n),
  ids: Number(r?.ids),
  sumV: Number(r?.sumv ?? r?.sumV),
});

const FIXTURES: Record<string, TargetFixture> = {
  parquet: {
    block: () => ({ type: 'parquet', path: 'lake', partitionBy: ['day'] }),
    rows: async (dir) => {
      const rows = await query<{ n: string; ids: string; sumV: string }>(
        `SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(v) AS sumV FROM read_parquet('${lakeGlob(join(dir, 'lake'))}', hive_partitioning = false)`,
      );
      return counts(rows[rows.length - 1]);
    },
  },
  avro: {
    block: () => ({ type: 'avro', path: 'lake', partitionBy: ['day'] }),
    // Read by Apache's avro-js, not by the engine's own (avsc) reader.
    rows: async (dir) => {
      const rows = await readAvroLake(join(dir, 'lake'));
      return { n: rows.length, ids: new Set(rows.map((r) => r.id)).size, sumV: rows.reduce((s, r) => s + Number(r.v), 0) };
    },
  },
  duckdb: {
    block: () => ({ type: 'duckdb', database: 'target.duckdb', table: 'events' }),
    rows: async (dir) => {
      const rows = await query<{ n: string; ids: string; sumV: string }>(
        `ATTACH '${join(dir, 'target.duckdb')}' AS t (READ_ONLY); SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(v) AS sumV FROM t.events`,
      );
      return counts(rows[rows.length - 1]);
    },
  },
  postgres: {
    block: (mode) => ({ type: 'postgres', connection: PG_URL, table: `${PG_SCHEMA}.events_${mode}`, create: true }),
    rows: async (_dir, mode) =>
      counts((await pgQuery<{ n: string; ids: string; sumv: string }>(`SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(v) AS sumv FROM ${PG_SCHEMA}.events_${mode}`))[0]),
  },
  mysql: {
    block: (mode) => ({ type: 'mysql', connection: MYSQL_URL, table: `events_${mode}`, create: true }),
    rows: async (_dir, mode) =>
      counts((await myQuery<{ n: number; ids: number; sumv: string }>(`SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(v) AS sumv FROM \`${MYSQL_DB}\`.events_${mode}`))[0]),
  },
};

function fixture(target: string): TargetFixture {
  const found = FIXTURES[target];
  if (found === undefined) throw new Error(`target type "${target}" is in the registry but has no conformance fixture in ${import.meta.filename}`);
  return found;
}

function jobFor(dir: string, target: string, mode: WriteMode, transform?: string): Job {
  return defineJob(
    {
      name: `conf-${target}-${mode}`,
      source: { type: 'parquet', path: 'source.parquet' },
      target: fixture(target).block(mode),
      chunk: { column: 'ts', every: '1 day' },
      transform: transform ?? `select *, strftime(ts, '%Y-%m-%d') as day from source`,
      write: mode === 'merge' ? { mode, key: ['id'] } : { mode },
      concurrency: 2,
      retries: { attempts: 1 },
    },
    { baseDir: dir },
  );
}

async function targetRows(dir: string, target: string, mode: WriteMode): Promise<Counts> {
  return fixture(target).rows(dir, mode);
}

it('has a fixture for every target in the registry', () => {
  expect(TARGET_TYPES.filter((t) => FIXTURES[t] === undefined)).toEqual([]);
});

const SUM_V1 = (9999 * 10000) / 2;
// Day 3 (i = 2000..2999) multiplied by 10 in version 2.
const DAY3 = ((2000 + 2999) * 1000) / 2;
const SUM_V2 = SUM_V1 + DAY3 * 9;

for (const target of TARGETS) {
  for (const mode of MODES) {
    describe(`${target} target, ${mode} mode`, () => {
      it('loads, re-runs idempotently, restates a changed day, and keeps a failed chunk from touching the target', async () => {
        const dir = tempDir(`conf-${target}-${mode}`);
        const source = join(dir, 'source.parquet');
        await makeSource(source, 1);

        const first = await runBackfill(jobFor(dir, target, mode));
        expect(first).toMatchObject({ status: 'done', done: 10, failed: 0, rowsRead: 10_000 });
        expect(await targetRows(dir, target, mode)).toEqual({ n: 10_000, ids: 10_000, sumV: SUM_V1 });

        // A finished job does nothing.
        const again = await runBackfill(jobFor(dir, target, mode));
        expect(again).toMatchObject({ done: 0, rowsWritten: 0 });

        // Restating unchanged data: replace and merge end where they were; append adds a copy by design.
        const restated = await runBackfill(jobFor(dir, target, mode), { restate: true, from: '2024-01-02', to: '2024-01-03' });
        expect(restated.chunks, JSON.stringify(restated.chunks)).toHaveLength(1);
        expect(restated.done, JSON.stringify(restated)).toBe(1);
        // A lake rewrites a merged chunk's files whole; a table changes only the rows that differ.
        const lake = target === 'parquet' || target === 'avro';
        if (mode === 'merge' && !lake) expect(restated.rowsWritten).toBe(0); // nothing really changed
        const afterRestate = await targetRows(dir, target, mode);
        if (mode === 'append') expect(afterRestate.n).toBe(11_000);
        else expect(afterRestate).toEqual({ n: 10_000, ids: 10_000, sumV: SUM_V1 });

        // Day 3 changes in the source; restating it brings the change in.
        await makeSource(source, 2);
        const changed = await runBackfill(jobFor(dir, target, mode), { restate: true, from: '2024-01-03', to: '2024-01-04' });
        expect(changed).toMatchObject({ done: 1, failed: 0, rowsRead: 1000 });
        if (mode === 'merge' && !lake) expect(changed.rowsWritten).toBe(1000); // every row of day 3 changed
        const afterChange = await targetRows(dir, target, mode);
        if (mode === 'append') expect(afterChange.n).toBe(12_000);
        else expect(afterChange).toEqual({ n: 10_000, ids: 10_000, sumV: SUM_V2 });

        // A chunk that fails mid-write leaves the target as it was; the others commit.
        const before = await targetRows(dir, target, mode);
        const failing = jobFor(
          dir, target, mode,
          `select *, strftime(ts, '%Y-%m-%d') as day from source where case when id = 4500 then error('boom on purpose') else true end`,
        );
        const broken = await runBackfill(failing, { restate: true, from: '2024-01-04', to: '2024-01-06' });
        expect(broken).toMatchObject({ status: 'failed', done: 1, failed: 1 });
        expect(broken.chunks.find((c) => c.outcome === 'failed')?.error).toContain('boom on purpose');
        const after = await targetRows(dir, target, mode);
        if (mode === 'append') expect(after.n).toBe(before.n + 1000);
        else expect(after).toEqual(before);
      });
    });
  }
}
