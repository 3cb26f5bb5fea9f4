// The `queue:` field and `--queue`, resolved and refused without any queue or database: what a fleet is told, and the ids it derives.
import { describe, expect, it } from 'vitest';
import { JobSpecError } from '../../src/core/errors.js';
import { parseJobText } from '../../src/job/job-loader.js';
import { chunkJobId } from '../../src/fleet/fleet-queue.js';
import { fleetSettings } from '../../src/fleet/fleet-settings.js';

const PG = 'postgres://u:secret@db:5432/dw';
const job = (extra: string, ledger = `ledger: "${PG}"`): string => `name: ev
source: { type: csv, path: data/*.csv }
chunk: { column: ts, every: 1 day }
target: { type: parquet, path: lake }
${ledger}
${extra}
`;

function issues(text: string): { path: string; message: string }[] {
  try {
    parseJobText(text);
  } catch (err) {
    if (err instanceof JobSpecError) return [...err.issues];
    throw err;
  }
  return [];
}

describe('queue:', () => {
  it('a URL alone: the job is the queue name, the defaults for stalls and leases', () => {
    expect(parseJobText(job('queue: redis://q:6379')).queue).toEqual({
      url: 'redis://q:6379', name: 'ev', inFlight: undefined, rate: undefined, stalledAfterMs: 30_000, leaseMs: 60_000,
    });
  });

  it('a block: name, fleet-wide limits, durations in words', () => {
    const q = parseJobText(job(`queue: { url: "${PG}", name: ev-q, inFlight: 8, rate: { max: 20, per: 1 minute }, stalledAfter: 10s, lease: 2m }`)).queue;
    expect(q).toEqual({ url: PG, name: 'ev-q', inFlight: 8, rate: { max: 20, perMs: 60_000 }, stalledAfterMs: 10_000, leaseMs: 120_000 });
  });

  it('refuses an embedded ledger with the reason, and a URL that is no queue', () => {
    expect(issues(job('queue: redis://q:6379', ''))).toEqual([
      { path: 'queue', message: 'a fleet needs a PostgreSQL ledger (ledger: postgres://…): workers on other hosts cannot see an embedded SQLite ledger' },
    ]);
    expect(issues(job('queue: http://q:6379'))).toEqual([{ path: 'queue', message: 'a queue is a redis://, rediss:// or postgres:// URL' }]);
    expect(issues(job('queue: { url: redis://q, inFlight: 0 }')).map((i) => i.path)).toEqual(['queue.inFlight']);
  });
});

describe('--queue', () => {
  it("replaces the job's URL and keeps its limits; with no queue anywhere there is none", () => {
    const withQueue = parseJobText(job('queue: { url: redis://a:6379, inFlight: 3 }'));
    expect(fleetSettings(withQueue, 'postgres://b/q')).toMatchObject({ url: 'postgres://b/q', inFlight: 3, name: 'ev' });
    expect(fleetSettings(parseJobText(job('')), undefined)).toBeUndefined();
  });

  it('is refused with an embedded ledger', () => {
    expect(() => fleetSettings(parseJobText(job('', '')), 'redis://q:6379')).toThrow(/--queue: a fleet needs a PostgreSQL ledger/);
  });
});

describe('queue job ids', () => {
  it('the same job, chunk and generation give the same id; another generation or job another; never a colon', () => {
    const key = '2024-01-01T00:00:00Z/2024-01-02T00:00:00Z';
    expect(chunkJobId('ev', key, 0)).toBe(chunkJobId('ev', key, 0));
    expect(chunkJobId('ev', key, 1)).not.toBe(chunkJobId('ev', key, 0));
    expect(chunkJobId('ev2', key, 0)).not.toBe(chunkJobId('ev', key, 0));
    expect(chunkJobId('ev', key, 0)).toMatch(/^c-[0-9a-f]{24}-g0$/);
  });
});
