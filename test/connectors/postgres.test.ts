// PostgreSQL as a source and a target against the real server: types, key chunks, secrets, and a SIGKILL mid-run.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, EventBus, loadJobFile, planBackfill, readStatus, runBackfill, SqliteLedger } from '../../src/index.js';
import { generateEvents } from '../../src/demo/generate-events.js';
import { runCli, startCli, tempDir, writeJob } from '../helpers/cli.js';
import { lakeGlob, query } from '../helpers/lake.js';
import { ensurePostgres, pgQuery } from '../helpers/services.js';

const URL = 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `pgconn_${process.pid}_${Date.now().toString(36)}`;

function sql<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
  return pgQuery<T>(text, values, { timezone: 'UTC' });
}

/** Queries on another database (the copy-stream route's target), one connection each. */
function sqlAt(url: string) {
  return <T extends pg.QueryResultRow>(text: string): Promise<T[]> => pgQuery<T>(text, [], { url });
}

const TYPED_TABLE = `(
  id bigint PRIMARY KEY,
  ts timestamptz NOT NULL,
  local_ts timestamp,
  amount numeric(20,6),
  exact numeric,
  name text,
  doc jsonb,
  payload bytea,
  flag boolean,
  day date
)`;

beforeAll(async () => {
  await ensurePostgres();
  await sql(`CREATE SCHEMA ${SCHEMA}`);
  await sql(`CREATE TABLE ${SCHEMA}.typed ${TYPED_TABLE}`);
  await sql(`INSERT INTO ${SCHEMA}.typed
    SELECT i,
      TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL '37 minutes 0.123457 seconds',
      TIMESTAMP '2024-01-01 00:00:00' + i * INTERVAL '1 second' + INTERVAL '0.000001 seconds',
      CASE WHEN i % 10 = 0 THEN NULL ELSE (i * 1.000001)::numeric(20,6) END,
      (i::numeric / 7)::numeric(60,40),
      CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'naïve café ☕ 🎉 "quoted", comma' WHEN 3 THEN repeat('long text ', 10000) ELSE E'line\\nbreak' END,
      CASE WHEN i % 3 = 0 THEN NULL ELSE jsonb_build_object('i', i, 'tags', jsonb_build_array('a', 'b')) END,
      CASE WHEN i % 4 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') || '\\x00ff'::bytea END,
      CASE WHEN i % 7 = 0 THEN NULL ELSE i % 2 = 0 END,
      DATE '2024-01-01' + (i / 40)
    FROM generate_series(1, 2000) AS g(i)`);
});

afterAll(async () => {
  await sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
});

describe('postgres source', () => {
  // The same exactness whichever way rows travel: inside one database, as a COPY stream between
  // two databases, or through the engine (a DuckDB transform forces that route).
  for (const route of ['in-database', 'copy-stream', 'engine'] as const) {
    it(`round-trips every common type PostgreSQL → PostgreSQL (${route})`, async () => {
      const otherDb = `${SCHEMA}_db`;
      const targetUrl = route === 'copy-stream' ? URL.replace(/\/test$/, `/${otherDb}`) : URL;
      if (route === 'copy-stream') {
        await sql(`DROP DATABASE IF EXISTS ${otherDb}`);
        await sql(`CREATE DATABASE ${otherDb}`);
      }
      const copyTable = `${SCHEMA}.copy_${route.replace('-', '_')}`;
      const targetSql = sqlAt(targetUrl);
      await targetSql(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
      await targetSql(`CREATE TABLE ${copyTable} ${TYPED_TABLE}`);
      const dir = tempDir('pg-types');
      const job = defineJob(
        {
          name: `pg-types-${route}`,
          source: { type: 'postgres', connection: URL, table: `${SCHEMA}.typed` },
          chunk: { column: 'ts', every: '1 week' },
          target: { type: 'postgres', connection: targetUrl, table: copyTable },
          write: { mode: 'merge', key: ['id'] },
          ...(route === 'engine' ? { transform: 'select * from source' } : {}),
        },
        { baseDir: dir },
      );
      expect((await planBackfill(job)).route).toBe(route);
      const result = await runBackfill(job);
      expect(result).toMatchObject({ status: 'done', failed: 0, rowsRead: 2000, rowsWritten: 2000 });
      // Compare as text on both sides (the copy may sit in another database).
      const digest = `SELECT md5(string_agg(t::text, '|' ORDER BY id)) AS h, count(*) AS n FROM`;
      const a = await sql<{ h: string; n: string }>(`${digest} ${SCHEMA}.typed t`);
      const b = await targetSql<{ h: string; n: string }>(`${digest} ${copyTable} t`);
      expect(b[0]).toEqual(a[0]);
      // Merging the same data again changes nothing.
      const again = await runBackfill(job, { restate: true });
      expect(again).toMatchObject({ failed: 0, rowsWritten: 0 });
      if (route === 'copy-stream') await sql(`DROP DATABASE IF EXISTS ${otherDb} WITH (FORCE)`);
    });
  }

  it('streams binary COPY between columns of the same types, text otherwise, with the same rows either way', async () => {
    const otherDb = `${SCHEMA}_bin`;
    const targetUrl = URL.replace(/\/test$/, `/${otherDb}`);
    await sql(`DROP DATABASE IF EXISTS ${otherDb}`);
    await sql(`CREATE DATABASE ${otherDb}`);
    const targetSql = sqlAt(targetUrl);
    try {
      await targetSql(`CREATE SCHEMA ${SCHEMA}`);
      // Same types as the source; and one whose id is an int4 and amount a text, which binary cannot fill.
      await targetSql(`CREATE TABLE ${SCHEMA}.same ${TYPED_TABLE}`);
      await targetSql(`CREATE TABLE ${SCHEMA}.other ${TYPED_TABLE.replace('id bigint', 'id integer').replace('amount numeric(20,6)', 'amount text')}`);
      const dir = tempDir('pg-binary');
      const job = (name: string, table: string, copyFormat: string) =>
        defineJob(
          {
            name, source: { type: 'postgres', connection: URL, table: `${SCHEMA}.typed` }, chunk: { column: 'id', size: 500 },
            target: { type: 'postgres', connection: targetUrl, table: `${SCHEMA}.${table}`, copyFormat }, write: { mode: 'append' },
          },
          { baseDir: dir },
        );
      const digest = (table: string) => `SELECT md5(string_agg(t::text, '|' ORDER BY id)) AS h, count(*)::int AS n FROM ${table} t`;
      const expected = (await sql<{ h: string; n: number }>(digest(`${SCHEMA}.typed`)))[0];
      for (const format of ['binary', 'text', 'auto']) {
        await targetSql(`TRUNCATE ${SCHEMA}.same`);
        expect(await runBackfill(job(`bin-same-${format}`, 'same', format))).toMatchObject({ status: 'done', rowsWritten: 2000 });
        expect((await targetSql(digest(`${SCHEMA}.same`)))[0]).toEqual(expected);
      }
      await expect(runBackfill(job('bin-other-binary', 'other', 'binary'))).rejects.toThrow(
        /target\.copyFormat: binary needs the same column types in source and target, but "id" is bigint in the source and integer in/,
      );
      // auto takes text there, and PostgreSQL converts each value on the way in.
      expect(await runBackfill(job('bin-other-auto', 'other', 'auto'))).toMatchObject({ status: 'done', rowsWritten: 2000 });
      expect(await targetSql(`SELECT count(*)::int AS n, max(id)::int AS id, min(amount) AS amount FROM ${SCHEMA}.other`)).toEqual([{ n: 2000, id: 2000, amount: '1.000001' }]);
    } finally {
      await sql(`DROP DATABASE IF EXISTS ${otherDb} WITH (FORCE)`);
    }
  });

  it('reads by integer key into a Parquet lake, keeping values exact', async () => {
    const dir = tempDir('pg-lake');
    const job = defineJob(
      {
        name: 'pg-lake',
        source: { type: 'postgres', connection: URL, query: `SELECT id, ts, amount, name, payload FROM ${SCHEMA}.typed WHERE id > 100` },
        chunk: { column: 'id', size: 500 },
        target: { type: 'parquet', path: 'lake' },
      },
      { baseDir: dir },
    );
    const plan = await planBackfill(job);
    // Key chunks align to multiples of the size; the first holds the minimum (101), the last the maximum (2000).
    expect(plan.chunks.map((c) => c.lo)).toEqual(['0', '500', '1000', '1500', '2000']);
    const result = await runBackfill(job);
    expect(result).toMatchObject({ status: 'done', done: 5, rowsWritten: 1900 });
    const rows = await query<{ n: string; amount: string; ts: string; name: string; payload: string }>(
      `SELECT (SELECT count(*) FROM read_parquet('${lakeGlob(join(dir, 'lake'))}')) AS n, CAST(amount AS VARCHAR) AS amount, strftime(ts, '%Y-%m-%d %H:%M:%S.%f') AS ts, name, hex(payload) AS payload
       FROM read_parquet('${lakeGlob(join(dir, 'lake'))}') WHERE id = 102`,
    );
    const expected = await sql<{ amount: string; ts: string; name: string; payload: string }>(
      `SELECT amount::text AS amount, to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US') AS ts, name, upper(encode(payload, 'hex')) AS payload FROM ${SCHEMA}.typed WHERE id = 102`,
    );
    expect(rows[0]).toEqual({ n: '1900', ...expected[0] });
  });

  it('never shows the password in errors or output', async () => {
    const dir = tempDir('pg-secret');
    const file = writeJob(dir, 'job.yaml', `
name: secret
source: { type: postgres, connection: "postgres://postgres:\${PGSECRET}@127.0.0.1:1/test", table: t }
chunk: { column: id, size: 10 }
target: { type: parquet, path: lake }
`);
    const res = await runCli(['run', file], { env: { PGSECRET: 'hunter2-Secret' } });
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('127.0.0.1:1');
    expect(res.stdout + res.stderr).not.toContain('hunter2-Secret');
  });
});

describe('pushdown', () => {
  it('runs each chunk inside the database when source and target share it, with a PostgreSQL transform', async () => {
    const dir = tempDir('pg-pushdown');
    const job = defineJob(
      {
        name: 'pushdown',
        source: { type: 'postgres', connection: URL, table: `${SCHEMA}.typed` },
        transformIn: 'source',
        transform: 'select id, ts, upper(name) as name, amount * 2 as doubled from source where flag is not null',
        chunk: { column: 'ts', every: '1 month' },
        target: { type: 'postgres', connection: URL, table: `${SCHEMA}.pushed`, create: true },
        write: { mode: 'merge', key: ['id'] },
      },
      { baseDir: dir },
    );
    const plan = await planBackfill(job);
    expect(plan.route).toBe('in-database');
    const result = await runBackfill(job);
    const expected = await sql<{ n: string }>(`SELECT count(*) AS n FROM ${SCHEMA}.typed WHERE flag IS NOT NULL`);
    expect(result).toMatchObject({ status: 'done', failed: 0, rowsWritten: Number(expected[0]?.n) });
    const diff = await sql<{ d: string }>(`SELECT count(*) AS d FROM (
      SELECT id, ts, upper(name), amount * 2 FROM ${SCHEMA}.typed WHERE flag IS NOT NULL
      EXCEPT ALL SELECT id, ts, name, doubled FROM ${SCHEMA}.pushed) x`);
    expect(diff[0]?.d).toBe('0');
    expect((await runBackfill(job, { restate: true })).rowsWritten).toBe(0);
  });

  it('rejects transformIn: source for a source that cannot run SQL', () => {
    expect(() =>
      defineJob({ name: 'x', source: { type: 'csv', path: 'a.csv' }, transformIn: 'source', transform: 'select 1', chunk: { column: 'ts', every: '1 day' }, target: { type: 'parquet', path: 'l' } }),
    ).toThrow(/transformIn: "source" needs a database source/);
  });
});

describe('postgres target with the ledger in the same database', () => {
  it('commits the chunk mark in the data transaction, and rolls the data back when the lease was lost', async () => {
    const dir = tempDir('pg-same-db');
    await query(`COPY (SELECT i AS id, TIMESTAMP '2024-01-01' + to_microseconds(CAST(i AS BIGINT) * 86400000) AS ts FROM range(3000) t(i))
      TO '${join(dir, 'in.parquet')}' (FORMAT parquet)`);
    const ledgerUrl = `${URL}?schema=${SCHEMA}_ledger`;
    const spec = {
      name: 'same-db',
      source: { type: 'parquet', path: 'in.parquet' },
      chunk: { column: 'ts', every: '1 day' },
      target: { type: 'postgres', connection: URL, table: `${SCHEMA}.same_db`, create: true },
      write: { mode: 'replace' },
      ledger: ledgerUrl,
    };
    const job = defineJob(spec, { baseDir: dir });
    const first = await runBackfill(job);
    expect(first).toMatchObject({ status: 'done', done: 3, rowsWritten: 3000 });
    const chunks = await sql<{ status: string; rows_written: string }>(`SELECT status, rows_written FROM ${SCHEMA}_ledger.backfill_chunks ORDER BY chunk_key`);
    expect(chunks).toEqual([1, 2, 3].map(() => ({ status: 'done', rows_written: '1000' })));
    const status = await readStatus(job);
    expect(status).toMatchObject({ counts: { total: 3, done: 3 }, rows: { written: 3000 } });
    expect(status?.ledger).toContain(`schema=${SCHEMA}_ledger`);

    // A worker whose lease was taken over must not commit: its fenced mark fails, so its data rolls back.
    const { PostgresLedger } = await import('../../src/ledger/postgres/postgres-ledger.js');
    const real = await PostgresLedger.open(ledgerUrl);
    const stale = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'completeSql') {
          return (lease: { token: number }, stats: never, ms: number) => target.completeSql({ ...(lease as object), token: lease.token - 1 } as never, stats, ms);
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await sql(`DELETE FROM ${SCHEMA}.same_db WHERE ts >= '2024-01-02' AND ts < '2024-01-03'`);
    const zombie = await runBackfill(job, { restate: true, from: '2024-01-02', to: '2024-01-03', ledger: stale });
    await real.close();
    expect(zombie).toMatchObject({ done: 0, skipped: 1 });
    const rows = await sql<{ n: string }>(`SELECT count(*) AS n FROM ${SCHEMA}.same_db WHERE ts >= '2024-01-02' AND ts < '2024-01-03'`);
    expect(rows[0]?.n).toBe('0');
    await sql(`DROP SCHEMA IF EXISTS ${SCHEMA}_ledger CASCADE`);
  });
});

describe('postgres target', () => {
  it('loads a single CSV file in one pass and commits chunk by chunk, in every mode', async () => {
    const dir = tempDir('pg-onepass');
    await query(`COPY (SELECT i AS id, TIMESTAMP '2024-01-01' + to_microseconds(CAST(i AS BIGINT) * 60000000) AS ts, 'n' || i AS note, '\\xDE\\xAD\\xBE\\xEF'::BLOB AS raw
      FROM range(20000) t(i)) TO '${join(dir, 'all.csv')}' (HEADER)`);
    for (const mode of ['append', 'replace', 'merge'] as const) {
      const job = defineJob(
        {
          name: `onepass-${mode}`, source: { type: 'csv', path: 'all.csv', options: { types: { raw: 'BLOB' } } }, chunk: { column: 'ts', every: '1 day' },
          target: { type: 'postgres', connection: URL, table: `${SCHEMA}.onepass_${mode}`, create: true },
          write: mode === 'merge' ? { mode, key: ['id'] } : { mode },
        },
        { baseDir: dir },
      );
      const events = new EventBus();
      const passes: string[] = [];
      events.on('stage:done', (e) => passes.push(e.pass));
      const result = await runBackfill(job, { events });
      expect(passes).toEqual(['one-pass']);
      expect(result).toMatchObject({ status: 'done', done: 14, failed: 0, rowsRead: 20_000, rowsWritten: 20_000 });
      const rows = await sql<{ n: string; ids: string; raw: string }>(`SELECT count(*) AS n, count(DISTINCT id) AS ids, min(encode(raw, 'hex')) AS raw FROM ${SCHEMA}.onepass_${mode}`);
      expect(rows[0]).toEqual({ n: '20000', ids: '20000', raw: 'deadbeef' });
    }
  });

  it('merges new keys straight into the table, and falls back to staging when a key already exists midway', async () => {
    const dir = tempDir('pg-insert-first');
    await query(`COPY (SELECT i AS id, 'n' || i AS note FROM range(2000) t(i)) TO '${join(dir, 'keys.csv')}' (HEADER)`);
    const table = `${SCHEMA}.insert_first`;
    await sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, note text)`);
    // Chunk [0, 1000) meets existing keys 500…510 after 500 new rows; 1500 exists unchanged.
    await sql(`INSERT INTO ${table} SELECT i, 'old' FROM generate_series(500, 510) i UNION ALL SELECT 1500, 'n1500'`);
    const job = defineJob(
      {
        name: 'insert-first', source: { type: 'csv', path: 'keys.csv' }, chunk: { column: 'id', size: 1000 },
        target: { type: 'postgres', connection: URL, table }, write: { mode: 'merge', key: ['id'] }, concurrency: 1,
        // A backed-up merge stages its rows to learn their keys; without a backup it may load straight in.
        backup: 'never',
      },
      { baseDir: dir },
    );
    const result = await runBackfill(job);
    // 1,988 new keys inserted and 11 changed rows updated; the unchanged row is not written.
    expect(result).toMatchObject({ status: 'done', done: 2, rowsWritten: 1999 });
    const rows = await sql<{ n: string; ids: string; wrong: string }>(
      `SELECT count(*) AS n, count(DISTINCT id) AS ids, count(*) FILTER (WHERE note <> 'n' || id) AS wrong FROM ${table}`,
    );
    expect(rows[0]).toEqual({ n: '2000', ids: '2000', wrong: '0' });
    const again = await runBackfill(job, { restate: true });
    expect(again).toMatchObject({ status: 'done', done: 2, rowsWritten: 0 });
  });

  it("removes a dead process's load files and one-pass folders at the next run, and leaves a live process's alone", async () => {
    const dir = tempDir('pg-sweep');
    await query(`COPY (SELECT i AS id, 'n' || i AS note FROM range(100) t(i)) TO '${join(dir, 'rows.csv')}' (HEADER)`);
    const load = join(dir, '.backfill', 'load');
    // A pid above Linux's pid_max (2^22) cannot belong to a running process; the parent of this one runs.
    const dead = 2_147_483_600;
    mkdirSync(join(load, `${dead}-all-k2x`, '__backfill_chunk=0'), { recursive: true });
    writeFileSync(join(load, `${dead}-all-k2x`, '__backfill_chunk=0', 'data_0.csv'), '1,x\n');
    writeFileSync(join(load, `${dead}-c0-7.csv`), '1,x\n');
    const live = join(load, `${process.ppid}-c0-3.csv`);
    writeFileSync(live, '1,x\n');
    const job = defineJob(
      {
        name: 'pg-sweep', source: { type: 'csv', path: 'rows.csv' }, chunk: { column: 'id', size: 50 },
        target: { type: 'postgres', connection: URL, table: `${SCHEMA}.sweep`, create: true },
      },
      { baseDir: dir },
    );
    const result = await runBackfill(job);
    expect(result).toMatchObject({ status: 'done', done: 2, rowsWritten: 100 });
    expect(existsSync(join(load, `${dead}-all-k2x`))).toBe(false);
    expect(existsSync(join(load, `${dead}-c0-7.csv`))).toBe(false);
    expect(existsSync(live)).toBe(true);
  });

  it('resumes after SIGKILL to the same table as an uninterrupted run', async () => {
    const dir = tempDir('pg-kill');
    await generateEvents({ dir: join(dir, 'data'), rows: 200_000, from: '2023-01-01', days: 60, threads: 1 });
    const jobText = (table: string, ledger: string): string => `
name: ${table}
source: { type: csv, path: data/*.csv*, pruneBy: filename }
chunk: { column: ts, every: 1 day }
target: { type: postgres, connection: "${URL}", table: ${SCHEMA}.${table}, create: true }
write: { mode: replace, key: [event_id] }
concurrency: 2
ledger: ${ledger}
`;
    const clean = await runCli(['run', writeJob(dir, 'clean.yaml', jobText('clean', 'clean.sqlite'))]);
    expect(clean.code, clean.stderr).toBe(0);

    const file = writeJob(dir, 'killed.yaml', jobText('killed', 'killed.sqlite'));
    const child = startCli(['run', file, '--json']);
    let out = '';
    const killed = new Promise<void>((resolve) => {
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if ((out.match(/"chunk:done"/g) ?? []).length >= 15) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
    });
    await killed;
    const resumed = await runCli(['run', file]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const diff = await sql<{ a: string; b: string; n: string }>(`SELECT
      (SELECT count(*) FROM ${SCHEMA}.killed) AS n,
      (SELECT count(*) FROM (SELECT * FROM ${SCHEMA}.clean EXCEPT ALL SELECT * FROM ${SCHEMA}.killed) x) AS a,
      (SELECT count(*) FROM (SELECT * FROM ${SCHEMA}.killed EXCEPT ALL SELECT * FROM ${SCHEMA}.clean) y) AS b`);
    expect(diff[0]).toEqual({ n: '200000', a: '0', b: '0' });
  });
});

describe('bytes loaded', () => {
  it('records the bytes COPY sent for every chunk of a CSV → PostgreSQL run, and status --json shows them', async () => {
    const dir = tempDir('pg-bytes');
    await query(`COPY (SELECT i AS id, TIMESTAMP '2024-01-01' + to_microseconds(CAST(i AS BIGINT) * 3600000000) AS ts, 'n' || i AS note FROM range(96) t(i)) TO '${join(dir, 'rows.csv')}' (HEADER)`);
    const file = writeJob(
      dir,
      'job.yaml',
      `name: pg-bytes\nsource: { type: csv, path: rows.csv }\nchunk: { column: ts, every: 1 day }\n` +
        `target: { type: postgres, connection: "${URL}", table: ${SCHEMA}.bytes, create: true }\nwrite: { mode: replace }\n`,
    );
    expect((await runCli(['run', file, '--quiet'])).code).toBe(0);
    const ledger = SqliteLedger.open(loadJobFile(file).ledgerPath);
    const chunks = await ledger.listChunks('pg-bytes').finally(() => ledger.close());
    expect(chunks).toHaveLength(4);
    for (const c of chunks) expect(c.bytes, c.key).toBeGreaterThan(0);
    const status = JSON.parse((await runCli(['status', file, '--json'])).stdout) as { bytes: number };
    expect(status.bytes).toBe(chunks.reduce((n, c) => n + (c.bytes ?? 0), 0));
  });
});
