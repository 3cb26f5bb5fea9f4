// Which connector serves which `type:` in a job file. Connectors load on first use, so a job
// that never touches MySQL never loads its driver.

import type { Job } from '../job/job.js';
import type { Source, SourceContext, Target, TargetContext } from './connector.js';

/** What a connector learns of the job it serves. */
function targetContext(job: Job): TargetContext {
  return { job: job.name, stateDir: job.stateDir, chunking: job.chunking, write: job.write };
}

function sourceContext(job: Job): SourceContext {
  return { ...targetContext(job), sourceTransform: job.sourceTransform, memoryLimited: job.duckdb.memoryLimit !== undefined };
}

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
      return new MysqlSource(job.source, sourceContext(job));
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
      return new DuckdbTarget(job.target, targetContext(job));
    }
    case 'postgres': {
      const { PostgresTarget } = await import('./postgres/postgres-target.js');
      return new PostgresTarget(job.target, targetContext(job));
    }
    case 'mysql': {
      const { MysqlTarget } = await import('./mysql/mysql-target.js');
      return new MysqlTarget(job.target, targetContext(job));
    }
  }
}
