// PostgreSQL's statements for the shared chunk transaction: COPY loads, a temporary staging table, insert-first merges, ON CONFLICT upserts.

import { columnExpr, rangeCondition } from '../../core/chunk.js';
import { PG_BYTES } from './postgres-pool.js';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { quoteIdent } from '../../core/sql-text.js';
import type { BackupTaken, ChunkWrite, CopyFormat, Rejects } from '../connector.js';
import { SqlChunkTransaction, type ChunkLoad, type StraightMerge } from '../sql/sql-chunk-transaction.js';
import { backupPgRows, PG_CHANGED, PG_CHANGED_ROW } from './postgres-backup.js';
import { copyIsolating } from './postgres-rejects.js';

export const PG_MARKERS = 'backfill.chunk_commits';
const UNIQUE_VIOLATION = '23505';

/** What the transaction reads of the target's state, and the switches it may turn off for the rest of the run. */
export interface PgWriteState {
  readonly job: string;
  readonly mergeWith: 'on-conflict' | 'merge';
  readonly copyFormat: CopyFormat;
  /** Columns that lead an index of the table: a range on one of them is found without a scan. */
  readonly leadingIndexed: ReadonlySet<string>;
  /** Until a chunk meets an existing key, merges load straight into the table (see mergeStraight). */
  tryInsertFirst: boolean;
  /** Backed-up merges try insert-first with a range backup until a chunk's rows land outside its range. */
  rangeBackups: boolean;
}

export class PgChunkTransaction extends SqlChunkTransaction {
  protected override rangeWhere(range: NonNullable<ChunkWrite['range']>): string {
    return rangeCondition(columnExpr(range, quoteIdent, '', PG_BYTES), range);
  }

  private readonly quoted: readonly string[];
  /** The connection failed to roll back: it must not go back to the pool. */
  broken = false;
  /** The merge's backup found what the merge changes (`PG_CHANGED`): the merge reads only those staged rows. */
  private changedOnly = false;

  constructor(
    w: ChunkWrite,
    table: string,
    names: readonly string[],
    private readonly client: pg.PoolClient,
    private readonly state: PgWriteState,
    /** DuckDB's CSV files of the chunk (unused for a COPY stream or a pushdown). */
    private readonly files: readonly string[],
    /** The run's backup table, made before the transaction (`ensurePgBackupTable`). */
    private readonly backupTable: string | undefined,
  ) {
    super(w, table, names);
    this.quoted = names.map(quoteIdent);
  }

  protected async exec(text: string, values?: readonly unknown[]): Promise<number> {
    return (await this.client.query(text, values === undefined ? undefined : [...values])).rowCount ?? 0;
  }

  protected override async rollback(): Promise<void> {
    await this.client.query('ROLLBACK').catch(() => {
      this.broken = true;
    });
  }

  protected async backup(scope: 'range' | 'staged'): Promise<BackupTaken> {
    if (scope === 'range') return backupPgRows(this.client, this.w, this.table, this.backupTable as string, this.names);
    const taken = await backupPgRows(this.client, this.w, this.table, this.backupTable as string, this.names, { stage: 'backfill_stage', keyIndexed: this.state.mergeWith === 'on-conflict' });
    this.changedOnly = true;
    return taken;
  }

  /**
   * The staged rows the merge reads: after a backup, only those it found changed or new (a TID
   * scan of the staging table); the upsert's own IS DISTINCT FROM test still decides, so the
   * count of rows written is the same, and a row that matched already is not looked up again.
   */
  protected override stagedRows(): string {
    return this.changedOnly ? `(SELECT * FROM backfill_stage WHERE ctid = ANY (ARRAY(SELECT ${PG_CHANGED_ROW} FROM ${PG_CHANGED})))` : 'backfill_stage';
  }

  // Append and replace load straight into the table (one pass of index work, like a plain COPY).
  protected async load(): Promise<ChunkLoad> {
    const loaded = await this.loadInto(this.table);
    return { read: loaded.read, written: loaded.read - (loaded.rejected?.count ?? 0), rejected: loaded.rejected };
  }

  // Merge needs the rows beside the table first, in an unlogged temporary table.
  protected async stage(): Promise<ChunkLoad> {
    await this.client.query(`CREATE TEMP TABLE backfill_stage (LIKE ${this.table} INCLUDING DEFAULTS) ON COMMIT DROP`);
    const loaded = await this.loadInto('backfill_stage');
    return { read: loaded.read, written: 0, rejected: loaded.rejected };
  }

  protected async mark(written: number): Promise<void> {
    await this.client.query(
      `INSERT INTO ${PG_MARKERS} (job, chunk_key, lease, rows) VALUES ($1, $2, $3, $4)
       ON CONFLICT (job, chunk_key) DO UPDATE SET lease = EXCLUDED.lease, rows = EXCLUDED.rows, committed_at = now()`,
      [this.state.job, this.w.chunk.key, this.w.lease, written],
    );
  }

  /** Upsert the staged rows; counts only rows inserted or really changed. */
  protected override async merge(): Promise<number> {
    if (this.state.mergeWith !== 'on-conflict') return super.merge();
    const keys = new Set(this.w.key);
    const cols = this.quoted.join(', ');
    const others = this.quoted.filter((_, i) => !keys.has(this.names[i] as string));
    const update =
      others.length === 0
        ? 'DO NOTHING'
        : `DO UPDATE SET ${others.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}
             WHERE (${others.map((c) => `t.${c}`).join(', ')}) IS DISTINCT FROM (${others.map((c) => `EXCLUDED.${c}`).join(', ')})`;
    return this.exec(`INSERT INTO ${this.table} AS t (${cols}) SELECT ${cols} FROM ${this.stagedRows()} AS s ON CONFLICT (${this.w.key.map(quoteIdent).join(', ')}) ${update}`);
  }

  /**
   * A merge whose keys are all new is a plain insert: with a unique index on the key, load the
   * chunk straight into the table under a savepoint, once instead of twice (staging, then upsert).
   * The first key that already exists raises a unique violation; the chunk then rolls back to the
   * savepoint and takes the staging path, and the rest of the run goes straight there too, so a
   * re-merge over existing data wastes at most the rows before the first conflict per chunk in
   * flight. A COPY stream from a source cannot be read twice, so it always stages; a merge that
   * sets rows aside as rejects would take an existing key for a refusal, so it stages too. A
   * backed-up chunk keeps its range (see below) instead of its keys, so it needs no staging either.
   */
  protected override async mergeStraight(): Promise<StraightMerge | undefined> {
    const w = this.w;
    const state = this.state;
    if ((w.maxRejects ?? 0) > 0 || state.mergeWith !== 'on-conflict' || !state.tryInsertFirst || w.copyIn !== undefined) return undefined;
    // Backed up, a chunk whose keys are all new changes no existing row: what it can have changed
    // is its own range, kept as a replace keeps it — when an index finds that range, and the
    // rows loaded all landed in it (checked by counting; a transform may move them out).
    const range = w.range;
    const backupTable = this.backupTable;
    if (backupTable !== undefined && (range === undefined || !state.rangeBackups || !state.leadingIndexed.has(range.column))) return undefined;
    if (backupTable !== undefined && range !== undefined) {
      // A range that holds rows already is a re-merge, most likely over the same keys: its range
      // backup would copy every row only to be rolled back at the first existing key, while the
      // staged path keeps just what changes. One probe of the index decides.
      const col = columnExpr(range, quoteIdent, '', PG_BYTES);
      const held = await this.client.query(`SELECT 1 FROM ${this.table} WHERE ${rangeCondition(col, range)} LIMIT 1`);
      if ((held.rowCount ?? 0) > 0) return undefined;
    }
    await this.client.query('SAVEPOINT backfill_insert_first');
    try {
      const backup = backupTable === undefined ? undefined : await backupPgRows(this.client, { ...w, mode: 'replace' }, this.table, backupTable, this.names);
      const n = (await this.loadInto(this.table)).read;
      if (backup !== undefined && range !== undefined) {
        const col = columnExpr(range, quoteIdent, '', PG_BYTES);
        const inRange = await this.client.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.table} WHERE ${rangeCondition(col, range)}`);
        if (Number(inRange.rows[0]?.n) !== backup.rows + n) {
          state.rangeBackups = false;
          await this.client.query('ROLLBACK TO SAVEPOINT backfill_insert_first');
          return undefined;
        }
      }
      await this.client.query('RELEASE SAVEPOINT backfill_insert_first');
      return { rows: n, backup };
    } catch (err) {
      if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION || w.signal.aborted) throw err;
      state.tryInsertFirst = false;
      await this.client.query('ROLLBACK TO SAVEPOINT backfill_insert_first');
      return undefined;
    }
  }

  /** The rows offered to `into`, and those refused (set aside when `maxRejects` allows). */
  private async loadInto(into: string): Promise<{ read: number; rejected: Rejects | undefined }> {
    const w = this.w;
    if (w.copyIn !== undefined || w.pushdown !== undefined) return { read: await this.loadOne(into, ''), rejected: undefined };
    if ((w.maxRejects ?? 0) > 0) {
      // Refused rows are isolated and set aside; the transaction keeps exactly the accepted ones.
      const keys = w.key.map((k) => this.names.indexOf(k));
      const loaded = await copyIsolating(this.client, `COPY ${into} (${this.quoted.join(', ')}) FROM STDIN (FORMAT csv)`, this.files, w.maxRejects ?? 0, keys, w.signal);
      return { read: loaded.offered, rejected: { count: loaded.rejected.length, rows: loaded.rejected } };
    }
    let n = 0;
    for (const file of this.files) n += await this.loadOne(into, file);
    return { read: n, rejected: undefined };
  }

  /** Fill `into`: from DuckDB's CSV file, straight from a PostgreSQL source's COPY stream, or from the source query in the same database. */
  private async loadOne(into: string, file: string): Promise<number> {
    const w = this.w;
    const cols = this.quoted.join(', ');
    if (w.pushdown !== undefined) {
      // Same database: the chunk never leaves PostgreSQL.
      return (await this.client.query(`INSERT INTO ${into} (${cols}) SELECT ${cols} FROM (${w.pushdown}) AS backfill_chunk`)).rowCount ?? 0;
    }
    if (w.copyIn === undefined) {
      const sink = this.client.query(copyFrom(`COPY ${into} (${cols}) FROM STDIN (FORMAT csv)`));
      await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), sink);
      return sink.rowCount;
    }
    const format = this.state.copyFormat;
    const source = await w.copyIn(format);
    let broken = true;
    try {
      const sink = this.client.query(copyFrom(`COPY ${into} (${cols}) FROM STDIN${format === 'binary' ? ' (FORMAT binary)' : ''}`));
      // The stream's size is known only as it passes: counted per buffer (never per row) for the ledger.
      let bytes = 0;
      const count = new Transform({
        transform(buf: Buffer, _enc, done) {
          bytes += buf.length;
          done(null, buf);
        },
      });
      await pipeline(source.stream, count, sink, { signal: w.signal });
      this.counted = (this.counted ?? 0) + bytes;
      broken = false;
      return sink.rowCount;
    } finally {
      source.release(broken);
    }
  }
}
