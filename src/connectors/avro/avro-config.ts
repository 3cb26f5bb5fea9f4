// Job-file schema of the Avro source (container files, decoded into DuckDB) and the Avro lake target.

import { z } from 'zod';
import { AVRO_NAME } from './avro-schema.js';

const avroName = z.string().regex(AVRO_NAME, 'an Avro name: letters, digits and _, not starting with a digit');

export const avroSourceSchema = z.strictObject({
  type: z.literal('avro'),
  path: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  /** As for CSV files: a chunk reads only the files whose name (or folder) carries its day or month. */
  pruneBy: z.enum(['filename', 'none']).default('none'),
});

export const avroTargetSchema = z.strictObject({
  type: z.literal('avro'),
  path: z.string().min(1),
  partitionBy: z.array(z.string().min(1)).default([]),
  /** Block compression: deflate and null every Avro reader supports; snappy (with each block's CRC32) is faster to write and read. */
  codec: z.enum(['deflate', 'snappy', 'null']).default('deflate'),
  /** The record's name in the files' schema; the job's name (made an Avro name) when not given. */
  recordName: avroName.optional(),
  /** The record's namespace (dotted Avro names), e.g. com.example.events. */
  namespace: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'dotted Avro names, e.g. com.example.events').optional(),
});

export type AvroSourceConfig = z.output<typeof avroSourceSchema>;
export type AvroTargetConfig = z.output<typeof avroTargetSchema>;

/** A job's name as an Avro record name: other characters become `_`, a leading digit gets one before it. */
export function recordNameOf(job: string): string {
  const name = job.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(name) ? name : `_${name}`;
}
