// Time as an input: what anything that stamps or expires (leases, heartbeats, runs) reads instead of Date.now().

/** A source of the current instant, in epoch milliseconds. */
export interface Clock {
  now(): number;
}

/** The machine's wall clock: the default everywhere outside tests. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock that moves only when told to, so a test (or an embedder replaying history) can expire a lease
 * by moving time instead of sleeping, and assert on exact stamps.
 */
export class ManualClock implements Clock {
  private current: number;

  constructor(startMs: number) {
    this.current = checked(startMs, 'start');
  }

  now(): number {
    return this.current;
  }

  /** Move forward by `ms` (0 or more) and return the new instant. */
  advance(ms: number): number {
    if (checked(ms, 'advance') < 0) throw new RangeError(`a ManualClock only moves forward with advance(); use set() to go back (got ${ms})`);
    this.current += ms;
    return this.current;
  }

  /** Jump to an instant, earlier or later. */
  set(ms: number): void {
    this.current = checked(ms, 'set');
  }
}

// A NaN or fractional instant would be stored as is by one store and rounded by another: refuse it here.
function checked(ms: number, what: string): number {
  if (!Number.isSafeInteger(ms)) throw new RangeError(`ManualClock ${what}: ${ms} is not a whole number of milliseconds`);
  return ms;
}
