// Which connector serves which `type:` in a job file.

import type { Job } from '../job/job.js';
import type { Source, Target } from './connector.js';
import { DuckdbSource } from './duckdb/duckdb-source.js';
import { DuckdbTarget } from './duckdb/duckdb-target.js';
import { FilesSource } from './files/files-source.js';
import { createParquetSource } from './parquet/parquet-source.js';
import { ParquetTarget } from './parquet/parquet-target.js';

export function createSource(job: Job): Source {
  const timezone = job.chunking.kind === 'time' ? job.chunking.timezone : 'UTC';
  switch (job.source.type) {
    case 'csv':
    case 'jsonl':
      return new FilesSource(job.source, timezone);
    case 'parquet':
      return createParquetSource(job.source, timezone);
    case 'duckdb':
      return new DuckdbSource(job.source);
  }
}

export function createTarget(job: Job): Target {
  switch (job.target.type) {
    case 'parquet':
      return new ParquetTarget(job.target);
    case 'duckdb':
      return new DuckdbTarget(job.target, job.name);
  }
}
