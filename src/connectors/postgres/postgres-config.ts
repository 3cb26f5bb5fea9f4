// Job-file schema of the PostgreSQL source and target.

import { z } from 'zod';
import { databaseSourceFields, databaseTargetFields, oneOfTableOrQuery } from '../connection-config.js';
import { cdcSchema } from './postgres-cdc-config.js';

export const postgresSourceSchema = z
  .strictObject({
    ...databaseSourceFields('postgres'),
    /** Change data capture from the table's logical replication stream (docs/cdc.md). */
    cdc: cdcSchema.optional(),
  })
  .refine(oneOfTableOrQuery, { message: 'give exactly one of table or query' });

export const postgresTargetSchema = z.strictObject({
  ...databaseTargetFields('postgres'),
  /** Merge statement: `auto` uses INSERT … ON CONFLICT when the key has a unique index, else MERGE. */
  mergeWith: z.enum(['auto', 'on-conflict', 'merge']).default('auto'),
  /**
   * COPY format of a chunk streamed from a PostgreSQL source (the copy-stream route): `auto`
   * takes binary when every column has the same type in source and target, else text.
   */
  copyFormat: z.enum(['auto', 'text', 'binary']).default('auto'),
});

export type PostgresSourceConfig = z.output<typeof postgresSourceSchema>;
export type PostgresTargetConfig = z.output<typeof postgresTargetSchema>;
