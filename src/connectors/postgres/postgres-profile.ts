// `backfill profile` for a PostgreSQL source: rows and bytes from pg_class, the spread and NULLs from pg_stats, indexes from pg_index; --exact counts in one width_bucket query.

import { DateTime } from 'luxon';
import { quoteIdent, quoteQualified } from '../../core/sql-text.js';
import type { DuplicateKeys, ProfileRequest, RowSpread, SourceProfile } from '../source-profile.js';
import { pgError, type PgPool } from './postgres-pool.js';
import type { Chunk } from '../../core/chunk.js';

export interface PostgresProfileInput {
  readonly db: PgPool;
  /** The source as SQL after FROM. */
  readonly from: string;
  readonly table: string | undefined;
  /** The source's columns with their PostgreSQL types. */
  readonly types: ReadonlyMap<string, string>;
  /** A chunk's bounds as literals typed for the chunk column (the source's own). */
  readonly literals: (chunk: Chunk) => readonly [string, string];
}

export async function profilePostgres(input: PostgresProfileInput, request: ProfileRequest): Promise<SourceProfile> {
  const { db } = input;
  try {
    const pgType = (input.types.get(request.column) ?? '').toLowerCase();
    const zoneless = pgType.startsWith('timestamp') && !pgType.includes('with time zone');
    const duplicates = request.key.length === 0 ? undefined : await duplicateKeys(input, request.key);
    if (input.table === undefined) return { ...(await exactCounts(input, request, 'exact count (a query source has no statistics)')), zoneless, ...(duplicates === undefined ? {} : { duplicates }) };
    const table = input.table;
    const chunkIndex = { present: await hasLeadingIndex(db, table, request.column), statement: `CREATE INDEX ON ${quoteQualified(table)} (${quoteIdent(request.column)});`, table };
    const base = { zoneless, chunkIndex, ...(duplicates === undefined ? {} : { duplicates }) };
    const size = await db.pool.query<{ rows: number; bytes: string }>(
      `SELECT reltuples::float8 AS rows, pg_total_relation_size(oid)::text AS bytes FROM pg_class WHERE oid = to_regclass($1)`,
      [table],
    );
    const bytes = { value: Number(size.rows[0]?.bytes ?? 0), source: 'pg_total_relation_size' };
    const reltuples = size.rows[0]?.rows ?? -1;
    const stats = reltuples < 0 ? undefined : await histogram(input, request, pgType);
    if (request.exact || stats === undefined) {
      const why = request.exact ? 'exact count' : 'exact count (the table has no statistics yet: run ANALYZE)';
      return { ...(await exactCounts(input, request, why)), bytes, ...base };
    }
    const rows = { value: Math.round(reltuples), source: 'pg_class.reltuples' };
    const nullRows = { value: Math.round(reltuples * stats.nullFrac), source: 'pg_stats null_frac × reltuples' };
    const ranges: { lo: number; hi: number; rows: number }[] = [];
    const inHistogram = reltuples * Math.max(0, 1 - stats.nullFrac - stats.common.reduce((a, c) => a + c.freq, 0));
    for (let i = 1; i < stats.bounds.length; i++) {
      ranges.push({ lo: stats.bounds[i - 1] as number, hi: stats.bounds[i] as number, rows: inHistogram / (stats.bounds.length - 1) });
    }
    for (const c of stats.common) ranges.push({ lo: c.value, hi: c.value, rows: reltuples * c.freq });
    const spread: RowSpread = { kind: 'ranges', ranges, source: 'pg_stats histogram' };
    return { rows, bytes, nullRows, spread, ...base };
  } catch (err) {
    throw pgError(err, `profiling ${input.table ?? 'the source query'}`, db);
  }
}

/** Rows of every chunk, NULLs and all rows in ONE query: width_bucket over the chunks' bounds, grouped. */
async function exactCounts(input: PostgresProfileInput, request: ProfileRequest, source: string): Promise<SourceProfile> {
  const col = quoteIdent(request.column);
  const thresholds = request.chunks.map((c) => input.literals(c)[0]);
  const last = request.chunks[request.chunks.length - 1];
  if (last !== undefined) thresholds.push(input.literals(last)[1]);
  const bucket = thresholds.length === 0 ? 'NULL::int' : `width_bucket(${col}, ARRAY[${thresholds.join(', ')}])`;
  const res = await input.db.pool.query<{ b: number | null; n: string; nulls: string }>(
    `SELECT ${bucket} AS b, count(*)::text AS n, count(*) FILTER (WHERE ${col} IS NULL)::text AS nulls FROM ${input.from} GROUP BY 1`,
  );
  const counts = request.chunks.map(() => 0);
  let rows = 0;
  let nulls = 0;
  for (const r of res.rows) {
    rows += Number(r.n);
    nulls += Number(r.nulls);
    // Bucket i (1-based) is the chunk starting at threshold i; 0 and N+1 lie outside chunk.from/to.
    if (r.b !== null && r.b >= 1 && r.b <= counts.length) counts[r.b - 1] = Number(r.n);
  }
  return { rows: { value: rows, source }, nullRows: { value: nulls, source }, spread: { kind: 'counts', counts, source } };
}

interface Histogram {
  readonly nullFrac: number;
  readonly bounds: number[];
  readonly common: { value: number; freq: number }[];
}

/** pg_stats of the chunk column, its values as numbers (epoch ms for times; dates at midnight in the job's zone). */
async function histogram(input: PostgresProfileInput, request: ProfileRequest, pgType: string): Promise<Histogram | undefined> {
  const base = pgType.replace(/\(\d+\)/, '');
  const cast = request.kind === 'key' ? 'numeric' : base === 'date' ? 'date' : base.includes('with time zone') ? 'timestamptz' : 'timestamp';
  const expr = (v: string): string => (request.kind === 'key' ? `${v}::text` : cast === 'date' ? `to_char(${v}, 'YYYY-MM-DD')` : `(extract(epoch from ${v}) * 1000)::text`);
  const res = await input.db.pool.query<{ null_frac: number; bounds: string[] | null; mcv: string[] | null; freqs: number[] | null }>(
    `SELECT s.null_frac::float8 AS null_frac,
            (SELECT array_agg(${expr('b')} ORDER BY o) FROM unnest(s.histogram_bounds::text::${cast}[]) WITH ORDINALITY AS u(b, o)) AS bounds,
            (SELECT array_agg(${expr('m')} ORDER BY o) FROM unnest(s.most_common_vals::text::${cast}[]) WITH ORDINALITY AS u(m, o)) AS mcv,
            s.most_common_freqs::float8[] AS freqs
       FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
      WHERE c.oid = to_regclass($1) AND s.attname = $2`,
    [input.table, request.column],
  );
  const row = res.rows[0];
  if (row === undefined) return undefined;
  const num = (t: string): number => (cast === 'date' ? DateTime.fromISO(t, { zone: request.timezone }).toMillis() : Number(t));
  const common = (row.mcv ?? []).map((m, i) => ({ value: num(m), freq: row.freqs?.[i] ?? 0 }));
  return { nullFrac: row.null_frac, bounds: (row.bounds ?? []).map(num), common };
}

async function hasLeadingIndex(db: PgPool, table: string, column: string): Promise<boolean> {
  const res = await db.pool.query<{ ok: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                     WHERE i.indrelid = to_regclass($1) AND a.attname = $2 AND i.indpred IS NULL AND i.indisvalid) AS ok`,
    [table, column],
  );
  return res.rows[0]?.ok === true;
}

/** Duplicate keys: none when a unique index holds exactly the key; else ONE grouped query. */
async function duplicateKeys(input: PostgresProfileInput, key: readonly string[]): Promise<DuplicateKeys | undefined> {
  if (!key.every((k) => input.types.has(k))) return undefined;
  if (input.table !== undefined) {
    const unique = await input.db.pool.query<{ ok: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL
          AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = $2::text[]) AS ok`,
      [input.table, [...key].sort()],
    );
    if (unique.rows[0]?.ok === true) return { keys: 0, examples: [], source: 'unique index on the key' };
  }
  const cols = key.map(quoteIdent).join(', ');
  const text = `concat_ws(', ', ${key.map((k) => `${quoteIdent(k)}::text`).join(', ')})`;
  const res = await input.db.pool.query<{ k: string; n: string; total: string }>(
    `SELECT k, n::text, (count(*) OVER ())::text AS total FROM (SELECT ${text} AS k, count(*) AS n FROM ${input.from} GROUP BY ${cols} HAVING count(*) > 1) d ORDER BY n DESC, k LIMIT 5`,
  );
  return { keys: Number(res.rows[0]?.total ?? 0), examples: res.rows.map((r) => ({ key: r.k, rows: Number(r.n) })), source: 'exact count (GROUP BY key)' };
}
