// A query's rows into Avro files: DuckDB's result read in column batches, each row encoded by
// avsc's compiled record encoder into a block-buffered container file, one file per partition.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { quoteIdent } from '../../core/sql-text.js';
import type { ColumnInfo } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { AvroFileWriter, avroType, type AvroCodec } from './avro-container.js';
import { encodedColumns, recordSchema, type EncodedColumn } from './avro-schema.js';

/** What the files of one write look like. */
export interface AvroLayout {
  readonly columns: readonly ColumnInfo[];
  readonly partitionBy: readonly string[];
  readonly recordName: string;
  readonly namespace: string | undefined;
  readonly codec: AvroCodec;
}

export interface WrittenFile {
  readonly file: string;
  /** The hive folder under the lake (`month=2024-01/…`), '' without partitions. */
  readonly folder: string;
  readonly rows: number;
  readonly bytes: number;
}

/** Hive's name for the folder of NULL partition values. */
export const NULL_PARTITION = '__HIVE_DEFAULT_PARTITION__';
/** Open files per write at most (one per partition the chunk touches); past it the oldest is closed and a later row opens a new one. */
const MAX_OPEN = 32;

/** The columns the files hold (the output less the partition columns), checked for an Avro mapping. */
export function fileColumns(layout: Pick<AvroLayout, 'columns' | 'partitionBy'>): EncodedColumn[] {
  return encodedColumns(layout.columns.filter((c) => !layout.partitionBy.includes(c.name)));
}

/** Write the rows of `query` as Avro files under `dir` (hive folders when partitioned). */
export async function writeAvroFiles(conn: DuckConn, query: string, dir: string, layout: AvroLayout, signal: AbortSignal): Promise<WrittenFile[]> {
  const columns = fileColumns(layout);
  const schema = recordSchema(columns, layout.recordName, layout.namespace);
  const schemaJson = JSON.stringify(schema);
  const { type, numberType, fill } = compiled(schemaJson, columns);
  const longs = columns.flatMap((c, i) => (avroBase(c.avro) === 'long' ? [i] : []));
  const parts = layout.partitionBy.map((_, i) => quoteIdent(`__backfill_part_${i}`));
  const select = [
    ...columns.map((c) => `${c.select} AS ${quoteIdent(c.name)}`),
    ...layout.partitionBy.map((p, i) => `CAST(${quoteIdent(p)} AS VARCHAR) AS ${parts[i]}`),
  ].join(', ');
  // One record object for the whole write: no object per row.
  const record: Record<string, unknown> = Object.fromEntries(columns.map((c) => [c.name, null]));

  const open = new Map<string, { writer: AvroFileWriter; file: string; folder: string }>();
  const done: WrittenFile[] = [];
  let n = 0;
  const openFor = async (key: string, values: readonly (string | null)[]): Promise<AvroFileWriter> => {
    if (open.size >= MAX_OPEN) await closeOne(open.keys().next().value as string);
    const folder = layout.partitionBy.map((p, i) => `${p}=${values[i] === null ? NULL_PARTITION : escapePartition(values[i] as string)}`).join('/');
    mkdirSync(join(dir, folder), { recursive: true });
    const file = join(dir, folder, `data_${n++}.avro`);
    const writer = await AvroFileWriter.create(file, schemaJson, type, layout.codec);
    open.set(key, { writer, file, folder });
    return writer;
  };
  const closeOne = async (key: string): Promise<void> => {
    const entry = open.get(key);
    if (entry === undefined) return;
    open.delete(key);
    const rows = entry.writer.rows;
    const bytes = await entry.writer.close();
    done.push({ file: entry.file, folder: entry.folder, rows, bytes });
  };

  try {
    for await (const chunk of conn.chunks(`SELECT ${select} FROM (${query}) AS q`, signal)) {
      const size = chunk.rowCount;
      const cols = columns.map((c, i) => {
        const values = chunk.getColumnValues(i) as unknown[];
        if (c.convert !== undefined) for (let r = 0; r < size; r++) if (values[r] !== null) values[r] = (c.convert as (v: unknown) => unknown)(values[r]);
        return values;
      });
      const batchType = longsAsNumbers(cols, longs, size) ? numberType : type;
      const keys = parts.map((_, i) => chunk.getColumnValues(columns.length + i) as (string | null)[]);
      if (keys.every((k) => sameValue(k, size))) {
        // The whole batch goes to one file (no partitions, or one partition value): no key per row.
        const values = keys.map((k) => k[0] ?? null);
        const key = keyOf(values);
        const writer = open.get(key)?.writer ?? (await openFor(key, values));
        for (let r = 0; r < size; r++) {
          fill(record, cols, r);
          writer.append(record, batchType);
        }
        await writer.flush();
        continue;
      }
      const touched = new Set<AvroFileWriter>();
      for (let r = 0; r < size; r++) {
        const values = keys.map((k) => k[r] ?? null);
        const key = keyOf(values);
        const writer = open.get(key)?.writer ?? (await openFor(key, values));
        fill(record, cols, r);
        writer.append(record, batchType);
        touched.add(writer);
      }
      for (const writer of touched) await writer.flush();
    }
    for (const key of [...open.keys()]) await closeOne(key);
  } catch (err) {
    for (const entry of open.values()) await entry.writer.abandon();
    throw err;
  }
  return done;
}

interface Compiled {
  /** Longs as bigint. */
  readonly type: ReturnType<typeof avroType>;
  /** The same schema with longs as JS numbers: a batch whose longs all fit in 2^53 (nearly every one) takes this faster path. */
  readonly numberType: ReturnType<typeof avroType>;
  /** Copies row `r` of the batch's columns into the record, a function made for these fields. */
  readonly fill: (rec: unknown, cols: unknown[][], r: number) => void;
}

/**
 * Compiled once per schema for the process: avsc generates each record type's encoder as code, and
 * V8 optimises it only once warm, so a type compiled afresh for every chunk would start cold.
 */
const COMPILED = new Map<string, Compiled>();

function compiled(schemaJson: string, columns: readonly EncodedColumn[]): Compiled {
  let found = COMPILED.get(schemaJson);
  if (found === undefined) {
    const schema: unknown = JSON.parse(schemaJson);
    const fill = new Function('rec', 'cols', 'r', columns.map((c, i) => `rec.${c.name} = cols[${i}][r];`).join('\n')) as Compiled['fill'];
    found = { type: avroType(schema), numberType: avroType(schema, true), fill };
    if (COMPILED.size >= 16) COMPILED.delete(COMPILED.keys().next().value as string);
    COMPILED.set(schemaJson, found);
  }
  return found;
}

/** Turn the batch's long columns into JS numbers when every value fits in 2^53; false (and left as bigint) otherwise. */
function longsAsNumbers(cols: unknown[][], longs: readonly number[], size: number): boolean {
  const converted: (number | null)[][] = [];
  for (const i of longs) {
    const values = cols[i] as (bigint | null)[];
    const numbers = new Array<number | null>(size);
    for (let r = 0; r < size; r++) {
      const v = values[r];
      if (v === null || v === undefined) {
        numbers[r] = null;
        continue;
      }
      const n = Number(v);
      if (!Number.isSafeInteger(n)) return false;
      numbers[r] = n;
    }
    converted.push(numbers);
  }
  longs.forEach((i, k) => (cols[i] = converted[k] as unknown[]));
  return true;
}

/** A partition's key among the open files: NULL and '' differ, so a NULL is marked apart from any text. */
function keyOf(values: readonly (string | null)[]): string {
  return values.map((v) => (v === null ? '\u0001' : v)).join('\u0000');
}

function sameValue(values: readonly (string | null)[], size: number): boolean {
  const first = values[0];
  for (let r = 1; r < size; r++) if (values[r] !== first) return false;
  return true;
}

function avroBase(schema: EncodedColumn['avro']): string | undefined {
  return typeof schema === 'string' ? schema : Array.isArray(schema) ? undefined : (schema as { type: string }).type;
}

/** A partition value as a folder name: the characters a path or hive reader would misread, %-escaped. */
export function escapePartition(value: string): string {
  return value.replace(/[\u0000-\u001f%/\\=:*?"<>|#\u007f]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export function unescapePartition(text: string): string | null {
  if (text === NULL_PARTITION) return null;
  return text.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
