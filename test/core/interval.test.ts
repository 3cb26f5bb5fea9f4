// Property tests for the half-open interval arithmetic: merge, gaps (missing) and intersection, for number and bigint.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { contains, intersect, interval, mergeIntervals, missingIntervals, overlaps, type Interval, type Point } from '../../src/core/interval.js';

const RUNS = { numRuns: 200 };

/** Integer-endpoint intervals in a small domain, so touching/overlapping is common. */
const numIv = fc
  .tuple(fc.integer({ min: -40, max: 40 }), fc.integer({ min: 1, max: 15 }))
  .map(([lo, len]): Interval<number> => ({ lo, hi: lo + len }));

/** Far beyond Number.MAX_SAFE_INTEGER so precision loss through Number() would show. */
const BIG = 2n ** 70n;
const bigIv = fc
  .tuple(fc.bigInt({ min: -40n, max: 40n }), fc.bigInt({ min: 1n, max: 15n }))
  .map(([lo, len]): Interval<bigint> => ({ lo: BIG + lo, hi: BIG + lo + len }));

// All endpoints are integers, so membership is constant on every [k, k+1): checking the
// integer points of a window is an exact check of set equality.
const numPoints = Array.from({ length: 121 }, (_, i) => i - 60);
const bigPoints = numPoints.map((p) => BIG + BigInt(p));

function inAny<T extends Point>(ivs: readonly Interval<T>[], p: T): boolean {
  return ivs.some((iv) => contains(iv, p));
}

function countIn<T extends Point>(ivs: readonly Interval<T>[], p: T): number {
  return ivs.filter((iv) => contains(iv, p)).length;
}

function checkMerged<T extends Point>(input: readonly Interval<T>[], out: readonly Interval<T>[], points: readonly T[]): void {
  for (const iv of out) expect(iv.lo < iv.hi).toBe(true);
  for (let i = 0; i + 1 < out.length; i++) {
    const a = out[i]!;
    const b = out[i + 1]!;
    // sorted, disjoint and not touching: a strict gap between neighbours
    expect(a.hi < b.lo).toBe(true);
  }
  for (const p of points) {
    expect(inAny(out, p)).toBe(inAny(input, p));
    expect(countIn(out, p)).toBeLessThanOrEqual(1);
  }
  if (input.length === 0) expect(out).toEqual([]);
  else expect(out.length).toBeGreaterThan(0);
}

function checkMissing<T extends Point>(within: Interval<T>, covered: readonly Interval<T>[], gaps: readonly Interval<T>[], points: readonly T[]): void {
  for (const g of gaps) {
    expect(g.lo < g.hi).toBe(true);
    expect(within.lo <= g.lo && g.hi <= within.hi).toBe(true);
  }
  for (let i = 0; i + 1 < gaps.length; i++) expect(gaps[i]!.hi < gaps[i + 1]!.lo).toBe(true);
  const coveredWithin = covered.map((c) => intersect(c, within)).filter((c): c is Interval<T> => c !== undefined);
  for (const p of points) {
    const inGap = countIn(gaps, p);
    const inCovered = inAny(coveredWithin, p) ? 1 : 0;
    if (contains(within, p)) {
      // exactly one of: a gap, or covered — never both, never neither
      expect(inGap + inCovered).toBe(1);
    } else {
      expect(inGap).toBe(0);
      expect(inCovered).toBe(0);
    }
  }
}

describe('mergeIntervals', () => {
  it('number: output is sorted, disjoint, non-touching and covers exactly the union', () => {
    fc.assert(
      fc.property(fc.array(numIv, { maxLength: 12 }), (ivs) => {
        checkMerged(ivs, mergeIntervals(ivs), numPoints);
      }),
      RUNS,
    );
  });

  it('bigint: output is sorted, disjoint, non-touching and covers exactly the union', () => {
    fc.assert(
      fc.property(fc.array(bigIv, { maxLength: 12 }), (ivs) => {
        checkMerged(ivs, mergeIntervals(ivs), bigPoints);
      }),
      RUNS,
    );
  });

  it('is idempotent and independent of input order', () => {
    fc.assert(
      fc.property(fc.array(numIv, { maxLength: 12 }), (ivs) => {
        const once = mergeIntervals(ivs);
        expect(mergeIntervals(once)).toEqual(once);
        expect(mergeIntervals([...ivs].reverse())).toEqual(once);
      }),
      RUNS,
    );
  });

  it('joins touching intervals and does not mutate its input', () => {
    const input = [interval(5, 7), interval(0, 2), interval(2, 5), interval(9, 10)];
    const copy = input.map((iv) => ({ ...iv }));
    expect(mergeIntervals(input)).toEqual([
      { lo: 0, hi: 7 },
      { lo: 9, hi: 10 },
    ]);
    expect(input).toEqual(copy);
    expect(mergeIntervals([interval(1n, 3n), interval(3n, 4n)])).toEqual([{ lo: 1n, hi: 4n }]);
  });

  it('keeps a contained interval from shrinking the one around it', () => {
    expect(mergeIntervals([interval(0, 10), interval(2, 3)])).toEqual([{ lo: 0, hi: 10 }]);
  });
});

describe('missingIntervals', () => {
  it('number: gaps ∪ (covered ∩ within) = within, with no overlap', () => {
    fc.assert(
      fc.property(numIv, fc.array(numIv, { maxLength: 10 }), (within, covered) => {
        checkMissing(within, covered, missingIntervals(within, covered), numPoints);
      }),
      RUNS,
    );
  });

  it('bigint: gaps ∪ (covered ∩ within) = within, with no overlap', () => {
    fc.assert(
      fc.property(bigIv, fc.array(bigIv, { maxLength: 10 }), (within, covered) => {
        checkMissing(within, covered, missingIntervals(within, covered), bigPoints);
      }),
      RUNS,
    );
  });

  it('examples', () => {
    expect(missingIntervals(interval(0, 10), [])).toEqual([{ lo: 0, hi: 10 }]);
    expect(missingIntervals(interval(0, 10), [interval(-5, 20)])).toEqual([]);
    expect(missingIntervals(interval(0, 10), [interval(2, 4), interval(6, 8)])).toEqual([
      { lo: 0, hi: 2 },
      { lo: 4, hi: 6 },
      { lo: 8, hi: 10 },
    ]);
    expect(missingIntervals(interval(0n, 10n), [interval(10n, 12n), interval(-3n, 0n)])).toEqual([{ lo: 0n, hi: 10n }]);
  });
});

describe('intersect', () => {
  it('number: the intersection holds exactly the points in both', () => {
    fc.assert(
      fc.property(numIv, numIv, (a, b) => {
        const x = intersect(a, b);
        expect(x === undefined).toBe(!overlaps(a, b));
        expect(intersect(b, a)).toEqual(x);
        for (const p of numPoints) {
          expect(x !== undefined && contains(x, p)).toBe(contains(a, p) && contains(b, p));
        }
      }),
      RUNS,
    );
  });

  it('bigint: the intersection holds exactly the points in both', () => {
    fc.assert(
      fc.property(bigIv, bigIv, (a, b) => {
        const x = intersect(a, b);
        expect(x === undefined).toBe(!overlaps(a, b));
        for (const p of bigPoints) {
          expect(x !== undefined && contains(x, p)).toBe(contains(a, p) && contains(b, p));
        }
      }),
      RUNS,
    );
  });

  it('touching intervals do not intersect (half-open)', () => {
    expect(intersect(interval(0, 5), interval(5, 9))).toBeUndefined();
    expect(intersect(interval(0n, 5n), interval(5n, 9n))).toBeUndefined();
    expect(intersect(interval(0, 5), interval(4, 9))).toEqual({ lo: 4, hi: 5 });
  });
});

describe('interval', () => {
  it('refuses empty or inverted intervals', () => {
    expect(() => interval(3, 3)).toThrow(RangeError);
    expect(() => interval(4n, 3n)).toThrow(/empty interval/);
  });
});
