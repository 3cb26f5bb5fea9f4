// Parquet: files read in place as a source (the files connector's reader), and a hive-partitioned
// lake as a target whose chunks appear by atomic renames.

import { defineConnector } from '../descriptor.js';
import { filesSourceSide } from '../files/files-connector.js';
import { claimsFiles, inspectFiles } from '../files/files-inspect.js';
import { claimsLakeFolder, draftParquetTarget } from './parquet-inspect.js';
import { parquetSourceSchema, parquetTargetSchema } from './parquet-config.js';

export const parquetConnector = defineConnector({
  type: 'parquet',
  source: { ...filesSourceSide(parquetSourceSchema), claims: claimsFiles('parquet'), inspect: inspectFiles('parquet') },
  target: {
    configSchema: parquetTargetSchema,
    traits: { copyText: false },
    resolvePaths: (config, resolve) => ({ ...config, path: resolve(config.path) }),
    open: async (config) => {
      const { ParquetTarget } = await import('./parquet-target.js');
      return new ParquetTarget(config);
    },
    scratch: async (config, params) => {
      const { ParquetScratch } = await import('./parquet-scratch.js');
      return new ParquetScratch(config, params.dir);
    },
    claims: claimsLakeFolder,
    draft: draftParquetTarget,
  },
});
