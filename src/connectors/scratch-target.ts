// Throwaway copies of a job's target for `backfill bench`: the same kind of target and table shape,
// never the real one, emptied between strategies and removed at the end.

import type { Job } from '../job/job.js';
import type { WriteMode } from '../job/job.js';

/** A way of writing that only some targets offer (merge statement, load method, compression). */
export interface TargetVariant {
  readonly dimension: 'write method' | 'compression';
  readonly label: string;
  /** The scratch target's configuration for this variant. */
  readonly target: Job['target'];
  /** Another write mode, for methods that are one (delete + insert is replace mode). */
  readonly mode?: WriteMode;
  /** The setting to put in the job file when this variant wins, e.g. `target.compression: snappy`. */
  readonly setting: string;
}

export interface ScratchTarget {
  /** The job's target pointed at the scratch place. */
  readonly target: Job['target'];
  /** Empty it again (between strategies): the real target's shape, none of its rows. */
  reset(): Promise<void>;
  /** Bytes it holds now (files, or the table with its indexes). */
  size(): Promise<number>;
  /** The target-specific ways of writing worth comparing for this job. */
  variants(): readonly TargetVariant[];
  /** Remove everything it made, commit markers included. */
  drop(): Promise<void>;
  describe(): string;
}

/** A scratch target named by `id` (lowercase letters and digits) for a job whose runs are named `benchJob`. */
export async function createScratchTarget(job: Job, id: string, dir: string, benchJob: string): Promise<ScratchTarget> {
  switch (job.target.type) {
    case 'parquet': {
      const { ParquetScratch } = await import('./parquet/parquet-scratch.js');
      return new ParquetScratch(job.target, dir);
    }
    case 'duckdb': {
      const { DuckdbScratch } = await import('./duckdb/duckdb-scratch.js');
      return new DuckdbScratch(job.target, dir);
    }
    case 'postgres': {
      const { PostgresScratch } = await import('./postgres/postgres-scratch.js');
      return new PostgresScratch(job.target, job.write.mode, id, benchJob);
    }
    case 'mysql': {
      const { MysqlScratch } = await import('./mysql/mysql-scratch.js');
      return new MysqlScratch(job.target, id, benchJob);
    }
  }
}
