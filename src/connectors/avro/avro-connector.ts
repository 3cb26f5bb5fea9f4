// Avro: container files as a source (decoded into DuckDB through a Parquet copy) and a
// hive-partitioned Avro lake as a target whose chunks appear by atomic renames.

import { defineConnector } from '../descriptor.js';
import { avroSourceSchema, avroTargetSchema } from './avro-config.js';

export const avroConnector = defineConnector({
  type: 'avro',
  source: {
    configSchema: avroSourceSchema,
    traits: { runsSql: false, copyText: false, probes: false },
    resolvePaths: (config, resolve) => ({ ...config, path: typeof config.path === 'string' ? resolve(config.path) : config.path.map(resolve) }),
    open: async (config, ctx) => {
      const { AvroSource } = await import('./avro-source.js');
      return new AvroSource(config, ctx);
    },
  },
  target: {
    configSchema: avroTargetSchema,
    traits: { copyText: false },
    resolvePaths: (config, resolve) => ({ ...config, path: resolve(config.path) }),
    open: async (config, ctx) => {
      const { AvroTarget } = await import('./avro-target.js');
      return new AvroTarget(config, ctx);
    },
    scratch: async (config, params) => {
      const { AvroScratch } = await import('./avro-scratch.js');
      return new AvroScratch(config, params.dir);
    },
  },
});
