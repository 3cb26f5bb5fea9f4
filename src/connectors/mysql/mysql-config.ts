// Job-file schema of the MySQL / MariaDB source and target.

import { z } from 'zod';
import { databaseSourceSchema, databaseTargetFields } from '../connection-config.js';

export const mysqlSourceSchema = databaseSourceSchema('mysql');

export const mysqlTargetSchema = z.strictObject({
  ...databaseTargetFields('mysql'),
  /** `load-data` streams each chunk with LOAD DATA LOCAL INFILE; `insert` uses large multi-row INSERTs where that is not allowed. */
  loadWith: z.enum(['load-data', 'insert']).default('load-data'),
});

export type MysqlSourceConfig = z.output<typeof mysqlSourceSchema>;
export type MysqlTargetConfig = z.output<typeof mysqlTargetSchema>;
