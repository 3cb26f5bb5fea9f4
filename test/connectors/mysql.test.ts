// MySQL / MariaDB source and target against the real server: every write mode, both chunk kinds, types, quoting, secrets.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, describeError, EventBus, loadJobFile, runBackfill, SqliteLedger, type Job, type WriteMode } from '../../src/index.js';
import { createSource, createTarget } from '../../src/connectors/open-connectors.js';
import { tempDir as makeTempDir, runCli, writeJob } from '../helpers/cli.js';
import { lakeGlob, query } from '../helpers/lake.js';
import { ensureMariadb, MARIADB_HOST, MARIADB_PORT } from '../helpers/services.js';

const DB = `backfill_mysql_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const connection = { host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', database: DB };
let admin: mysql.Connection;
const dirs: string[] = [];

function tempDir(prefix: string): string {
  const dir = makeTempDir(prefix);
  dirs.push(dir);
  return dir;
}

async function sql<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]> {
  const [rows] = await admin.query(text, values);
  return rows as T[];
}

/** A MySQL identifier, quoted the test's own way (not the code under test's). */
function qi(name: string): string {
  return '`' + name.split('`').join('``') + '`';
}

beforeAll(async () => {
  await ensureMariadb();
  admin = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
  await admin.query(`CREATE DATABASE \`${DB}\` CHARACTER SET utf8mb4`);
  await admin.query(`USE \`${DB}\``);
  await admin.query(`SET time_zone = '+00:00', max_recursive_iterations = 1000000`);
});

afterAll(async () => {
  await admin?.query(`DROP DATABASE IF EXISTS \`${DB}\``);
  await admin?.end();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------------------
// Files → MySQL, in each write mode.

async function makeSource(file: string, version: number): Promise<void> {
  // 10 days × 1,000 rows; version 2 changes the values of day 3 only.
  await query(`COPY (
      SELECT i + 1 AS id, TIMESTAMP '2024-01-01' + to_microseconds(CAST(i AS BIGINT) * 86400000) AS ts,
        CASE WHEN ${version} = 2 AND i // 1000 = 2 THEN i * 10 ELSE i END AS v, 'row ' || i AS label
      FROM range(10000) t(i)) TO '${file}' (FORMAT parquet)`);
}

function fileJob(dir: string, mode: WriteMode, transform?: string): Job {
  return defineJob(
    {
      name: `mysql-${mode}`,
      source: { type: 'parquet', path: 'source.parquet' },
      target: { type: 'mysql', connection, table: `events_${mode}`, create: true },
      chunk: { column: 'ts', every: '1 day' },
      ...(transform === undefined ? {} : { transform }),
      write: { mode, key: ['id'] },
      concurrency: 2,
      retries: { attempts: 1 },
    },
    { baseDir: dir },
  );
}

async function targetRows(table: string): Promise<{ n: number; ids: number; sumV: number }> {
  const [r] = await sql<{ n: string; ids: string; sumV: string | null }>(`SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(v) AS sumV FROM \`${table}\``);
  return { n: Number(r?.n), ids: Number(r?.ids), sumV: Number(r?.sumV ?? 0) };
}

const SUM_V1 = (9999 * 10000) / 2;
const DAY3 = ((2000 + 2999) * 1000) / 2;
const SUM_V2 = SUM_V1 + DAY3 * 9;

describe('files → MySQL target', () => {
  for (const mode of ['append', 'replace', 'merge'] as const) {
    it(`${mode}: loads, re-runs idempotently, restates a changed day, and a failed chunk leaves the table untouched`, async () => {
      const dir = tempDir(`mysql-${mode}`);
      const source = join(dir, 'source.parquet');
      const table = `events_${mode}`;
      await makeSource(source, 1);

      const first = await runBackfill(fileJob(dir, mode));
      expect(first.chunks.filter((c) => c.error !== undefined)).toEqual([]);
      expect(first).toMatchObject({ status: 'done', done: 10, failed: 0, rowsRead: 10_000, rowsWritten: 10_000 });
      expect(await targetRows(table)).toEqual({ n: 10_000, ids: 10_000, sumV: SUM_V1 });
      const markers = await sql<{ n: string }>(`SELECT count(*) AS n FROM backfill_chunk_commits WHERE job = ?`, [`mysql-${mode}`]);
      expect(Number(markers[0]?.n)).toBe(10);

      const again = await runBackfill(fileJob(dir, mode));
      expect(again).toMatchObject({ done: 0, rowsWritten: 0 });

      const restated = await runBackfill(fileJob(dir, mode), { restate: true, from: '2024-01-02', to: '2024-01-03' });
      expect(restated.done).toBe(1);
      if (mode === 'merge') expect(restated.rowsWritten).toBe(0); // nothing really changed
      if (mode === 'append') expect((await targetRows(table)).n).toBe(11_000);
      else expect(await targetRows(table)).toEqual({ n: 10_000, ids: 10_000, sumV: SUM_V1 });

      await makeSource(source, 2);
      const changed = await runBackfill(fileJob(dir, mode), { restate: true, from: '2024-01-03', to: '2024-01-04' });
      expect(changed).toMatchObject({ done: 1, failed: 0, rowsRead: 1000, rowsWritten: 1000 });
      if (mode === 'append') expect((await targetRows(table)).n).toBe(12_000);
      else expect(await targetRows(table)).toEqual({ n: 10_000, ids: 10_000, sumV: SUM_V2 });

      const before = await targetRows(table);
      const failing = fileJob(dir, mode, `select * from source where case when id = 4500 then error('boom on purpose') else true end`);
      const broken = await runBackfill(failing, { restate: true, from: '2024-01-04', to: '2024-01-06' });
      expect(broken).toMatchObject({ status: 'failed', done: 1, failed: 1 });
      expect(broken.chunks.find((c) => c.outcome === 'failed')?.error).toContain('boom on purpose');
      const after = await targetRows(table);
      if (mode === 'append') expect(after.n).toBe(before.n + 1000);
      else expect(after).toEqual(before);
    });
  }

  it('refuses a merge into an existing table without a unique key, and names missing columns', async () => {
    const dir = tempDir('mysql-checks');
    await makeSource(join(dir, 'source.parquet'), 1);
    await sql('CREATE TABLE no_key (id BIGINT, ts DATETIME(6), v BIGINT, label TEXT)');
    await sql('CREATE TABLE too_few (id BIGINT PRIMARY KEY, ts DATETIME(6))');
    const job = (table: string, mode: WriteMode): Job =>
      defineJob(
        {
          name: `mysql-check-${table}`,
          source: { type: 'parquet', path: 'source.parquet' },
          target: { type: 'mysql', connection, table },
          chunk: { column: 'ts', every: '1 day' },
          write: { mode, key: ['id'] },
        },
        { baseDir: dir },
      );
    await expect(runBackfill(job('no_key', 'merge'))).rejects.toThrow(/PRIMARY KEY or UNIQUE index on \(id\)/);
    await expect(runBackfill(job('too_few', 'replace'))).rejects.toThrow(/no column\(s\) v, label/);
    await expect(runBackfill(job('missing_table', 'replace'))).rejects.toThrow(/does not exist.*create: true/);
  });
});

// ------------------------------------------------------------------------------------------------
// MySQL → Parquet, time and key chunks.

describe('MySQL source', () => {
  beforeAll(async () => {
    await sql(`CREATE TABLE src_events (id BIGINT PRIMARY KEY, ts DATETIME(6) NOT NULL, day DATE NOT NULL, v INT, label VARCHAR(50), KEY (ts), KEY (day))`);
    // 5,000 rows over 5 days; one row a microsecond before midnight to test the boundaries.
    await sql(`INSERT INTO src_events
      WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4999)
      SELECT i + 1, TIMESTAMP '2024-03-01 00:00:00' + INTERVAL (i * 86.4) SECOND, DATE(TIMESTAMP '2024-03-01 00:00:00' + INTERVAL (i * 86.4) SECOND), i, CONCAT('label ', i) FROM n`);
    await sql(`UPDATE src_events SET ts = '2024-03-01 23:59:59.999999' WHERE id = 1000`);
  });

  const lakeStats = async (dir: string): Promise<{ n: number; ids: number; sumV: number; late: number }> => {
    const [r] = await query<{ n: string; ids: string; sumV: string; late: string }>(
      `SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(v) AS sumV, count(*) FILTER (WHERE ts = TIMESTAMP '2024-03-01 23:59:59.999999') AS late
       FROM read_parquet('${lakeGlob(dir)}')`,
    );
    return { n: Number(r?.n), ids: Number(r?.ids), sumV: Number(r?.sumV), late: Number(r?.late) };
  };
  const expected = { n: 5000, ids: 5000, sumV: (4999 * 5000) / 2, late: 1 };

  it('reads time chunks (DATETIME) into a Parquet lake, measuring bounds with MySQL', async () => {
    const dir = tempDir('mysql-src-time');
    const job = defineJob(
      {
        name: 'mysql-src-time',
        source: { type: 'mysql', connection, table: 'src_events', maxConcurrentQueries: 2 },
        target: { type: 'parquet', path: 'lake' },
        chunk: { column: 'ts', every: '1 day' },
        concurrency: 2,
      },
      { baseDir: dir },
    );
    const result = await runBackfill(job);
    expect(result).toMatchObject({ status: 'done', total: 5, done: 5, rowsRead: 5000, rowsWritten: 5000 });
    expect(await lakeStats(join(dir, 'lake'))).toEqual(expected);
    const again = await runBackfill(job);
    expect(again).toMatchObject({ done: 0 });
  });

  it('reads key chunks and a DATE column chunked by day from a query', async () => {
    const dir = tempDir('mysql-src-key');
    const byKey = defineJob(
      {
        name: 'mysql-src-key',
        source: { type: 'mysql', connection, table: 'src_events' },
        target: { type: 'parquet', path: 'lake-key' },
        chunk: { column: 'id', size: 1000 },
        concurrency: 2,
      },
      { baseDir: dir },
    );
    const keyed = await runBackfill(byKey);
    expect(keyed).toMatchObject({ status: 'done', failed: 0, rowsRead: 5000 });
    expect(keyed.done).toBe(keyed.total);
    expect(await lakeStats(join(dir, 'lake-key'))).toEqual(expected);

    const byDate = defineJob(
      {
        name: 'mysql-src-date',
        source: { type: 'mysql', connection, query: 'SELECT id, ts, day, v, label FROM src_events WHERE v >= 0' },
        target: { type: 'parquet', path: 'lake-date' },
        chunk: { column: 'day', every: '1 day' },
        concurrency: 2,
      },
      { baseDir: dir },
    );
    const dated = await runBackfill(byDate);
    expect(dated).toMatchObject({ status: 'done', total: 5, done: 5, rowsRead: 5000 });
    expect(await lakeStats(join(dir, 'lake-date'))).toEqual(expected);
  });
  it('stops a slow chunk query at once when interrupted: chunks released, no fetched file left, the query killed on the server', async () => {
    const dir = tempDir('mysql-src-abort');
    // Every row sleeps half a second and none passes: a daily chunk of 1,000 rows would run for
    // minutes and never sends a byte, so only a KILL on the server ends it before then.
    const marker = `SLEEP(0.5) = ${process.pid}`;
    const job = defineJob(
      {
        name: 'mysql-src-abort',
        source: { type: 'mysql', connection, query: `SELECT * FROM src_events WHERE ${marker}` },
        target: { type: 'parquet', path: 'lake' },
        // Bounds given, so that no min/max query runs over the slow source.
        chunk: { column: 'ts', every: '1 day', from: '2024-03-01', to: '2024-03-06' },
        concurrency: 2,
      },
      { baseDir: dir },
    );
    const events = new EventBus();
    const hard = new AbortController();
    const started = new Set<string>();
    const released = new Set<string>();
    events.on('chunk:start', (e) => {
      started.add(e.chunk.key);
      setTimeout(() => hard.abort(new Error('stop now')), 300);
    });
    events.on('chunk:released', (e) => released.add(e.chunk.key));
    const result = await runBackfill(job, { events, hardSignal: hard.signal });
    expect(result.status).toBe('interrupted');
    expect(result.done).toBe(0);
    // The chunks in flight were interrupted and their leases given back, not left to run out.
    expect(started.size).toBeGreaterThan(0);
    expect([...released].sort()).toEqual([...started].sort());
    expect(readdirSync(join(dir, '.backfill', 'fetch'))).toEqual([]);
    let running: { ID: number }[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        running = await sql<{ ID: number }>(`SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND ID <> CONNECTION_ID()`, [`%${marker}%`]);
        if (running.length === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(running).toEqual([]);
    } finally {
      // Should the engine have left one running, it must not hold the database until the end of the file.
      for (const r of running) await sql('KILL QUERY ?', [r.ID]).catch(() => {});
    }
  });
});

// ------------------------------------------------------------------------------------------------
// Types: MySQL → Parquet → MySQL.

describe('type round-trip', () => {
  const LONG = 'ü€'.repeat(50_000); // 100,000 characters, 250,000 bytes
  const TRICKY = 'a "quoted", value\nwith a newline\\and a backslash';

  beforeAll(async () => {
    await sql(`CREATE TABLE types_src (
      id BIGINT PRIMARY KEY, dt DATETIME(6), amount DECIMAL(20,6), n INT, txt VARCHAR(200), long_text LONGTEXT,
      bin BLOB, doc JSON, flag TINYINT(1), d DATE, tstamp TIMESTAMP(6) NULL, dbl DOUBLE, big BIGINT UNSIGNED) DEFAULT CHARSET=utf8mb4`);
    await sql(`INSERT INTO types_src VALUES
      (1, '2024-01-01 12:34:56.123456', 12345678901234.123456, 7, 'café 😀 ñ', ?, x'00FF102200', '{"a": [1, 2, {"b": "ü"}]}', 1, '2024-02-29', '2024-01-01 00:00:00.000001', 1.5, 18446744073709551615),
      (2, '1999-12-31 23:59:59.999999', -0.000001, NULL, '', '', x'', '[]', 0, '1970-01-01', NULL, -2.25e-10, 0),
      (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
      (4, '2024-01-02 00:00:00', 0, -1, 'NULL', ?, x'4E554C4C', 'null', 1, '2024-01-02', '2038-01-19 03:14:07.999999', 0, 42)`,
    [LONG, TRICKY]);
  });

  it('keeps microseconds, decimals, NULLs, unicode, long text, bytes and JSON through Parquet and back', async () => {
    const dir = tempDir('mysql-types');
    const toLake = defineJob(
      {
        name: 'mysql-types-out',
        source: { type: 'mysql', connection, table: 'types_src' },
        target: { type: 'parquet', path: 'lake' },
        chunk: { column: 'id', size: 2 },
      },
      { baseDir: dir },
    );
    expect(await runBackfill(toLake)).toMatchObject({ status: 'done', rowsRead: 4 });
    const lake = `read_parquet('${lakeGlob(join(dir, 'lake'))}')`;
    const described = await query<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM ${lake}`);
    expect(Object.fromEntries(described.map((c) => [c.column_name, c.column_type]))).toEqual({
      id: 'BIGINT', dt: 'TIMESTAMP', amount: 'DECIMAL(20,6)', n: 'INTEGER', txt: 'VARCHAR', long_text: 'VARCHAR', bin: 'BLOB',
      doc: 'JSON', flag: 'BOOLEAN', d: 'DATE', tstamp: 'TIMESTAMP', dbl: 'DOUBLE', big: 'UBIGINT',
    });
    const rows = await query<Record<string, string | boolean | null>>(
      `SELECT id, CAST(dt AS VARCHAR) AS dt, CAST(amount AS VARCHAR) AS amount, n, txt, length(long_text) AS long_len, long_text = '${LONG}' AS long_ok,
         hex(bin) AS bin, doc, flag, CAST(d AS VARCHAR) AS d, CAST(tstamp AS VARCHAR) AS tstamp, dbl, CAST(big AS VARCHAR) AS big
       FROM ${lake} ORDER BY id`,
    );
    expect(rows[0]).toMatchObject({
      id: '1', dt: '2024-01-01 12:34:56.123456', amount: '12345678901234.123456', n: 7, txt: 'café 😀 ñ', long_len: '100000', long_ok: true,
      bin: '00FF102200', flag: true, d: '2024-02-29', tstamp: '2024-01-01 00:00:00.000001', dbl: 1.5, big: '18446744073709551615',
    });
    expect(JSON.parse(rows[0]?.doc as string)).toEqual({ a: [1, 2, { b: 'ü' }] });
    expect(rows[1]).toMatchObject({ dt: '1999-12-31 23:59:59.999999', amount: '-0.000001', n: null, txt: '', long_len: '0', bin: '', doc: '[]', flag: false, d: '1970-01-01', tstamp: null, dbl: -2.25e-10, big: '0' });
    expect(Object.entries(rows[2] ?? {}).filter(([k, v]) => k !== 'id' && k !== 'long_ok' && v !== null)).toEqual([]);
    expect(rows[3]).toMatchObject({ txt: 'NULL', bin: '4E554C4C', doc: 'null', tstamp: '2038-01-19 03:14:07.999999' });
    const tricky = await query<{ ok: boolean }>(`SELECT long_text = '${TRICKY.replace(/'/g, "''")}' AS ok FROM ${lake} WHERE id = 4`);
    expect(tricky[0]?.ok).toBe(true);

    // And back into MySQL, once with LOAD DATA and once with multi-row INSERTs: identical to the original.
    for (const loadWith of ['load-data', 'insert'] as const) {
      const table = `types_back_${loadWith.replace('-', '_')}`;
      const back = defineJob(
        {
          name: `mysql-types-${loadWith}`,
          source: { type: 'parquet', path: 'lake/**/*.parquet' },
          target: { type: 'mysql', connection, table, create: true, loadWith },
          chunk: { column: 'id', size: 2 },
          write: { mode: 'merge', key: ['id'] },
        },
        { baseDir: dir },
      );
      expect(await runBackfill(back)).toMatchObject({ status: 'done', rowsRead: 4, rowsWritten: 4 });
      const cols = 'id, dt, amount, n, txt, long_text, bin, flag, d, tstamp, dbl, big';
      const diff = await sql<{ n: string }>(
        `SELECT count(*) AS n FROM (SELECT ${cols} FROM types_src EXCEPT SELECT ${cols} FROM \`${table}\`) x`,
      );
      expect(Number(diff[0]?.n)).toBe(0);
      const docs = await sql<{ same: string }>(`SELECT count(*) AS same FROM types_src s JOIN \`${table}\` t USING (id) WHERE JSON_EQUALS(s.doc, t.doc) OR (s.doc IS NULL AND t.doc IS NULL)`);
      expect(Number(docs[0]?.same)).toBe(4);
    }
  });
});

// ------------------------------------------------------------------------------------------------
// Quoting and secrets.

describe('identifiers and secrets', () => {
  it('works with backticks, quotes and spaces in table and column names', async () => {
    const src = qi('weird `name` table');
    const [id, when, its] = [qi('the id'), qi('when "it" happened'), qi("it's")];
    await sql(`CREATE TABLE ${src} (${id} BIGINT PRIMARY KEY, ${when} DATETIME(6), ${its} TEXT, KEY (${when}))`);
    await sql(`INSERT INTO ${src} VALUES (1, '2024-05-01 10:00:00', 'a'), (2, '2024-05-02 10:00:00', 'b'), (3, '2024-05-02 11:00:00', 'c')`);
    const dir = tempDir('mysql-weird');
    const job = defineJob(
      {
        name: 'mysql-weird',
        source: { type: 'mysql', connection, table: 'weird `name` table' },
        target: { type: 'mysql', connection, table: 'copy of `weird` "name"', create: true },
        chunk: { column: 'when "it" happened', every: '1 day' },
        write: { mode: 'merge', key: ['the id'] },
      },
      { baseDir: dir },
    );
    expect(await runBackfill(job)).toMatchObject({ status: 'done', done: 2, rowsWritten: 3 });
    const rows = await sql<Record<string, string>>(`SELECT * FROM ${qi('copy of `weird` "name"')} ORDER BY ${id}`);
    expect(rows.map((r) => r["it's"])).toEqual(['a', 'b', 'c']);
  });

  it('never shows the password: wrong password on the target and on the source', async () => {
    const password = 'Sup3r-Secret-Pw_42';
    const dir = tempDir('mysql-secret');
    await makeSource(join(dir, 'source.parquet'), 1);
    const targetJob = defineJob(
      {
        name: 'mysql-secret-target',
        source: { type: 'parquet', path: 'source.parquet' },
        target: { type: 'mysql', connection: `mysql://root:${password}@${MARIADB_HOST}:${MARIADB_PORT}/${DB}`, table: 'secret_t', create: true },
        chunk: { column: 'ts', every: '1 day' },
      },
      { baseDir: dir },
    );
    const sourceJob = defineJob(
      {
        name: 'mysql-secret-source',
        source: { type: 'mysql', connection: { ...connection, password }, table: 'src_events' },
        target: { type: 'parquet', path: 'lake' },
        chunk: { column: 'ts', every: '1 day' },
      },
      { baseDir: dir },
    );
    for (const job of [targetJob, sourceJob]) {
      const error = await runBackfill(job).then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      expect(error).toBeInstanceOf(Error);
      expect(error?.message).toMatch(/Access denied/);
      const texts = [error?.message, describeError(error), String(error?.stack), JSON.stringify(error), (await createSource(job)).describe(), (await createTarget(job)).describe()];
      for (const text of texts) expect(text).not.toContain(password);
    }
    expect((await createTarget(targetJob)).describe()).toBe(`mysql table secret_t in root@${MARIADB_HOST}:${MARIADB_PORT}/${DB}`);
    expect((await createSource(sourceJob)).describe()).toBe(`mysql source root@${MARIADB_HOST}:${MARIADB_PORT}/${DB} (src_events)`);
  });
});

describe('bytes loaded', () => {
  it('records the bytes LOAD DATA sent for every chunk of a CSV → MySQL run, and status --json shows them', async () => {
    const dir = tempDir('my-bytes');
    await query(`COPY (SELECT i AS id, TIMESTAMP '2024-01-01' + to_microseconds(CAST(i AS BIGINT) * 3600000000) AS ts, 'n' || i AS note FROM range(96) t(i)) TO '${join(dir, 'rows.csv')}' (HEADER)`);
    const file = writeJob(
      dir,
      'job.yaml',
      `name: my-bytes\nsource: { type: csv, path: rows.csv }\nchunk: { column: ts, every: 1 day }\n` +
        `target: { type: mysql, connection: "mysql://root@${MARIADB_HOST}:${MARIADB_PORT}/${DB}", table: bytes, create: true }\nwrite: { mode: replace }\n`,
    );
    expect((await runCli(['run', file, '--quiet'])).code).toBe(0);
    const ledger = SqliteLedger.open(loadJobFile(file).ledgerPath);
    const chunks = await ledger.listChunks('my-bytes').finally(() => ledger.close());
    expect(chunks).toHaveLength(4);
    for (const c of chunks) expect(c.bytes, c.key).toBeGreaterThan(0);
    const status = JSON.parse((await runCli(['status', file, '--json'])).stdout) as { bytes: number };
    expect(status.bytes).toBe(chunks.reduce((n, c) => n + (c.bytes ?? 0), 0));
  });
});
