// The chunk transaction every SQL target runs: one sequence of steps, with per-database hooks for the statements that differ.

import { columnExpr, rangeCondition } from '../../core/chunk.js';
import { LedgerError, PlanError } from '../../core/errors.js';
import { quoteIdent } from '../../core/sql-text.js';
import type { BackupTaken, ChunkWrite, Rejects } from '../connector.js';
import type { Statement } from './sql-commit-markers.js';

/** What loading the chunk's rows did. */
export interface ChunkLoad {
  /** Rows offered to the table; undefined when this target does not count them (the engine does). */
  readonly read: number | undefined;
  readonly written: number;
  /** Rows the table refused and that were set aside (only with `ChunkWrite.maxRejects` > 0). */
  readonly rejected?: Rejects | undefined;
}

export interface ChunkOutcome extends ChunkLoad {
  readonly backup: BackupTaken | undefined;
  /** The bytes loaded: what `run` was given, or what the load counted on its stream; null when neither knows. */
  readonly bytes: number | null;
  /** The ledger's fenced mark committed with the data (`ChunkWrite.markDone` ran). */
  readonly marked: boolean;
}

/** A merge that needed no staging: rows inserted straight into the table, and the backup it took for that. */
export interface StraightMerge {
  readonly rows: number;
  readonly backup: BackupTaken | undefined;
}

/**
 * One chunk's write on one connection of one database. `run` is the protocol and is the same for
 * every database; a subclass supplies the statements (`exec`, `load`, `stage`, `backup`, `mark`) and
 * overrides the few defaults its database says differently.
 *
 *   (stage, when the database stages outside the transaction) → prepareBackup → begin →
 *   backup of the range (append, replace) → delete range (replace) →
 *   load (append, replace) | straight merge | stage → backup of the staged keys' rows → merge →
 *   commit marker → fenced ledger mark → commit → afterCommit
 *
 * Any failure rolls the whole transaction back: no data, no marker, no ledger mark.
 */
export abstract class SqlChunkTransaction {
  /** Bytes the load counted as it sent them (a stream's size is known only once it has passed); overrides `run`'s. */
  protected counted: number | undefined;

  /** Whether a merge fills its staging table before the transaction begins (and `stage` runs there). */
  protected readonly stagesBeforeBegin: boolean = false;

  constructor(
    protected readonly w: ChunkWrite,
    /** The target table, quoted. */
    protected readonly table: string,
    /** The output columns' names, in output order. */
    protected readonly names: readonly string[],
  ) {}

  /** Run the chunk's transaction; `bytes` (the chunk file's size) is what the ledger mark records, unless the load counted its own. */
  async run(bytes: number | null = null): Promise<ChunkOutcome> {
    const w = this.w;
    let staged: ChunkLoad | undefined;
    if (w.mode === 'merge' && this.stagesBeforeBegin) staged = await this.stage();
    await this.prepareBackup();
    await this.begin();
    try {
      // The backup is taken in the transaction, before the rows it keeps can change.
      let backup: BackupTaken | undefined;
      if (w.backup !== undefined && w.mode !== 'merge') backup = await this.backup('range');
      if (w.mode === 'replace') await this.deleteRange();
      let load: ChunkLoad;
      if (w.mode !== 'merge') {
        load = await this.load();
      } else {
        const straight = await this.mergeStraight();
        if (straight !== undefined) {
          load = { read: straight.rows, written: straight.rows };
          backup = straight.backup;
        } else {
          staged ??= await this.stage();
          if (w.backup !== undefined) backup = await this.backup('staged');
          load = { ...staged, written: await this.merge() };
        }
      }
      await this.mark(load.written);
      let marked = false;
      if (w.markDone !== undefined) {
        const mark = w.markDone({ rowsRead: load.read ?? load.written, rowsWritten: load.written, bytes: this.counted ?? bytes, rowsRejected: load.rejected?.count ?? 0 });
        // Zero rows: another worker holds the chunk now; its data must not commit under our claim.
        if ((await this.fenced(mark)) !== 1) {
          throw new LedgerError(`lost the lease on chunk ${w.chunk.key} (token ${w.token}) before commit: another worker took it over`, { code: 'LEASE_LOST' });
        }
        marked = true;
      }
      await this.commit();
      await this.afterCommit();
      return { ...load, backup, marked, bytes: this.counted ?? bytes };
    } catch (err) {
      await this.rollback();
      throw err;
    }
  }

  /** Run one statement; the rows it changed. */
  protected abstract exec(text: string, values?: readonly unknown[]): Promise<number>;

  /** Append and replace: load the chunk's rows straight into the table. */
  protected abstract load(): Promise<ChunkLoad>;

  /** Merge: put the chunk's rows beside the table, where `merge` and `backup('staged')` read them. */
  protected abstract stage(): Promise<ChunkLoad>;

  /** Keep what the write will change: the chunk's range, or the rows whose key is among the staged rows (and those keys). */
  protected abstract backup(scope: 'range' | 'staged'): Promise<BackupTaken>;

  /** Upsert the chunk's commit marker (job, chunk, the claim that wrote it, rows written). */
  protected abstract mark(written: number): Promise<void>;

  /** What cannot run inside the transaction: the run's backup table (DDL). */
  protected async prepareBackup(): Promise<void> {}

  protected async begin(): Promise<void> {
    await this.exec('BEGIN');
  }

  /** Replace: the chunk's range goes first, in the transaction that writes it again. */
  protected async deleteRange(): Promise<void> {
    const range = this.w.range;
    if (range === undefined) throw new PlanError('replace mode needs the chunk column in the transform output');
    await this.exec(`DELETE FROM ${this.table} WHERE ${this.rangeWhere(range)}`);
  }

  /** The chunk's range as a condition on the table; a database with its own quirks overrides it. */
  protected rangeWhere(range: NonNullable<ChunkWrite['range']>): string {
    return rangeCondition(columnExpr(range, quoteIdent), range);
  }

  /** A merge that can skip staging; undefined to stage. */
  protected async mergeStraight(): Promise<StraightMerge | undefined> {
    return undefined;
  }

  /** The staged rows as a relation after USING. */
  protected stagedRows(): string {
    return 'backfill_stage';
  }

  /** Insert new keys, update only rows whose values really differ, so a re-run writes nothing; counts those rows. */
  protected async merge(): Promise<number> {
    return this.exec(standardMergeSql(this.table, this.stagedRows(), this.names, this.w.key));
  }

  /** The ledger's fenced statement; the rows it changed. */
  protected async fenced(mark: Statement): Promise<number> {
    return this.exec(mark.text, mark.values);
  }

  protected async commit(): Promise<void> {
    await this.exec('COMMIT');
  }

  /** Never throws: the error that got us here is the one worth reporting. */
  protected async rollback(): Promise<void> {
    await this.exec('ROLLBACK').catch(() => {});
  }

  protected async afterCommit(): Promise<void> {}
}

/** SQL-standard MERGE (PostgreSQL 15+, DuckDB): new keys inserted, matched rows updated only where a value IS DISTINCT FROM. */
export function standardMergeSql(table: string, source: string, names: readonly string[], key: readonly string[]): string {
  const keys = new Set(key);
  const on = key.map((k) => `t.${quoteIdent(k)} = s.${quoteIdent(k)}`).join(' AND ');
  const others = names.filter((n) => !keys.has(n)).map(quoteIdent);
  const all = names.map(quoteIdent);
  const changed = others.map((c) => `t.${c} IS DISTINCT FROM s.${c}`).join(' OR ');
  const update = others.length === 0 ? '' : `WHEN MATCHED AND (${changed}) THEN UPDATE SET ${others.map((c) => `${c} = s.${c}`).join(', ')} `;
  return `MERGE INTO ${table} AS t USING ${source} AS s ON (${on})
    ${update}WHEN NOT MATCHED THEN INSERT (${all.join(', ')}) VALUES (${all.map((c) => `s.${c}`).join(', ')})`;
}
