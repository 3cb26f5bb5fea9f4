// Half-open intervals [lo, hi) and the set arithmetic the planner and status are built on.

export type Point = number | bigint;

export interface Interval<T extends Point = Point> {
  readonly lo: T;
  readonly hi: T;
}

export function interval<T extends Point>(lo: T, hi: T): Interval<T> {
  if (!(lo < hi)) throw new RangeError(`empty interval [${String(lo)}, ${String(hi)})`);
  return { lo, hi };
}

export function contains<T extends Point>(iv: Interval<T>, value: T): boolean {
  return iv.lo <= value && value < iv.hi;
}

export function overlaps<T extends Point>(a: Interval<T>, b: Interval<T>): boolean {
  return a.lo < b.hi && b.lo < a.hi;
}

/** Sort and join touching or overlapping intervals. */
export function mergeIntervals<T extends Point>(intervals: readonly Interval<T>[]): Interval<T>[] {
  const sorted = [...intervals].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  const out: Interval<T>[] = [];
  for (const iv of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && iv.lo <= last.hi) {
      if (iv.hi > last.hi) out[out.length - 1] = { lo: last.lo, hi: iv.hi };
    } else {
      out.push({ lo: iv.lo, hi: iv.hi });
    }
  }
  return out;
}

/** The parts of `within` that no interval of `covered` covers: the gaps. */
export function missingIntervals<T extends Point>(within: Interval<T>, covered: readonly Interval<T>[]): Interval<T>[] {
  const gaps: Interval<T>[] = [];
  let cursor = within.lo;
  for (const iv of mergeIntervals(covered)) {
    if (iv.hi <= cursor) continue;
    if (iv.lo >= within.hi) break;
    if (iv.lo > cursor) gaps.push({ lo: cursor, hi: iv.lo });
    if (iv.hi > cursor) cursor = iv.hi;
  }
  if (cursor < within.hi) gaps.push({ lo: cursor, hi: within.hi });
  return gaps;
}

/** Intersection of two intervals, or undefined when they do not overlap. */
export function intersect<T extends Point>(a: Interval<T>, b: Interval<T>): Interval<T> | undefined {
  const lo = a.lo > b.lo ? a.lo : b.lo;
  const hi = a.hi < b.hi ? a.hi : b.hi;
  return lo < hi ? { lo, hi } : undefined;
}
