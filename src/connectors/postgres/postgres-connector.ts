// PostgreSQL: a table or query as a source (COPY out, SQL pushdown, change data capture from the
// log), a table as a target (COPY in, one transaction per chunk).

import { connectionFields, databaseIdentity, type ConnectionConfig } from '../connection-config.js';
import { connectionBlock } from '../connection-block.js';
import { defineConnector, type ChangeCapture } from '../descriptor.js';
import { DEFAULT_BATCH_ROWS, DEFAULT_BATCH_WAIT_MS, DEFAULT_MAX_LAG, defaultSlotName } from './postgres-cdc-config.js';
import { postgresSourceSchema, postgresTargetSchema, type PostgresSourceConfig } from './postgres-config.js';

/** `host:port/database`, the name both sides report, so a job whose source and target share a database can push chunks down. */
function databaseOf(config: { readonly connection: ConnectionConfig }): string {
  return databaseIdentity(connectionFields(config.connection), 5432);
}

/** `backfill init` takes a PostgreSQL URL for either side. */
const isPostgresUrl = (text: string): boolean => /^postgres(ql)?:\/\//i.test(text);

const changeCapture: ChangeCapture<PostgresSourceConfig> = {
  enabled: (config) => config.cdc !== undefined && config.cdc !== false,
  settings(config, job) {
    const cdc = typeof config.cdc === 'object' ? config.cdc : {};
    if (config.table === undefined) return [{ path: 'source.table', message: 'cdc streams one table: give table, not query' }];
    const slot = cdc.slot ?? defaultSlotName(job.name);
    return {
      slot,
      publication: cdc.publication ?? slot,
      maxLagBytes: cdc.maxLag ?? DEFAULT_MAX_LAG,
      batchRows: cdc.batch?.rows ?? DEFAULT_BATCH_ROWS,
      batchWaitMs: cdc.batch?.wait ?? DEFAULT_BATCH_WAIT_MS,
      table: config.table.includes('.') ? config.table : `public.${config.table}`,
    };
  },
  open: async (config, settings) => {
    const { PostgresCdcSource } = await import('./postgres-cdc-source.js');
    return new PostgresCdcSource(config, settings);
  },
};

export const postgresConnector = defineConnector({
  type: 'postgres',
  source: {
    configSchema: postgresSourceSchema,
    traits: { runsSql: true, copyText: true, probes: true },
    databaseOf,
    open: async (config, ctx) => {
      const { PostgresSource } = await import('./postgres-source.js');
      return new PostgresSource(config, ctx);
    },
    changeCapture,
    claims: isPostgresUrl,
    inspect: async (request) => (await import('./postgres-inspect.js')).inspectPostgres(request),
  },
  target: {
    configSchema: postgresTargetSchema,
    traits: { copyText: true },
    databaseOf,
    open: async (config, ctx) => {
      const { PostgresTarget } = await import('./postgres-target.js');
      return new PostgresTarget(config, ctx);
    },
    scratch: async (config, params) => {
      const { PostgresScratch } = await import('./postgres-scratch.js');
      return new PostgresScratch(config, params.mode, params.id, params.benchJob, params.copyStream);
    },
    claims: isPostgresUrl,
    // Named after the source, created on the first run.
    draft: (request) => ({ type: 'postgres', connection: connectionBlock(request.text, request.secret).connection, table: request.table ?? 'backfill_target', create: true }),
  },
});
