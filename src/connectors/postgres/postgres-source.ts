// A PostgreSQL table or query as a source: each chunk streams out with COPY … TO STDOUT, served by an index.

import { databaseIdentity } from '../connection-config.js';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DateTime } from 'luxon';
import { to as copyTo } from 'pg-copy-streams';
import { columnExpr, nullCondition, rangeCondition, rangeValues, type Chunk, type RangeLiterals } from '../../core/chunk.js';
import { PlanError } from '../../core/errors.js';
import { chunkTimezone, type SourceBounds } from '../../core/planner.js';
import { quoteIdent, quoteLiteral, quoteQualified } from '../../core/sql-text.js';
import { byteBatches } from '../../runtime/byte-batches.js';
import { sweepDeadScratch } from '../../runtime/scratch-dirs.js';
import type { ChunkRead, ColumnInfo, CopyFormat, CopyOut, CopySource, CumulativeRequest, CumulativeRow, OpenedChunk, Source, SourceCapabilities, SourceContext } from '../connector.js';
import { cumulativeCountSql } from '../../core/row-cut.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { emptyRelation } from '../../runtime/duckdb-sql.js';
import type { PostgresSourceConfig } from './postgres-config.js';
import type { ProfileRequest, SourceProfile } from '../source-profile.js';
import { createPool, duckTypeOf, pgError, type PgPool } from './postgres-pool.js';
import { PostgresHealth } from './postgres-health.js';

export class PostgresSource implements Source, CopySource {
  /** Chunks leave as COPY, or as SQL a target in the same database runs. */
  readonly copy: CopySource = this;
  readonly capabilities: SourceCapabilities = { prunes: true, cheapBounds: false, copyText: true };
  private readonly db: PgPool;
  private columns: (ColumnInfo & { pgType: string })[] = [];
  private readonly fetchDir: string;

  constructor(
    private readonly config: PostgresSourceConfig,
    private readonly ctx: SourceContext,
  ) {
    this.db = createPool(config.connection, config.ssl, config.maxConcurrentQueries, 'source');
    this.fetchDir = join(ctx.stateDir, 'fetch');
    this.database = databaseIdentity(this.db.fields, 5432);
    this.health = new PostgresHealth(config);
  }

  /** Replica lag, load and latency for the run's limits, on a connection of their own (opened on first use). */
  readonly health: PostgresHealth;

  readonly database: string;

  /** The source as PostgreSQL SQL after FROM, before any pushed-down transform. */
  private get from(): string {
    return this.config.query !== undefined ? `(${this.config.query.trim().replace(/;\s*$/, '')}) AS backfill_source` : quoteQualified(this.config.table as string);
  }

  /** The rows PostgreSQL returns for a predicate on the base relation, with the job's pushed-down transform applied. */
  private select(where: string, columns: string): string {
    const transform = this.ctx.sourceTransform;
    if (transform === undefined) return `SELECT ${columns} FROM ${this.from} WHERE ${where}`;
    return `WITH source AS (SELECT * FROM ${this.from} WHERE ${where}) SELECT ${columns} FROM (${transform}) AS backfill_transform`;
  }

  chunkSql(read: ChunkRead): string {
    return this.select(this.predicate(read), this.columns.map((c) => quoteIdent(c.name)).join(', '));
  }

  private predicate(read: ChunkRead): string {
    if (read.chunk.kind === 'all') return 'TRUE';
    const column = this.baseTypes.get(read.column);
    if (column === undefined) throw new PlanError(`chunk.column "${read.column}" is not a column of ${this.describe()}`);
    return read.nulls === true ? nullCondition(read, quoteIdent) : rangeCondition(columnExpr(read, quoteIdent), pgBounds(read.chunk, column, this.ctx));
  }

  private baseTypes = new Map<string, string>();

  async prepare(): Promise<void> {
    // Chunk files a killed process fetched are never read again.
    sweepDeadScratch(this.fetchDir);
    try {
      const base = await this.db.pool.query({ text: `SELECT * FROM ${this.from} LIMIT 0` });
      const baseTypes = await this.formatTypes(base.fields);
      this.baseTypes = new Map(base.fields.map((f, i) => [f.name, baseTypes[i] ?? 'text']));
      const probe = this.ctx.sourceTransform === undefined ? base : await this.db.pool.query({ text: `${this.select('false', '*')} LIMIT 0` });
      const types = probe === base ? baseTypes : await this.formatTypes(probe.fields);
      this.columns = probe.fields.map((f, i) => {
        const pgType = types[i] ?? 'text';
        return { name: f.name, type: duckTypeOf(pgType), pgType };
      });
    } catch (err) {
      throw pgError(err, `reading the columns of ${this.config.table ?? 'the source query'}`, this.db);
    }
  }

  nativeColumns(): readonly ColumnInfo[] {
    return this.columns.map((c) => ({ name: c.name, type: c.type, pgType: c.pgType }));
  }

  private async formatTypes(fields: readonly { dataTypeID: number; dataTypeModifier: number }[]): Promise<string[]> {
    const types = await this.db.pool.query<{ t: string }>(
      `SELECT format_type(oid, typmod) AS t FROM unnest($1::oid[], $2::int[]) WITH ORDINALITY AS f(oid, typmod, n) ORDER BY n`,
      [fields.map((f) => f.dataTypeID), fields.map((f) => f.dataTypeModifier)],
    );
    return types.rows.map((r) => r.t);
  }

  async attach(): Promise<void> {}

  fingerprint(): undefined {
    return undefined;
  }

  relation(): string {
    return emptyRelation(this.columns);
  }

  async measureBounds(column: string, kind: 'time' | 'key', columnType: string): Promise<{ min: string | null; max: string | null }> {
    const col = quoteIdent(column);
    const expr = (agg: string): string =>
      kind === 'key'
        ? `${agg}(${col})::text`
        : columnType.toUpperCase() === 'DATE'
          ? `to_char(${agg}(${col}), 'YYYY-MM-DD')`
          : `floor(extract(epoch from ${agg}(${col})) * 1000)::bigint::text`;
    try {
      // Two single-row lookups, so a btree index on the column answers each without a scan.
      const min = await this.db.pool.query<{ v: string | null }>(`SELECT ${expr('min')} AS v FROM ${this.from}`);
      const max = await this.db.pool.query<{ v: string | null }>(`SELECT ${expr('max')} AS v FROM ${this.from}`);
      return { min: min.rows[0]?.v ?? null, max: max.rows[0]?.v ?? null };
    } catch (err) {
      throw pgError(err, `measuring min/max of ${column}`, this.db);
    }
  }

  async cumulativeCounts(request: CumulativeRequest): Promise<readonly CumulativeRow[]> {
    const cols = request.columns.map(quoteIdent);
    const types = request.columns.map((c) => (this.baseTypes.get(c) ?? '').toLowerCase());
    const text = (k: string, i: number): string =>
      request.kind !== 'time' ? `${k}::text` : types[i] === 'date' ? `to_char(${k}, 'YYYY-MM-DD')` : `floor(extract(epoch from ${k}) * 1000)::bigint::text`;
    let where = 'TRUE';
    if (request.after !== undefined) {
      const hi = pgBounds(request.after, types[0] ?? '', this.ctx).hi as string;
      const col = cols.length === 1 ? (cols[0] as string) : `ROW(${cols.join(', ')})`;
      where = `${col} ${request.after.kind === 'range' ? '>' : '>='} ${hi}`;
    }
    try {
      const res = await this.db.pool.query<Record<string, string>>({ text: cumulativeCountSql(this.from, cols, text, where, request.grain) });
      return res.rows.map((r) => ({ values: request.columns.map((_, i) => r[`v${i}`] as string), cum: Number(r.cum) }));
    } catch (err) {
      throw pgError(err, `counting rows by ${request.columns.join(', ')} to cut chunks`, this.db);
    }
  }

  async textCollation(column: string): Promise<string | undefined> {
    if (!/^(text|character varying|character|varchar|char|name|citext)/.test((this.baseTypes.get(column) ?? '').toLowerCase())) return undefined;
    try {
      const own = this.config.table === undefined ? undefined : await this.db.pool.query<{ name: string }>(
        `SELECT c.collname AS name FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation WHERE a.attrelid = to_regclass($1) AND a.attname = $2`, [this.config.table, column]);
      let name = own?.rows[0]?.name ?? 'default';
      if (name === 'default') name = (await this.db.pool.query<{ name: string }>(`SELECT datcollate AS name FROM pg_database WHERE datname = current_database()`)).rows[0]?.name ?? 'default';
      return /^(C|POSIX|C\.utf-?8|ucs_basic)$/i.test(name) ? undefined : name;
    } catch (err) {
      throw pgError(err, `reading the collation of ${column}`, this.db);
    }
  }

  async countRows(): Promise<number> {
    try {
      const res = await this.db.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${this.from}`);
      return Number(res.rows[0]?.n ?? 0);
    } catch (err) {
      throw pgError(err, 'counting rows', this.db);
    }
  }

  knownBounds(): SourceBounds | undefined {
    return undefined;
  }

  async openChunk(read: ChunkRead, _conn: DuckConn, signal: AbortSignal): Promise<OpenedChunk> {
    mkdirSync(this.fetchDir, { recursive: true });
    const file = join(this.fetchDir, `${process.pid}-${read.chunk.tag}-${Math.random().toString(36).slice(2)}.csv`);
    const select = this.columns.map((c) => (c.type === 'BLOB' ? `encode(${quoteIdent(c.name)}, 'hex')` : quoteIdent(c.name))).join(', ');
    const sql = `COPY (${this.select(this.predicate(read), select)}) TO STDOUT (FORMAT csv)`;
    const client = await this.db.pool.connect();
    let broken = false;
    try {
      await pipeline(client.query(copyTo(sql)), byteBatches(), createWriteStream(file), { signal });
    } catch (err) {
      broken = true;
      rmSync(file, { force: true });
      throw pgError(err, `reading chunk ${read.chunk.key}`, this.db);
    } finally {
      client.release(broken);
    }
    const columns = `{${this.columns.map((c) => `${quoteLiteral(c.name)}: ${quoteLiteral(c.type === 'BLOB' || c.type === 'JSON' ? 'VARCHAR' : c.type)}`).join(', ')}}`;
    const decode = this.columns
      .filter((c) => c.type === 'BLOB' || c.type === 'JSON')
      .map((c) => `${c.type === 'BLOB' ? `unhex(${quoteIdent(c.name)})` : `CAST(${quoteIdent(c.name)} AS JSON)`} AS ${quoteIdent(c.name)}`);
    const csv = `read_csv(${quoteLiteral(file)}, header = false, auto_detect = false, allow_quoted_nulls = false, delim = ',', quote = '"', escape = '"', columns = ${columns})`;
    return {
      relation: decode.length === 0 ? csv : `(SELECT * REPLACE (${decode.join(', ')}) FROM ${csv})`,
      close: async () => rmSync(file, { force: true }),
    };
  }

  async copyOut(read: ChunkRead, signal: AbortSignal, format: CopyFormat = 'text'): Promise<CopyOut> {
    const sql = `COPY (${this.chunkSql(read)}) TO STDOUT${format === 'binary' ? ' (FORMAT binary)' : ''}`;
    const client = await this.db.pool.connect().catch((err: unknown) => {
      throw pgError(err, `reading chunk ${read.chunk.key}`, this.db);
    });
    const stream = client.query(copyTo(sql));
    const onAbort = (): void => {
      stream.destroy(new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    return {
      stream,
      release: (broken) => {
        signal.removeEventListener('abort', onAbort);
        client.release(broken);
      },
    };
  }

  describe(): string {
    return `postgres source ${this.db.name} (${this.config.table ?? 'query'})`;
  }

  async close(): Promise<void> {
    await this.health.close();
    await this.db.pool.end();
  }

  async profile(request: ProfileRequest): Promise<SourceProfile> {
    return (await import('./postgres-profile.js')).profilePostgres({ db: this.db, from: this.from, table: this.config.table, types: this.baseTypes, literals: (c) => { const l = pgBounds(c, this.baseTypes.get(request.column) ?? 'bigint', this.ctx); return [l.lo ?? 'NULL', l.hi ?? 'NULL'] as const; } }, request);
  }
}

/**
 * Literals of the chunk's bounds typed for the PostgreSQL column (COPY takes no parameters). A
 * range chunk's values are untyped literals, which PostgreSQL reads as the column's type and
 * compares in the column's collation: the order the boundaries were cut in.
 */
export function pgBounds(chunk: Chunk, pgType: string, ctx: Pick<SourceContext, 'chunking'>): RangeLiterals {
  if (chunk.kind === 'all') return {};
  if (chunk.kind === 'key') return { lo: chunk.lo, hi: chunk.hi };
  if (chunk.kind === 'range') {
    const literal = (text: string): string | undefined => {
      const values = rangeValues(text);
      return values === undefined ? undefined : values.length === 1 ? quoteLiteral(String(values[0])) : `ROW(${values.map((v) => quoteLiteral(String(v))).join(', ')})`;
    };
    return { lo: literal(chunk.lo), hi: literal(chunk.hi), holdsHi: true };
  }
  const t = pgType.toLowerCase();
  if (t === 'date') {
    const zone = chunkTimezone(ctx.chunking);
    const local = (iso: string): string => `DATE ${quoteLiteral(DateTime.fromISO(iso, { zone }).toISODate() as string)}`;
    return { lo: local(chunk.lo), hi: local(chunk.hi) };
  }
  if (t.includes('with time zone')) return { lo: `TIMESTAMPTZ ${quoteLiteral(chunk.lo)}`, hi: `TIMESTAMPTZ ${quoteLiteral(chunk.hi)}` };
  const naive = (iso: string): string => `TIMESTAMP ${quoteLiteral(iso.replace('T', ' ').replace('Z', ''))}`;
  return { lo: naive(chunk.lo), hi: naive(chunk.hi) };
}
