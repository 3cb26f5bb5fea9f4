// The ledger contract, run over every store: the embedded SQLite file and a shared PostgreSQL schema.
// Chunk registry, leases with fencing tokens, runs, bounds cache, schema versioning, readers; then what only
// one store has (SQLite's WAL file, PostgreSQL's concurrent workers on separate pools and URL handling).
// Every ledger here reads a ManualClock: leases expire because a test moves time, never because it sleeps.
import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { SqliteLedger } from '../../src/ledger/sqlite/sqlite-ledger.js';
import { PostgresLedger } from '../../src/ledger/postgres/postgres-ledger.js';
import { keyChunk, rangeChunk, timeChunk, type Chunk } from '../../src/core/chunk.js';
import { ManualClock, type Clock } from '../../src/core/clock.js';
import { LedgerError, describeError } from '../../src/core/errors.js';
import type { ChunkRecord, Lease, Ledger, LedgerReader, RunRecord } from '../../src/ledger/ledger.js';
import { ensurePostgres, POSTGRES_URL } from '../helpers/services.js';
import { SQLITE_MIGRATIONS } from '../../src/ledger/sqlite/sqlite-migrations.js';
import { POSTGRES_MIGRATIONS } from '../../src/ledger/postgres/postgres-migrations.js';

const JOB = 'events';
const STATS = { rowsRead: 10, rowsWritten: 9, rowsRejected: 1, bytes: 1234 };
const chunks: Chunk[] = [keyChunk(-10n, 0n), keyChunk(0n, 10n), keyChunk(10n, 20n)];
const c0 = chunks[0]!;
const c1 = chunks[1]!;
/** Where every test's clock starts: a fixed instant, so stamps can be asserted exactly. */
const T0 = Date.UTC(2024, 0, 1);

// ---- the stores ------------------------------------------------------------------------------------

interface Store {
  readonly name: string;
  /** Once per suite. */
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** Before each test: a fresh location holding no ledger yet. */
  prepare(): Promise<void>;
  cleanup(): Promise<void>;
  open(clock: Clock): Promise<Ledger>;
  openReader(): Promise<LedgerReader | undefined>;
  /** Whether the ledger's storage (file, tables) exists. */
  exists(): Promise<boolean>;
  schemaVersion(): Promise<number>;
  setSchemaVersion(version: number): Promise<void>;
  /** Put the ledger's storage back to schema version 4 (before bytes could be unknown), keeping its rows. */
  revertToVersion4(): Promise<void>;
}

class SqliteStore implements Store {
  readonly name = 'sqlite';
  dir = '';
  file = '';

  async setup(): Promise<void> {}
  async teardown(): Promise<void> {}

  async prepare(): Promise<void> {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backfill-ledger-'));
    this.file = path.join(this.dir, 'nested', 'ledger.sqlite');
  }

  async cleanup(): Promise<void> {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async open(clock: Clock): Promise<Ledger> {
    return SqliteLedger.open(this.file, { clock });
  }

  async openReader(): Promise<LedgerReader | undefined> {
    return SqliteLedger.openReader(this.file);
  }

  async exists(): Promise<boolean> {
    return fs.existsSync(this.file);
  }

  async schemaVersion(): Promise<number> {
    const db = new Database(this.file, { readonly: true });
    try {
      const row = db.prepare(`SELECT value FROM backfill_meta WHERE key = 'schema_version'`).get() as { value: string };
      return Number(row.value);
    } finally {
      db.close();
    }
  }

  async setSchemaVersion(version: number): Promise<void> {
    const db = new Database(this.file);
    try {
      db.prepare(`UPDATE backfill_meta SET value = ? WHERE key = 'schema_version'`).run(String(version));
    } finally {
      db.close();
    }
  }

  async revertToVersion4(): Promise<void> {
    const db = new Database(this.file);
    try {
      db.exec(`ALTER TABLE backfill_runs DROP COLUMN bytes_unknown`);
      db.exec(`ALTER TABLE backfill_runs DROP COLUMN throttle`);
      db.exec(`DROP TABLE backfill_controls`);
      db.exec(`DROP TABLE backfill_chunk_plans`);
    } finally {
      db.close();
    }
    await this.setSchemaVersion(4);
  }
}

class PostgresStore implements Store {
  readonly name = 'postgres';
  /** This suite's own schema, dropped before each test and after the suite. */
  readonly schema = `backfill_test_${randomBytes(6).toString('hex')}`;
  readonly url = withSchema(POSTGRES_URL, this.schema);
  /** Other schemas a test made, dropped after the suite. */
  readonly extraSchemas: string[] = [];
  private adminPool: pg.Pool | undefined;

  get admin(): pg.Pool {
    if (this.adminPool === undefined) throw new Error('the PostgreSQL store is not set up');
    return this.adminPool;
  }

  async setup(): Promise<void> {
    await ensurePostgres();
    this.adminPool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
  }

  async teardown(): Promise<void> {
    if (this.adminPool === undefined) return;
    for (const schema of [this.schema, ...this.extraSchemas]) await this.dropSchema(schema);
    await this.adminPool.end();
    this.adminPool = undefined;
  }

  async prepare(): Promise<void> {
    await this.dropSchema(this.schema);
  }

  async cleanup(): Promise<void> {}

  async open(clock: Clock): Promise<Ledger> {
    return PostgresLedger.open(this.url, { clock });
  }

  async openReader(): Promise<LedgerReader | undefined> {
    return PostgresLedger.openReader(this.url);
  }

  async exists(): Promise<boolean> {
    const { rows } = await this.admin.query<{ name: string | null }>('SELECT to_regclass($1) AS name', [`"${this.schema}".backfill_chunks`]);
    return rows[0]?.name != null;
  }

  async schemaVersion(): Promise<number> {
    const { rows } = await this.admin.query<{ value: string }>(`SELECT value FROM "${this.schema}".backfill_meta WHERE key = 'schema_version'`);
    return Number(rows[0]?.value);
  }

  async setSchemaVersion(version: number): Promise<void> {
    await this.admin.query(`UPDATE "${this.schema}".backfill_meta SET value = $1 WHERE key = 'schema_version'`, [String(version)]);
  }

  async revertToVersion4(): Promise<void> {
    await this.admin.query(`ALTER TABLE "${this.schema}".backfill_runs DROP COLUMN bytes_unknown, DROP COLUMN throttle`);
    await this.admin.query(`DROP TABLE "${this.schema}".backfill_controls`);
    await this.admin.query(`DROP TABLE "${this.schema}".backfill_chunk_plans`);
    await this.setSchemaVersion(4);
  }

  async schemaExists(schema: string): Promise<boolean> {
    return ((await this.admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount ?? 0) > 0;
  }

  async dropSchema(schema: string): Promise<void> {
    await this.admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }

  /** A schema name for one test, dropped after the suite. */
  extraSchema(suffix: string): string {
    const schema = `${this.schema}_${suffix}`;
    this.extraSchemas.push(schema);
    return schema;
  }
}

function withSchema(url: string, schema: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
}

const STORES: Store[] = [new SqliteStore(), new PostgresStore()];

// ---- helpers ---------------------------------------------------------------------------------------

async function mustClaim(l: Ledger, chunk: Chunk, owner = 'w1', leaseMs = 60_000, job = JOB): Promise<Lease> {
  const lease = await l.claim(job, chunk, owner, 'run-1', leaseMs);
  expect(lease).toBeDefined();
  return lease as Lease;
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function expectLeaseLost(promise: Promise<unknown>): Promise<void> {
  const err = await caught(promise);
  expect(err).toBeInstanceOf(LedgerError);
  expect((err as LedgerError).code).toBe('LEASE_LOST');
}

/** The named fields of a record (undefined when the record is missing). */
function pick<T extends object>(record: T | undefined, ...fields: (keyof T)[]): Partial<T> | undefined {
  return record === undefined ? undefined : (Object.fromEntries(fields.map((f) => [f, record[f]])) as Partial<T>);
}

/** Stamps as offsets from T0, so a table of expectations reads in seconds of the story, not epoch numbers. */
function fromT0(stamps: Record<string, number | null> | undefined): Record<string, number | null> {
  if (stamps === undefined) return { missing: null };
  return Object.fromEntries(Object.entries(stamps).map(([k, v]) => [k, v === null ? null : v - T0]));
}

const CHUNK_NUMBERS = ['attempts', 'generation', 'leaseExpiresAt', 'fencingToken', 'startedAt', 'finishedAt', 'durationMs', 'rowsRead', 'rowsWritten', 'rowsRejected', 'bytes'] as const;
const RUN_NUMBERS = ['pid', 'startedAt', 'heartbeatAt', 'finishedAt', 'chunksTotal', 'chunksDone', 'chunksFailed', 'rowsRead', 'rowsWritten', 'bytes', 'bytesUnknown'] as const;

function expectNumbers<T extends object>(record: T | undefined, fields: readonly (keyof T)[]): void {
  expect(record).toBeDefined();
  for (const field of fields) {
    const value = record![field];
    if (value !== null) expect(typeof value, String(field)).toBe('number');
  }
}

// ---- the contract, over every store ----------------------------------------------------------------

for (const store of STORES) {
  describe(store.name, () => {
    let ledger: Ledger;
    let clock: ManualClock;
    const opened: { close(): Promise<void> }[] = [];

    /** Every ledger a test opens reads the test's clock, as workers on one machine share one. */
    async function openLedger(): Promise<Ledger> {
      const l = await store.open(clock);
      opened.push(l);
      return l;
    }

    beforeAll(() => store.setup());
    afterAll(() => store.teardown());

    beforeEach(async () => {
      await store.prepare();
      clock = new ManualClock(T0);
      ledger = await openLedger();
    });

    afterEach(async () => {
      for (const l of opened.splice(0)) {
        try {
          await l.close();
        } catch {
          // already closed
        }
      }
      await store.cleanup();
    });

    describe('chunks', () => {
      it('open creates the ledger’s storage', async () => {
        expect(await store.exists()).toBe(true);
      });

      it('syncChunks is idempotent and keeps existing records as they are', async () => {
        await ledger.syncChunks(JOB, chunks);
        await ledger.syncChunks(JOB, chunks);
        let list = await ledger.listChunks(JOB);
        expect(list.map((c) => c.key)).toEqual(['-10/0', '0/10', '10/20']);
        expect(list.every((c) => c.status === 'pending' && c.attempts === 0 && c.generation === 0)).toBe(true);
        expect(list[0]).toMatchObject({ job: JOB, kind: 'key', lo: '-10', hi: '0', tag: 'km10_0', fencingToken: 0 });

        const lease = await mustClaim(ledger, c1);
        await ledger.complete(lease, STATS, 5);
        await ledger.syncChunks(JOB, [...chunks, keyChunk(20n, 30n)]);
        list = await ledger.listChunks(JOB);
        expect(list).toHaveLength(4);
        expect((await ledger.getChunk(JOB, c1.key))?.status).toBe('done');
        expect((await ledger.getChunk(JOB, c1.key))?.generation).toBe(1);
      });

      it('syncChunks registers a large plan (several insert batches) and an empty one', async () => {
        const many = Array.from({ length: 2_345 }, (_, i) => keyChunk(BigInt(i * 10), BigInt(i * 10 + 10)));
        await ledger.syncChunks(JOB, many);
        await ledger.syncChunks(JOB, []);
        const list = await ledger.listChunks(JOB);
        expect(list).toHaveLength(2_345);
        expect(list.map((c) => c.key)).toEqual(many.map((c) => c.key));
      });

      it('lists key chunks numerically, time chunks by instant, and jobs separately', async () => {
        await ledger.syncChunks(JOB, [keyChunk(100n, 200n), keyChunk(-5n, 0n), keyChunk(20n, 100n)]);
        expect((await ledger.listChunks(JOB)).map((c) => c.lo)).toEqual(['-5', '20', '100']);
        await ledger.syncChunks('other', [timeChunk(Date.UTC(2021, 1, 1), Date.UTC(2021, 2, 1)), timeChunk(Date.UTC(2021, 0, 1), Date.UTC(2021, 1, 1))]);
        expect((await ledger.listChunks('other')).map((c) => c.lo)).toEqual(['2021-01-01T00:00:00Z', '2021-02-01T00:00:00Z']);
        expect(await ledger.listChunks(JOB)).toHaveLength(3);
        expect(await ledger.getChunk(JOB, 'nope')).toBeUndefined();
      });

      it('claim returns strictly increasing fencing tokens and records the lease', async () => {
        await ledger.syncChunks(JOB, chunks);
        const tokens: number[] = [];
        for (const c of chunks) tokens.push((await mustClaim(ledger, c)).token);
        expect(tokens[0]).toBeGreaterThan(0);
        for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
        const rec = await ledger.getChunk(JOB, c0.key);
        expect(rec).toMatchObject({ status: 'running', leaseOwner: 'w1', runId: 'run-1', attempts: 1, fencingToken: tokens[0] });
        expect(rec?.leaseExpiresAt).toBeGreaterThan(clock.now());
      });

      it('numbers come back as numbers, never strings', async () => {
        await ledger.syncChunks(JOB, chunks);
        await ledger.complete(await mustClaim(ledger, c0), STATS, 12);
        await mustClaim(ledger, c1);
        await ledger.startRun({ runId: 'r', job: JOB, owner: 'o', host: 'h', pid: 4242, options: '{}', chunksTotal: 3 });
        await ledger.finishRun('r', { status: 'done', chunksDone: 3, chunksFailed: 0, rowsRead: 2 ** 40, rowsWritten: 1, bytes: 2 ** 45 });
        for (const rec of await ledger.listChunks(JOB)) expectNumbers<ChunkRecord>(rec, CHUNK_NUMBERS);
        const done = await ledger.getChunk(JOB, c0.key);
        expect(done?.finishedAt).toBeGreaterThan(Date.UTC(2020, 0, 1));
        const [run] = await ledger.listRuns(JOB);
        expectNumbers<RunRecord>(run, RUN_NUMBERS);
        expect(run).toMatchObject({ pid: 4242, rowsRead: 2 ** 40, bytes: 2 ** 45 });
      });

      it('a chunk that is not registered cannot be claimed', async () => {
        expect(await ledger.claim(JOB, keyChunk(1000n, 1010n), 'w1', 'run-1', 60_000)).toBeUndefined();
      });

      it('a second claim of a running chunk with a live lease returns undefined', async () => {
        await ledger.syncChunks(JOB, chunks);
        const first = await mustClaim(ledger, c0, 'w1');
        expect(await ledger.claim(JOB, c0, 'w2', 'run-2', 60_000)).toBeUndefined();
        expect(await ledger.getChunk(JOB, c0.key)).toMatchObject({ leaseOwner: 'w1', fencingToken: first.token, attempts: 1 });
      });

      it('a done chunk cannot be claimed', async () => {
        await ledger.syncChunks(JOB, chunks);
        await ledger.complete(await mustClaim(ledger, c0), STATS, 1);
        expect(await ledger.claim(JOB, c0, 'w2', 'run-2', 60_000)).toBeUndefined();
      });

      it('after lease expiry another owner claims with a higher token, and the old lease is fenced off', async () => {
        await ledger.syncChunks(JOB, chunks);
        const old = await mustClaim(ledger, c0, 'w1', 1);
        clock.advance(5);
        const fresh = await mustClaim(ledger, c0, 'w2', 60_000);
        expect(fresh.token).toBeGreaterThan(old.token);
        expect(fresh.attempt).toBe(2);
        await expectLeaseLost(ledger.complete(old, STATS, 1));
        await expectLeaseLost(ledger.heartbeat(old, 60_000));
        await expectLeaseLost(ledger.fail(old, 'boom', 1));
        // release with a stale token is a no-op
        await ledger.release(old, 'late');
        expect(await ledger.getChunk(JOB, c0.key)).toMatchObject({ status: 'running', leaseOwner: 'w2', fencingToken: fresh.token });
        // the current holder is unaffected
        await ledger.complete(fresh, STATS, 1);
        expect((await ledger.getChunk(JOB, c0.key))?.status).toBe('done');
      });

      it('the LEASE_LOST message names the chunk and the token', async () => {
        await ledger.syncChunks(JOB, chunks);
        const lease = await mustClaim(ledger, c0);
        const stale: Lease = { ...lease, token: lease.token - 1 };
        await expect(ledger.heartbeat(stale, 1000)).rejects.toThrow(
          new RegExp(`lost the lease on chunk ${c0.key} \\(token ${stale.token}\\) before heartbeat`),
        );
      });

      it('heartbeat extends the lease; with a stale token it throws', async () => {
        await ledger.syncChunks(JOB, chunks);
        const lease = await mustClaim(ledger, c0, 'w1', 50);
        const before = (await ledger.getChunk(JOB, c0.key))?.leaseExpiresAt ?? 0;
        clock.advance(2);
        await ledger.heartbeat(lease, 60_000);
        const after = (await ledger.getChunk(JOB, c0.key))?.leaseExpiresAt ?? 0;
        expect(after).toBeGreaterThan(before);
        await expectLeaseLost(ledger.heartbeat({ ...lease, token: lease.token + 1 }, 60_000));
      });

      it('heartbeat after complete throws (the chunk is no longer running)', async () => {
        await ledger.syncChunks(JOB, chunks);
        const lease = await mustClaim(ledger, c0);
        await ledger.complete(lease, STATS, 1);
        await expectLeaseLost(ledger.heartbeat(lease, 1000));
        await expectLeaseLost(ledger.complete(lease, STATS, 1));
      });

      it('complete records stats, clears the lease and increments generation', async () => {
        await ledger.syncChunks(JOB, chunks);
        const lease = await mustClaim(ledger, c0);
        expect(lease.generation).toBe(0);
        await ledger.complete(lease, STATS, 42);
        const rec = await ledger.getChunk(JOB, c0.key);
        expect(rec).toMatchObject({
          status: 'done',
          generation: 1,
          durationMs: 42,
          rowsRead: 10,
          rowsWritten: 9,
          rowsRejected: 1,
          bytes: 1234,
          leaseOwner: null,
          leaseExpiresAt: null,
          error: null,
        });
        expect(rec?.finishedAt).not.toBeNull();
        // process again: generation counts every completion
        expect(await ledger.reset(JOB, [c0.key])).toBe(1);
        const again = await mustClaim(ledger, c0);
        expect(again.generation).toBe(1);
        await ledger.complete(again, STATS, 1);
        expect((await ledger.getChunk(JOB, c0.key))?.generation).toBe(2);
      });

      it('fail marks the chunk failed; a later claim works and attempts count up', async () => {
        await ledger.syncChunks(JOB, chunks);
        const first = await mustClaim(ledger, c0);
        expect(first.attempt).toBe(1);
        await ledger.fail(first, 'disk full', 7);
        expect(await ledger.getChunk(JOB, c0.key)).toMatchObject({ status: 'failed', error: 'disk full', durationMs: 7, leaseOwner: null });
        const second = await mustClaim(ledger, c0, 'w2');
        expect(second.attempt).toBe(2);
        expect(second.token).toBeGreaterThan(first.token);
        expect(await ledger.getChunk(JOB, c0.key)).toMatchObject({ status: 'running', error: null, attempts: 2 });
        await ledger.fail(second, 'again', 1);
        expect((await mustClaim(ledger, c0, 'w3')).attempt).toBe(3);
      });

      it('release gives the chunk back to pending', async () => {
        await ledger.syncChunks(JOB, chunks);
        const lease = await mustClaim(ledger, c0);
        await ledger.release(lease, 'shutdown');
        expect(await ledger.getChunk(JOB, c0.key)).toMatchObject({ status: 'pending', error: 'shutdown', leaseOwner: null });
        expect((await mustClaim(ledger, c0, 'w2')).attempt).toBe(2);
      });

      it('reset puts done and failed chunks back to pending but never a running one', async () => {
        await ledger.syncChunks(JOB, chunks);
        await ledger.complete(await mustClaim(ledger, c0), STATS, 1);
        await ledger.fail(await mustClaim(ledger, c1), 'x', 1);
        const running = await mustClaim(ledger, chunks[2]!);
        expect(await ledger.reset(JOB, [c0.key, c1.key, running.chunk.key, 'no-such-key'])).toBe(2);
        expect(await ledger.getChunk(JOB, c0.key)).toMatchObject({ status: 'pending', generation: 1 });
        expect(await ledger.getChunk(JOB, c1.key)).toMatchObject({ status: 'pending', error: null });
        expect((await ledger.getChunk(JOB, running.chunk.key))?.status).toBe('running');
        expect(await ledger.reset(JOB, [])).toBe(0);
        // the reset chunks can be claimed again
        expect((await mustClaim(ledger, c0)).attempt).toBe(2);
      });

      it('staleChunks finds running chunks with an expired lease or a dead owner', async () => {
        await ledger.syncChunks(JOB, chunks);
        await mustClaim(ledger, c0, 'alive', 60_000);
        await mustClaim(ledger, c1, 'dead', 60_000);
        expect(await ledger.staleChunks(JOB, clock.now(), () => true)).toEqual([]);
        expect((await ledger.staleChunks(JOB, clock.now(), (owner) => owner !== 'dead')).map((c) => c.key)).toEqual([c1.key]);
        expect((await ledger.staleChunks(JOB, clock.now(), () => false)).map((c) => c.key).sort()).toEqual([c0.key, c1.key].sort());
        // an expired lease is stale even if the owner looks alive
        await mustClaim(ledger, chunks[2]!, 'alive', 1);
        clock.advance(5);
        expect((await ledger.staleChunks(JOB, clock.now(), () => true)).map((c) => c.key)).toEqual([chunks[2]!.key]);
        // done and pending chunks are never stale
        expect(await ledger.staleChunks('other-job', clock.now(), () => false)).toEqual([]);
      });

      it('adoptCommitted and resetStale are fenced by the token', async () => {
        await ledger.syncChunks(JOB, chunks);
        const a = await mustClaim(ledger, c0, 'dead');
        const b = await mustClaim(ledger, c1, 'dead');
        expect(await ledger.adoptCommitted(JOB, c0.key, a.token - 1, STATS)).toBe(false);
        expect(await ledger.adoptCommitted(JOB, c0.key, a.token + 1000, STATS)).toBe(false);
        expect((await ledger.getChunk(JOB, c0.key))?.status).toBe('running');
        expect(await ledger.adoptCommitted(JOB, c0.key, a.token, STATS)).toBe(true);
        expect(await ledger.getChunk(JOB, c0.key)).toMatchObject({ status: 'done', generation: 1, rowsWritten: 9, leaseOwner: null });
        // a second adopt of the now-done chunk does nothing
        expect(await ledger.adoptCommitted(JOB, c0.key, a.token, STATS)).toBe(false);
        expect((await ledger.getChunk(JOB, c0.key))?.generation).toBe(1);

        expect(await ledger.resetStale(JOB, c1.key, b.token + 1)).toBe(false);
        expect((await ledger.getChunk(JOB, c1.key))?.status).toBe('running');
        expect(await ledger.resetStale(JOB, c1.key, b.token)).toBe(true);
        expect(await ledger.getChunk(JOB, c1.key)).toMatchObject({ status: 'pending', leaseOwner: null, leaseExpiresAt: null });
        expect(await ledger.resetStale(JOB, c1.key, b.token)).toBe(false);
        // the dead owner's lease is now fenced off
        await expectLeaseLost(ledger.complete(b, STATS, 1));
      });

      it('fencing tokens are per job and survive reopening', async () => {
        await ledger.syncChunks(JOB, chunks);
        await ledger.syncChunks('other', chunks);
        const t1 = (await mustClaim(ledger, c0)).token;
        const o = await ledger.claim('other', c0, 'w1', 'run-x', 60_000);
        expect(o?.token).toBe(1);
        await ledger.close();
        const reopened = await openLedger();
        const t2 = (await mustClaim(reopened, c1)).token;
        expect(t2).toBeGreaterThan(t1);
        expect((await reopened.getChunk(JOB, c0.key))?.status).toBe('running');
      });
    });

    describe('runs', () => {
      const run = (runId: string, owner: string) => ({ runId, job: JOB, owner, host: 'h', pid: 123, options: '{}', chunksTotal: 3 });

      it('startRun / heartbeatRun / finishRun / listRuns', async () => {
        await ledger.startRun(run('r1', 'o1'));
        clock.advance(2);
        await ledger.startRun(run('r2', 'o2'));
        await ledger.heartbeatRun('r1');
        let runs = await ledger.listRuns(JOB);
        expect(runs.map((r) => r.runId)).toEqual(['r2', 'r1']);
        expect(runs[1]).toMatchObject({ job: JOB, owner: 'o1', host: 'h', pid: 123, status: 'running', options: '{}', chunksTotal: 3, chunksDone: 0, finishedAt: null });
        await ledger.finishRun('r1', { status: 'done', chunksDone: 3, chunksFailed: 0, rowsRead: 30, rowsWritten: 27, bytes: 999 });
        await ledger.finishRun('r2', { status: 'failed', chunksDone: 1, chunksFailed: 2, rowsRead: 1, rowsWritten: 1, bytes: 1, error: 'bad' });
        runs = await ledger.listRuns(JOB);
        expect(runs.find((r) => r.runId === 'r1')).toMatchObject({ status: 'done', chunksDone: 3, rowsWritten: 27, bytes: 999, error: null });
        expect(runs.find((r) => r.runId === 'r1')?.finishedAt).not.toBeNull();
        expect(runs.find((r) => r.runId === 'r2')).toMatchObject({ status: 'failed', chunksFailed: 2, error: 'bad' });
        expect(await ledger.listRuns(JOB, 1)).toHaveLength(1);
        expect(await ledger.listRuns('other')).toEqual([]);
      });

      it('lists runs started in the same millisecond newest first', async () => {
        for (let i = 0; i < 5; i++) await ledger.startRun(run(`r${i}`, 'o'));
        expect((await ledger.listRuns(JOB)).map((r) => r.runId)).toEqual(['r4', 'r3', 'r2', 'r1', 'r0']);
      });

      it('closeDeadRuns marks running runs of dead owners interrupted', async () => {
        await ledger.startRun(run('alive', 'o-alive'));
        await ledger.startRun(run('dead', 'o-dead'));
        await ledger.startRun(run('finished', 'o-dead'));
        await ledger.finishRun('finished', { status: 'done', chunksDone: 3, chunksFailed: 0, rowsRead: 0, rowsWritten: 0, bytes: 0 });
        const owners: string[] = [];
        const closed = await ledger.closeDeadRuns(JOB, (owner) => {
          owners.push(owner);
          return owner === 'o-alive';
        });
        expect(closed).toBe(1);
        expect(owners.sort()).toEqual(['o-alive', 'o-dead']);
        const byId = new Map((await ledger.listRuns(JOB)).map((r) => [r.runId, r]));
        expect(byId.get('dead')).toMatchObject({ status: 'interrupted' });
        expect(byId.get('dead')?.error).toMatch(/stopped without finishing/);
        expect(byId.get('dead')?.finishedAt).not.toBeNull();
        expect(byId.get('alive')?.status).toBe('running');
        expect(byId.get('finished')?.status).toBe('done');
        expect(await ledger.closeDeadRuns(JOB, () => false)).toBe(1);
        expect(await ledger.closeDeadRuns(JOB, () => false)).toBe(0);
      });
    });

    describe('job controls: pause and rate (docs/limits.md)', () => {
      it('pause is recorded once with who and why; resume lifts it once; a reader sees it', async () => {
        expect(await ledger.pauseOf(JOB)).toBeUndefined();
        expect(await ledger.pause(JOB, 'ann@host', 'nightly batch')).toBe(true);
        clock.advance(5);
        expect(await ledger.pause(JOB, 'bob@host', null)).toBe(false);
        expect(await ledger.pauseOf(JOB)).toEqual({ job: JOB, pausedAt: T0, pausedBy: 'ann@host', reason: 'nightly batch' });
        expect(await ledger.pauseOf('other')).toBeUndefined();
        const reader = await store.openReader();
        opened.push(reader!);
        expect((await reader!.pauseOf(JOB))?.pausedBy).toBe('ann@host');
        expect(await ledger.resume(JOB)).toBe(true);
        expect(await ledger.resume(JOB)).toBe(false);
        expect(await ledger.pauseOf(JOB)).toEqual({ job: JOB, pausedAt: null, pausedBy: null, reason: null });
        expect(await ledger.pause(JOB, 'bob@host', null)).toBe(true);
        expect((await ledger.pauseOf(JOB))?.pausedAt).toBe(T0 + 5);
      });

      it('rate reservations follow one another from the shared next instant; unused time is not saved up; adjustments move it', async () => {
        expect(await ledger.reserveRate(JOB, 100)).toBe(T0);
        expect(await ledger.reserveRate(JOB, 50.5)).toBe(T0 + 100);
        expect(await ledger.reserveRate(JOB, 0)).toBe(T0 + 150.5);
        await ledger.adjustRate(JOB, -50.5);
        expect(await ledger.reserveRate(JOB, 10)).toBe(T0 + 100);
        clock.advance(1000);
        // The job was idle: the next chunk starts now, not at the old instant.
        expect(await ledger.reserveRate(JOB, 10)).toBe(T0 + 1000);
        expect(await ledger.reserveRate('other', 10)).toBe(T0 + 1000);
        // A pause and the rate share the job's row without touching each other.
        await ledger.pause(JOB, 'a', null);
        expect(await ledger.reserveRate(JOB, 10)).toBe(T0 + 1010);
        expect((await ledger.pauseOf(JOB))?.pausedBy).toBe('a');
      });

      it("a run's throttle state is kept as given and listed with the run", async () => {
        await ledger.startRun({ runId: 'r1', job: JOB, owner: 'o', host: 'h', pid: 1, options: '{}', chunksTotal: 1 });
        expect((await ledger.listRuns(JOB))[0]?.throttle).toBeNull();
        const state = JSON.stringify({ state: 'throttled', reasons: [{ limit: 'maxLoad', value: 52, threshold: 40, text: 'load 52 > 40' }] });
        await ledger.setRunThrottle('r1', state);
        expect((await ledger.listRuns(JOB))[0]?.throttle).toBe(state);
      });
    });

    describe('bounds cache', () => {
      it('cachedBounds returns what saveBounds stored for the same fingerprint and column only', async () => {
        expect(await ledger.cachedBounds(JOB, 'fp1', 'ts')).toBeUndefined();
        await ledger.saveBounds(JOB, 'fp1', 'ts', '100', '200');
        expect(await ledger.cachedBounds(JOB, 'fp1', 'ts')).toEqual({ min: '100', max: '200' });
        expect(await ledger.cachedBounds(JOB, 'fp2', 'ts')).toBeUndefined();
        expect(await ledger.cachedBounds(JOB, 'fp1', 'other_col')).toBeUndefined();
        expect(await ledger.cachedBounds('other', 'fp1', 'ts')).toBeUndefined();
        // a new fingerprint replaces the old entry
        await ledger.saveBounds(JOB, 'fp2', 'ts', null, null);
        expect(await ledger.cachedBounds(JOB, 'fp2', 'ts')).toEqual({ min: null, max: null });
        expect(await ledger.cachedBounds(JOB, 'fp1', 'ts')).toBeUndefined();
      });
    });

    describe('chunks cut by rows', () => {
      it('chunkPlan returns the recorded spec and chunks in order, and a later save extends them', async () => {
        expect(await ledger.chunkPlan(JOB)).toBeUndefined();
        const first = [rangeChunk(undefined, ['b'], 0), rangeChunk(['b'], ['m'], 1)];
        await ledger.saveChunkPlan(JOB, { spec: '{"columns":["code"],"rows":10}', chunks: first });
        expect(await ledger.chunkPlan(JOB)).toEqual({ spec: '{"columns":["code"],"rows":10}', chunks: first });
        const more = [...first, rangeChunk(['m'], ['z'], 2)];
        await ledger.saveChunkPlan(JOB, { spec: '{"columns":["code"],"rows":10}', chunks: more });
        expect((await ledger.chunkPlan(JOB))?.chunks).toEqual(more);
        expect(await ledger.chunkPlan('other')).toBeUndefined();
      });

      it('lists range chunks in plan order, whatever their bounds sort like as text', async () => {
        const planned = [rangeChunk(undefined, ['zeta'], 0), rangeChunk(['zeta'], ['Alpha'], 1), rangeChunk(['Alpha'], ['beta'], 2)];
        await ledger.syncChunks(JOB, planned);
        expect((await ledger.listChunks(JOB)).map((c) => c.key)).toEqual(planned.map((c) => c.key));
      });
    });

    describe('source schema', () => {
      it('sourceSchema returns what saveSourceSchema stored for the job; a later save replaces it', async () => {
        expect(await ledger.sourceSchema(JOB)).toBeUndefined();
        const columns = JSON.stringify([{ name: 'id', type: 'BIGINT' }, { name: 'naïve "x"', type: 'VARCHAR' }]);
        await ledger.saveSourceSchema(JOB, columns);
        expect(await ledger.sourceSchema(JOB)).toBe(columns);
        expect(await ledger.sourceSchema('other')).toBeUndefined();
        await ledger.saveSourceSchema(JOB, '[]');
        expect(await ledger.sourceSchema(JOB)).toBe('[]');
      });
    });

    describe('forgetting chunks', () => {
      it('forgetChunks removes done, failed and pending records but never a running one', async () => {
        const c2 = chunks[2]!;
        await ledger.syncChunks(JOB, [c0, c1, c2]);
        const done = await ledger.claim(JOB, c0, 'w:1', 'r', 60_000);
        await ledger.complete(done!, STATS, 1);
        await ledger.claim(JOB, c1, 'w:1', 'r', 60_000);
        expect(await ledger.forgetChunks(JOB, [c0.key, c1.key, c2.key, 'no such key'])).toBe(2);
        expect((await ledger.listChunks(JOB)).map((c) => [c.key, c.status])).toEqual([[c1.key, 'running']]);
        expect(await ledger.forgetChunks(JOB, [])).toBe(0);
      });
    });

    describe('watermarks', () => {
      it('init creates once in the history phase, advance only moves forward, windows and rewinds are recorded', async () => {
        expect(await ledger.watermark(JOB)).toBeUndefined();
        const first = await ledger.initWatermark({ job: JOB, cursor: 'updated_at', kind: 'time', value: 1_700_000_000_000n, runId: 'r1' });
        expect(first).toMatchObject({ job: JOB, cursor: 'updated_at', kind: 'time', value: '1700000000000', phase: 'history', windowLo: null, windowHi: null, runId: 'r1' });
        expect(typeof first.updatedAt).toBe('number');
        // A second init (another run, a resumed one) keeps what is there.
        expect((await ledger.initWatermark({ job: JOB, cursor: 'other', kind: 'key', value: 5n, runId: 'r2' })).value).toBe('1700000000000');
        await ledger.startWindow(JOB, 1_699_999_000_000n, 1_700_000_500_000n, 'r3');
        expect(await ledger.watermark(JOB)).toMatchObject({ phase: 'incremental', windowLo: '1699999000000', windowHi: '1700000500000', runId: 'r3' });
        expect(await ledger.advanceWatermark(JOB, 1_700_000_500_000n, 'r3')).toBe(true);
        expect(await ledger.advanceWatermark(JOB, 1_700_000_400_000n, 'r3')).toBe(false);
        expect(await ledger.advanceWatermark(JOB, 1_700_000_500_000n, 'r3')).toBe(false);
        expect((await ledger.watermark(JOB))?.value).toBe('1700000500000');
        expect(await ledger.rewindWatermark(JOB, 1_700_000_600_000n)).toBe(false);
        expect(await ledger.rewindWatermark(JOB, 1_700_000_100_000n)).toBe(true);
        expect((await ledger.watermark(JOB))?.value).toBe('1700000100000');
        expect(await ledger.watermark('other')).toBeUndefined();
      });

      it('integer cursors keep every digit of a 64-bit value', async () => {
        const big = 9_007_199_254_740_993n; // 2^53 + 1: a double would round it
        await ledger.initWatermark({ job: JOB, cursor: 'version', kind: 'key', value: big, runId: 'r1' });
        expect(await ledger.advanceWatermark(JOB, big + 2n, 'r1')).toBe(true);
        expect((await ledger.watermark(JOB))?.value).toBe((big + 2n).toString());
        const reader = await store.openReader();
        opened.push(reader!);
        expect((await reader!.watermark(JOB))?.value).toBe((big + 2n).toString());
      });
    });

    describe('backups', () => {
      const backup = (runId: string, chunkKey: string, createdAt: number) => ({
        job: JOB, runId, chunkKey, targetKind: 'postgres', location: `s.backfill_backup_${runId}`, rows: 3, bytes: 120,
        checksum: '18446744073709551615', detail: '{"mode":"replace"}', createdAt,
      });

      it('records backups (the first per run and chunk wins), lists them by job and run, marks them restored once, deletes them', async () => {
        await ledger.recordBackup(backup('r1', c0.key, 1000));
        await ledger.recordBackup(backup('r1', c1.key, 1001));
        await ledger.recordBackup(backup('r2', c0.key, 2000));
        await ledger.recordBackup({ ...backup('r1', c0.key, 3000), rows: 99 });
        await ledger.recordBackup({ ...backup('r1', c0.key, 1000), job: 'other' });
        const all = await ledger.listBackups(JOB);
        expect(all.map((b) => [b.runId, b.chunkKey])).toEqual([['r1', c0.key], ['r1', c1.key], ['r2', c0.key]]);
        expect(all[0]).toEqual({ ...backup('r1', c0.key, 1000), restoredAt: null });
        expect(typeof all[0]!.rows).toBe('number');
        expect((await ledger.listBackups(JOB, 'r2')).map((b) => b.chunkKey)).toEqual([c0.key]);
        expect(await ledger.markBackupRestored(JOB, 'r1', c0.key, 5000)).toBe(true);
        expect(await ledger.markBackupRestored(JOB, 'r1', c0.key, 6000)).toBe(false);
        expect((await ledger.listBackups(JOB, 'r1'))[0]!.restoredAt).toBe(5000);
        expect(await ledger.deleteBackups(JOB, 'r1')).toBe(2);
        expect((await ledger.listBackups(JOB)).map((b) => b.runId)).toEqual(['r2']);
        expect(await ledger.listBackups('other')).toHaveLength(1);
      });

      it('a reader lists backups', async () => {
        await ledger.recordBackup(backup('r1', c0.key, 1000));
        const reader = await store.openReader();
        opened.push(reader!);
        expect((await reader!.listBackups(JOB)).map((b) => b.checksum)).toEqual(['18446744073709551615']);
      });
    });

    describe('time, from the clock the ledger was given', () => {
      const LEASE_MS = 1_000;
      // The expiry instant still belongs to the holder; one millisecond later the lease is anyone's.
      const EXPIRY = [
        { after: 0, expired: false },
        { after: LEASE_MS - 1, expired: false },
        { after: LEASE_MS, expired: false },
        { after: LEASE_MS + 1, expired: true },
        { after: 100 * LEASE_MS, expired: true },
      ];

      it.each(EXPIRY)('a 1000 ms lease, $after ms after its claim: expired $expired (claim and staleChunks agree)', async ({ after, expired }) => {
        await ledger.syncChunks(JOB, chunks);
        const old = await mustClaim(ledger, c0, 'w1', LEASE_MS);
        expect((await ledger.getChunk(JOB, c0.key))?.leaseExpiresAt).toBe(T0 + LEASE_MS);
        clock.advance(after);
        expect((await ledger.staleChunks(JOB, clock.now(), () => true)).map((c) => c.key)).toEqual(expired ? [c0.key] : []);
        const next = await ledger.claim(JOB, c0, 'w2', 'run-2', LEASE_MS);
        expect(next !== undefined).toBe(expired);
        if (next === undefined) {
          // not taken over: the holder's heartbeat still counts, and extends from now
          await ledger.heartbeat(old, LEASE_MS);
          expect(await ledger.getChunk(JOB, c0.key)).toMatchObject({ leaseOwner: 'w1', leaseExpiresAt: T0 + after + LEASE_MS, attempts: 1 });
        } else {
          expect(await ledger.getChunk(JOB, c0.key)).toMatchObject({ leaseOwner: 'w2', startedAt: T0 + after, leaseExpiresAt: T0 + after + LEASE_MS, attempts: 2 });
          await expectLeaseLost(ledger.heartbeat(old, LEASE_MS));
        }
      });

      it('a heartbeat just before expiry keeps the chunk from being taken over; the lease then runs from the heartbeat', async () => {
        await ledger.syncChunks(JOB, chunks);
        const lease = await mustClaim(ledger, c0, 'w1', LEASE_MS);
        for (let beat = 1; beat <= 3; beat++) {
          clock.advance(LEASE_MS - 1);
          await ledger.heartbeat(lease, LEASE_MS);
          clock.advance(1);
          expect(await ledger.claim(JOB, c0, 'w2', 'run-2', LEASE_MS)).toBeUndefined();
        }
        expect((await ledger.getChunk(JOB, c0.key))?.leaseExpiresAt).toBe(clock.now() - 1 + LEASE_MS);
        clock.advance(LEASE_MS);
        expect(await ledger.claim(JOB, c0, 'w2', 'run-2', LEASE_MS)).toBeDefined();
      });

      it('every stamp is the clock’s reading at the write', async () => {
        type Step = readonly [what: string, write: () => Promise<unknown>, read: () => Promise<unknown>];
        let lease: Lease | undefined;
        const chunk = async (key: string) => ledger.getChunk(JOB, key);
        const runOf = async (runId: string) => (await ledger.listRuns(JOB)).find((r) => r.runId === runId);
        // each step runs 1 s after the one before; `read` must then show that instant (at) where it says so
        const steps: Step[] = [
          ['claim: started, lease expiry', async () => (lease = await mustClaim(ledger, c0, 'w1', 60_000)), async () => pick(await chunk(c0.key), 'startedAt', 'leaseExpiresAt')],
          ['heartbeat: lease expiry', () => ledger.heartbeat(lease!, 5_000), async () => pick(await chunk(c0.key), 'startedAt', 'leaseExpiresAt')],
          ['complete: finished', () => ledger.complete(lease!, STATS, 1), async () => pick(await chunk(c0.key), 'finishedAt', 'leaseExpiresAt')],
          ['fail: finished', async () => ledger.fail(await mustClaim(ledger, c1), 'x', 1), async () => pick(await chunk(c1.key), 'startedAt', 'finishedAt')],
          ['start a run', () => ledger.startRun({ runId: 'r', job: JOB, owner: 'o', host: 'h', pid: 1, options: '{}', chunksTotal: 3 }), async () => pick(await runOf('r'), 'startedAt', 'heartbeatAt')],
          ['heartbeat the run', () => ledger.heartbeatRun('r'), async () => pick(await runOf('r'), 'startedAt', 'heartbeatAt')],
          ['finish the run', () => ledger.finishRun('r', { status: 'done', chunksDone: 1, chunksFailed: 1, rowsRead: 0, rowsWritten: 0, bytes: 0 }), async () => pick(await runOf('r'), 'heartbeatAt', 'finishedAt')],
          ['create the watermark', () => ledger.initWatermark({ job: JOB, cursor: 'id', kind: 'key', value: 5n, runId: 'r' }), async () => pick(await ledger.watermark(JOB), 'updatedAt')],
          ['start a window', () => ledger.startWindow(JOB, 5n, 10n, 'r'), async () => pick(await ledger.watermark(JOB), 'updatedAt')],
          ['advance the watermark', () => ledger.advanceWatermark(JOB, 10n, 'r'), async () => pick(await ledger.watermark(JOB), 'updatedAt')],
          ['rewind the watermark', () => ledger.rewindWatermark(JOB, 7n), async () => pick(await ledger.watermark(JOB), 'updatedAt')],
          ['adopt a committed chunk: finished', async () => ledger.adoptCommitted(JOB, chunks[2]!.key, (await mustClaim(ledger, chunks[2]!)).token, STATS), async () => pick(await chunk(chunks[2]!.key), 'startedAt', 'finishedAt')],
        ];
        // what each step's read shows, as offsets from T0 (the first step runs at T0 + 1 s)
        const expected: Record<string, number | null>[] = [
          { startedAt: 1_000, leaseExpiresAt: 61_000 },
          { startedAt: 1_000, leaseExpiresAt: 7_000 },
          { finishedAt: 3_000, leaseExpiresAt: null },
          { startedAt: 4_000, finishedAt: 4_000 },
          { startedAt: 5_000, heartbeatAt: 5_000 },
          { startedAt: 5_000, heartbeatAt: 6_000 },
          { heartbeatAt: 6_000, finishedAt: 7_000 },
          { updatedAt: 8_000 },
          { updatedAt: 9_000 },
          { updatedAt: 10_000 },
          { updatedAt: 11_000 },
          { startedAt: 12_000, finishedAt: 12_000 },
        ];
        await ledger.syncChunks(JOB, chunks);
        const seen: Record<string, number | null>[] = [];
        for (const [, write, read] of steps) {
          clock.advance(1_000);
          await write();
          seen.push(fromT0((await read()) as Record<string, number | null>));
        }
        expect(Object.fromEntries(seen.map((s, i) => [steps[i]![0], s]))).toEqual(Object.fromEntries(expected.map((e, i) => [steps[i]![0], e])));
      });

      it('runs are listed by the clock’s start time, not by when they were written', async () => {
        const run = (runId: string) => ({ runId, job: JOB, owner: 'o', host: 'h', pid: 1, options: '{}', chunksTotal: 1 });
        clock.set(T0 + 10);
        await ledger.startRun(run('late'));
        clock.set(T0);
        await ledger.startRun(run('early'));
        clock.set(T0 + 5);
        await ledger.startRun(run('middle'));
        expect((await ledger.listRuns(JOB)).map((r) => [r.runId, r.startedAt - T0])).toEqual([['late', 10], ['middle', 5], ['early', 0]]);
      });

      it('a run closed as interrupted ends at its last heartbeat, not at the clock’s now', async () => {
        await ledger.startRun({ runId: 'gone', job: JOB, owner: 'dead', host: 'h', pid: 1, options: '{}', chunksTotal: 1 });
        clock.advance(20_000);
        await ledger.heartbeatRun('gone');
        clock.advance(3_600_000);
        expect(await ledger.closeDeadRuns(JOB, () => false)).toBe(1);
        expect((await ledger.listRuns(JOB))[0]).toMatchObject({ status: 'interrupted', startedAt: T0, heartbeatAt: T0 + 20_000, finishedAt: T0 + 20_000 });
      });
    });

    describe('schema version and readers', () => {
      it('refuses a ledger with a newer schema version', async () => {
        await ledger.close();
        await store.setSchemaVersion(999);
        const err = await caught(openLedger());
        expect(err).toBeInstanceOf(LedgerError);
        expect((err as Error).message).toContain('newer');
        expect((err as Error).message).toContain('999');
        await expect(store.openReader()).rejects.toThrow(/newer/);
      });

      it('a reader sees the writer’s committed changes while the writer is open', async () => {
        await ledger.syncChunks(JOB, chunks);
        const reader = await store.openReader();
        expect(reader).toBeDefined();
        opened.push(reader!);
        expect(await reader!.listChunks(JOB)).toHaveLength(3);
        const lease = await mustClaim(ledger, c0);
        expect((await reader!.getChunk(JOB, c0.key))?.status).toBe('running');
        await ledger.complete(lease, STATS, 3);
        expect(await reader!.getChunk(JOB, c0.key)).toMatchObject({ status: 'done', rowsWritten: 9 });
        await ledger.startRun({ runId: 'r', job: JOB, owner: 'o', host: 'h', pid: 1, options: '{}', chunksTotal: 3 });
        expect((await reader!.listRuns(JOB)).map((r) => r.runId)).toEqual(['r']);
        // the reader returns the same records as the writer
        expect(await reader!.listChunks(JOB)).toEqual(await ledger.listChunks(JOB));
      });

      it('a reader cannot write', async () => {
        const reader = await store.openReader();
        expect(reader).toBeDefined();
        opened.push(reader!);
        // At run time a reader is a whole ledger object; its store must still refuse the write.
        await expect((reader as unknown as Ledger).syncChunks(JOB, chunks)).rejects.toThrow();
        expect(await ledger.listChunks(JOB)).toEqual([]);
      });

      it('bytes a target could not tell stay unknown (null), and a run counts its chunks of unknown size', async () => {
        await ledger.syncChunks(JOB, chunks);
        await ledger.complete(await mustClaim(ledger, c0), { ...STATS, bytes: null }, 3);
        await ledger.complete(await mustClaim(ledger, c1), STATS, 3);
        expect((await ledger.getChunk(JOB, c0.key))?.bytes).toBeNull();
        expect((await ledger.getChunk(JOB, c1.key))?.bytes).toBe(1234);
        await ledger.startRun({ runId: 'r', job: JOB, owner: 'o', host: 'h', pid: 1, options: '{}', chunksTotal: 2 });
        await ledger.startRun({ runId: 'r0', job: JOB, owner: 'o', host: 'h', pid: 1, options: '{}', chunksTotal: 2 });
        await ledger.finishRun('r', { status: 'done', chunksDone: 2, chunksFailed: 0, rowsRead: 20, rowsWritten: 18, bytes: 1234, bytesUnknown: 1 });
        await ledger.finishRun('r0', { status: 'done', chunksDone: 2, chunksFailed: 0, rowsRead: 20, rowsWritten: 18, bytes: 2468 });
        const runs = await ledger.listRuns(JOB);
        expect(runs.find((r) => r.runId === 'r')).toMatchObject({ bytes: 1234, bytesUnknown: 1 });
        expect(runs.find((r) => r.runId === 'r0')).toMatchObject({ bytes: 2468, bytesUnknown: 0 });
      });

      it('migrating a version-4 ledger turns the 0 bytes of chunks that wrote rows into unknown, and counts them on their runs', async () => {
        const c2 = chunks[2]!;
        await ledger.syncChunks(JOB, chunks);
        await ledger.complete(await mustClaim(ledger, c0), { ...STATS, bytes: 0 }, 3);
        await ledger.complete(await mustClaim(ledger, c1), STATS, 3);
        // Nothing written: 0 bytes is then the truth, and stays.
        await ledger.complete(await mustClaim(ledger, c2), { rowsRead: 0, rowsWritten: 0, rowsRejected: 0, bytes: 0 }, 3);
        await ledger.startRun({ runId: 'indb', job: JOB, owner: 'o', host: 'h', pid: 1, options: '{}', chunksTotal: 3 });
        await ledger.finishRun('indb', { status: 'done', chunksDone: 3, chunksFailed: 0, rowsRead: 30, rowsWritten: 27, bytes: 0 });
        await ledger.startRun({ runId: 'files', job: JOB, owner: 'o', host: 'h', pid: 1, options: '{}', chunksTotal: 3 });
        await ledger.finishRun('files', { status: 'done', chunksDone: 3, chunksFailed: 0, rowsRead: 30, rowsWritten: 27, bytes: 999 });
        await ledger.close();
        await store.revertToVersion4();
        const migrated = await openLedger();
        expect(await store.schemaVersion()).toBe(store.name === 'sqlite' ? SQLITE_MIGRATIONS.length : POSTGRES_MIGRATIONS.length);
        expect((await migrated.getChunk(JOB, c0.key))?.bytes).toBeNull();
        expect((await migrated.getChunk(JOB, c1.key))?.bytes).toBe(1234);
        expect((await migrated.getChunk(JOB, c2.key))?.bytes).toBe(0);
        const runs = await migrated.listRuns(JOB);
        expect(runs.find((r) => r.runId === 'indb')).toMatchObject({ bytes: 0, bytesUnknown: 3 });
        expect(runs.find((r) => r.runId === 'files')).toMatchObject({ bytes: 999, bytesUnknown: 0 });
      });

      it('reopening a current ledger keeps its data (migrations run once)', async () => {
        await ledger.syncChunks(JOB, chunks);
        await ledger.close();
        const again = await openLedger();
        expect(await again.listChunks(JOB)).toHaveLength(3);
        expect(await store.schemaVersion()).toBeGreaterThanOrEqual(1);
      });
    });

    if (store instanceof SqliteStore) sqliteOnly(store, () => ledger, openLedger);
    if (store instanceof PostgresStore) postgresOnly(store, () => ledger, openLedger, () => clock);
  });
}

// ---- what only the embedded SQLite ledger has -----------------------------------------------------

function sqliteOnly(store: SqliteStore, current: () => Ledger, openLedger: () => Promise<Ledger>): void {
  describe('sqlite file', () => {
    it('open creates the folder and the file', () => {
      expect(fs.existsSync(store.file)).toBe(true);
    });

    it('the file is in WAL mode so readers and the writer do not block each other', () => {
      const mode = new Database(store.file, { readonly: true });
      expect(mode.pragma('journal_mode', { simple: true })).toBe('wal');
      mode.close();
    });

    it('a newer schema version is refused by the read-only open too', async () => {
      await current().close();
      await store.setSchemaVersion(999);
      expect(() => SqliteLedger.open(store.file, { readonly: true })).toThrow(/newer/);
      expect(() => SqliteLedger.openReader(store.file)).toThrow(/newer/);
      await expect(openLedger()).rejects.toThrow(/newer/);
    });

    it('openReader on a missing path returns undefined and creates nothing', () => {
      const missing = path.join(store.dir, 'missing', 'ledger.sqlite');
      expect(SqliteLedger.openReader(missing)).toBeUndefined();
      expect(SqliteLedger.openReader(path.join(store.dir, 'absent.sqlite'))).toBeUndefined();
      expect(fs.existsSync(path.join(store.dir, 'missing'))).toBe(false);
      expect(fs.existsSync(path.join(store.dir, 'absent.sqlite'))).toBe(false);
    });

    it('a read-only open cannot write', async () => {
      const reader = SqliteLedger.open(store.file, { readonly: true });
      try {
        await expect(reader.syncChunks(JOB, chunks)).rejects.toThrow();
      } finally {
        await reader.close();
      }
    });
  });
}

// ---- what only the shared PostgreSQL ledger has ---------------------------------------------------

function postgresOnly(store: PostgresStore, current: () => Ledger, openLedger: () => Promise<Ledger>, clock: () => ManualClock): void {
  describe('postgres workers and URLs', () => {
    it('two ledgers (two pools) claiming the same chunk concurrently: exactly one wins', async () => {
      const a = current();
      const b = await openLedger();
      await a.syncChunks(JOB, chunks);
      for (const chunk of chunks) {
        const claims = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).claim(JOB, chunk, `w${i}`, `run-${i}`, 60_000)),
        );
        const winners = claims.filter((l): l is Lease => l !== undefined);
        expect(winners).toHaveLength(1);
        expect(await a.getChunk(JOB, chunk.key)).toMatchObject({
          status: 'running',
          attempts: 1,
          leaseOwner: winners[0]!.owner,
          fencingToken: winners[0]!.token,
        });
      }
    });

    it('two pools racing for a chunk whose lease expired: exactly one takes it over', async () => {
      const a = current();
      const b = await openLedger();
      await a.syncChunks(JOB, chunks);
      const old = await mustClaim(a, c0, 'gone', 1);
      clock().advance(5);
      const claims = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).claim(JOB, c0, `w${i}`, `run-${i}`, 60_000)),
      );
      const winners = claims.filter((l): l is Lease => l !== undefined);
      expect(winners).toHaveLength(1);
      expect(winners[0]!.attempt).toBe(2);
      expect(winners[0]!.token).toBeGreaterThan(old.token);
      await expectLeaseLost(b.complete(old, STATS, 1));
      // a lease is a token, not a connection: either pool may finish it
      await b.complete(winners[0]!, STATS, 1);
      expect((await a.getChunk(JOB, c0.key))?.status).toBe('done');
    });

    it('rate reservations from two pools at once never overlap: each starts where the one before ends', async () => {
      const a = current();
      const b = await openLedger();
      const starts = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).reserveRate(JOB, 10)));
      expect([...starts].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => T0 + 10 * i));
    });

    it('fencing tokens are strictly increasing across two pools', async () => {
      const a = current();
      const b = await openLedger();
      const many = Array.from({ length: 40 }, (_, i) => keyChunk(BigInt(i), BigInt(i + 1)));
      await a.syncChunks(JOB, many);
      // one after the other, alternating pools: every token is above the one before
      const sequential: number[] = [];
      for (let i = 0; i < 20; i++) sequential.push((await mustClaim(i % 2 === 0 ? a : b, many[i]!)).token);
      for (let i = 1; i < sequential.length; i++) expect(sequential[i]!).toBeGreaterThan(sequential[i - 1]!);
      // at the same time: all distinct, all above the earlier ones, and each ledger records the one it handed out
      const concurrent = await Promise.all(many.slice(20).map((c, i) => mustClaim(i % 2 === 0 ? a : b, c)));
      const tokens = concurrent.map((l) => l.token);
      expect(new Set(tokens).size).toBe(tokens.length);
      expect(Math.min(...tokens)).toBeGreaterThan(sequential[sequential.length - 1]!);
      for (const lease of concurrent) expect((await b.getChunk(JOB, lease.chunk.key))?.fencingToken).toBe(lease.token);
    });

    it('workers starting at once migrate a new schema without racing', async () => {
      const schema = store.extraSchema('race');
      const ledgers = await Promise.all(Array.from({ length: 6 }, () => PostgresLedger.open(POSTGRES_URL, { schema })));
      try {
        const first = ledgers[0]!;
        await first.syncChunks(JOB, chunks);
        expect(await ledgers[5]!.listChunks(JOB)).toHaveLength(3);
        expect(await store.schemaExists(schema)).toBe(true);
        // options.schema was used, not the default schema
        expect(await store.schemaExists('backfill_test_never')).toBe(false);
      } finally {
        await Promise.all(ledgers.map((l) => l.close()));
      }
    });

    it('openReader on a schema without tables returns undefined and creates nothing', async () => {
      const absent = store.extraSchema('absent');
      expect(await PostgresLedger.openReader(withSchema(POSTGRES_URL, absent))).toBeUndefined();
      expect(await store.schemaExists(absent)).toBe(false);
      // an existing but empty schema has no ledger either
      await store.admin.query(`CREATE SCHEMA "${absent}"`);
      expect(await PostgresLedger.openReader(POSTGRES_URL, { schema: absent })).toBeUndefined();
    });

    it('a password in the URL never appears in an error', async () => {
      const url = 'postgres://postgres:s3cr3tPW@127.0.0.1:1/test';
      for (const attempt of [PostgresLedger.open(url, { connectTimeoutMs: 5_000 }), PostgresLedger.openReader(url, { connectTimeoutMs: 5_000 })]) {
        const err = await caught(attempt);
        expect(err).toBeInstanceOf(LedgerError);
        const message = (err as Error).message;
        expect(message).not.toContain('s3cr3tPW');
        expect(message).toContain('postgres://postgres:***@127.0.0.1:1/test');
        expect(String((err as Error).stack)).not.toContain('s3cr3tPW');
        expect(describeError(err)).not.toContain('s3cr3tPW');
      }
      // a URL that does not even parse is refused without echoing the password either
      const bad = await caught(PostgresLedger.open('postgres://postgres:s3cr3tPW@[::1/test'));
      expect(bad).toBeInstanceOf(LedgerError);
      expect((bad as Error).message).not.toContain('s3cr3tPW');
      expect(describeError(bad)).not.toContain('s3cr3tPW');
    });

    it('the schema comes from ?schema= or options.schema, which must be a plain identifier', async () => {
      await expect(PostgresLedger.open(POSTGRES_URL, { schema: 'x"; DROP TABLE y; --' })).rejects.toThrow(/schema name/);
      await expect(PostgresLedger.open(withSchema(POSTGRES_URL, 'bad-name'))).rejects.toThrow(/schema name/);
      // ?schema= is taken out of the URL before pg sees it, and the pool names itself
      const { rows } = await store.admin.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'backfill-ledger' AND datname = current_database()`,
      );
      expect(Number(rows[0]?.n)).toBeGreaterThanOrEqual(1);
      expect(await store.exists()).toBe(true);
    });

    it('close ends the pool and may be called twice', async () => {
      const l = await PostgresLedger.open(store.url);
      await l.close();
      await l.close();
      await expect(l.listChunks(JOB)).rejects.toBeInstanceOf(LedgerError);
    });
  });
}

// ---- both stores side by side ---------------------------------------------------------------------

describe('sqlite and postgres', () => {
  const sqlite = new SqliteStore();
  const postgres = new PostgresStore();
  const ledgers: Ledger[] = [];
  /** One clock for both, so the same story leaves the same stamps in each. */
  const clock = new ManualClock(T0);

  beforeAll(async () => {
    await postgres.setup();
    await sqlite.prepare();
    await postgres.prepare();
    ledgers.push(await sqlite.open(clock), await postgres.open(clock));
  });

  afterAll(async () => {
    for (const l of ledgers) await l.close();
    await sqlite.cleanup();
    await postgres.teardown();
  });

  /**
   * The same story told to each ledger; returns what each then holds, with clock readings blanked out
   * unless `stamps` asks to keep them. `tick` runs between the steps (moving the clock, or not).
   */
  async function story(
    l: Ledger,
    { job = JOB, runId = 'r', tick = () => undefined, stamps = false }: { job?: string; runId?: string; tick?: () => void; stamps?: boolean } = {},
  ): Promise<{ chunks: ChunkRecord[]; runs: RunRecord[] }> {
    const plan = [...chunks, timeChunk(Date.UTC(2021, 0, 1), Date.UTC(2021, 0, 2))];
    await l.syncChunks(job, plan);
    tick();
    await l.startRun({ runId, job, owner: 'o', host: 'h', pid: 7, options: '{"a":1}', chunksTotal: plan.length });
    tick();
    const done = await mustClaim(l, c0, 'w1', 60_000, job);
    tick();
    await l.complete(done, STATS, 3);
    tick();
    const failed = await mustClaim(l, c1, 'w1', 60_000, job);
    tick();
    await l.fail(failed, 'nope', 4);
    tick();
    await mustClaim(l, plan[3]!, 'w9', 60_000, job);
    tick();
    await l.heartbeatRun(runId);
    tick();
    await l.finishRun(runId, { status: 'failed', chunksDone: 1, chunksFailed: 1, rowsRead: 10, rowsWritten: 9, bytes: 1234, error: 'one failed' });
    const blank = <T extends object>(record: T, fields: readonly string[]): T =>
      Object.fromEntries(Object.entries(record).map(([k, v]) => [k, !stamps && fields.includes(k) && v !== null ? 'clock' : v])) as T;
    return {
      chunks: (await l.listChunks(job)).map((c) => blank(c, ['startedAt', 'finishedAt', 'leaseExpiresAt'])),
      runs: (await l.listRuns(job)).map((r) => blank(r, ['startedAt', 'heartbeatAt', 'finishedAt'])),
    };
  }

  it('hold identical records after the same operations', async () => {
    const [fromSqlite, fromPostgres] = [await story(ledgers[0]!), await story(ledgers[1]!)];
    expect(fromPostgres).toEqual(fromSqlite);
    expect(fromSqlite.chunks.map((c) => c.status)).toEqual(['done', 'failed', 'pending', 'running']);
  });

  it('given the same clock, hold identical records down to every stamp', async () => {
    const told = async (l: Ledger) => {
      clock.set(T0 + 3_600_000);
      return story(l, { job: 'clocked', runId: 'clocked-r', tick: () => clock.advance(1_000), stamps: true });
    };
    const [fromSqlite, fromPostgres] = [await told(ledgers[0]!), await told(ledgers[1]!)];
    expect(fromPostgres).toEqual(fromSqlite);
    // the stamps are the clock's readings at each step, not the wall clock's
    const start = T0 + 3_600_000;
    expect(fromSqlite.runs[0]).toMatchObject({ startedAt: start + 1_000, heartbeatAt: start + 7_000, finishedAt: start + 8_000 });
    expect(fromSqlite.chunks.map((c) => [c.status, c.startedAt, c.finishedAt, c.leaseExpiresAt])).toEqual([
      ['done', start + 2_000, start + 3_000, null],
      ['failed', start + 4_000, start + 5_000, null],
      ['pending', null, null, null],
      ['running', start + 6_000, null, start + 66_000],
    ]);
  });
});
