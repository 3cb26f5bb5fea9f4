import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../src/core/clock.js';

describe('ManualClock', () => {
  it('moves only when told to', () => {
    const clock = new ManualClock(1_000);
    expect(clock.now()).toBe(1_000);
    expect(clock.now()).toBe(1_000);
    expect(clock.advance(250)).toBe(1_250);
    expect(clock.advance(0)).toBe(1_250);
    clock.set(500);
    expect(clock.now()).toBe(500);
  });

  it.each([
    ['a step back', (c: ManualClock) => c.advance(-1), /only moves forward/],
    ['a fraction', (c: ManualClock) => c.advance(0.5), /not a whole number/],
    ['NaN', (c: ManualClock) => c.set(Number.NaN), /not a whole number/],
  ])('refuses %s', (_what, move, message) => {
    const clock = new ManualClock(0);
    expect(() => move(clock)).toThrow(message);
    expect(clock.now()).toBe(0);
  });

  it('the system clock reads the wall clock', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });
});
