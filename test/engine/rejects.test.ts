// Rejected rows: bad CSV lines, NULL chunk values and rows PostgreSQL refuses are kept with their place and reason, and counted.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, runBackfill, type Job } from '../../src/index.js';
import { readStatus } from '../../src/engine/status/read-status.js';
import { checkRejects, RejectLimitError } from '../../src/engine/safety/reject-rows.js';
import { csvFields, csvRecords } from '../../src/connectors/refused-rows.js';
import { timeChunk } from '../../src/core/chunk.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { ensurePostgres, POSTGRES_URL, pgQuery } from '../helpers/services.js';

const SCHEMA = `rejects_${Math.random().toString(36).slice(2, 8)}`;

const sql = pgQuery;

interface Reject {
  readonly chunk: string;
  readonly source: string | null;
  readonly line: number | null;
  readonly key: string | null;
  readonly raw: string;
  readonly reason: string;
  readonly run: string;
}

function rejectsOf(job: Job): Reject[] {
  if (!existsSync(job.rejects.dir)) return [];
  return readdirSync(job.rejects.dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(job.rejects.dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Reject));
}

function ledgerRows(job: Job): { chunk_key: string; status: string; rows_read: number; rows_written: number; rows_rejected: number; error: string | null }[] {
  const db = new Database(job.ledgerPath, { readonly: true });
  try {
    return db.prepare(`SELECT chunk_key, status, rows_read, rows_written, rows_rejected, error FROM backfill_chunks ORDER BY chunk_key`).all() as never;
  } finally {
    db.close();
  }
}

/** Two days of events; line 3 has a bad amount, line 5 too many fields, line 7 no timestamp. */
const CSV = [
  'id,ts,amount',
  '1,2024-01-01 00:00:00,10', // line 2
  '2,2024-01-01 01:00:00,abc', // line 3: not a number
  '3,2024-01-01 02:00:00,30', // line 4
  '4,2024-01-01 03:00:00,40,oops', // line 5: a field too many
  '5,2024-01-02 00:00:00,50', // line 6
  '6,,60', // line 7: NULL in the chunk column
  '7,2024-01-02 01:00:00,70', // line 8
].join('\n');

const COLUMNS = { id: 'BIGINT', ts: 'TIMESTAMP', amount: 'BIGINT' };

function csvJob(dir: string, maxRejects: number, extra: Record<string, unknown> = {}): Job {
  mkdirSync(join(dir, 'in'), { recursive: true });
  writeFileSync(join(dir, 'in', 'events.csv'), CSV + '\n');
  return defineJob(
    {
      name: 'rej',
      // The dialect is given: a sniffer cannot settle it on a few lines, one of them with a field too many.
      source: { type: 'csv', path: 'in/*.csv', options: { columns: COLUMNS, header: true, delim: ',', quote: '"', auto_detect: false } },
      chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-03' },
      target: { type: 'parquet', path: 'lake' },
      write: { mode: 'replace' },
      retries: { attempts: 1 },
      maxRejects,
      ...extra,
    },
    { baseDir: dir },
  );
}

describe('rejected rows: the rules', () => {
  it('splits CSV text into records, keeping a quoted newline inside its field', () => {
    const text = Buffer.from('1,"a\nb",x\n2,"say ""hi""",y\n3,c,z');
    const records = csvRecords(text).map(([a, b]) => text.subarray(a, b).toString());
    expect(records).toEqual(['1,"a\nb",x\n', '2,"say ""hi""",y\n', '3,c,z']);
    expect(csvFields('2,"say ""hi""",y')).toEqual(['2', 'say "hi"', 'y']);
  });

  it('fails a chunk past maxRejects per chunk or per run, naming the first row', () => {
    const chunk = timeChunk(Date.UTC(2024, 0, 1), Date.UTC(2024, 0, 2));
    const rejects = { count: 2, rows: [{ source: 'a.csv', line: 3, key: null, raw: 'x', reason: 'bad' }] };
    expect(() => checkRejects(chunk, rejects, { perChunk: 2, perRun: undefined }, 0, undefined)).not.toThrow();
    expect(() => checkRejects(chunk, rejects, { perChunk: 1, perRun: undefined }, 0, 'f.jsonl')).toThrow(
      /2 rejected row\(s\), more than maxRejects 1 per chunk; first: a\.csv:3: bad; all kept in f\.jsonl/,
    );
    expect(() => checkRejects(chunk, rejects, { perChunk: 5, perRun: 10 }, 9, undefined)).toThrow(RejectLimitError);
    expect(() => checkRejects(chunk, rejects, { perChunk: 5, perRun: 10 }, 8, undefined)).not.toThrow();
  });
});

describe('rejected rows from files', () => {
  it('maxRejects 0: the chunk holding the bad lines fails naming file and line, and the lines are still kept', async () => {
    const dir = tempDir('rej0');
    const job = csvJob(dir, 0);
    const result = await runBackfill(job);
    expect(result.failed).toBe(1);
    expect(result.done).toBe(1);
    const failed = result.chunks.find((c) => c.outcome === 'failed');
    expect(failed?.error).toMatch(/3 rejected row\(s\), more than maxRejects 0/);
    expect(failed?.error).toContain(`${join(dir, 'in', 'events.csv')}:3`);
    const kept = rejectsOf(job);
    expect(kept.map((r) => r.line ?? 'null').sort()).toEqual([3, 5, 'null']);
  });

  it('maxRejects 5: every chunk is done, the rejects file holds file, line, raw text and reason, and rows read = written + rejected', async () => {
    const dir = tempDir('rej5');
    const job = csvJob(dir, 5);
    const result = await runBackfill(job);
    expect(result).toMatchObject({ done: 2, failed: 0 });
    const kept = rejectsOf(job);
    const bad = kept.find((r) => r.line === 3);
    expect(bad).toMatchObject({ source: join(dir, 'in', 'events.csv'), raw: '2,2024-01-01 01:00:00,abc', run: result.runId });
    expect(bad?.reason).toMatch(/CAST in column amount/);
    expect(kept.find((r) => r.line === 5)?.reason).toMatch(/TOO MANY COLUMNS/);
    const nullRow = kept.find((r) => r.line === null);
    expect(nullRow?.reason).toBe('NULL in the chunk column "ts"');
    expect(JSON.parse(nullRow?.raw ?? '{}')).toMatchObject({ id: 6, amount: 60 });
    const ledger = ledgerRows(job);
    for (const c of ledger) expect(c.rows_read).toBe(c.rows_written + c.rows_rejected);
    expect(ledger.map((c) => c.rows_rejected)).toEqual([3, 0]);
    expect(ledger.reduce((n, c) => n + c.rows_written, 0)).toBe(4);
    const lake = await query<{ n: string }>(`SELECT count(*) AS n FROM read_parquet('${join(dir, 'lake')}/**/*.parquet')`);
    expect(lake[0]?.n).toBe('4');
    const status = await readStatus(job);
    expect(status?.rows).toEqual({ read: 7, written: 4, rejected: 3 });
    expect(status?.rejects.chunks).toEqual([{ key: ledger[0]?.chunk_key, rejected: 3, file: join(job.rejects.dir, '20240101T000000Z_20240102T000000Z.jsonl') }]);

    // A restate rewrites each chunk's rejects instead of adding to them.
    await runBackfill(job, { restate: true });
    expect(rejectsOf(job)).toHaveLength(3);
  });

  it('reads chunk by chunk (files named by date): maxRejects 0 fails the chunk with the line; maxRejects 5 keeps it and writes the rest', async () => {
    for (const maxRejects of [0, 5]) {
      const dir = tempDir(`rejday${maxRejects}`);
      mkdirSync(join(dir, 'in'), { recursive: true });
      writeFileSync(join(dir, 'in', 'events-2024-01-01.csv'), 'id,ts,amount\n1,2024-01-01 00:00:00,10\n2,2024-01-01 01:00:00,abc\n3,2024-01-01 02:00:00,30\n');
      writeFileSync(join(dir, 'in', 'events-2024-01-02.csv'), 'id,ts,amount\n4,2024-01-02 00:00:00,40\n');
      const job = defineJob(
        {
          name: 'rejday',
          source: { type: 'csv', path: 'in/*.csv', pruneBy: 'filename', options: { columns: COLUMNS, header: true } },
          chunk: { column: 'ts', every: '1 day' },
          target: { type: 'parquet', path: 'lake' },
          retries: { attempts: 1 },
          maxRejects,
        },
        { baseDir: dir },
      );
      const result = await runBackfill(job);
      const kept = rejectsOf(job);
      expect(kept, JSON.stringify({ maxRejects, ledger: ledgerRows(job) })).toHaveLength(1);
      expect(kept[0]).toMatchObject({ source: join(dir, 'in', 'events-2024-01-01.csv'), line: 3, raw: '2,2024-01-01 01:00:00,abc' });
      const first = ledgerRows(job)[0];
      if (maxRejects === 0) {
        expect(result).toMatchObject({ done: 1, failed: 1 });
        expect(first?.error).toContain('events-2024-01-01.csv:3');
      } else {
        expect(result).toMatchObject({ done: 2, failed: 0 });
        expect(first).toMatchObject({ rows_read: 3, rows_written: 2, rows_rejected: 1 });
      }
    }
  });
  it('counts rows with a NULL chunk column in a Parquet source (read chunk by chunk) as rejected, in the first chunk', async () => {
    const dir = tempDir('rejpq');
    await query(`COPY (SELECT i AS id, CASE WHEN i % 10 = 0 THEN NULL ELSE TIMESTAMP '2024-01-01' + to_microseconds(CAST(i AS BIGINT) * 3600000000) END AS ts
      FROM range(48) t(i)) TO '${join(dir, 'in.parquet')}' (FORMAT parquet)`);
    const job = defineJob(
      {
        name: 'rejpq',
        source: { type: 'parquet', path: 'in.parquet' },
        chunk: { column: 'ts', every: '1 day' },
        target: { type: 'parquet', path: 'lake' },
        retries: { attempts: 1 },
        maxRejects: 10,
      },
      { baseDir: dir },
    );
    expect(await runBackfill(job)).toMatchObject({ done: 2, failed: 0, rowsWritten: 43, rowsRejected: 5 });
    const ledger = ledgerRows(job);
    expect(ledger.map((c) => [c.rows_read, c.rows_written, c.rows_rejected])).toEqual([[26, 21, 5], [22, 22, 0]]);
    expect(rejectsOf(job).map((r) => (JSON.parse(r.raw) as { id: number }).id).sort((a, b) => a - b)).toEqual([0, 10, 20, 30, 40]);
  });
});

describe('rejected JSON lines', () => {
  it('a line that is not JSON is kept with its file and line; with maxRejects 0 it fails the chunk naming them', async () => {
    for (const maxRejects of [0, 5]) {
      const dir = tempDir(`rejjson${maxRejects}`);
      mkdirSync(join(dir, 'in'), { recursive: true });
      const lines = [
        '{"id":1,"ts":"2024-01-01 00:00:00","amount":10}',
        '{"id":2,"ts":"2024-01-01 01:00:00","amount":20',
        '{"id":3,"ts":"2024-01-02 00:00:00","amount":30}',
      ];
      writeFileSync(join(dir, 'in', 'events.jsonl'), lines.join('\n') + '\n');
      const job = defineJob(
        {
          name: 'rejjson',
          source: { type: 'jsonl', path: 'in/*.jsonl', options: { columns: COLUMNS } },
          chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-03' },
          target: { type: 'parquet', path: 'lake' },
          retries: { attempts: 1 },
          maxRejects,
        },
        { baseDir: dir },
      );
      const result = await runBackfill(job);
      const kept = rejectsOf(job);
      expect(kept[0]).toMatchObject({ source: join(dir, 'in', 'events.jsonl'), line: 2, raw: lines[1], reason: 'malformed JSON' });
      const ledger = ledgerRows(job);
      if (maxRejects === 0) {
        expect(result).toMatchObject({ done: 1, failed: 1 });
        expect(ledger[0]?.error).toContain('events.jsonl:2: malformed JSON');
      } else {
        expect(result).toMatchObject({ done: 2, failed: 0 });
        expect(ledger.map((c) => [c.rows_read, c.rows_written, c.rows_rejected])).toEqual([[2, 1, 1], [1, 1, 0]]);
      }
    }
  });
});

describe('rows PostgreSQL refuses', () => {
  beforeAll(async () => {
    await ensurePostgres();
    await sql(`CREATE SCHEMA ${SCHEMA}`);
  });
  afterAll(async () => {
    await sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  });

  function pgJob(dir: string, table: string, maxRejects: number): Job {
    mkdirSync(join(dir, 'in'), { recursive: true });
    const lines = ['id,ts,name,amount'];
    for (let i = 1; i <= 40; i++) {
      // Row 7's name is too long for varchar(5), row 23's amount breaks the CHECK.
      const name = i === 7 ? 'far-too-long' : `n${i}`;
      const amount = i === 23 ? -5 : i * 10;
      lines.push(`${i},2024-01-0${1 + (i % 2)} ${String(i % 24).padStart(2, '0')}:00:00,${name},${amount}`);
    }
    writeFileSync(join(dir, 'in', 'rows.csv'), lines.join('\n') + '\n');
    return defineJob(
      {
        name: `pgrej-${table}`,
        source: { type: 'csv', path: 'in/*.csv', options: { columns: { id: 'BIGINT', ts: 'TIMESTAMP', name: 'VARCHAR', amount: 'BIGINT' }, header: true } },
        chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-03' },
        target: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.${table}` },
        write: { mode: 'append', key: ['id'] },
        retries: { attempts: 1 },
        maxRejects,
      },
      { baseDir: dir },
    );
  }

  const create = (table: string): Promise<unknown> =>
    sql(`CREATE TABLE ${SCHEMA}.${table} (id bigint PRIMARY KEY, ts timestamp NOT NULL, name varchar(5), amount bigint CHECK (amount >= 0))`);

  it('counts rows of a PostgreSQL source whose chunk column is NULL as rejected, in the first chunk', async () => {
    await sql(`CREATE TABLE ${SCHEMA}.src (id bigint, ts timestamp)`);
    await sql(`INSERT INTO ${SCHEMA}.src SELECT i, CASE WHEN i % 10 = 0 THEN NULL ELSE TIMESTAMP '2024-01-01' + i * interval '1 hour' END FROM generate_series(0, 47) i`);
    const dir = tempDir('rejpgsrc');
    const job = defineJob(
      {
        name: 'rejpgsrc',
        source: { type: 'postgres', connection: POSTGRES_URL, table: `${SCHEMA}.src` },
        chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-03' },
        target: { type: 'parquet', path: 'lake' },
        retries: { attempts: 1 },
        maxRejects: 10,
      },
      { baseDir: dir },
    );
    expect(await runBackfill(job)).toMatchObject({ done: 2, failed: 0, rowsWritten: 43, rowsRejected: 5 });
    expect(ledgerRows(job).map((c) => [c.rows_read, c.rows_written, c.rows_rejected])).toEqual([[26, 21, 5], [22, 22, 0]]);
    expect(rejectsOf(job).map((r) => r.reason)).toEqual(Array(5).fill('NULL in the chunk column "ts"'));
  });

  it('maxRejects 5: the refused rows are kept with the reason and key, the rest committed; a restate does not duplicate them', async () => {
    await create('ok5');
    const dir = tempDir('pgrej5');
    const job = pgJob(dir, 'ok5', 5);
    const result = await runBackfill(job);
    expect(result).toMatchObject({ done: 2, failed: 0 });
    const ids = await sql<{ id: string }>(`SELECT id FROM ${SCHEMA}.ok5 ORDER BY id`);
    expect(ids.map((r) => Number(r.id))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1).filter((i) => i !== 7 && i !== 23));
    const kept = rejectsOf(job).sort((a, b) => Number(a.key) - Number(b.key));
    expect(kept.map((r) => r.key)).toEqual(['7', '23']);
    expect(kept[0]?.reason).toMatch(/PostgreSQL 22001: value too long/);
    expect(kept[0]?.raw).toContain('far-too-long');
    expect(kept[1]?.reason).toMatch(/PostgreSQL 23514: .*check constraint/);
    for (const c of ledgerRows(job)) expect(c.rows_read).toBe(c.rows_written + c.rows_rejected);
    expect(ledgerRows(job).reduce((n, c) => n + c.rows_rejected, 0)).toBe(2);

    await sql(`TRUNCATE ${SCHEMA}.ok5`);
    await runBackfill(job, { restate: true });
    expect(rejectsOf(job)).toHaveLength(2);
    expect((await sql<{ n: string }>(`SELECT count(*) AS n FROM ${SCHEMA}.ok5`))[0]?.n).toBe('38');
  });

  it('more refusals than maxRejects: the chunk fails, writes none of its rows, and the refused rows found are kept', async () => {
    await create('over');
    const dir = tempDir('pgrej0');
    // Both bad rows (7 and 23) are odd ids: the same day's chunk.
    const job = pgJob(dir, 'over', 1);
    const result = await runBackfill(job);
    expect(result).toMatchObject({ done: 1, failed: 1 });
    const ids = await sql<{ id: string }>(`SELECT id FROM ${SCHEMA}.over`);
    expect(ids.every((r) => Number(r.id) % 2 === 0)).toBe(true);
    expect(ids).toHaveLength(20);
    expect(result.chunks.find((c) => c.outcome === 'failed')?.error).toMatch(/2 rejected row\(s\), more than maxRejects 1/);
    expect(rejectsOf(job)).toHaveLength(2);
  });
});
