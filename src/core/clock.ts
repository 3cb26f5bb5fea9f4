// The current time as an input: anything that expires (leases, heartbeats, throttles) takes a clock, so tests can move time.

export interface Clock { now(): number }

export const systemClock: Clock = { now: () => Date.now() };
