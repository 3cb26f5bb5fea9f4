// The pure rules of limits: rate reservations, AIMD concurrency, how values print, which state reasons make.
import { describe, expect, it } from 'vitest';
import { Aimd, MIN_LEVEL, formatLimitValue, median, reserve, rowsCostMs, stateOf, type ThrottleReason } from '../../src/core/throttle.js';

const reason = (limit: ThrottleReason['limit']): ThrottleReason => ({ limit, value: null, threshold: null, text: limit });

describe('reserve (rate pacing)', () => {
  it.each([
    { nextAt: null, now: 1000, cost: 200, startAt: 1000, next: 1200 },
    { nextAt: 1200, now: 1000, cost: 200, startAt: 1200, next: 1400 },
    // idle time is not saved up: a reservation after a quiet spell starts now
    { nextAt: 1200, now: 5000, cost: 200, startAt: 5000, next: 5200 },
    { nextAt: 1200, now: 1000, cost: -5, startAt: 1200, next: 1200 },
  ])('next $nextAt, now $now, cost $cost → starts at $startAt', ({ nextAt, now, cost, startAt, next }) => {
    expect(reserve(nextAt, now, cost)).toEqual({ startAt, nextAt: next });
  });

  it('costs rows at the rate', () => {
    expect(rowsCostMs(500, 2500)).toBe(200);
    expect(rowsCostMs(0, 10)).toBe(0);
  });
});

describe('Aimd', () => {
  it('starts at one chunk, grows by one while latency is near the baseline, halves on a rise and waits one sample', () => {
    const aimd = new Aimd(2, { max: 8 });
    expect([aimd.level, aimd.concurrency]).toEqual([1, 1]);
    const steps = [2, 2, 2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 2.5, 2.5, 3, 2].map((ms) => aimd.sample(ms));
    // 2 ≤ 2 × 1.2 + 0.2: grow by one up to 8; 4 ms > 2 × 1.5 + 0.5: halve (8 → 4), hold a sample,
    // halve (→ 2), hold, halve (→ 1); 2.5 grows; 3 ms is between the two bounds: hold.
    expect(steps).toEqual([2, 3, 4, 5, 6, 7, 8, 8, 4, 4, 2, 2, 1, 1, 2, 2, 3]);
  });

  it('below one chunk at a time it halves the share of time down to an eighth, and doubles it back to one', () => {
    const aimd = new Aimd(1, { max: 2 });
    const levels = [0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0, 0].map((ms) => aimd.sample(ms));
    expect(levels).toEqual([2, 1, 1, 0.5, 0.5, 0.25, 0.25, MIN_LEVEL, MIN_LEVEL, MIN_LEVEL, MIN_LEVEL, 0.25, 0.5, 1, 2, 2]);
    expect(aimd.concurrency).toBe(2);
  });

  it('a lower sample lowers the baseline: a baseline taken while the source was busy does not let the run press as hard', () => {
    const aimd = new Aimd(3, { max: 4 });
    // 3 ms ≤ 3 × 1.2 + 0.2 grows; a quiet 0.5 ms sample lowers the baseline; then 3 ms is a rise.
    expect([3, 0.5, 3].map((ms) => aimd.sample(ms))).toEqual([2, 3, 1.5]);
    expect(aimd.baselineMs).toBe(0.5);
  });

  it('an unreadable latency counts as a rise; the chunks in flight never go under one', () => {
    const aimd = new Aimd(1, { max: 2 });
    aimd.sample(0);
    aimd.sample(Infinity);
    expect([aimd.level, aimd.concurrency]).toEqual([1, 1]);
    aimd.sample(Infinity);
    expect([aimd.level, aimd.concurrency]).toEqual([1, 1]);
    aimd.sample(Infinity);
    expect([aimd.level, aimd.concurrency]).toEqual([0.5, 1]);
  });
});

describe('formatting and state', () => {
  it.each([
    ['maxReplicaLag', 7200, '7.2 s'],
    ['maxReplicaLag', 5000, '5 s'],
    ['maxReplicaLag', 125_400, '125 s'],
    ['maxLoad', 52, '52'],
    ['criticalLoad', 1.5, '1.50'],
  ] as const)('%s %d prints as %s', (limit, value, text) => {
    expect(formatLimitValue(limit, value)).toBe(text);
  });

  it('a pause wins over a throttle; nothing holding is working', () => {
    expect(stateOf([])).toBe('working');
    expect(stateOf([reason('maxLoad')])).toBe('throttled');
    expect(stateOf([reason('maxReplicaLag'), reason('pauseFile')])).toBe('paused');
    expect(stateOf([reason('pause')])).toBe('paused');
  });

  it('median of odd, even and empty lists', () => {
    expect([median([3, 1, 2]), median([4, 1, 3, 2]), median([])]).toEqual([2, 2.5, 0]);
  });
});
