// DuckDB database files: a table or query as a source (attached read-only), a table as a target.

import { defineConnector } from '../descriptor.js';
import { duckdbSourceSchema, duckdbTargetSchema } from './duckdb-config.js';
import { claimsDuckdb, draftDuckdbTarget } from './duckdb-inspect.js';

export const duckdbConnector = defineConnector({
  type: 'duckdb',
  source: {
    configSchema: duckdbSourceSchema,
    traits: { runsSql: false, copyText: false, probes: false },
    resolvePaths: (config, resolve) => ({ ...config, database: resolve(config.database) }),
    open: async (config) => {
      const { DuckdbSource } = await import('./duckdb-source.js');
      return new DuckdbSource(config);
    },
    claims: claimsDuckdb,
    inspect: async (request) => (await import('./duckdb-inspect.js')).inspectDuckdb(request),
  },
  target: {
    configSchema: duckdbTargetSchema,
    traits: { copyText: false },
    resolvePaths: (config, resolve) => ({ ...config, database: resolve(config.database) }),
    open: async (config, ctx) => {
      const { DuckdbTarget } = await import('./duckdb-target.js');
      return new DuckdbTarget(config, ctx);
    },
    scratch: async (config, params) => {
      const { DuckdbScratch } = await import('./duckdb-scratch.js');
      return new DuckdbScratch(config, params.dir);
    },
    claims: claimsDuckdb,
    draft: draftDuckdbTarget,
  },
});
