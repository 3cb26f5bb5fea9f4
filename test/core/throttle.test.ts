// The pure rules of limits: rate reservations, AIMD concurrency, how values print, which state reasons make.
import { describe, expect, it } from 'vitest';
import { Aimd, formatLimitValue, median, reserve, rowsCostMs, stateOf, type ThrottleReason } from '../../src/core/throttle.js';

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
  it('starts at the maximum, halves on a rise, waits one sample, then grows by one while latency is near the baseline', () => {
    const aimd = new Aimd(2, { max: 8 });
    expect(aimd.limit).toBe(8);
    const steps = [2, 9, 9, 9, 9, 9, 2.4, 2.4, 2.4, 4, 2, 2, 2, 2, 2, 2].map((ms) => aimd.sample(ms));
    // 9 ms > 2 × 2 + 2: halve (8 → 4), hold a sample, halve (→ 2), hold, halve (→ 1), hold;
    // 2.4 ≤ 2 × 1.25 + 1: grow; 4 ms is between the two bounds: hold.
    expect(steps).toEqual([8, 4, 4, 2, 2, 1, 1, 2, 3, 3, 4, 5, 6, 7, 8, 8]);
  });

  it('never goes under one nor over its maximum, and an unreadable latency counts as a rise', () => {
    const aimd = new Aimd(1, { max: 2 });
    expect([Infinity, Infinity, Infinity, 0, 0, 0].map((ms) => aimd.sample(ms))).toEqual([1, 1, 1, 2, 2, 2]);
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
