// Job-file schema of the CSV and JSON-lines sources.

import { z } from 'zod';

/** Reader options passed through to DuckDB's read_csv / read_json (delim, header, types, …). */
export const readerOptionsSchema = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'option names are letters, digits and underscores'),
  z.union([z.string(), z.number(), z.boolean(), z.array(z.string()), z.record(z.string(), z.string())]),
);

const pathSchema = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/**
 * `filename`: every file's name (or folder, e.g. `date=2021-03-01/`) carries the day or month
 * its rows belong to, so a chunk reads only its files; a row outside its file's period fails the chunk.
 */
const pruneBySchema = z.enum(['filename', 'none']).default('none');

export const csvSourceSchema = z.strictObject({
  type: z.literal('csv'),
  path: pathSchema,
  pruneBy: pruneBySchema,
  options: readerOptionsSchema.optional(),
});

export const jsonlSourceSchema = z.strictObject({
  type: z.literal('jsonl'),
  path: pathSchema,
  pruneBy: pruneBySchema,
  options: readerOptionsSchema.optional(),
});

export type CsvSourceConfig = z.output<typeof csvSourceSchema>;
export type JsonlSourceConfig = z.output<typeof jsonlSourceSchema>;
