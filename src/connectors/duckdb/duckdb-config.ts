// Job-file schema of the DuckDB database source and target.

import { z } from 'zod';

const identifier = z.string().min(1);

export const duckdbSourceSchema = z
  .strictObject({
    type: z.literal('duckdb'),
    database: z.string().min(1),
    table: identifier.optional(),
    query: z.string().min(1).optional(),
  })
  .refine((s) => (s.table === undefined) !== (s.query === undefined), { message: 'give exactly one of table or query' });

export const duckdbTargetSchema = z.strictObject({
  type: z.literal('duckdb'),
  database: z.string().min(1),
  /** `table` or `schema.table`. */
  table: identifier,
  /** Create the table from the transform's output columns when it does not exist. */
  create: z.boolean().default(true),
});

export type DuckdbSourceConfig = z.output<typeof duckdbSourceSchema>;
export type DuckdbTargetConfig = z.output<typeof duckdbTargetSchema>;
