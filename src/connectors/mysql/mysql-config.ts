// Job-file schema of the MySQL / MariaDB source and target.

import { z } from 'zod';
import { connectionSchema, tlsSchema } from '../connection-config.js';

export const mysqlSourceSchema = z
  .strictObject({
    type: z.literal('mysql'),
    connection: connectionSchema,
    ssl: tlsSchema.optional(),
    /** `table` or `database.table`. */
    table: z.string().min(1).optional(),
    /** A SELECT run by MySQL; chunk predicates are added around it. */
    query: z.string().min(1).optional(),
    /** At most this many queries on the source at once. */
    maxConcurrentQueries: z.number().int().min(1).max(64).default(2),
  })
  .refine((s) => (s.table === undefined) !== (s.query === undefined), { message: 'give exactly one of table or query' });

export const mysqlTargetSchema = z.strictObject({
  type: z.literal('mysql'),
  connection: connectionSchema,
  ssl: tlsSchema.optional(),
  table: z.string().min(1),
  /** Create the table (with a primary key from write.key) when it does not exist. */
  create: z.boolean().default(false),
  /** `load-data` streams each chunk with LOAD DATA LOCAL INFILE; `insert` uses large multi-row INSERTs where that is not allowed. */
  loadWith: z.enum(['load-data', 'insert']).default('load-data'),
  pool: z.strictObject({ max: z.number().int().min(1).max(64).default(4) }).default({ max: 4 }),
});

export type MysqlSourceConfig = z.output<typeof mysqlSourceSchema>;
export type MysqlTargetConfig = z.output<typeof mysqlTargetSchema>;
