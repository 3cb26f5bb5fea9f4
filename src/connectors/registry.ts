// Which connector serves which `type:` in a job file. Connectors load on first use, so a job
// that never touches MySQL never loads its driver.

import type { Job } from '../job/job.js';
import type { Source, Target } from './connector.js';

export async function createSource(job: Job): Promise<Source> {
  const timezone = job.chunking.kind === 'time' ? job.chunking.timezone : 'UTC';
  switch (job.source.type) {
    case 'csv':
    case 'jsonl':
    case 'parquet': {
      const { FilesSource } = await import('./files/files-source.js');
      return new FilesSource(job.source, timezone, job.duckdb.memoryLimit !== undefined);
    }
    case 'duckdb': {
      const { DuckdbSource } = await import('./duckdb/duckdb-source.js');
      return new DuckdbSource(job.source);
    }
    case 'postgres': {
      const { PostgresSource } = await import('./postgres/postgres-source.js');
      return new PostgresSource(job.source, job);
    }
    case 'mysql': {
      const { MysqlSource } = await import('./mysql/mysql-source.js');
      return new MysqlSource(job.source, job);
    }
  }
}

export async function createTarget(job: Job): Promise<Target> {
  switch (job.target.type) {
    case 'parquet': {
      const { ParquetTarget } = await import('./parquet/parquet-target.js');
      return new ParquetTarget(job.target);
    }
    case 'duckdb': {
      const { DuckdbTarget } = await import('./duckdb/duckdb-target.js');
      return new DuckdbTarget(job.target, job.name);
    }
    case 'postgres': {
      const { PostgresTarget } = await import('./postgres/postgres-target.js');
      return new PostgresTarget(job.target, job);
    }
    case 'mysql': {
      const { MysqlTarget } = await import('./mysql/mysql-target.js');
      return new MysqlTarget(job.target, job);
    }
  }
}

// ---- Change data capture: which job streams changes, and its change source ----
// (to be folded into the postgres descriptor: the only system that captures changes today)

import type { CdcSettings, ChangeSource } from './change-source.js';
import { PlanError } from '../core/errors.js';

export { isCdcJob, cdcSettings } from './postgres/postgres-cdc-config.js';

/** The change source of a job whose source captures changes (`cdcSettings(job)` returned `settings`). */
export async function createChangeSource(job: Job, settings: CdcSettings): Promise<ChangeSource> {
  if (job.source.type !== 'postgres') throw new PlanError(`job ${job.name} has no cdc: field on a postgres source`);
  const { PostgresCdcSource } = await import('./postgres/postgres-cdc-source.js');
  return new PostgresCdcSource(job.source, settings);
}
