// Every connector, as a list of descriptors. Adding a system means adding its folder and one line
// here; the job-file schema, its checks and the engine's factories are all built from this list.
// Descriptors load their connector's code on first use, so a job that never touches MySQL never
// loads its driver.

import type { z } from 'zod';
import type { ConnectorDescriptor, SourceSide, TargetSide } from './descriptor.js';
import { csvConnector, jsonlConnector } from './files/files-connector.js';
import { parquetConnector } from './parquet/parquet-connector.js';
import { duckdbConnector } from './duckdb/duckdb-connector.js';
import { postgresConnector } from './postgres/postgres-connector.js';
import { mysqlConnector } from './mysql/mysql-connector.js';
import { avroConnector } from './avro/avro-connector.js';

export const CONNECTORS = [csvConnector, jsonlConnector, parquetConnector, duckdbConnector, postgresConnector, mysqlConnector, avroConnector] as const;

/**
 * Types a job may name that no connector serves, with the reason given when a job names them
 * (instead of "unknown type").
 */
export const REFUSED_TYPES: Readonly<Record<string, string>> = {
  orc:
    'ORC is not supported: no ORC writer or reader is in reach of this package (DuckDB as bundled here has no ORC support and no maintained ORC library for Node is installed); ' +
    'use type: parquet, the columnar format with the same role (or avro for row-oriented files)',
};

type Connectors = (typeof CONNECTORS)[number];
type SourceSchemaOf<D> = D extends { readonly source?: SourceSide<infer S> } ? ([S] extends [never] ? never : S) : never;
type TargetSchemaOf<D> = D extends { readonly target?: TargetSide<infer T> } ? ([T] extends [never] ? never : T) : never;

/** A `source:` block of a job file, after validation: one of the connectors' source configurations. */
export type SourceConfig = z.output<SourceSchemaOf<Connectors>>;
/** A `target:` block of a job file, after validation. */
export type TargetConfig = z.output<TargetSchemaOf<Connectors>>;
/** A `source:` block as written (before defaults). */
export type SourceInput = z.input<SourceSchemaOf<Connectors>>;
export type TargetInput = z.input<TargetSchemaOf<Connectors>>;

type AnySource = SourceSide<z.ZodType<SourceConfig>>;
type AnyTarget = TargetSide<z.ZodType<TargetConfig>>;

const descriptors: readonly ConnectorDescriptor[] = CONNECTORS as unknown as readonly ConnectorDescriptor[];

/** The `type:` names a job may give its source, in registry order. */
export const SOURCE_TYPES: readonly string[] = descriptors.filter((d) => d.source !== undefined).map((d) => d.type);
/** The `type:` names a job may give its target. */
export const TARGET_TYPES: readonly string[] = descriptors.filter((d) => d.target !== undefined).map((d) => d.type);

/** The source side serving this `type:`; throws for a type no connector reads (the job schema refuses it first). */
export function sourceSide(type: string): AnySource {
  const side = descriptors.find((d) => d.type === type)?.source;
  if (side === undefined) throw new Error(`no connector reads source type "${type}"`);
  return side as unknown as AnySource;
}

/** The target side serving this `type:`. */
export function targetSide(type: string): AnyTarget {
  const side = descriptors.find((d) => d.type === type)?.target;
  if (side === undefined) throw new Error(`no connector writes target type "${type}"`);
  return side as unknown as AnyTarget;
}

/** The source block schemas, for the job schema's union (registry order). */
export function sourceSchemas(): readonly z.ZodType<SourceConfig>[] {
  return SOURCE_TYPES.map((t) => sourceSide(t).configSchema);
}

/** The target block schemas, for the job schema's union. */
export function targetSchemas(): readonly z.ZodType<TargetConfig>[] {
  return TARGET_TYPES.map((t) => targetSide(t).configSchema);
}

