// The one pass's per-row chunk tags (lookup lists, unit arithmetic) against the CASE tree and date_trunc they replace, row by row on DuckDB.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planChunks, type Chunking } from '../../src/core/planner.js';
import type { Chunk } from '../../src/core/chunk.js';
import type { CalendarUnit } from '../../src/core/duration.js';
import type { Source } from '../../src/connectors/connector.js';
import { DuckSession, type DuckConn } from '../../src/runtime/duckdb-session.js';
import { rangeLiterals } from '../../src/runtime/duckdb-sql.js';
import { chunkIndexExpr, unitTag } from '../../src/engine/run/chunk-tag.js';
import { bisect, chunkIndexedRelation } from '../../src/engine/run/stage.js';

let session: DuckSession;
let conn: DuckConn;

beforeAll(async () => {
  session = await DuckSession.create({ threads: 1 });
  conn = await session.connect();
});
afterAll(() => session.close());

const source = (relation: string): Source => ({ relation: () => relation }) as unknown as Source;

/** The tag as the engine wrote it before: binary search in nested CASE expressions. */
function caseTreeRelation(from: string, chunks: readonly Chunk[], column: string, type: string, timezone: string): string {
  const col = `"${column}"`;
  const bounds = chunks.map((c) => rangeLiterals(c, type, timezone));
  const first = bounds[0] as { lo: string };
  const last = bounds[bounds.length - 1] as { hi: string };
  return `(SELECT * FROM (SELECT *, CASE WHEN ${col} IS NULL THEN -1 ELSE ${bisect(col, bounds, 0, bounds.length)} END AS __backfill_chunk FROM ${from}
    WHERE (${col} >= ${first.lo} AND ${col} < ${last.hi}) OR ${col} IS NULL) WHERE __backfill_chunk IS NOT NULL)`;
}

/** Values table: every bound, a microsecond (or day, or key) either side, before the first and past the last chunk, NULL, and a spread between. */
async function valuesTable(name: string, type: string, chunks: readonly Chunk[], timezone: string): Promise<void> {
  const lits: string[] = ['NULL'];
  const step = type === 'DATE' ? 'INTERVAL 1 DAY' : /INT/.test(type) ? '1' : 'INTERVAL 1 MICROSECOND';
  for (const c of chunks) {
    for (const bound of [rangeLiterals(c, type, timezone).lo as string, rangeLiterals(c, type, timezone).hi as string]) {
      lits.push(bound, `${bound} - ${step}`, `${bound} + ${step}`);
    }
  }
  const first = rangeLiterals(chunks[0] as Chunk, type, timezone).lo;
  const last = rangeLiterals(chunks[chunks.length - 1] as Chunk, type, timezone).hi;
  const far = /INT/.test(type) ? '1000' : type === 'DATE' ? 'INTERVAL 400 DAY' : 'INTERVAL 400 DAY';
  lits.push(`${first} - ${far}`, `${last} + ${far}`);
  const spread = /INT/.test(type)
    ? `SELECT CAST(${first} + (${last} - ${first}) * i // 997 AS ${type}) FROM range(997) t(i)`
    : type === 'DATE'
      ? `SELECT ${first} + CAST((${last} - ${first}) * i // 997 AS INTEGER) FROM range(997) t(i)`
      : `SELECT CAST(${first} + (${last} - ${first}) * (i / 997) AS ${type}) FROM range(997) t(i)`;
  await conn.run(`CREATE OR REPLACE TABLE ${name} AS SELECT CAST(v AS ${type}) AS v FROM (VALUES ${lits.map((l) => `(CAST(${l} AS ${type}))`).join(', ')}) t(v) UNION ALL ${spread}`);
}

async function tags(relation: string): Promise<string[]> {
  const rows = await conn.all<{ v: string | null; t: string }>(`SELECT CAST(v AS VARCHAR) AS v, CAST(__backfill_chunk AS VARCHAR) AS t FROM ${relation} ORDER BY v NULLS FIRST, t`);
  return rows.map((r) => `${r.v ?? 'NULL'} -> ${r.t}`);
}

const ms = (iso: string): number => Date.parse(iso);
const pick = (chunks: Chunk[], keep: (i: number) => boolean): Chunk[] => chunks.filter((_, i) => keep(i));

interface Case {
  readonly name: string;
  readonly type: string;
  readonly chunking: Chunking;
  readonly bounds: { min: number; max: number } | { min: bigint; max: bigint };
  /** Which of the planned chunks are to do (gaps where others are done). */
  readonly keep?: (i: number) => boolean;
}

const time = (every: CalendarUnit, n: number, timezone: string, from?: number, to?: number): Chunking => ({ kind: 'time', column: 'v', step: { n, unit: every }, timezone, from, to });

const CASES: Case[] = [
  { name: 'UTC months, TIMESTAMP', type: 'TIMESTAMP', chunking: time('month', 1, 'UTC'), bounds: { min: ms('2020-01-15T00:00:00Z'), max: ms('2021-12-31T23:00:00Z') } },
  { name: 'UTC months with gaps, TIMESTAMPTZ', type: 'TIMESTAMPTZ', chunking: time('month', 1, 'UTC'), bounds: { min: ms('2020-01-15T00:00:00Z'), max: ms('2021-06-30T00:00:00Z') }, keep: (i) => i % 3 !== 1 },
  { name: 'UTC years, DATE', type: 'DATE', chunking: time('year', 1, 'UTC'), bounds: { min: ms('1968-03-01T00:00:00Z'), max: ms('1973-01-01T00:00:00Z') } },
  { name: 'months in New York (DST), TIMESTAMPTZ', type: 'TIMESTAMPTZ', chunking: time('month', 1, 'America/New_York'), bounds: { min: ms('2021-01-10T00:00:00Z'), max: ms('2022-12-01T00:00:00Z') } },
  { name: 'days in Berlin across both DST changes, TIMESTAMP', type: 'TIMESTAMP', chunking: time('day', 1, 'Europe/Berlin'), bounds: { min: ms('2021-03-20T00:00:00Z'), max: ms('2021-11-05T00:00:00Z') }, keep: (i) => i % 7 !== 3 },
  { name: 'days in Berlin, DATE', type: 'DATE', chunking: time('day', 1, 'Europe/Berlin'), bounds: { min: ms('2021-03-20T00:00:00Z'), max: ms('2021-04-05T00:00:00Z') } },
  { name: 'hours in Sydney across DST, TIMESTAMPTZ', type: 'TIMESTAMPTZ', chunking: time('hour', 1, 'Australia/Sydney'), bounds: { min: ms('2021-04-03T10:00:00Z'), max: ms('2021-04-04T20:00:00Z') } },
  { name: 'weeks before and after 1970, TIMESTAMP', type: 'TIMESTAMP', chunking: time('week', 2, 'UTC'), bounds: { min: ms('1969-10-01T00:00:00Z'), max: ms('1970-04-01T00:00:00Z') } },
  { name: '3 months clipped by from/to, TIMESTAMP', type: 'TIMESTAMP', chunking: time('month', 3, 'Europe/Paris', ms('2020-02-10T05:00:00Z'), ms('2021-08-17T13:30:00Z')), bounds: { min: 0, max: 0 } },
  { name: 'keys from an unaligned start, with gaps', type: 'BIGINT', chunking: { kind: 'key', column: 'v', size: 100n, from: -137n, to: 1234n }, bounds: { min: 0n, max: 0n }, keep: (i) => i !== 2 && i !== 3 },
  { name: 'keys, INTEGER', type: 'INTEGER', chunking: { kind: 'key', column: 'v', size: 1000n }, bounds: { min: -5000n, max: 25_999n } },
];

describe('chunk tags by lookup lists', () => {
  for (const c of CASES) {
    it(`puts every row in the chunk the CASE tree put it in: ${c.name}`, async () => {
      const chunks = pick(planChunks(c.chunking, c.bounds), c.keep ?? (() => true));
      const timezone = c.chunking.kind === 'time' ? c.chunking.timezone : 'UTC';
      expect(chunks.length).toBeGreaterThan(1);
      // The lookup applies here, so the comparison below is against something new.
      expect(chunkIndexExpr('"v"', chunks, c.type, timezone)).toBeDefined();
      await valuesTable('vals', c.type, chunks, timezone);
      const expected = await tags(caseTreeRelation('vals', chunks, 'v', c.type, timezone));
      const actual = await tags(chunkIndexedRelation(source('vals'), chunks, 'v', c.type, timezone));
      expect(actual).toEqual(expected);
      // The NULL row is kept (to be rejected), and some rows fall outside every chunk to do.
      expect(actual[0]).toBe('NULL -> -1');
      const all = await conn.all<{ n: string }>('SELECT count(*) AS n FROM vals');
      expect(actual.length).toBeLessThan(Number(all[0]?.n));
    });
  }

  it('keeps the CASE tree where the lookup would need too many cells', async () => {
    // One narrow chunk among wide ones needs cells as narrow as it.
    const chunks = [...planChunks({ kind: 'key', column: 'v', size: 1_000_000n }, { min: 0n, max: 3_999_999n })];
    const split = chunks[1] as Chunk;
    const narrow = planChunks({ kind: 'key', column: 'v', size: 1n, from: BigInt(split.lo), to: BigInt(split.lo) + 1n }, undefined);
    const rest = planChunks({ kind: 'key', column: 'v', size: 1_000_000n, from: BigInt(split.lo) + 1n, to: BigInt(split.hi) }, undefined);
    const mixed = [chunks[0] as Chunk, ...narrow, ...rest, ...chunks.slice(2)];
    expect(chunkIndexExpr('"v"', mixed, 'BIGINT', 'UTC')).toBeUndefined();
    await valuesTable('vals_mixed', 'BIGINT', mixed, 'UTC');
    expect(await tags(chunkIndexedRelation(source('vals_mixed'), mixed, 'v', 'BIGINT', 'UTC'))).toEqual(
      await tags(caseTreeRelation('vals_mixed', mixed, 'v', 'BIGINT', 'UTC')),
    );
  });

  it('refuses types it cannot order as integers', () => {
    const chunks = planChunks({ kind: 'key', column: 'v', size: 10n }, { min: 0n, max: 99n });
    expect(chunkIndexExpr('"v"', chunks, 'HUGEINT', 'UTC')).toBeUndefined();
    expect(chunkIndexExpr('"v"', planChunks(time('day', 1, 'UTC'), { min: 0, max: 864e5 * 3 }), 'TIMESTAMP_NS', 'UTC')).toBeUndefined();
  });
});

describe('unit tags before planning', () => {
  const UNITS: CalendarUnit[] = ['hour', 'day', 'week', 'month', 'year'];
  for (const type of ['TIMESTAMP', 'TIMESTAMPTZ', 'DATE']) {
    for (const unit of UNITS) {
      if (type === 'DATE' && unit === 'hour') continue;
      it(`names the same unit as date_trunc: ${unit} of a ${type}`, async () => {
        const tag = unitTag('v', type, unit);
        expect(tag).toBeDefined();
        if (tag === undefined) return;
        const old = type === 'DATE' ? `epoch_ms(CAST(date_trunc('${unit}', v) AS TIMESTAMP))` : `epoch_ms(date_trunc('${unit}', v))`;
        const step = type === 'DATE' ? 'INTERVAL 1 DAY' : 'INTERVAL 1 MICROSECOND';
        const rows = await conn.all<{ v: string | null; old: string | null; tag: string | null }>(
          `WITH vals AS (
             SELECT CAST(b AS ${type}) AS v FROM (SELECT unnest([TIMESTAMP '1969-12-29 00:00:00', TIMESTAMP '1970-01-01 00:00:00', TIMESTAMP '1969-12-31 23:59:59.999999',
               TIMESTAMP '2021-03-28 01:00:00', TIMESTAMP '2021-10-31 00:59:59', TIMESTAMP '2024-02-29 12:00:00', TIMESTAMP '2000-01-03 00:00:00', TIMESTAMP '1900-03-01 00:00:00']) AS b)
             UNION ALL SELECT CAST(TIMESTAMP '1968-01-01' + to_seconds(i * 7919 * 60) - ${step} AS ${type}) FROM range(2000) t(i)
             UNION ALL SELECT NULL)
           SELECT CAST(v AS VARCHAR) AS v, CAST(${old} AS VARCHAR) AS old, CAST(coalesce(${tag.sql}, -1) AS VARCHAR) AS tag FROM vals`,
        );
        expect(rows.length).toBeGreaterThan(2000);
        for (const r of rows) {
          if (r.v === null) {
            expect(r.tag).toBe('-1');
            continue;
          }
          expect({ v: r.v, lower: tag.lowerMs(BigInt(r.tag as string)) }).toEqual({ v: r.v, lower: Number(r.old) });
          expect(tag.tagOf(Number(r.old))).toBe(BigInt(r.tag as string));
          expect(r.tag).not.toBe('-1');
        }
      });
    }
  }
});
