// Change data capture against a real PostgreSQL with wal_level = logical (a throwaway cluster):
// the initial copy under concurrent writers, streaming, SIGKILL and resume, into PostgreSQL and DuckDB.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCdc } from '../../src/engine/cdc/cdc-run.js';
import { EventBus } from '../../src/core/events.js';
import { loadJobFile } from '../../src/job/job-loader.js';
import { runCli, startCli, tempDir } from '../helpers/cli.js';
import { ensurePostgres, POSTGRES_URL } from '../helpers/services.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../helpers/throwaway-postgres.js';

const PORT = 55466;
const PASSWORD = 'cdc-s3cret-pw';
let server: ThrowawayPostgres;
let admin: pg.Pool;
let url: string;

const COLUMNS = `id bigint PRIMARY KEY, name text, amount numeric(12,2), ts timestamptz, doc jsonb, raw bytea, flag boolean, tags text[]`;

beforeAll(async () => {
  await ensurePostgres();
  server = startThrowawayPostgres(PORT, { settings: ['wal_level = logical', 'max_replication_slots = 10', 'max_wal_senders = 10'] });
  // Trust authentication: the password is accepted and ignored, and must never show anywhere.
  url = `postgres://postgres:${PASSWORD}@127.0.0.1:${PORT}/postgres`;
  admin = new pg.Pool({ host: '127.0.0.1', port: PORT, user: 'postgres', database: 'postgres', max: 6 });
}, 120_000);

afterAll(async () => {
  await admin?.end();
  server?.stop();
});

/** Seed `rows` rows with awkward values: tabs, newlines, backslashes, unicode, NULLs, JSON, binary, arrays. */
async function createSource(table: string, rows: number): Promise<void> {
  await admin.query(`CREATE TABLE ${table} (${COLUMNS})`);
  await admin.query(
    `INSERT INTO ${table} SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'row ' || g || E'\\tq\\n\\\\ naïve 列' END, (g * 1.25)::numeric(12,2),
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute 0.000123 second', jsonb_build_object('g', g, 'odd', g % 2 = 1),
       CASE WHEN g % 5 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END, g % 3 = 0, ARRAY['a' || g, 'b,"c"']
     FROM generate_series(1, $1) g`,
    [rows],
  );
}

/** Random inserts, updates (some changing the key), deletes and multi-row transactions until `until` resolves. */
async function write(table: string, until: Promise<void>, seed: number): Promise<number> {
  let stop = false;
  void until.then(() => (stop = true));
  let n = 0;
  let next = 5_000 + seed * 2_000;
  const rand = (k: number): number => Math.floor(Math.random() * k) + 1;
  while (!stop) {
    const client = await admin.connect();
    try {
      const kind = n % 6;
      if (kind === 0) await client.query(`INSERT INTO ${table} (id, name, amount, flag) VALUES ($1, $2, 1.5, true)`, [next++, `new ${seed} \\ ${n}`]);
      else if (kind === 1 || kind === 2) await client.query(`UPDATE ${table} SET name = name || '+', amount = amount + 1, doc = '{"u": 1}' WHERE id = $1`, [rand(4000)]);
      else if (kind === 3) await client.query(`DELETE FROM ${table} WHERE id = $1`, [rand(4000)]);
      else if (kind === 4) await client.query(`UPDATE ${table} SET id = $2 WHERE id = $1`, [rand(4000), next++]);
      else {
        await client.query('BEGIN');
        const id = rand(4000);
        await client.query(`UPDATE ${table} SET amount = 0 WHERE id = $1`, [id]);
        await client.query(`DELETE FROM ${table} WHERE id = $1`, [id]);
        await client.query(`INSERT INTO ${table} (id, name) VALUES ($1, 'reborn') ON CONFLICT (id) DO UPDATE SET name = 'reborn'`, [id]);
        await client.query('COMMIT');
      }
      n++;
    } finally {
      client.release();
    }
  }
  return n;
}

/** Every row of both tables as PostgreSQL prints them: every column compared. */
async function rowsOf(table: string): Promise<string[]> {
  const res = await admin.query<{ r: string }>(`SELECT t::text AS r FROM ${table} t ORDER BY id`);
  return res.rows.map((r) => r.r);
}

function jobFile(dir: string, name: string, source: string, target: string, extra = '', top = ''): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
source:
  type: postgres
  connection: ${url}
  table: ${source}
  cdc: { batch: { rows: 500, wait: 200ms }${extra} }
chunk: { column: id, size: 500 }
target:
${target}
write: { mode: merge, key: [id] }
${top}`,
  );
  return file;
}

function pgTarget(table: string): string {
  return `  type: postgres\n  connection: ${url}\n  table: ${table}\n  create: true`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('cdc from PostgreSQL', () => {
  it('copies a table with history while writers change it, streams the rest, and ends equal row for row (PostgreSQL target)', async () => {
    await createSource('public.items', 4000);
    await admin.query(`CREATE SCHEMA mirror`);
    const dir = tempDir('cdc');
    const job = loadJobFile(jobFile(dir, 'items-cdc', 'public.items', pgTarget('mirror.items')));

    let release!: () => void;
    const until = new Promise<void>((r) => (release = r));
    const writers = [write('public.items', until, 1), write('public.items', until, 2), write('public.items', until, 3)];
    const events = new EventBus();
    const chunks: number[] = [];
    events.on('cdc:chunk', (e) => chunks.push(e.rows + e.dropped));
    const first = await runCdc(job, { untilCaughtUp: true, events });
    release();
    const written = (await Promise.all(writers)).reduce((a, b) => a + b, 0);
    expect(first.status).toBe('caught-up');
    expect(first.snapshot.done).toBe(true);
    expect(chunks.length).toBeGreaterThanOrEqual(8);
    expect(written).toBeGreaterThan(50);
    console.log(`initial copy: ${chunks.length} chunks, ${first.snapshot.rowsCopied} rows copied, ${first.snapshot.rowsDropped} superseded in their window; ${written} writer statements`);

    // The rest of the writers' changes arrive with a second run, which copies nothing again.
    const second = await runCdc(job, { untilCaughtUp: true });
    expect(second.snapshot.rowsCopied).toBe(0);
    expect(await rowsOf('mirror.items')).toEqual(await rowsOf('public.items'));

    // A third run with nothing new changes nothing.
    const third = await runCdc(job, { untilCaughtUp: true });
    expect(third.upserted + third.deleted).toBe(0);
    expect(await rowsOf('mirror.items')).toEqual(await rowsOf('public.items'));
  });

  it('resumes after SIGKILL mid-stream without losing or duplicating a change, and reports the slot in status', async () => {
    await admin.query(`CREATE TABLE public.ledger_src (id bigint PRIMARY KEY, n bigint NOT NULL, note text)`);
    await admin.query(`INSERT INTO public.ledger_src SELECT g, 0, 'seed' FROM generate_series(1, 2000) g`);
    await admin.query(`CREATE SCHEMA IF NOT EXISTS mirror`);
    const dir = tempDir('cdc-kill');
    const file = jobFile(dir, 'ledger-cdc', 'public.ledger_src', pgTarget('mirror.ledger'), ', maxLag: 1');

    const child = startCli(['run', file, '--json']);
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    // Every change increments a counter: a change applied twice or lost would leave n off.
    let round = 0;
    const bump = async (rounds: number): Promise<void> => {
      for (let r = 0; r < rounds; r++) {
        const i = round++;
        await admin.query(`UPDATE public.ledger_src SET n = n + 1, note = 'r' || $1 WHERE id % 10 = $1 % 10`, [i]);
        await admin.query(`DELETE FROM public.ledger_src WHERE id = $1`, [3000 + i - 1]);
        await admin.query(`INSERT INTO public.ledger_src VALUES ($1, $2, 'ins')`, [3000 + i, i]);
      }
    };
    for (let i = 0; i < 100 && !out.includes('"cdc:batch"'); i++) await sleep(100);
    await bump(30);
    for (let i = 0; i < 100 && (out.match(/"cdc:batch"/g) ?? []).length < 4; i++) await sleep(100);

    // While it streams: the slot is active, and dropping it is refused.
    let active = false;
    for (let i = 0; i < 50 && !active; i++) {
      if (i > 0) await sleep(100);
      active = (await admin.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'backfill_ledger_cdc' AND active`)).rowCount === 1;
    }
    expect(active, `the streaming run: ${err}`).toBe(true);
    const busy = await runCli(['cdc', 'drop', file]);
    expect(busy.code, `${busy.stdout}${busy.stderr}\nthe streaming run: ${err}`).toBe(2);
    expect(busy.stderr).toMatch(/in use/);

    const killing = bump(30);
    await sleep(150);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    await killing;
    await bump(10);
    expect(out, err).toContain('"cdc:batch"');

    // Lag is above the 1-byte bound now that nothing streams: status warns. (The server notices the
    // dead client's connection on its own time; until then the slot still shows as active.)
    for (let i = 0; i < 100; i++) {
      if ((await admin.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'backfill_ledger_cdc' AND NOT active`)).rowCount === 1) break;
      await sleep(100);
    }
    const status = await runCli(['status', file]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/slot backfill_ledger_cdc: inactive/);
    expect(status.stdout).toMatch(/retained WAL/);
    expect(status.stdout).toMatch(/warning: slot backfill_ledger_cdc lags \d+ bytes/);
    const json = JSON.parse((await runCli(['status', file, '--json'])).stdout) as { slot: { lagBytes: number }; position: { snapshot: { done: boolean } } };
    expect(json.slot.lagBytes).toBeGreaterThan(0);
    expect(json.position.snapshot.done).toBe(true);

    // Killed again in the narrowest window: a batch committed in the target, the slot not told.
    // The slot sends those transactions again; the target's position skips them.
    await bump(5);
    const faulted = await runCli(['run', file, '--quiet'], { env: { BACKFILL_FAULT: 'cdc-after-commit:1' } });
    expect(faulted.signal, faulted.stderr).toBe('SIGKILL');
    const resumed = await runCli(['run', file, '--until-caught-up', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const result = JSON.parse(resumed.stdout.trim().split('\n').pop() as string) as { status: string; skipped: number };
    expect(result.status).toBe('caught-up');
    expect(result.skipped).toBeGreaterThan(0);
    expect(await rowsOf('mirror.ledger')).toEqual(await rowsOf('public.ledger_src'));
    const total = await admin.query<{ n: string }>(`SELECT sum(n)::text AS n FROM mirror.ledger`);
    expect(total.rows[0]?.n).toBe((await admin.query<{ n: string }>(`SELECT sum(n)::text AS n FROM public.ledger_src`)).rows[0]?.n);

    // Dropping the slot: once, then again (nothing left to do).
    const drop = await runCli(['cdc', 'drop', file]);
    expect((await runCli(['status', file])).stdout).toMatch(/slot backfill_ledger_cdc: does not exist/);
    expect(drop.code, drop.stderr).toBe(0);
    expect(drop.stdout).toMatch(/slot backfill_ledger_cdc: dropped; publication backfill_ledger_cdc: dropped/);
    const again = await runCli(['cdc', 'drop', file]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already gone.*already gone/);
    expect((await admin.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'backfill_ledger_cdc'`)).rowCount).toBe(0);

    for (const text of [out, err, busy.stdout, busy.stderr, status.stdout, status.stderr, resumed.stdout, resumed.stderr, drop.stdout]) expect(text).not.toContain(PASSWORD);
  });

  it('streams into a DuckDB table: the copy, inserts, updates, deletes and a truncate', async () => {
    await admin.query(`CREATE TABLE public.small (id bigint PRIMARY KEY, name text, amount numeric(12,2), ts timestamptz, flag boolean, raw bytea)`);
    await admin.query(`INSERT INTO public.small SELECT g, 'n' || g, g / 4.0, timestamptz '2024-03-01 12:00:00.5+00' + g * interval '1 hour', g % 2 = 0, '\\x0aff'::bytea FROM generate_series(1, 1200) g`);
    const dir = tempDir('cdc-duck');
    const database = join(dir, 'mirror.duckdb');
    const job = loadJobFile(jobFile(dir, 'small-cdc', 'public.small', `  type: duckdb\n  database: ${database}\n  table: small`));
    await runCdc(job, { untilCaughtUp: true });
    await admin.query(`UPDATE public.small SET name = E'tab\\there', amount = NULL WHERE id <= 100`);
    await admin.query(`DELETE FROM public.small WHERE id BETWEEN 500 AND 599`);
    await admin.query(`INSERT INTO public.small VALUES (5000, 'late', 1.25, now(), NULL, NULL)`);
    await admin.query(`UPDATE public.small SET name = name WHERE id BETWEEN 1000 AND 1009`); // no real change
    const changed = await runCdc(job, { untilCaughtUp: true });
    expect({ upserted: changed.upserted, deleted: changed.deleted }).toEqual({ upserted: 101, deleted: 100 });
    const compare = async (): Promise<void> => {
      const src = await admin.query(`SELECT id::text, name, amount::text, (extract(epoch FROM ts) * 1000000)::bigint::text AS ts, flag::text, encode(raw, 'hex') AS raw FROM public.small ORDER BY id`);
      const instance = await DuckDBInstance.create(database, { access_mode: 'READ_ONLY' });
      const conn = await instance.connect();
      const dst = (await conn.runAndReadAll(`SELECT id::VARCHAR AS id, name, amount::VARCHAR AS amount, epoch_us(ts)::VARCHAR AS ts, flag::VARCHAR AS flag, lower(hex(raw)) AS raw FROM small ORDER BY id`)).getRowObjectsJson();
      conn.closeSync();
      instance.closeSync();
      expect(dst).toEqual(src.rows);
    };
    await compare();
    await admin.query(`TRUNCATE public.small`);
    await admin.query(`INSERT INTO public.small VALUES (1, 'after', 2, now(), true, NULL)`);
    await runCdc(job, { untilCaughtUp: true });
    await compare();

    // Streaming until SIGTERM: the batch in flight is applied and confirmed, and the exit is clean.
    const child = startCli(['run', join(dir, 'small-cdc.yaml'), '--json']);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 100 && !out.includes('"cdc:start"'); i++) await sleep(100);
    // One transaction, so that the batch the run reports holds all of it.
    await admin.query(`BEGIN; INSERT INTO public.small SELECT g, 'streamed', 1, now(), false, NULL FROM generate_series(2, 300) g; DELETE FROM public.small WHERE id = 1; COMMIT`);
    for (let i = 0; i < 100 && !out.includes('"cdc:batch"'); i++) await sleep(100);
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    expect(out).toMatch(/"event":"result","status":"stopped"/);
    await compare();
  });

  it('keeps TOASTed values an update did not resend, in the same batch as their insert and in a later one', async () => {
    await admin.query(`CREATE TABLE public.docs (id bigint PRIMARY KEY, n int NOT NULL, body text NOT NULL)`);
    await admin.query(`ALTER TABLE public.docs ALTER COLUMN body SET STORAGE EXTERNAL`);
    const big = `(SELECT string_agg(md5(g::text || k::text), '') FROM generate_series(1, 300) k)`;
    await admin.query(`INSERT INTO public.docs SELECT g, 0, ${big} FROM generate_series(1, 20) g`);
    await admin.query(`CREATE SCHEMA IF NOT EXISTS mirror`);
    const dir = tempDir('cdc-toast');
    const job = loadJobFile(jobFile(dir, 'docs-cdc', 'public.docs', pgTarget('mirror.docs')));
    await runCdc(job, { untilCaughtUp: true });
    // Inserted and then updated without touching body, all in one batch; and updates of rows copied earlier.
    await admin.query(`INSERT INTO public.docs SELECT g, 0, ${big} FROM generate_series(21, 30) g`);
    await admin.query(`UPDATE public.docs SET n = n + 1`);
    await admin.query(`UPDATE public.docs SET n = n + 1 WHERE id % 2 = 0`);
    await runCdc(job, { untilCaughtUp: true });
    expect(await rowsOf('mirror.docs')).toEqual(await rowsOf('public.docs'));
  });

  it('streams on through lost connections to the stream and the target, from the position the target holds', async () => {
    await admin.query(`CREATE TABLE public.flaky (id bigint PRIMARY KEY, n bigint NOT NULL)`);
    await admin.query(`INSERT INTO public.flaky SELECT g, 0 FROM generate_series(1, 1000) g`);
    await admin.query(`CREATE SCHEMA IF NOT EXISTS mirror`);
    const dir = tempDir('cdc-flaky');
    const job = loadJobFile(jobFile(dir, 'flaky-cdc', 'public.flaky', pgTarget('mirror.flaky'), '', 'retries: { attempts: 10, backoff: 100ms, maxBackoff: 500ms }\n'));
    const stop = new AbortController();
    const events = new EventBus();
    const warnings: string[] = [];
    let batches = 0;
    events.on('warning', (e) => warnings.push(e.message));
    events.on('cdc:batch', () => batches++);
    const running = runCdc(job, { signal: stop.signal, events });
    running.catch(() => {});
    for (let i = 0; i < 100 && batches === 0; i++) await sleep(100);
    for (let round = 0; round < 3; round++) {
      await admin.query(`UPDATE public.flaky SET n = n + 1 WHERE id % 3 = $1`, [round]);
      await admin.query(`INSERT INTO public.flaky VALUES ($1, 0)`, [2000 + round]);
      // Whichever connection it is, it may be between reconnects just now: wait until it is there.
      let killed = 0;
      for (let i = 0; i < 100 && killed === 0; i++) {
        if (i > 0) await sleep(50);
        killed = (await admin.query(
          round === 1
            ? `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'backfill-target'`
            : `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'backfill_flaky_cdc' AND active_pid IS NOT NULL`,
        )).rowCount ?? 0;
      }
      expect(killed).toBeGreaterThan(0);
      await sleep(300);
    }
    await admin.query(`DELETE FROM public.flaky WHERE id <= 10`);
    let equal = false;
    for (let i = 0; i < 100 && !equal; i++) {
      await sleep(100);
      equal = JSON.stringify(await rowsOf('mirror.flaky')) === JSON.stringify(await rowsOf('public.flaky'));
    }
    stop.abort();
    const result = await running;
    expect(result.status).toBe('stopped');
    expect(warnings.some((w) => /streaming again/.test(w))).toBe(true);
    expect(await rowsOf('mirror.flaky')).toEqual(await rowsOf('public.flaky'));
  });

  it('refuses what it cannot do, with the reason', async () => {
    await admin.query(`CREATE TABLE public.nokey (id bigint, name text)`);
    await admin.query(`CREATE TABLE public.noident (id bigint PRIMARY KEY, name text)`);
    await admin.query(`ALTER TABLE public.noident REPLICA IDENTITY NOTHING`);
    const dir = tempDir('cdc-refuse');
    const lake = `  type: parquet\n  path: ${join(dir, 'lake')}`;
    const parquet = await runCli(['run', jobFile(dir, 'lake-cdc', 'public.small', lake), '--until-caught-up']);
    expect(parquet.code).toBe(2);
    expect(parquet.stderr).toMatch(/cannot take a change stream/);
    const nokey = await runCli(['run', jobFile(dir, 'nokey-cdc', 'public.nokey', pgTarget('mirror.nokey')), '--until-caught-up']);
    expect(nokey.stderr).toMatch(/has no primary key/);
    const noident = await runCli(['run', jobFile(dir, 'noident-cdc', 'public.noident', pgTarget('mirror.noident')), '--until-caught-up']);
    expect(noident.stderr).toMatch(/REPLICA IDENTITY NOTHING.*REPLICA IDENTITY DEFAULT/);
    const append = join(dir, 'append.yaml');
    writeFileSync(append, `name: a\nsource: { type: postgres, connection: ${url}, table: small, cdc: true }\nchunk: { column: id, size: 10 }\ntarget: { type: duckdb, database: x.duckdb, table: t }\nwrite: { mode: append }\n`);
    const mode = await runCli(['run', append]);
    expect(mode.code).toBe(2);
    expect(mode.stderr).toMatch(/write.mode: cdc applies inserts, updates and deletes by key: use merge/);
    // The shared server runs with wal_level = replica: said so, not a protocol error.
    const shared = join(dir, 'shared.yaml');
    writeFileSync(shared, `name: s\nsource: { type: postgres, connection: "${POSTGRES_URL}", table: none, cdc: true }\nchunk: { column: id, size: 10 }\ntarget: { type: duckdb, database: x.duckdb, table: t }\nwrite: { mode: merge, key: [id] }\n`);
    const level = await runCli(['run', shared]);
    expect(level.stderr).toMatch(/wal_level = (replica|minimal); change data capture needs wal_level = logical/);
    const flags = await runCli(['run', jobFile(dir, 'flags-cdc', 'public.small', pgTarget('mirror.small')), '--restate', '--from', '5']);
    expect(flags.code).toBe(2);
    expect(flags.stderr).toMatch(/--from, --restate: not for a cdc job/);
    for (const r of [parquet, nokey, noident]) expect(r.stderr).not.toContain(PASSWORD);
  });
});
