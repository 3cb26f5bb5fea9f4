// Parquet files and hive-partitioned lakes as a source; DuckDB prunes by folders and row-group statistics.

import { FilesSource } from '../files/files-source.js';
import type { ParquetSourceConfig } from './parquet-config.js';

export function createParquetSource(config: ParquetSourceConfig, timezone: string): FilesSource {
  return new FilesSource(config, timezone);
}
