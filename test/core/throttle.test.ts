// The pure rules of limits: rate reservations, AIMD concurrency, how values print, which state reasons make.
import { describe, expect, it } from 'vitest';
import { median } from '../../src/core/stats.js';
import { Aimd, baselineOf, MIN_LEVEL, formatLimitValue, reserve, rowsCostMs, stateOf, type ThrottleReason } from '../../src/core/throttle.js';

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
  /** Feed `n` samples of `ms`, then judge the window `spanMs` after the last decision. */
  function windowOf(aimd: Aimd, at: { t: number }, ms: number, spanMs = 3000, n = 40, chunkMs = 0): number {
    for (let i = 0; i < n; i++) aimd.add(ms);
    at.t += spanMs;
    return aimd.decide(at.t, chunkMs).level;
  }

  it('starts at one chunk, grows by one while the tail stays near the baseline, halves when it rises', () => {
    const at = { t: 0 };
    const aimd = new Aimd(1, { max: 4 }, at.t);
    expect([aimd.level, aimd.concurrency]).toEqual([1, 1]);
    // 1.2 ms ≤ 1 × 1.2 + 0.1: grow by one up to 4; 2.1 ms > 1 × 1.5 + 0.2: halve; 1.5 ms is between: hold.
    const steps = [1.2, 1.2, 1.2, 1.2, 2.1, 1.5, 2.1, 1].map((ms) => windowOf(aimd, at, ms));
    expect(steps).toEqual([2, 3, 4, 4, 2, 2, 1, 2]);
  });

  it('judges the tail, not the median: one slow probe in ten halves the level', () => {
    const at = { t: 0 };
    const aimd = new Aimd(0.3, { max: 4 }, at.t);
    expect(windowOf(aimd, at, 0.3)).toBe(2);
    for (let i = 0; i < 36; i++) aimd.add(0.3);
    for (let i = 0; i < 4; i++) aimd.add(5);
    at.t += 3000;
    expect(aimd.decide(at.t, 0)).toEqual({ level: 1, tailMs: 5 });
    // One slow probe in forty is under the 95th percentile: grow.
    for (let i = 0; i < 39; i++) aimd.add(0.3);
    aimd.add(5);
    at.t += 3000;
    expect(aimd.decide(at.t, 0).level).toBe(2);
  });

  it('below one chunk at a time it halves the share of time down to MIN_LEVEL, and grows it back by half again up to one', () => {
    const at = { t: 0 };
    const aimd = new Aimd(1, { max: 2 }, at.t);
    const down = Array.from({ length: 7 }, () => windowOf(aimd, at, 9, 1000));
    expect(down).toEqual([0.5, 0.25, 0.125, 0.0625, MIN_LEVEL, MIN_LEVEL, MIN_LEVEL]);
    const up = Array.from({ length: 10 }, () => windowOf(aimd, at, 1, 3000));
    expect(up).toEqual([0.046875, 0.0703125, 0.10546875, 0.158203125, 0.2373046875, 0.35595703125, 0.533935546875, 0.8009033203125, 1, 2]);
    expect(aimd.concurrency).toBe(2);
  });

  it('decides nothing on a window too short or too thin, and grows only once the window spans two duty cycles', () => {
    const at = { t: 0 };
    const aimd = new Aimd(1, { max: 2 }, at.t);
    expect(windowOf(aimd, at, 9, 500)).toBe(1); // shorter than a second
    expect(windowOf(aimd, at, 9, 1000, 5)).toBe(0.5); // now 45 samples over 1.5 s: halve
    // At half the time, a chunk of 2 s makes a cycle of 4 s: a quiet window of 3 s has not seen one.
    expect(windowOf(aimd, at, 1, 3000, 40, 2000)).toBe(0.5);
    expect(windowOf(aimd, at, 1, 5000, 40, 2000)).toBe(0.75);
  });

  it('a quieter window lowers the baseline: a baseline taken while the source was busy does not let the run press as hard', () => {
    const at = { t: 0 };
    const aimd = new Aimd(3, { max: 4 }, at.t);
    expect(windowOf(aimd, at, 0.5)).toBe(2);
    expect(aimd.baselineMs).toBe(0.5);
    expect(windowOf(aimd, at, 3)).toBe(1);
  });

  it('samples taken while no chunk is in flight lower the baseline: a run that started while the source was busy does not keep pressing', () => {
    const at = { t: 0 };
    const aimd = new Aimd(4, { max: 2 }, at.t);
    for (let i = 0; i < 20; i++) aimd.add(0.5, true);
    // 3 ms is near a baseline of 4 ms, but the idle samples say the source alone answers in 0.5 ms.
    expect(windowOf(aimd, at, 3, 1000)).toBe(0.5);
    expect(aimd.baselineMs).toBe(0.5);
  });

  it('takes the baseline as the p95 of the round trips before the run, at most three times their median', () => {
    const quiet = [...Array.from({ length: 45 }, () => 0.2), 0.4, 0.45, 0.5, 0.5, 0.5];
    expect(baselineOf(quiet)).toBe(0.5);
    // Three replies of fifty caught behind other work: the tail would say 6 ms, the median 0.2 ms.
    const caught = [...Array.from({ length: 47 }, () => 0.2), 6, 6, 6];
    expect(baselineOf(caught)).toBeCloseTo(0.6);
    expect(baselineOf([0.2, Infinity, 0.2])).toBeCloseTo(0.6);
  });

  it('a probe that fails counts as slow; the chunks in flight never go under one', () => {
    const at = { t: 0 };
    const aimd = new Aimd(1, { max: 2 }, at.t);
    expect(aimd.concurrency).toBe(1);
    for (let i = 0; i < 38; i++) aimd.add(1);
    aimd.add(Infinity);
    aimd.add(Infinity);
    at.t += 1000;
    expect(aimd.decide(at.t, 0).level).toBe(0.5);
    expect(aimd.concurrency).toBe(1);
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
