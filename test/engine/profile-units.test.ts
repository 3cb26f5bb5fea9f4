// The pure parts of `backfill profile`: spreading statistics over chunks, skew, the recommended chunking, problems, the sample slice and the estimate.
import { describe, expect, it } from 'vitest';
import { keyChunk, timeChunk } from '../../src/core/chunk.js';
import { rowsPerChunk } from '../../src/engine/profile/profile-spread.js';
import { skewOf } from '../../src/engine/profile/profile-skew.js';
import { adviseChunking } from '../../src/engine/profile/profile-recommend.js';
import { findProblems, hasDst } from '../../src/engine/profile/profile-problems.js';
import { chunkSeconds, estimateRun, fitChunkCost, planSample, poolSeconds, slotsFor, type SampleTiming } from '../../src/engine/profile/profile-estimate.js';

const DAY = 86_400_000;
const days = (n: number) => Array.from({ length: n }, (_, i) => timeChunk(i * DAY, (i + 1) * DAY));

describe('rowsPerChunk', () => {
  it.each([
    ['a range over two chunks splits by width', { kind: 'ranges' as const, ranges: [{ lo: 0.5 * DAY, hi: 1.5 * DAY, rows: 100 }], source: '' }, [50, 50, 0]],
    ['a single value goes whole to its chunk', { kind: 'ranges' as const, ranges: [{ lo: 2 * DAY, hi: 2 * DAY, rows: 7 }], source: '' }, [0, 0, 7]],
    ['rows outside every chunk count nowhere', { kind: 'ranges' as const, ranges: [{ lo: 5 * DAY, hi: 6 * DAY, rows: 9 }], source: '' }, [0, 0, 0]],
    ['equi-depth histogram buckets share rows equally', { kind: 'histogram' as const, bounds: [0, DAY, 1.5 * DAY, 3 * DAY], rows: 90, source: '' }, [30, 30 + 10, 20]],
    ['counts pass through', { kind: 'counts' as const, counts: [1, 2, 3], source: '' }, [1, 2, 3]],
  ])('%s', (_name, spread, want) => {
    expect(rowsPerChunk(spread, days(3))).toEqual(want);
  });
  it('key chunks', () => {
    expect(rowsPerChunk({ kind: 'ranges', ranges: [{ lo: 0, hi: 300, rows: 30 }], source: '' }, [keyChunk(0n, 100n), keyChunk(100n, 200n), keyChunk(200n, 300n)])).toEqual([10, 10, 10]);
  });
});

describe('skewOf', () => {
  it('largest, median, ratio, the heaviest five and empty chunks', () => {
    const s = skewOf(days(7), [1, 2, 3, 100, 0, 5, 4]);
    expect(s.largest?.rows).toBe(100);
    expect(s.median).toBe(3);
    expect(s.ratio).toBeCloseTo(100 / 3);
    expect(s.heaviest.map((c) => c.rows)).toEqual([100, 5, 4, 3, 2]);
    expect(s.empty).toBe(1);
  });
});

describe('adviseChunking', () => {
  const chunking = { kind: 'time' as const, column: 'ts', step: { n: 1, unit: 'day' as const }, timezone: 'UTC' };
  it('takes the largest step whose busiest chunk holds at most 5 million rows', () => {
    // 1 million rows a day at the peak: a week would hold 7 million, a day 1 million.
    const advice = adviseChunking({ chunking, chunks: days(10), rows: [1e4, 1e4, 1e4, 1e4, 1e4, 1e4, 1e4, 1e4, 1e4, 1e6], bytesPerRow: undefined, memoryLimitBytes: undefined, cores: 2 });
    expect(advice?.setting).toBe('chunk.every: 1 day');
    expect(advice?.concurrency).toBe(2);
  });
  it('a memory cap makes chunks smaller', () => {
    const rows = Array.from({ length: 10 }, () => 2e5);
    const free = adviseChunking({ chunking, chunks: days(10), rows, bytesPerRow: 100, memoryLimitBytes: undefined, cores: 2 });
    const capped = adviseChunking({ chunking, chunks: days(10), rows, bytesPerRow: 100, memoryLimitBytes: 256e6, cores: 2 });
    expect(free?.setting).toBe('chunk.every: 1 week');
    expect(capped?.setting).toBe('chunk.every: 1 day');
  });
  it('key chunks get a round size', () => {
    const advice = adviseChunking({ chunking: { kind: 'key', column: 'id', size: 1000n }, chunks: [keyChunk(0n, 1000n)], rows: [1000], bytesPerRow: undefined, memoryLimitBytes: undefined, cores: 4 });
    expect(advice?.setting).toBe('chunk.size: 5000000');
  });
});

describe('findProblems', () => {
  const skew = skewOf(days(3), [10, 10, 10]);
  it('names each problem with its fix', () => {
    const problems = findProblems({
      column: 'ts', timezone: 'Europe/Paris', key: ['id'], nullRows: 3, skew, targetAdvice: ['t has no index …. Add one: CREATE INDEX ON "t" ("ts");'], recommended: undefined,
      source: { zoneless: true, chunkIndex: { present: false, statement: 'CREATE INDEX ON "s" ("ts");', table: 's' }, duplicates: { keys: 2, examples: [{ key: '5', rows: 2 }], source: '' } },
    });
    expect(problems.map((p) => [p.code, p.fix.slice(0, 12)])).toEqual([
      ['source-chunk-index', 'CREATE INDEX'], ['target-index', 'CREATE INDEX'], ['null-chunk-values', 'fill "ts" in'], ['duplicate-keys', 'keep one row'], ['zoneless-dst', 'store the co'],
    ]);
  });
  it('no DST warning in a zone without DST', () => {
    expect(hasDst('Europe/Paris')).toBe(true);
    expect(hasDst('Asia/Tokyo')).toBe(false);
    expect(findProblems({ column: 'ts', timezone: 'Asia/Tokyo', key: [], nullRows: 0, skew, targetAdvice: [], recommended: undefined, source: { zoneless: true } })).toEqual([]);
  });
});

describe('the sample and the estimate', () => {
  it('cuts the heaviest chunk into warm-up, small and large slices, one of each per slot, in that order', () => {
    // 40 million rows: a large slice holds 0.3% of them (120,000), a small one and a warm-up 12,000.
    const sample = planSample(days(4), [1e7, 1e7, 2e7, 0], 2);
    expect(sample?.from.lo).toBe(days(4)[2]?.lo);
    expect(sample?.slices.map((s) => s.role)).toEqual(['warm', 'warm', 'small', 'small', 'large', 'large']);
    sample?.slices.forEach((s, i) => {
      const want = { warm: 12_000, small: 12_000, large: 120_000 }[s.role];
      expect(Math.abs(s.expectedRows - want)).toBeLessThanOrEqual(250);
      // consecutive, inside the sampled chunk
      if (i > 0) expect(s.chunk.lo).toBe(sample.slices[i - 1]?.chunk.hi);
    });
    expect(Date.parse(sample?.slices[0]?.chunk.lo ?? '')).toBe(2 * DAY);
    expect(Date.parse(sample?.slices[5]?.chunk.hi ?? '')).toBeLessThan(3 * DAY);
    // On whole pieces (files of a minute each here, 13,889 rows) a large slice holds 0.5%: 14 files, 194,444 rows.
    const minutes = Array.from({ length: 4 * 1440 + 1 }, (_, i) => i * 60_000);
    const whole = planSample(days(4), [1e7, 1e7, 2e7, 0], 2, minutes);
    expect(whole?.slices.filter((s) => s.role === 'large').map((s) => s.expectedRows)).toEqual([194_444, 194_444]);
  });
  it('no small slices, and so no warm-up, when every chunk holds at least a large slice\'s rows: they only cost smaller chunks', () => {
    const sample = planSample(days(3), [1e7, 1e7, 2e7], 2);
    expect(sample?.slices.map((s) => s.role)).toEqual(['large', 'large']);
    expect(sample?.slices.map((s) => Math.round(s.expectedRows / 1000))).toEqual([120, 120]);
    expect(sample?.slices[0]?.chunk.lo).toBe(days(3)[2]?.lo);
    expect(sample?.warmApart).toBe(false);
    // One chunk below 120,000 rows brings them back.
    expect(planSample(days(4), [1e7, 1e7, 2e7, 100_000], 2)?.slices.map((s) => s.role)).toEqual(['warm', 'warm', 'small', 'small', 'large', 'large']);
    // Cheap pieces to warm up on change nothing without small slices.
    const edges = Array.from({ length: 4 }, (_, i) => i * DAY);
    expect(planSample(days(3), [1e7, 1e7, 2e7], 2, edges, [{ lo: 0, hi: DAY, rows: 20_000 }, { lo: DAY, hi: 2 * DAY, rows: 20_000 }])?.slices.map((s) => s.role)).toEqual(['large', 'large']);
  });
  it('a chunk too small for the slices gives each its share of it; key chunks get key slices', () => {
    const sample = planSample([keyChunk(0n, 1000n)], [1000], 1);
    expect(sample?.slices.map((s) => [s.role, s.chunk.lo, s.chunk.hi])).toEqual([['large', '0', '1000']]);
    // Beside an empty chunk (which costs a chunk's fixed part) the small slice comes back.
    const beside = planSample([keyChunk(0n, 1000n), keyChunk(1000n, 2000n)], [1000, 0], 1);
    expect(beside?.slices.map((s) => [s.role, s.chunk.lo, s.chunk.hi])).toEqual([['warm', '0', '83'], ['small', '83', '166'], ['large', '166', '1000']]);
    expect(planSample(days(2), [0, 0], 2)).toBeUndefined();
  });
  it('on dated files, every slice ends on a file edge, holds one file at least, and a large slice twice the files of a small one', () => {
    // A 30-day chunk of 3,000,000 rows in daily files (100,000 rows each): a large slice wants the 50,000-row
    // minimum. A lighter chunk beside it (a day of 1,000 rows) needs small slices.
    const month = [timeChunk(0, 30 * DAY), timeChunk(30 * DAY, 31 * DAY)];
    const edges = Array.from({ length: 31 }, (_, i) => i * DAY);
    const sample = planSample(month, [3e6, 1000], 2, edges.flatMap((e) => [e, e + DAY]));
    expect(sample?.slices.map((s) => s.role)).toEqual(['warm', 'warm', 'small', 'small', 'large', 'large']);
    const pieces = sample?.slices.map((s) => (Date.parse(s.chunk.hi) - Date.parse(s.chunk.lo)) / DAY) ?? [];
    // Without edges a small slice would hold a twentieth of a file (5,000 rows) and a large one half a file (50,000 rows).
    expect(pieces).toEqual([1, 1, 1, 1, 2, 2]);
    for (const s of sample?.slices ?? []) expect(Date.parse(s.chunk.lo) % DAY).toBe(0);
    expect(sample?.slices.map((s) => s.expectedRows)).toEqual([1e5, 1e5, 1e5, 1e5, 2e5, 2e5]);
    // Small files: the slices take as many whole files as come nearest their rows.
    const fine = planSample(month, [3e5, 100], 1, edges);
    // 50,000 rows wanted in the large slice (10,000 a file): five files; 5,000 in the small ones: one file (half a file rounds up).
    expect(fine?.slices.map((s) => (Date.parse(s.chunk.hi) - Date.parse(s.chunk.lo)) / DAY)).toEqual([1, 1, 5]);
    // Without the light chunk no small slices (nor warm-up): a large one takes the files nearest its rows, one here
    // (100,000 rows against the 50,000 wanted), as no small slice needs telling apart from it.
    expect(planSample(month.slice(0, 1), [3e6], 2, edges)?.slices.map((s) => [s.role, (Date.parse(s.chunk.hi) - Date.parse(s.chunk.lo)) / DAY])).toEqual([
      ['large', 1], ['large', 1],
    ]);
    expect(sample?.slices.every((s, i, all) => i === 0 || s.chunk.lo === all[i - 1]?.chunk.hi)).toBe(true);
  });
  it('warms up on the cheapest pieces outside the sampled chunk that hold half a warm-up at least, else on its first rows', () => {
    // A day of 1,000 rows after the months: small slices, and so warm-up slices, are wanted.
    const month = [timeChunk(0, 30 * DAY), timeChunk(30 * DAY, 60 * DAY), timeChunk(60 * DAY, 61 * DAY)];
    const edges = Array.from({ length: 62 }, (_, i) => i * DAY);
    // 40 million rows: warm-up slices of 20,000 rows, large ones of 200,000.
    const light = [
      { lo: 5 * DAY, hi: 6 * DAY, rows: 5_000 }, // inside the sampled chunk
      { lo: 31 * DAY, hi: 32 * DAY, rows: 9_000 }, // too few rows
      { lo: 40 * DAY, hi: 41 * DAY, rows: 12_000 },
      { lo: 33 * DAY, hi: 34 * DAY, rows: 15_000 },
      { lo: 35 * DAY, hi: 36 * DAY, rows: 16_000 },
    ];
    const sample = planSample(month, [3e7, 1e7, 1000], 2, edges, light);
    expect(sample?.warmApart).toBe(true);
    expect(sample?.slices.filter((s) => s.role === 'warm').map((s) => [s.chunk.lo, s.expectedRows])).toEqual([
      [timeChunk(40 * DAY, 41 * DAY).lo, 12_000], [timeChunk(33 * DAY, 34 * DAY).lo, 15_000],
    ]);
    // The measured slices start at the sampled chunk's start.
    expect(sample?.slices.find((s) => s.role !== 'warm')?.chunk.lo).toBe(month[0]?.lo);
    // One cheap piece for two slots: the chunk's first rows, as without any.
    const fallback = planSample(month, [3e7, 1e7, 1000], 2, edges, light.slice(0, 3));
    expect(fallback?.warmApart).toBe(false);
    expect(fallback?.slices[0]?.chunk.lo).toBe(month[0]?.lo);
  });
  it('slots: the concurrency, at most one per core and per chunk', () => {
    expect([slotsFor(8, 2, 50), slotsFor(1, 4, 50), slotsFor(4, 8, 3), slotsFor(4, 8, 0)]).toEqual([2, 1, 3, 1]);
  });
  it('fits a cost per chunk apart from the cost per row', () => {
    const line = (rows: number) => ({ rows, seconds: 0.04 + rows * 1e-6 });
    const cost = fitChunkCost([line(20_000), line(21_000), line(100_000), line(99_000)]);
    expect(cost.perChunkSeconds).toBeCloseTo(0.04, 9);
    expect(cost.perRowSeconds).toBeCloseTo(1e-6, 12);
  });
  it('noise that tilts the line below zero puts all the cost on the rows', () => {
    // The small slices took longer than the large ones: no sensible line; through the origin instead.
    const cost = fitChunkCost([{ rows: 1000, seconds: 0.5 }, { rows: 2000, seconds: 0.2 }]);
    expect(cost.perChunkSeconds).toBe(0);
    expect(cost.perRowSeconds).toBeCloseTo((1000 * 0.5 + 2000 * 0.2) / (1000 ** 2 + 2000 ** 2), 12);
    expect(fitChunkCost([{ rows: 0, seconds: 0.3 }])).toEqual({ perChunkSeconds: 0.3, perRowSeconds: 0 });
  });
  it('lays the chunks over the slots as the pool takes them', () => {
    expect(poolSeconds([4, 1, 1, 1, 1], 2)).toBe(4);
    expect(poolSeconds([1, 1, 1, 1, 4], 2)).toBe(6);
    expect(poolSeconds([3, 3, 3], 1)).toBe(9);
  });
  it('the run: time outside chunks once, the warm-up beyond the line once, the chunks at the fitted cost over the slots', () => {
    const at = (role: 'warm' | 'small' | 'large', rows: number, extra = 0) => ({ role, rows, seconds: 0.05 + rows * 2e-6 + extra, at: 0 });
    const timing: SampleTiming = {
      outsideSeconds: 0.5, wallSeconds: 2, slots: 2, lo: '', hi: '',
      points: [at('warm', 1000, 0.3), at('warm', 1000, 0.1), at('small', 10_000), at('small', 10_000), at('large', 50_000), at('large', 50_000)],
    };
    const run = estimateRun(timing, [40_000, 40_000, 1e6]);
    expect(run.cost.perChunkSeconds).toBeCloseTo(0.05, 9);
    expect(run.largeRows).toBe(50_000);
    expect(run.warmSeconds).toBeCloseTo(0.3, 9);
    // Two chunks below the large slices on the line (0.13 s each), one of 1,000,000 rows at the large slices' rate
    // (0.15 s for 50,000 rows: 3 s), not on the line drawn out twenty times further (2.05 s).
    expect(run.seconds).toBeCloseTo(0.5 + 0.3 + 0.13 + 3, 9);
  });
  it('the line goes on past the large slices where they took three times the small ones\' time', () => {
    const at = (role: 'small' | 'large', rows: number) => ({ role, rows, seconds: 0.05 + rows * 2e-6, at: 0 });
    // 0.09 s and 0.45 s: five times.
    const timing: SampleTiming = { outsideSeconds: 0, wallSeconds: 1, slots: 1, lo: '', hi: '', points: [at('small', 20_000), at('large', 200_000)] };
    const run = estimateRun(timing, [1e6]);
    expect(run.largeRows).toBe(0);
    expect(run.seconds).toBeCloseTo(0.05 + 2, 9);
  });
  it('a chunk costs the line up to the large slices, their rate per row beyond', () => {
    const cost = { perChunkSeconds: 0.1, perRowSeconds: 1e-6 };
    expect(chunkSeconds(cost, 100_000, 0)).toBeCloseTo(0.1, 12);
    expect(chunkSeconds(cost, 100_000, 100_000)).toBeCloseTo(0.2, 12);
    expect(chunkSeconds(cost, 100_000, 1_000_000)).toBeCloseTo(2, 12);
    // Without large slices: the line.
    expect(chunkSeconds(cost, 0, 1_000_000)).toBeCloseTo(1.1, 12);
  });
  it('without small slices every chunk is costed at the large slices\' time per row', () => {
    const timing: SampleTiming = {
      outsideSeconds: 0.2, wallSeconds: 2, slots: 2, lo: '', hi: '',
      points: [
        { role: 'warm', rows: 10_000, seconds: 0.5, at: 0 }, { role: 'warm', rows: 10_000, seconds: 0.5, at: 0 },
        { role: 'large', rows: 100_000, seconds: 0.2, at: 0.5 }, { role: 'large', rows: 300_000, seconds: 0.4, at: 0.5 },
      ],
    };
    const run = estimateRun(timing, [1e6, 1e6]);
    // 0.6 s for 400,000 rows: 1.5 µs a row, a whole chunk's fixed part in it; no line through two sizes of whole files.
    expect(run.cost.perChunkSeconds).toBe(0);
    expect(run.cost.perRowSeconds).toBeCloseTo(1.5e-6, 15);
    expect(run.warmSeconds).toBeCloseTo(0.5 - 0.015, 9);
    expect(run.seconds).toBeCloseTo(0.2 + 0.485 + 1.5, 9);
  });
});
