// The pure parts of `backfill profile`: spreading statistics over chunks, skew, the recommended chunking, problems, the sample slice and the estimate.
import { describe, expect, it } from 'vitest';
import { keyChunk, timeChunk } from '../../src/core/chunk.js';
import { rowsPerChunk } from '../../src/engine/profile/profile-spread.js';
import { skewOf } from '../../src/engine/profile/profile-skew.js';
import { adviseChunking } from '../../src/engine/profile/profile-recommend.js';
import { findProblems, hasDst } from '../../src/engine/profile/profile-problems.js';
import { estimateSeconds, pickSlice } from '../../src/engine/profile/profile-estimate.js';

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
  it('cuts the heaviest chunk to about 1% of all rows', () => {
    const chunking = { kind: 'time' as const, column: 'ts', step: { n: 1, unit: 'day' as const }, timezone: 'UTC' };
    const slice = pickSlice(chunking, days(4), [1e6, 1e6, 1e7, 1e6]);
    expect(slice?.chunk.lo).toBe(days(4)[2]?.lo);
    expect(slice?.expectedRows).toBeGreaterThan(1.2e5);
    expect(slice?.expectedRows).toBeLessThan(1.4e5);
  });
  it('scales the chunk time by rows over the slots that run at once, plus the fixed part once', () => {
    expect(estimateSeconds({ fixedSeconds: 1, chunkSeconds: 2, rows: 1000, lo: '', hi: '' }, 100_000, 10, 4, 2)).toBe(1 + 200 / 2);
  });
});
