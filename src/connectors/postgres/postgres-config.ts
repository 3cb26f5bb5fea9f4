// Job-file schema of the PostgreSQL source and target.

import { z } from 'zod';
import { connectionSchema, tlsSchema } from '../connection-config.js';

export const postgresSourceSchema = z
  .strictObject({
    type: z.literal('postgres'),
    connection: connectionSchema,
    ssl: tlsSchema.optional(),
    /** `table` or `schema.table`. */
    table: z.string().min(1).optional(),
    /** A SELECT run by PostgreSQL; chunk predicates are added around it. */
    query: z.string().min(1).optional(),
    /** At most this many queries on the source at once, to protect a production database. */
    maxConcurrentQueries: z.number().int().min(1).max(64).default(2),
  })
  .refine((s) => (s.table === undefined) !== (s.query === undefined), { message: 'give exactly one of table or query' });

export const postgresTargetSchema = z.strictObject({
  type: z.literal('postgres'),
  connection: connectionSchema,
  ssl: tlsSchema.optional(),
  /** `table` or `schema.table`. */
  table: z.string().min(1),
  /** Create the table (with a primary key from write.key) when it does not exist. */
  create: z.boolean().default(false),
  /** Merge statement: `auto` uses INSERT … ON CONFLICT when the key has a unique index, else MERGE. */
  mergeWith: z.enum(['auto', 'on-conflict', 'merge']).default('auto'),
  pool: z.strictObject({ max: z.number().int().min(1).max(64).default(4) }).default({ max: 4 }),
});

export type PostgresSourceConfig = z.output<typeof postgresSourceSchema>;
export type PostgresTargetConfig = z.output<typeof postgresTargetSchema>;
