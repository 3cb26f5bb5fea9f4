// Property tests for incremental windows: a simulated source receives rows (many sharing one cursor
// value, some arriving late), runs happen at random times with random chunk failures, and every row
// late by no more than the lookback plus the settle delay is read; windows never leave a gap.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { planChunks } from '../../src/core/planner.js';
import { advancedWatermark, incrementalWindow, MIN_CURSOR, staleWindowChunks, windowChunk } from '../../src/core/watermark.js';
import { wallClock } from '../../src/engine/incremental/incremental.js';

interface Row {
  readonly id: number;
  /** The cursor value the row carries. */
  readonly cursor: bigint;
  /** When the row became visible (committed); cursor = visibleAt - lateness. */
  readonly visibleAt: bigint;
}

interface Scenario {
  readonly lookback: bigint;
  readonly settle: bigint;
  readonly size: bigint;
  readonly rows: readonly Row[];
  /** Run times after the full backfill, increasing; each with the indexes of its chunks that fail. */
  readonly runs: readonly { readonly at: bigint; readonly failing: readonly number[] }[];
}

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    lookback: fc.bigInt({ min: 0n, max: 40n }),
    settle: fc.bigInt({ min: 0n, max: 10n }),
    size: fc.bigInt({ min: 1n, max: 25n }),
    // Rows: visible at some time in [0, 300), late by 0..60; a few cursor values carry many rows (ties).
    rows: fc.array(
      fc.record({ visibleAt: fc.bigInt({ min: 0n, max: 300n }), lateness: fc.bigInt({ min: 0n, max: 60n }), copies: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 40 })) }),
      { maxLength: 60 },
    ),
    gaps: fc.array(fc.record({ step: fc.bigInt({ min: 1n, max: 50n }), failing: fc.array(fc.nat({ max: 6 }), { maxLength: 3 }) }), { minLength: 1, maxLength: 12 }),
  })
  .map(({ lookback, settle, size, rows, gaps }) => {
    let id = 0;
    const expanded = rows.flatMap((r) => Array.from({ length: r.copies }, () => ({ id: id++, cursor: r.visibleAt - r.lateness, visibleAt: r.visibleAt })));
    let at = 20n;
    const runs = gaps.map((g) => ({ at: (at += g.step), failing: g.failing }));
    return { lookback, settle, size, rows: expanded, runs };
  });

/** One incremental run as the engine does it: window, chunks, the chunks that commit, the watermark after. */
function simulate(s: Scenario, extraRunAt: bigint | undefined): { read: Set<number>; windows: { lo: bigint; hi: bigint; startedAt: bigint }[] } {
  const read = new Set<number>();
  // The full backfill runs at time 20 and reads every row visible then; the watermark starts at its snapshot.
  const historyAt = 20n;
  for (const r of s.rows) if (r.visibleAt <= historyAt) read.add(r.id);
  let watermark = historyAt - s.settle;
  const windows: { lo: bigint; hi: bigint; startedAt: bigint }[] = [];
  const runs = extraRunAt === undefined ? s.runs : [...s.runs, { at: extraRunAt, failing: [] }];
  for (const run of runs) {
    const window = incrementalWindow(watermark, s.lookback, run.at - s.settle);
    if (window === undefined) continue;
    windows.push({ ...window, startedAt: watermark });
    const chunks = planChunks({ kind: 'key', column: 'cursor', size: s.size, from: window.lo, to: window.hi }, undefined).map(windowChunk);
    const done = new Set<string>();
    chunks.forEach((c, i) => {
      if (run.failing.includes(i)) return;
      done.add(c.key);
      const lo = BigInt(c.lo);
      const hi = BigInt(c.hi);
      // What the chunk's query sees: rows visible at the run's time with lo <= cursor < hi.
      for (const r of s.rows) if (r.visibleAt <= run.at && r.cursor >= lo && r.cursor < hi) read.add(r.id);
    });
    const next = advancedWatermark(watermark, chunks.map((c) => ({ key: c.key, lo: BigInt(c.lo), hi: BigInt(c.hi) })), done);
    expect(next >= watermark).toBe(true);
    expect(next <= window.hi).toBe(true);
    watermark = next;
  }
  return { read, windows };
}

describe('incremental windows', () => {
  it('read every row that is late by at most lookback + settle, whatever runs fail, once a run succeeds after it arrived', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const last = s.runs[s.runs.length - 1]!.at;
        // A final run after every row is visible and has settled, with nothing failing.
        const { read } = simulate(s, last + 400n);
        for (const r of s.rows) {
          const lateness = r.visibleAt - r.cursor;
          if (lateness <= s.lookback + s.settle) expect(read.has(r.id), `row ${r.id} cursor ${r.cursor} visible at ${r.visibleAt}`).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('each window starts at or below the watermark it found, so consecutive windows never leave a gap', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { windows } = simulate(s, undefined);
        for (const w of windows) expect(w.lo <= w.startedAt).toBe(true);
        for (let i = 1; i < windows.length; i++) expect(windows[i]!.lo <= windows[i - 1]!.hi).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('rows sharing one cursor value all fall on the same side of every bound (ties at the boundary)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -1000n, max: 1000n }), fc.bigInt({ min: 1n, max: 50n }), fc.bigInt({ min: 0n, max: 20n }), (tie, size, lookback) => {
        // The window ends exactly on the tied value: none of the 1,500 rows is read; the next window reads them all.
        const first = incrementalWindow(tie - 100n, lookback, tie);
        const second = incrementalWindow(tie, lookback, tie + 1n);
        expect(first === undefined || !(first.lo <= tie && tie < first.hi)).toBe(true);
        expect(second !== undefined && second.lo <= tie && tie < second.hi).toBe(true);
        const chunks = planChunks({ kind: 'key', column: 'c', size, from: second!.lo, to: second!.hi }, undefined);
        expect(chunks.filter((c) => BigInt(c.lo) <= tie && tie < BigInt(c.hi))).toHaveLength(1);
      }),
    );
  });

  it('the watermark moves over an unbroken run of committed chunks from the window start, never back', () => {
    const chunks = [
      { key: 'a', lo: 0n, hi: 10n },
      { key: 'b', lo: 10n, hi: 20n },
      { key: 'c', lo: 20n, hi: 30n },
    ];
    expect(advancedWatermark(5n, chunks, new Set())).toBe(5n);
    expect(advancedWatermark(5n, chunks, new Set(['b', 'c']))).toBe(5n); // the lookback chunk failed: its late rows are unread
    expect(advancedWatermark(5n, chunks, new Set(['a']))).toBe(10n);
    expect(advancedWatermark(5n, chunks, new Set(['a', 'c']))).toBe(10n);
    expect(advancedWatermark(5n, chunks, new Set(['c', 'a', 'b']))).toBe(30n);
    expect(advancedWatermark(40n, chunks, new Set(['a', 'b', 'c']))).toBe(40n);
  });

  it('clamps windows to the 64-bit range of an empty integer source', () => {
    expect(incrementalWindow(MIN_CURSOR, 100n, MIN_CURSOR)).toBeUndefined();
    expect(incrementalWindow(MIN_CURSOR, 100n, 5n)).toEqual({ lo: MIN_CURSOR, hi: 5n });
  });

  it('turns an instant into the wall-clock time a TIMESTAMP written in a zone holds, across DST', () => {
    // 17:00Z is 12:00 in New York in January (UTC-5) and 13:00 in July (UTC-4).
    expect(new Date(wallClock(Date.parse('2026-01-10T17:00:00Z'), 'America/New_York')).toISOString()).toBe('2026-01-10T12:00:00.000Z');
    expect(new Date(wallClock(Date.parse('2026-07-10T17:00:00Z'), 'America/New_York')).toISOString()).toBe('2026-07-10T13:00:00.000Z');
    expect(new Date(wallClock(Date.parse('2026-01-10T17:00:00.123Z'), 'Asia/Tokyo')).toISOString()).toBe('2026-01-11T02:00:00.123Z');
  });

  it('forgets the window chunk records of all but the latest window runs, keeping history, running chunks and unrestored backups', () => {
    const rec = (key: string, runId: string | null, startedAt: number, status = 'done') => ({ key, runId, startedAt, status });
    const records = [
      rec('0/10', 'h', 1), // a history chunk: never
      rec('window a', 'r1', 10),
      rec('window b', 'r1', 11),
      rec('window c', 'r2', 20),
      rec('window d', 'r2', 21, 'running'),
      rec('window e', 'r3', 30),
      rec('window f', 'r4', 40),
      rec('window g', 'r5', 50),
      rec('window h', null, 60, 'pending'),
    ];
    expect(staleWindowChunks(records, new Set(), 2)).toEqual(['window a', 'window b', 'window c', 'window e']);
    expect(staleWindowChunks(records, new Set(['window b']), 2)).toEqual(['window a', 'window c', 'window e']);
    expect(staleWindowChunks(records, new Set(), 10)).toEqual([]);
  });
});
