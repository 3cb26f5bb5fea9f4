// CSV and JSON-lines files as sources (read in place by DuckDB); Parquet files are read by the
// same source through the Parquet connector. Files are never a target: output goes to a lake.

import { join } from 'node:path';
import type { z } from 'zod';
import { defineConnector, type ResolvePath, type SourceSide } from '../descriptor.js';
import type { SourceContext } from '../connector.js';
import { csvSourceSchema, jsonlSourceSchema } from './files-config.js';
import type { ParquetSourceConfig } from '../parquet/parquet-config.js';
import { claimsFiles, inspectFiles } from './files-inspect.js';

type FilesSchema = typeof csvSourceSchema | typeof jsonlSourceSchema;
type FilesConfig = z.output<FilesSchema> | ParquetSourceConfig;

/** The source side every file format shares; `schema` is the format's block. */
export function filesSourceSide<S extends FilesSchema | z.ZodType<ParquetSourceConfig>>(schema: S): SourceSide<S> {
  return {
    configSchema: schema,
    traits: { runsSql: false, copyText: false, probes: false },
    resolvePaths: (config, resolve) => withAbsolutePaths(config, resolve),
    open: async (config: FilesConfig, ctx: SourceContext) => {
      const { FilesSource } = await import('./files-source.js');
      return new FilesSource(config, ctx.chunking.kind === 'time' ? ctx.chunking.timezone : 'UTC', ctx.memoryLimited, join(ctx.stateDir, 'gzip-whole', `${ctx.job}.json`));
    },
  };
}

function withAbsolutePaths<C extends { readonly path: string | readonly string[] }>(config: C, resolve: ResolvePath): C {
  return { ...config, path: typeof config.path === 'string' ? resolve(config.path) : config.path.map(resolve) };
}

export const csvConnector = defineConnector({ type: 'csv', source: { ...filesSourceSide(csvSourceSchema), claims: claimsFiles('csv'), inspect: inspectFiles('csv') } });
export const jsonlConnector = defineConnector({ type: 'jsonl', source: { ...filesSourceSide(jsonlSourceSchema), claims: claimsFiles('jsonl'), inspect: inspectFiles('jsonl') } });
