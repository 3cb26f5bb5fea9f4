// Throwaway copies of a job's target for `backfill bench`: the same kind of target and table shape,
// never the real one, emptied between strategies and removed at the end.

import { connectionFields, type ConnectionConfig } from './connection-config.js';
import type { Job } from '../job/job.js';
import type { WriteMode } from '../core/write.js';

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
  /** Where it is measured: a first load, or a re-run over loaded rows (default for write methods, where merges differ). */
  readonly scenario?: 'empty' | 'loaded';
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
      // Chunks travel as a COPY stream from a PostgreSQL source in another database when no engine transform runs.
      const copyStream = job.source.type === 'postgres' && job.transform === undefined && databaseOf(job.source.connection) !== databaseOf(job.target.connection);
      return new PostgresScratch(job.target, job.write.mode, id, benchJob, copyStream);
    }
    case 'mysql': {
      const { MysqlScratch } = await import('./mysql/mysql-scratch.js');
      return new MysqlScratch(job.target, id, benchJob);
    }
  }
}

/** `host:port/database` of a PostgreSQL connection, as the connectors name their database. */
function databaseOf(connection: ConnectionConfig): string {
  const f = connectionFields(connection);
  return `${f.host.toLowerCase() === 'localhost' ? '127.0.0.1' : f.host.toLowerCase()}:${f.port ?? 5432}/${f.database ?? ''}`;
}
