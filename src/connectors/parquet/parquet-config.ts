// Job-file schema of the Parquet source and the Parquet lake target.

import { z } from 'zod';
import { sizeSchema } from '../../job/unit-schemas.js';
import { readerOptionsSchema } from '../files/files-config.js';

export const parquetSourceSchema = z.strictObject({
  type: z.literal('parquet'),
  path: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  /** Read `key=value/` folders as columns (and prune by them). */
  hive: z.boolean().default(true),
  pruneBy: z.enum(['filename', 'none']).default('none'),
  options: readerOptionsSchema.optional(),
});

export const parquetTargetSchema = z.strictObject({
  type: z.literal('parquet'),
  path: z.string().min(1),
  partitionBy: z.array(z.string().min(1)).default([]),
  compression: z.enum(['zstd', 'snappy', 'gzip', 'uncompressed']).default('zstd'),
  /** Roll over to a new file past this size (per partition and chunk). */
  fileSize: sizeSchema.optional(),
  rowGroupSize: z.number().int().min(1024).optional(),
  /**
   * Bloom filters on dictionary-encoded columns. The writer keeps them in memory until the file
   * closes, so they make peak memory grow with the rows per file: off unless readers want them.
   */
  bloomFilters: z.boolean().default(false),
}).refine((t) => t.fileSize === undefined || t.partitionBy.length === 0, {
  // DuckDB's partitioned COPY cannot roll files over; refused here rather than at the first chunk.
  message: 'cannot be combined with partitionBy: files roll over by size only in a lake without partition folders',
  path: ['fileSize'],
});

export type ParquetSourceConfig = z.output<typeof parquetSourceSchema>;
export type ParquetTargetConfig = z.output<typeof parquetTargetSchema>;
