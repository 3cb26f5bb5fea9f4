// Automatic backups and `rollback`: every target × replace/merge restored exactly to the state before a run,
// append under backup: always, backup: never refused, the later-run guard, and `backups` list/prune through the CLI.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, EventBus, rollbackRun, runBackfill, SqliteLedger, type Job, type WriteMode } from '../../src/index.js';
import { ensurePgBackupTable } from '../../src/connectors/postgres/postgres-backup.js';
import { runCli, tempDir, writeJob } from '../helpers/cli.js';
import { lakeGlob, query } from '../helpers/lake.js';
import { readAvroLake } from '../helpers/avro.js';
import { ensureMariadb, ensurePostgres, mysqlQuery, POSTGRES_URL, pgQuery } from '../helpers/services.js';

const TARGETS = ['parquet', 'avro', 'duckdb', 'postgres', 'mysql'] as const;
type TargetKind = (typeof TARGETS)[number];
const SUFFIX = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const PG_SCHEMA = `backup_rollback_${SUFFIX}`;
const MYSQL_DB = `backup_rollback_${SUFFIX}`;
const MYSQL_URL = `mysql://root@127.0.0.1:3306/${MYSQL_DB}`;

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

const myQuery = <T>(sql: string): Promise<T[]> => mysqlQuery<T>(sql, [], { dateStrings: true });

const V1 = `SELECT i AS id, TIMESTAMP '2024-01-01' + to_days(CAST((i - 1) // 5 AS INTEGER)) + to_hours(CAST((i - 1) % 5 AS BIGINT)) AS ts,
  i AS v, 'a' || i AS label FROM range(1, 16) t(i)`;
/** Version 2: day 1 has changed values, day 2 two new rows, day 3 lost three rows. */
const V2 = `SELECT id, ts, CASE WHEN id <= 3 THEN v * 10 ELSE v END AS v, label FROM (${V1}) WHERE id NOT IN (13, 14, 15)
  UNION ALL SELECT i, TIMESTAMP '2024-01-02 06:00:00', i, 'new' || i FROM range(16, 18) t(i)`;
/** Version 3: day 1 changed again. */
const V3 = `SELECT id, ts, CASE WHEN id <= 3 THEN v * 100 ELSE v END AS v, label FROM (${V1})`;

async function writeSource(dir: string, version: string): Promise<void> {
  await query(`COPY (${version}) TO '${join(dir, 'source.parquet')}' (FORMAT parquet)`);
}

function jobFor(dir: string, name: string, target: TargetKind, mode: WriteMode, backup?: 'auto' | 'always' | 'never'): Job {
  const table = `${name.replace(/-/g, '_')}`;
  return defineJob(
    {
      name,
      source: { type: 'parquet', path: 'source.parquet' },
      target:
        target === 'parquet' || target === 'avro'
          ? { type: target, path: 'lake', partitionBy: ['day'] }
          : target === 'duckdb'
            ? { type: 'duckdb', database: 'target.duckdb', table }
            : target === 'postgres'
              ? { type: 'postgres', connection: POSTGRES_URL, table: `${PG_SCHEMA}.${table}`, create: true }
              : { type: 'mysql', connection: MYSQL_URL, table, create: true },
      chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-04' },
      transform: `select *, strftime(ts, '%Y-%m-%d') as day from source`,
      write: mode === 'merge' ? { mode, key: ['id'] } : { mode },
      ...(backup === undefined ? {} : { backup }),
      concurrency: 2,
      retries: { attempts: 1 },
    },
    { baseDir: dir },
  );
}

/** The job's input as `defineJob` takes it, to vary one field. */
function jobInput(job: Job): Record<string, unknown> {
  return {
    name: job.name, source: { type: 'parquet', path: 'source.parquet' },
    target: job.target, chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-04' },
    transform: job.transform, write: job.write.mode === 'merge' ? { mode: 'merge', key: [...job.write.key] } : { mode: job.write.mode },
    backup: job.backup, concurrency: 2, retries: { attempts: 1 },
  };
}

/** The target's full contents, every column, in a stable order and a comparable text form. */
async function contents(job: Job): Promise<string[]> {
  const t = job.target;
  let rows: Record<string, unknown>[];
  if (t.type === 'parquet') {
    if (!existsSync(t.path)) return [];
    rows = await query(`SELECT id, CAST(ts AS VARCHAR) AS ts, v, label, day FROM read_parquet('${lakeGlob(t.path)}', hive_partitioning = true) ORDER BY ALL`);
  } else if (t.type === 'avro') {
    // Read by Apache's avro-js; timestamps are micros since the epoch, shown as DuckDB shows them.
    rows = (await readAvroLake(t.path)).map((r) => ({ ...r, ts: new Date(Number(BigInt(r['ts'] as bigint) / 1000n)).toISOString().replace('T', ' ').replace(/\.000Z$/, '') }));
    rows.sort((a, b) => Number(a['id']) - Number(b['id']) || String(a['ts']).localeCompare(String(b['ts'])) || Number(a['v']) - Number(b['v']));
  } else if (t.type === 'duckdb') {
    const out = await query(
      `ATTACH '${t.database}' AS t (READ_ONLY); SELECT id, CAST(ts AS VARCHAR) AS ts, v, label, day FROM t.main."${t.table}" ORDER BY ALL`,
    );
    rows = out.filter((r) => 'id' in r);
  } else if (t.type === 'postgres') {
    rows = await pgQuery(`SELECT id, ts::text AS ts, v, label, day FROM ${t.table} ORDER BY id, ts, v, label`);
  } else {
    rows = await myQuery(`SELECT id, CAST(ts AS CHAR) AS ts, v, label, day FROM \`${MYSQL_DB}\`.\`${t.table}\` ORDER BY id, ts, v, label`);
  }
  return rows.map((r) => JSON.stringify([String(r['id']), String(r['ts']).slice(0, 19), String(r['v']), r['label'], r['day']]));
}

async function statuses(job: Job): Promise<Record<string, string>> {
  const ledger = SqliteLedger.open(job.ledgerPath);
  try {
    return Object.fromEntries((await ledger.listChunks(job.name)).map((c) => [c.key, c.status]));
  } finally {
    await ledger.close();
  }
}

for (const target of TARGETS) {
  for (const mode of ['replace', 'merge'] as const) {
    describe(`${target} target, ${mode} mode`, () => {
      it('rolls a run back to exactly the state before it, verified, with its chunks pending again', async () => {
        const dir = tempDir(`br-${target}-${mode}`);
        const job = jobFor(dir, `br_${SUFFIX}_${target}_${mode}`, target, mode);
        await writeSource(dir, V1);
        expect(await runBackfill(job)).toMatchObject({ status: 'done', done: 3 });
        const v1 = await contents(job);
        expect(v1).toHaveLength(15);

        await writeSource(dir, V2);
        const second = await runBackfill(job, { restate: true });
        expect(second).toMatchObject({ status: 'done', done: 3 });
        const v2 = await contents(job);
        expect(v2).not.toEqual(v1);
        expect(v2).toHaveLength(mode === 'replace' ? 14 : 17);

        const result = await rollbackRun(job, { runId: second.runId });
        expect(result).toMatchObject({ status: 'rolled-back', runId: second.runId });
        expect(result.chunks).toHaveLength(3);
        // Replace backs up the chunks' ranges; merge only the rows v2 changed (ids 1–3); a lake keeps the chunks' whole files.
        expect(result.rowsRestored).toBe(mode === 'replace' || target === 'parquet' || target === 'avro' ? 15 : 3);
        expect(await contents(job)).toEqual(v1);
        expect(Object.values(await statuses(job))).toEqual(['pending', 'pending', 'pending']);

        // Twice is a no-op.
        const again = await rollbackRun(job, { runId: second.runId });
        expect(again).toMatchObject({ status: 'already', chunks: [] });
        expect(await contents(job)).toEqual(v1);
      });
    });
  }

  describe(`${target} target, append mode`, () => {
    it('with backup: always, a rollback removes the rows the run appended', async () => {
      const dir = tempDir(`br-${target}-append`);
      const job = jobFor(dir, `br_${SUFFIX}_${target}_append`, target, 'append', 'always');
      await writeSource(dir, V1);
      await runBackfill(job);
      const before = await contents(job);
      const second = await runBackfill(job, { restate: true, from: '2024-01-02', to: '2024-01-03' });
      expect(second.done).toBe(1);
      expect(await contents(job)).toHaveLength(20);
      const result = await rollbackRun(job, { runId: second.runId });
      expect(result.chunks.map((c) => c.key)).toEqual(['2024-01-02T00:00:00Z/2024-01-03T00:00:00Z']);
      expect(await contents(job)).toEqual(before);
    });
  });
}

/** A digest of the whole table, every column, in key order: equal digests, equal tables. */
async function tableDigest(job: Job): Promise<string> {
  const t = job.target;
  if (t.type === 'postgres') return (await pgQuery<{ d: string }>(`SELECT md5(string_agg(t::text, '|' ORDER BY id)) AS d FROM ${t.table} AS t`))[0]?.d ?? '';
  if (t.type === 'mysql') {
    const rows = await myQuery<{ d: string }>(
      `SELECT MD5(GROUP_CONCAT(CONCAT_WS(',', id, ts, v, QUOTE(label), QUOTE(day)) ORDER BY id SEPARATOR '|')) AS d FROM \`${MYSQL_DB}\`.\`${t.table}\``,
    );
    return rows[0]?.d ?? '';
  }
  if (t.type !== 'duckdb') throw new Error(`no digest for ${t.type}`);
  const out = await query(`ATTACH '${t.database}' AS t (READ_ONLY); SELECT md5(string_agg(x::VARCHAR, '|' ORDER BY id)) AS d FROM t.main."${t.table}" AS x`);
  return String(out.find((r) => 'd' in r)?.['d']);
}

/** Rows per kind (`old`, `new`) in a run's backup table. */
async function backupKinds(job: Job, location: string): Promise<Record<string, number>> {
  const t = job.target;
  let rows: { k: string; n: unknown }[];
  if (t.type === 'postgres') rows = await pgQuery(`SELECT backfill_kind AS k, count(*) AS n FROM ${location} GROUP BY 1`);
  else if (t.type === 'mysql') rows = await myQuery(`SELECT backfill_kind AS k, count(*) AS n FROM \`${MYSQL_DB}\`.\`${location}\` GROUP BY 1`);
  else if (t.type === 'duckdb') rows = (await query(`ATTACH '${t.database}' AS t (READ_ONLY); SELECT backfill_kind AS k, count(*) AS n FROM t.${location} GROUP BY 1`)).filter((r) => 'k' in r) as { k: string; n: unknown }[];
  else throw new Error(`no backup table for ${t.type}`);
  return Object.fromEntries(rows.map((r) => [r.k, Number(r.n)]));
}

for (const target of ['duckdb', 'postgres', 'mysql'] as const) {
  describe(`${target} target, a merge over existing keys`, () => {
    it('backs up only the rows it changes and the keys it inserts, and rolls back to exactly the table before', async () => {
      const dir = tempDir(`br-${target}-changed`);
      const job = jobFor(dir, `br_${SUFFIX}_${target}_changed`, target, 'merge');
      await writeSource(dir, V1);
      await runBackfill(job);
      const before = await contents(job);
      const digest = await tableDigest(job);
      // V2 changes ids 1–3, leaves ids 4–12 as they are (13–15 are not in it) and inserts ids 16 and 17.
      await writeSource(dir, V2);
      const second = await runBackfill(job, { restate: true });
      expect(second).toMatchObject({ status: 'done', rowsWritten: 5 });
      expect(await contents(job)).toHaveLength(17);

      const ledger = SqliteLedger.open(job.ledgerPath);
      const backups = await ledger.listBackups(job.name, second.runId).finally(() => ledger.close());
      // The staged rows were 14; the backup holds the 3 the merge changed, not the 9 it left alone.
      expect(backups.reduce((n, b) => n + b.rows, 0)).toBe(3);
      expect(await backupKinds(job, (backups[0] as { location: string }).location)).toEqual({ old: 3, new: 2 });

      const result = await rollbackRun(job, { runId: second.runId });
      expect(result.rowsRestored).toBe(3);
      expect(await contents(job)).toEqual(before);
      expect(await tableDigest(job)).toBe(digest);
    });
  });
}

describe('a PostgreSQL merge over existing keys through MERGE (no unique index to upsert on)', () => {
  it('backs up only what it changes, writes the same rows, and rolls back exactly', async () => {
    const dir = tempDir('br-pg-merge-stmt');
    const base = jobFor(dir, `br_${SUFFIX}_pg_merge_stmt`, 'postgres', 'merge');
    const job = defineJob({ ...jobInput(base), target: { ...base.target, mergeWith: 'merge' } }, { baseDir: dir });
    await writeSource(dir, V1);
    await runBackfill(job);
    const before = await contents(job);
    await writeSource(dir, V2);
    const second = await runBackfill(job, { restate: true });
    expect(second).toMatchObject({ status: 'done', rowsWritten: 5 });
    const after = await contents(job);
    expect(after).toHaveLength(17);
    expect(after.filter((r) => r.startsWith('["1",'))).toEqual(['["1","2024-01-01 00:00:00","10","a1","2024-01-01"]']);
    const ledger = SqliteLedger.open(job.ledgerPath);
    const backups = await ledger.listBackups(job.name, second.runId).finally(() => ledger.close());
    expect(await backupKinds(job, (backups[0] as { location: string }).location)).toEqual({ old: 3, new: 2 });
    await rollbackRun(job, { runId: second.runId });
    expect(await contents(job)).toEqual(before);
  });
});

describe('other routes back up too', () => {
  for (const target of ['parquet', 'postgres'] as const) {
    it(`one pass over a CSV source into ${target} (replace): rollback restores the state before`, async () => {
      const dir = tempDir(`br-onepass-${target}`);
      const base = jobFor(dir, `br_${SUFFIX}_onepass_${target}`, target, 'replace');
      const job = defineJob({ ...jobInput(base), source: { type: 'csv', path: 'source.csv' } }, { baseDir: dir });
      const writeCsv = (version: string) => query(`COPY (${version}) TO '${join(dir, 'source.csv')}' (FORMAT csv, HEADER true)`);
      await writeCsv(V1);
      const events = new EventBus();
      const passes: string[] = [];
      events.on('stage:done', (e) => passes.push(e.pass));
      await runBackfill(job, { events });
      const v1 = await contents(job);
      expect(v1).toHaveLength(15);
      await writeCsv(V2);
      const second = await runBackfill(job, { restate: true, events });
      expect(passes).toEqual(['one-pass', 'one-pass']);
      expect(await contents(job)).toHaveLength(14);
      await rollbackRun(job, { runId: second.runId });
      expect(await contents(job)).toEqual(v1);
    });
  }

  it('PostgreSQL to PostgreSQL in one database (INSERT … SELECT route), merge: rollback restores the state before', async () => {
    const dir = tempDir('br-indb');
    const source = `${PG_SCHEMA}.indb_source`;
    const table = `${PG_SCHEMA}.indb_target`;
    await pgQuery(`CREATE TABLE ${source} AS SELECT i AS id, timestamp '2024-01-01' + ((i - 1) / 5) * interval '1 day' + ((i - 1) % 5) * interval '1 hour' AS ts,
      i AS v, 'a' || i AS label FROM generate_series(1, 15) i`);
    const job = defineJob(
      {
        name: `br_${SUFFIX}_indb`,
        source: { type: 'postgres', connection: POSTGRES_URL, table: source },
        target: { type: 'postgres', connection: POSTGRES_URL, table, create: true },
        chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-04' },
        write: { mode: 'merge', key: ['id'] },
        concurrency: 2,
      },
      { baseDir: dir },
    );
    const all = async (): Promise<string[]> => (await pgQuery(`SELECT * FROM ${table} ORDER BY id`)).map((r) => JSON.stringify(r));
    await runBackfill(job);
    const v1 = await all();
    expect(v1).toHaveLength(15);
    await pgQuery(`UPDATE ${source} SET v = v * 10 WHERE id <= 3`);
    await pgQuery(`INSERT INTO ${source} VALUES (16, timestamp '2024-01-02 06:00', 16, 'new16')`);
    const second = await runBackfill(job, { restate: true });
    expect(second.rowsWritten).toBe(4);
    expect(await all()).toHaveLength(16);
    const result = await rollbackRun(job, { runId: second.runId });
    // Only the rows the merge changed were backed up (ids 1–3); id 16 is deleted.
    expect(result.rowsRestored).toBe(3);
    expect(await all()).toEqual(v1);
  });
});

describe('a backed-up PostgreSQL merge of new keys', () => {
  // Chunks on the key itself, which the primary key indexes: a chunk whose keys are all new loads
  // straight into the table and keeps its range as a replace would.
  const jobOn = (dir: string, name: string, table: string, transform?: string): Job =>
    defineJob(
      {
        name, source: { type: 'csv', path: 'rows.csv' }, chunk: { column: 'id', size: 10 },
        target: { type: 'postgres', connection: POSTGRES_URL, table: `${PG_SCHEMA}.${table}`, create: true },
        write: { mode: 'merge', key: ['id'] }, concurrency: 1, ...(transform === undefined ? {} : { transform }),
      },
      { baseDir: dir },
    );
  const backupModes = async (job: Job, runId: string): Promise<string[]> => {
    const ledger = SqliteLedger.open(job.ledgerPath);
    try {
      return (await ledger.listBackups(job.name, runId)).map((b) => (JSON.parse(b.detail) as { mode: string }).mode);
    } finally {
      await ledger.close();
    }
  };
  const rowsOf = async (table: string): Promise<string[]> => (await pgQuery<{ r: string }>(`SELECT concat_ws('|', id, v) AS r FROM ${PG_SCHEMA}.${table} ORDER BY id`)).map((x) => x.r);

  it('loads straight into the table where its range is empty, backs up that range, stages where the range holds rows, and rolls back to exactly the rows before', async () => {
    const dir = tempDir('br-range');
    const table = 'range_merge';
    await pgQuery(`CREATE TABLE ${PG_SCHEMA}.${table} (id bigint PRIMARY KEY, v text)`);
    // Rows already there in the chunks' ranges whose keys the run does not write.
    await pgQuery(`INSERT INTO ${PG_SCHEMA}.${table} VALUES (5, 'kept'), (25, 'kept too')`);
    await query(`COPY (SELECT i AS id, 'v' || i AS v FROM range(0, 40) t(i) WHERE i NOT IN (5, 25)) TO '${join(dir, 'rows.csv')}' (HEADER)`);
    const job = jobOn(dir, `br_${SUFFIX}_range`, table);
    const before = await rowsOf(table);
    const run = await runBackfill(job);
    expect(run).toMatchObject({ status: 'done', rowsWritten: 38 });
    // Chunks [10, 20) and [30, 40) found their ranges empty: no key list, the range was kept
    // instead. Chunks [0, 10) and [20, 30) hold a row already, so they staged and kept only what
    // the merge changed (their new keys), not their whole range.
    expect(await backupModes(job, run.runId)).toEqual(['merge', 'replace', 'merge', 'replace']);
    expect(await rowsOf(table)).toHaveLength(40);
    const rolled = await rollbackRun(job, { runId: run.runId });
    // The rows already there were neither changed nor copied.
    expect(rolled.rowsRestored).toBe(0);
    expect(await rowsOf(table)).toEqual(before);
  });

  it('stages instead when a transform moves rows out of their chunk\'s range, and still rolls back exactly', async () => {
    const dir = tempDir('br-range-moved');
    const table = 'range_moved';
    await pgQuery(`CREATE TABLE ${PG_SCHEMA}.${table} (id bigint PRIMARY KEY, v text)`);
    // A row in the first chunk's range [0, 10) that the moved rows (1000…) do not touch.
    await pgQuery(`INSERT INTO ${PG_SCHEMA}.${table} VALUES (5, 'kept')`);
    await query(`COPY (SELECT i AS id, 'v' || i AS v FROM range(0, 40) t(i)) TO '${join(dir, 'rows.csv')}' (HEADER)`);
    const job = jobOn(dir, `br_${SUFFIX}_moved`, table, 'select id + 1000 as id, v from source');
    const before = await rowsOf(table);
    const run = await runBackfill(job);
    expect(run).toMatchObject({ status: 'done', rowsWritten: 40 });
    expect(await rowsOf(table)).toHaveLength(41);
    expect(await backupModes(job, run.runId)).toEqual(['merge', 'merge', 'merge', 'merge']);
    await rollbackRun(job, { runId: run.runId });
    expect(await rowsOf(table)).toEqual(before);
  });
});

describe('chunks racing', () => {
  it('to create the run\'s PostgreSQL backup table all get it, none fails on the catalog', async () => {
    const target = `${PG_SCHEMA}.race_t`;
    await pgQuery(`CREATE TABLE ${target} (id bigint PRIMARY KEY, v text)`);
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 8 });
    try {
      for (let round = 0; round < 5; round++) {
        const runId = `01RACE${round}${SUFFIX}`.toUpperCase();
        const made = await Promise.all(
          Array.from({ length: 8 }, async () => {
            const client = await pool.connect();
            try {
              return await ensurePgBackupTable(client, target, target, 'race', runId);
            } finally {
              client.release();
            }
          }),
        );
        expect(new Set(made).size).toBe(1);
        expect(await pgQuery(`SELECT to_regclass($1) IS NOT NULL AS made`, [made[0]])).toEqual([{ made: true }]);
      }
    } finally {
      await pool.end();
    }
  });

  for (const target of ['duckdb', 'postgres', 'mysql'] as const) {
    it(`${target}: every chunk of a backed-up run starting at once commits on its first attempt`, async () => {
      const dir = tempDir(`br-race-${target}`);
      const job = jobFor(dir, `br_${SUFFIX}_race_${target}`, target, 'merge', 'always');
      const racing = defineJob({ ...jobInput(job), concurrency: 3 }, { baseDir: dir });
      await writeSource(dir, V1);
      // Each run has a backup table of its own, made by whichever of its three chunks comes first.
      for (let run = 0; run < 4; run++) {
        const result = await runBackfill(racing, { restate: true });
        expect(result.chunks.map((c) => c.error ?? c.outcome)).toEqual(['done', 'done', 'done']);
      }
      expect(await contents(racing)).toHaveLength(15);
    });
  }
});

describe('refusals', () => {
  it('backup: never — rollback refuses with a clear message and changes nothing', async () => {
    const dir = tempDir('br-never');
    const job = jobFor(dir, `br_${SUFFIX}_never`, 'duckdb', 'replace', 'never');
    await writeSource(dir, V1);
    await runBackfill(job);
    await writeSource(dir, V2);
    const second = await runBackfill(job, { restate: true });
    const v2 = await contents(job);
    await expect(rollbackRun(job, { runId: second.runId })).rejects.toThrow(/took no backups, so it cannot be rolled back/);
    await expect(rollbackRun(job, { runId: 'NO-SUCH-RUN' })).rejects.toThrow(/has no run NO-SUCH-RUN/);
    expect(await contents(job)).toEqual(v2);
  });

  it('a backup that no longer matches its checksum is not restored: the chunk stays as it was', async () => {
    const dir = tempDir('br-tamper');
    const job = jobFor(dir, `br_${SUFFIX}_tamper`, 'postgres', 'replace');
    await writeSource(dir, V1);
    await runBackfill(job);
    await writeSource(dir, V2);
    const second = await runBackfill(job, { restate: true });
    const v2 = await contents(job);
    const ledger = SqliteLedger.open(job.ledgerPath);
    const backups = await ledger.listBackups(job.name, second.runId);
    await ledger.close();
    expect(backups).toHaveLength(3);
    // Someone changed a backed-up row of the first day (the first chunk restored) after the backup was taken.
    const day1 = backups.find((b) => b.chunkKey.startsWith('2024-01-01'))!;
    const [changed] = await pgQuery<{ n: string }>(`WITH u AS (UPDATE ${day1.location} SET v = -1 WHERE backfill_chunk = $1 AND id = 1 RETURNING 1) SELECT count(*) AS n FROM u`, [day1.chunkKey]);
    expect(changed?.n).toBe('1');
    await expect(rollbackRun(job, { runId: second.runId })).rejects.toThrow(/but the backup holds 5 rows with checksum .*; nothing was changed/);
    expect(await contents(job)).toEqual(v2);
  });

  it('refuses to roll back a run whose chunks a later run has written, unless --force; the later run first, then the earlier', async () => {
    const dir = tempDir('br-later');
    const job = jobFor(dir, `br_${SUFFIX}_later`, 'postgres', 'replace');
    await writeSource(dir, V1);
    await runBackfill(job);
    const v1 = await contents(job);
    await writeSource(dir, V2);
    const runA = await runBackfill(job, { restate: true });
    const afterA = await contents(job);
    await writeSource(dir, V3);
    const runB = await runBackfill(job, { restate: true, from: '2024-01-01', to: '2024-01-02' });
    expect(runB.done).toBe(1);
    const afterB = await contents(job);

    await expect(rollbackRun(job, { runId: runA.runId })).rejects.toThrow(new RegExp(`a later run \\(${runB.runId}\\) has written 1 of the chunks`));
    expect(await contents(job)).toEqual(afterB);

    await rollbackRun(job, { runId: runB.runId });
    expect(await contents(job)).toEqual(afterA);
    // B's chunk is still claimed last by B, so A stays guarded there: --force restores the state before A.
    await expect(rollbackRun(job, { runId: runA.runId })).rejects.toThrow(/later run/);
    const forced = await rollbackRun(job, { runId: runA.runId, force: true });
    expect(forced.chunks).toHaveLength(3);
    expect(await contents(job)).toEqual(v1);
  });
});

describe('the rollback and backups commands', () => {
  it('lists backups, rolls back by run id, refuses what it must with exit 2, and prunes', async () => {
    const dir = tempDir('br-cli');
    await writeSource(dir, V1);
    const yaml = (name: string, backup: string): string => `name: ${name}
source: { type: parquet, path: source.parquet }
chunk: { column: ts, every: 1 day, from: 2024-01-01, to: 2024-01-04 }
transform: select *, strftime(ts, '%Y-%m-%d') as day from source
target: { type: parquet, path: lake-${name}, partitionBy: [day] }
write: { mode: replace }
backup: ${backup}
concurrency: 2
`;
    const file = writeJob(dir, 'job.yaml', yaml('lake', 'auto'));
    expect((await runCli(['run', file, '--quiet'])).code).toBe(0);
    await writeSource(dir, V2);
    expect((await runCli(['run', file, '--restate', '--quiet'])).code).toBe(0);
    await writeSource(dir, V3);
    expect((await runCli(['run', file, '--restate', '--quiet', '--from', '2024-01-01', '--to', '2024-01-02'])).code).toBe(0);

    const listed = await runCli(['backups', file, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const runs = (JSON.parse(listed.stdout) as { backups: { runId: string; chunks: number; rows: number; bytes: number; location: string }[] }).backups;
    expect(runs.map((r) => r.chunks)).toEqual([1, 3, 3]); // newest first
    expect(runs[1]?.rows).toBe(15); // run 2 backed up the 15 rows of version 1
    expect(runs[0]?.bytes).toBeGreaterThan(0);
    const [third, second, first] = runs.map((r) => r.runId) as [string, string, string];

    const text = await runCli(['backups', file]);
    expect(text.stdout).toContain(second);
    expect(text.stdout).toMatch(/3 chunk\(s\)\s+15 rows/);

    const guarded = await runCli(['rollback', file, '--run', second]);
    expect(guarded.code).toBe(2);
    expect(guarded.stderr).toContain('a later run');

    const undone = await runCli(['rollback', file, '--run', third, '--json']);
    expect(undone.code, undone.stderr).toBe(0);
    expect(JSON.parse(undone.stdout)).toMatchObject({ status: 'rolled-back', chunks: [{ key: '2024-01-01T00:00:00Z/2024-01-02T00:00:00Z' }] });
    const twice = await runCli(['rollback', file, '--run', third]);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toContain('already rolled back');

    const pruned = await runCli(['backups', file, '--prune', '--keep', '1', '--json']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect((JSON.parse(pruned.stdout) as { removed: { runId: string }[] }).removed.map((r) => r.runId)).toEqual([second, first]);
    expect(readdirSync(join(dir, '.backfill', 'backups')).sort()).toEqual([third]);
    const gone = await runCli(['rollback', file, '--run', second]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain('took no backups');

    const old = await runCli(['backups', file, '--prune', '--older-than', '0s']);
    expect(old.code, old.stderr).toBe(0);
    expect(old.stdout).toContain('removed the backups of 1 run(s)');
    expect((await runCli(['backups', file])).stdout).toContain('no backups');
    expect(existsSync(join(dir, '.backfill', 'backups', third))).toBe(false);

    const bad = await runCli(['backups', file, '--prune']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--keep');

    const never = writeJob(dir, 'never.yaml', yaml('never', 'never'));
    await runCli(['run', never, '--quiet']);
    const noBackups = await runCli(['backups', never, '--json']);
    expect(JSON.parse(noBackups.stdout)).toMatchObject({ backups: [] });
  });
});
