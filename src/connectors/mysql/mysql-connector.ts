// MySQL and MariaDB: a table or query as a source (streamed), a table as a target (LOAD DATA).

import { defineConnector } from '../descriptor.js';
import { mysqlSourceSchema, mysqlTargetSchema } from './mysql-config.js';
import { connectionBlock } from '../connection-block.js';

/** `backfill init` takes a MySQL or MariaDB URL for either side. */
const isMysqlUrl = (text: string): boolean => /^(mysql|mariadb):\/\//i.test(text);

export const mysqlConnector = defineConnector({
  type: 'mysql',
  source: {
    configSchema: mysqlSourceSchema,
    traits: { runsSql: false, copyText: false, probes: true },
    open: async (config, ctx) => {
      const { MysqlSource } = await import('./mysql-source.js');
      return new MysqlSource(config, ctx);
    },
    claims: isMysqlUrl,
    inspect: async (request) => (await import('./mysql-inspect.js')).inspectMysql(request),
  },
  target: {
    configSchema: mysqlTargetSchema,
    traits: { copyText: false },
    open: async (config, ctx) => {
      const { MysqlTarget } = await import('./mysql-target.js');
      return new MysqlTarget(config, ctx);
    },
    scratch: async (config, params) => {
      const { MysqlScratch } = await import('./mysql-scratch.js');
      return new MysqlScratch(config, params.id, params.benchJob);
    },
    claims: isMysqlUrl,
    // Named after the source, created on the first run.
    draft: (request) => ({ type: 'mysql', connection: connectionBlock(request.text, request.secret).connection, table: request.table ?? 'backfill_target', create: true }),
  },
});
