// The embedded SQLite ledger: chunk registry, leases with fencing tokens, runs, bounds cache, schema versioning, WAL readers.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteLedger } from '../../src/ledger/sqlite/sqlite-ledger.js';
import { keyChunk, timeChunk, type Chunk } from '../../src/core/chunk.js';
import { LedgerError } from '../../src/core/errors.js';
import type { Lease } from '../../src/ledger/ledger.js';

const JOB = 'events';
const STATS = { rowsRead: 10, rowsWritten: 9, rowsRejected: 1, bytes: 1234 };
const chunks: Chunk[] = [keyChunk(-10n, 0n), keyChunk(0n, 10n), keyChunk(10n, 20n)];
const c0 = chunks[0]!;
const c1 = chunks[1]!;

let dir: string;
let file: string;
let ledger: SqliteLedger;
const opened: { close(): void }[] = [];

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function mustClaim(l: SqliteLedger, chunk: Chunk, owner = 'w1', leaseMs = 60_000): Lease {
  const lease = l.claim(JOB, chunk, owner, 'run-1', leaseMs);
  expect(lease).toBeDefined();
  return lease as Lease;
}

function expectLeaseLost(fn: () => void): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(LedgerError);
  expect((caught as LedgerError).code).toBe('LEASE_LOST');
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backfill-ledger-'));
  file = path.join(dir, 'nested', 'ledger.sqlite');
  ledger = SqliteLedger.open(file);
  opened.push(ledger);
});

afterEach(() => {
  for (const l of opened.splice(0)) {
    try {
      l.close();
    } catch {
      // already closed
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('chunks', () => {
  it('open creates the folder and the file', () => {
    expect(fs.existsSync(file)).toBe(true);
  });

  it('syncChunks is idempotent and keeps existing records as they are', () => {
    ledger.syncChunks(JOB, chunks);
    ledger.syncChunks(JOB, chunks);
    let list = ledger.listChunks(JOB);
    expect(list.map((c) => c.key)).toEqual(['-10/0', '0/10', '10/20']);
    expect(list.every((c) => c.status === 'pending' && c.attempts === 0 && c.generation === 0)).toBe(true);
    expect(list[0]).toMatchObject({ job: JOB, kind: 'key', lo: '-10', hi: '0', tag: 'km10_0', fencingToken: 0 });

    const lease = mustClaim(ledger, c1);
    ledger.complete(lease, STATS, 5);
    ledger.syncChunks(JOB, [...chunks, keyChunk(20n, 30n)]);
    list = ledger.listChunks(JOB);
    expect(list).toHaveLength(4);
    expect(ledger.getChunk(JOB, c1.key)?.status).toBe('done');
    expect(ledger.getChunk(JOB, c1.key)?.generation).toBe(1);
  });

  it('lists key chunks numerically, time chunks by instant, and jobs separately', () => {
    ledger.syncChunks(JOB, [keyChunk(100n, 200n), keyChunk(-5n, 0n), keyChunk(20n, 100n)]);
    expect(ledger.listChunks(JOB).map((c) => c.lo)).toEqual(['-5', '20', '100']);
    ledger.syncChunks('other', [timeChunk(Date.UTC(2021, 1, 1), Date.UTC(2021, 2, 1)), timeChunk(Date.UTC(2021, 0, 1), Date.UTC(2021, 1, 1))]);
    expect(ledger.listChunks('other').map((c) => c.lo)).toEqual(['2021-01-01T00:00:00Z', '2021-02-01T00:00:00Z']);
    expect(ledger.listChunks(JOB)).toHaveLength(3);
    expect(ledger.getChunk(JOB, 'nope')).toBeUndefined();
  });

  it('claim returns strictly increasing fencing tokens and records the lease', () => {
    ledger.syncChunks(JOB, chunks);
    const tokens = chunks.map((c) => mustClaim(ledger, c).token);
    expect(tokens[0]).toBeGreaterThan(0);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
    const rec = ledger.getChunk(JOB, c0.key);
    expect(rec).toMatchObject({ status: 'running', leaseOwner: 'w1', runId: 'run-1', attempts: 1, fencingToken: tokens[0] });
    expect(rec?.leaseExpiresAt).toBeGreaterThan(Date.now());
  });

  it('a chunk that is not registered cannot be claimed', () => {
    expect(ledger.claim(JOB, keyChunk(1000n, 1010n), 'w1', 'run-1', 60_000)).toBeUndefined();
  });

  it('a second claim of a running chunk with a live lease returns undefined', () => {
    ledger.syncChunks(JOB, chunks);
    const first = mustClaim(ledger, c0, 'w1');
    expect(ledger.claim(JOB, c0, 'w2', 'run-2', 60_000)).toBeUndefined();
    expect(ledger.getChunk(JOB, c0.key)).toMatchObject({ leaseOwner: 'w1', fencingToken: first.token, attempts: 1 });
  });

  it('a done chunk cannot be claimed', () => {
    ledger.syncChunks(JOB, chunks);
    ledger.complete(mustClaim(ledger, c0), STATS, 1);
    expect(ledger.claim(JOB, c0, 'w2', 'run-2', 60_000)).toBeUndefined();
  });

  it('after lease expiry another owner claims with a higher token, and the old lease is fenced off', async () => {
    ledger.syncChunks(JOB, chunks);
    const old = mustClaim(ledger, c0, 'w1', 1);
    await sleep(5);
    const fresh = mustClaim(ledger, c0, 'w2', 60_000);
    expect(fresh.token).toBeGreaterThan(old.token);
    expect(fresh.attempt).toBe(2);
    expectLeaseLost(() => ledger.complete(old, STATS, 1));
    expectLeaseLost(() => ledger.heartbeat(old, 60_000));
    expectLeaseLost(() => ledger.fail(old, 'boom', 1));
    // release with a stale token is a no-op
    ledger.release(old, 'late');
    expect(ledger.getChunk(JOB, c0.key)).toMatchObject({ status: 'running', leaseOwner: 'w2', fencingToken: fresh.token });
    // the current holder is unaffected
    ledger.complete(fresh, STATS, 1);
    expect(ledger.getChunk(JOB, c0.key)?.status).toBe('done');
  });

  it('the LEASE_LOST message names the chunk and the token', () => {
    ledger.syncChunks(JOB, chunks);
    const lease = mustClaim(ledger, c0);
    const stale: Lease = { ...lease, token: lease.token - 1 };
    expect(() => ledger.heartbeat(stale, 1000)).toThrow(new RegExp(`lost the lease on chunk ${c0.key} \\(token ${stale.token}\\) before heartbeat`));
  });

  it('heartbeat extends the lease; with a stale token it throws', async () => {
    ledger.syncChunks(JOB, chunks);
    const lease = mustClaim(ledger, c0, 'w1', 50);
    const before = ledger.getChunk(JOB, c0.key)?.leaseExpiresAt ?? 0;
    await sleep(2);
    ledger.heartbeat(lease, 60_000);
    const after = ledger.getChunk(JOB, c0.key)?.leaseExpiresAt ?? 0;
    expect(after).toBeGreaterThan(before);
    expectLeaseLost(() => ledger.heartbeat({ ...lease, token: lease.token + 1 }, 60_000));
  });

  it('heartbeat after complete throws (the chunk is no longer running)', () => {
    ledger.syncChunks(JOB, chunks);
    const lease = mustClaim(ledger, c0);
    ledger.complete(lease, STATS, 1);
    expectLeaseLost(() => ledger.heartbeat(lease, 1000));
    expectLeaseLost(() => ledger.complete(lease, STATS, 1));
  });

  it('complete records stats, clears the lease and increments generation', () => {
    ledger.syncChunks(JOB, chunks);
    const lease = mustClaim(ledger, c0);
    expect(lease.generation).toBe(0);
    ledger.complete(lease, STATS, 42);
    const rec = ledger.getChunk(JOB, c0.key);
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
    expect(ledger.reset(JOB, [c0.key])).toBe(1);
    const again = mustClaim(ledger, c0);
    expect(again.generation).toBe(1);
    ledger.complete(again, STATS, 1);
    expect(ledger.getChunk(JOB, c0.key)?.generation).toBe(2);
  });

  it('fail marks the chunk failed; a later claim works and attempts count up', () => {
    ledger.syncChunks(JOB, chunks);
    const first = mustClaim(ledger, c0);
    expect(first.attempt).toBe(1);
    ledger.fail(first, 'disk full', 7);
    expect(ledger.getChunk(JOB, c0.key)).toMatchObject({ status: 'failed', error: 'disk full', durationMs: 7, leaseOwner: null });
    const second = mustClaim(ledger, c0, 'w2');
    expect(second.attempt).toBe(2);
    expect(second.token).toBeGreaterThan(first.token);
    expect(ledger.getChunk(JOB, c0.key)).toMatchObject({ status: 'running', error: null, attempts: 2 });
    ledger.fail(second, 'again', 1);
    expect(mustClaim(ledger, c0, 'w3').attempt).toBe(3);
  });

  it('release gives the chunk back to pending', () => {
    ledger.syncChunks(JOB, chunks);
    const lease = mustClaim(ledger, c0);
    ledger.release(lease, 'shutdown');
    expect(ledger.getChunk(JOB, c0.key)).toMatchObject({ status: 'pending', error: 'shutdown', leaseOwner: null });
    expect(mustClaim(ledger, c0, 'w2').attempt).toBe(2);
  });

  it('reset puts done and failed chunks back to pending but never a running one', () => {
    ledger.syncChunks(JOB, chunks);
    ledger.complete(mustClaim(ledger, c0), STATS, 1);
    ledger.fail(mustClaim(ledger, c1), 'x', 1);
    const running = mustClaim(ledger, chunks[2]!);
    ledger.reset(JOB, [c0.key, c1.key, running.chunk.key, 'no-such-key']);
    expect(ledger.getChunk(JOB, c0.key)).toMatchObject({ status: 'pending', generation: 1 });
    expect(ledger.getChunk(JOB, c1.key)).toMatchObject({ status: 'pending', error: null });
    expect(ledger.getChunk(JOB, running.chunk.key)?.status).toBe('running');
    // the reset chunks can be claimed again
    expect(mustClaim(ledger, c0).attempt).toBe(2);
  });

  it('staleChunks finds running chunks with an expired lease or a dead owner', async () => {
    ledger.syncChunks(JOB, chunks);
    mustClaim(ledger, c0, 'alive', 60_000);
    mustClaim(ledger, c1, 'dead', 60_000);
    expect(ledger.staleChunks(JOB, Date.now(), () => true)).toEqual([]);
    expect(ledger.staleChunks(JOB, Date.now(), (owner) => owner !== 'dead').map((c) => c.key)).toEqual([c1.key]);
    expect(ledger.staleChunks(JOB, Date.now(), () => false).map((c) => c.key).sort()).toEqual([c0.key, c1.key].sort());
    // an expired lease is stale even if the owner looks alive
    mustClaim(ledger, chunks[2]!, 'alive', 1);
    await sleep(5);
    expect(ledger.staleChunks(JOB, Date.now(), () => true).map((c) => c.key)).toEqual([chunks[2]!.key]);
    // done and pending chunks are never stale
    expect(ledger.staleChunks('other-job', Date.now(), () => false)).toEqual([]);
  });

  it('adoptCommitted and resetStale are fenced by the token', () => {
    ledger.syncChunks(JOB, chunks);
    const a = mustClaim(ledger, c0, 'dead');
    const b = mustClaim(ledger, c1, 'dead');
    expect(ledger.adoptCommitted(JOB, c0.key, a.token - 1, STATS)).toBe(false);
    expect(ledger.adoptCommitted(JOB, c0.key, a.token + 1000, STATS)).toBe(false);
    expect(ledger.getChunk(JOB, c0.key)?.status).toBe('running');
    expect(ledger.adoptCommitted(JOB, c0.key, a.token, STATS)).toBe(true);
    expect(ledger.getChunk(JOB, c0.key)).toMatchObject({ status: 'done', generation: 1, rowsWritten: 9, leaseOwner: null });
    // a second adopt of the now-done chunk does nothing
    expect(ledger.adoptCommitted(JOB, c0.key, a.token, STATS)).toBe(false);
    expect(ledger.getChunk(JOB, c0.key)?.generation).toBe(1);

    expect(ledger.resetStale(JOB, c1.key, b.token + 1)).toBe(false);
    expect(ledger.getChunk(JOB, c1.key)?.status).toBe('running');
    expect(ledger.resetStale(JOB, c1.key, b.token)).toBe(true);
    expect(ledger.getChunk(JOB, c1.key)).toMatchObject({ status: 'pending', leaseOwner: null, leaseExpiresAt: null });
    expect(ledger.resetStale(JOB, c1.key, b.token)).toBe(false);
    // the dead owner's lease is now fenced off
    expectLeaseLost(() => ledger.complete(b, STATS, 1));
  });

  it('fencing tokens are per job and survive reopening', () => {
    ledger.syncChunks(JOB, chunks);
    ledger.syncChunks('other', chunks);
    const t1 = mustClaim(ledger, c0).token;
    const o = ledger.claim('other', c0, 'w1', 'run-x', 60_000);
    expect(o?.token).toBe(1);
    ledger.close();
    const reopened = SqliteLedger.open(file);
    opened.push(reopened);
    const t2 = mustClaim(reopened, c1).token;
    expect(t2).toBeGreaterThan(t1);
    expect(reopened.getChunk(JOB, c0.key)?.status).toBe('running');
  });
});

describe('runs', () => {
  const run = (runId: string, owner: string) => ({ runId, job: JOB, owner, host: 'h', pid: 123, options: '{}', chunksTotal: 3 });

  it('startRun / heartbeatRun / finishRun / listRuns', async () => {
    ledger.startRun(run('r1', 'o1'));
    await sleep(2);
    ledger.startRun(run('r2', 'o2'));
    ledger.heartbeatRun('r1');
    let runs = ledger.listRuns(JOB);
    expect(runs.map((r) => r.runId)).toEqual(['r2', 'r1']);
    expect(runs[1]).toMatchObject({ job: JOB, owner: 'o1', host: 'h', pid: 123, status: 'running', options: '{}', chunksTotal: 3, chunksDone: 0, finishedAt: null });
    ledger.finishRun('r1', { status: 'done', chunksDone: 3, chunksFailed: 0, rowsRead: 30, rowsWritten: 27, bytes: 999 });
    ledger.finishRun('r2', { status: 'failed', chunksDone: 1, chunksFailed: 2, rowsRead: 1, rowsWritten: 1, bytes: 1, error: 'bad' });
    runs = ledger.listRuns(JOB);
    expect(runs.find((r) => r.runId === 'r1')).toMatchObject({ status: 'done', chunksDone: 3, rowsWritten: 27, bytes: 999, error: null });
    expect(runs.find((r) => r.runId === 'r1')?.finishedAt).not.toBeNull();
    expect(runs.find((r) => r.runId === 'r2')).toMatchObject({ status: 'failed', chunksFailed: 2, error: 'bad' });
    expect(ledger.listRuns(JOB, 1)).toHaveLength(1);
    expect(ledger.listRuns('other')).toEqual([]);
  });

  it('lists runs started in the same millisecond newest first', () => {
    for (let i = 0; i < 5; i++) ledger.startRun(run(`r${i}`, 'o'));
    expect(ledger.listRuns(JOB).map((r) => r.runId)).toEqual(['r4', 'r3', 'r2', 'r1', 'r0']);
  });

  it('closeDeadRuns marks running runs of dead owners interrupted', () => {
    ledger.startRun(run('alive', 'o-alive'));
    ledger.startRun(run('dead', 'o-dead'));
    ledger.startRun(run('finished', 'o-dead'));
    ledger.finishRun('finished', { status: 'done', chunksDone: 3, chunksFailed: 0, rowsRead: 0, rowsWritten: 0, bytes: 0 });
    const owners: string[] = [];
    const closed = ledger.closeDeadRuns(JOB, (owner) => {
      owners.push(owner);
      return owner === 'o-alive';
    });
    expect(closed).toBe(1);
    expect(owners.sort()).toEqual(['o-alive', 'o-dead']);
    const byId = new Map(ledger.listRuns(JOB).map((r) => [r.runId, r]));
    expect(byId.get('dead')).toMatchObject({ status: 'interrupted' });
    expect(byId.get('dead')?.error).toMatch(/stopped without finishing/);
    expect(byId.get('dead')?.finishedAt).not.toBeNull();
    expect(byId.get('alive')?.status).toBe('running');
    expect(byId.get('finished')?.status).toBe('done');
    expect(ledger.closeDeadRuns(JOB, () => false)).toBe(1);
    expect(ledger.closeDeadRuns(JOB, () => false)).toBe(0);
  });
});

describe('bounds cache', () => {
  it('cachedBounds returns what saveBounds stored for the same fingerprint and column only', () => {
    expect(ledger.cachedBounds(JOB, 'fp1', 'ts')).toBeUndefined();
    ledger.saveBounds(JOB, 'fp1', 'ts', '100', '200');
    expect(ledger.cachedBounds(JOB, 'fp1', 'ts')).toEqual({ min: '100', max: '200' });
    expect(ledger.cachedBounds(JOB, 'fp2', 'ts')).toBeUndefined();
    expect(ledger.cachedBounds(JOB, 'fp1', 'other_col')).toBeUndefined();
    expect(ledger.cachedBounds('other', 'fp1', 'ts')).toBeUndefined();
    // a new fingerprint replaces the old entry
    ledger.saveBounds(JOB, 'fp2', 'ts', null, null);
    expect(ledger.cachedBounds(JOB, 'fp2', 'ts')).toEqual({ min: null, max: null });
    expect(ledger.cachedBounds(JOB, 'fp1', 'ts')).toBeUndefined();
  });
});

describe('schema version and readers', () => {
  it('refuses a ledger with a newer schema version', () => {
    ledger.close();
    const db = new Database(file);
    db.prepare(`UPDATE backfill_meta SET value = '999' WHERE key = 'schema_version'`).run();
    db.close();
    let caught: unknown;
    try {
      opened.push(SqliteLedger.open(file));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(LedgerError);
    expect((caught as Error).message).toContain('newer');
    expect((caught as Error).message).toContain('999');
    expect(() => opened.push(SqliteLedger.open(file, { readonly: true }))).toThrow(/newer/);
    expect(() => SqliteLedger.openReader(file)).toThrow(/newer/);
  });

  it('openReader on a missing path returns undefined and creates nothing', () => {
    const missing = path.join(dir, 'missing', 'ledger.sqlite');
    expect(SqliteLedger.openReader(missing)).toBeUndefined();
    expect(SqliteLedger.openReader(path.join(dir, 'absent.sqlite'))).toBeUndefined();
    expect(fs.existsSync(path.join(dir, 'missing'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'absent.sqlite'))).toBe(false);
  });

  it('a reader sees the writer’s committed changes while the writer is open (WAL)', () => {
    const mode = new Database(file, { readonly: true });
    expect(mode.pragma('journal_mode', { simple: true })).toBe('wal');
    mode.close();

    ledger.syncChunks(JOB, chunks);
    const reader = SqliteLedger.openReader(file);
    expect(reader).toBeDefined();
    opened.push(reader!);
    expect(reader!.listChunks(JOB)).toHaveLength(3);
    const lease = mustClaim(ledger, c0);
    expect(reader!.getChunk(JOB, c0.key)?.status).toBe('running');
    ledger.complete(lease, STATS, 3);
    expect(reader!.getChunk(JOB, c0.key)).toMatchObject({ status: 'done', rowsWritten: 9 });
    ledger.startRun({ runId: 'r', job: JOB, owner: 'o', host: 'h', pid: 1, options: '{}', chunksTotal: 3 });
    expect(reader!.listRuns(JOB).map((r) => r.runId)).toEqual(['r']);
  });

  it('a reader cannot write', () => {
    const reader = SqliteLedger.open(file, { readonly: true });
    opened.push(reader);
    expect(() => reader.syncChunks(JOB, chunks)).toThrow();
  });

  it('reopening a current ledger keeps its data (migrations run once)', () => {
    ledger.syncChunks(JOB, chunks);
    ledger.close();
    const again = SqliteLedger.open(file);
    opened.push(again);
    expect(again.listChunks(JOB)).toHaveLength(3);
    const db = new Database(file, { readonly: true });
    const row = db.prepare(`SELECT value FROM backfill_meta WHERE key = 'schema_version'`).get() as { value: string };
    db.close();
    expect(Number(row.value)).toBeGreaterThanOrEqual(1);
  });
});
