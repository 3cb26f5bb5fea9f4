// Avro files into DuckDB: the writers' schemas resolved to one reader schema, records decoded by
// avsc, and fed to DuckDB's appender in column batches, then written out as Parquet.

import { BIGINT, BLOB, BOOLEAN, DOUBLE, DuckDBDataChunk, FLOAT, INTEGER, VARCHAR, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import type avro from 'avsc';
import { AbortedError, BackfillError, PlanError, SourceDataError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { avroType, declaredRows, decodeFile, fileSchema } from './avro-container.js';
import { decodedColumns, type DecodedColumn } from './avro-schema.js';

const STAGED: Record<DecodedColumn['staged'], DuckDBType> = { BOOLEAN, INTEGER, BIGINT, FLOAT, DOUBLE, VARCHAR, BLOB };
const BATCH = 2048;
/** Rows staged in DuckDB before they are written out as one Parquet file: bounds the memory a large Avro file takes. */
const ROWS_PER_PART = 1_000_000;

/** How a set of Avro files is read: one reader schema, the columns it gives. */
export interface AvroReading {
  readonly reader: avro.Type;
  readonly columns: readonly DecodedColumn[];
  /** The file whose schema is the reader's. */
  readonly from: string;
}

/**
 * The reader schema for these files: the last file's (files sort by name, so a dated layout makes
 * it the newest), which every other file's writer schema must resolve to by Avro's rules
 * (fields matched by name, missing ones taking their defaults, int → long → float → double).
 */
export function readingOf(files: readonly string[]): AvroReading {
  const last = files[files.length - 1];
  if (last === undefined) throw new PlanError('no Avro file to read');
  const schema = fileSchema(last);
  const reader = avroType(schema);
  const columns = decodedColumns(schema, last);
  const seen = new Map<string, string>([[JSON.stringify(schema), last]]);
  for (const file of files) {
    const own = fileSchema(file);
    const key = JSON.stringify(own);
    if (seen.has(key)) continue;
    seen.set(key, file);
    try {
      reader.createResolver(avroType(own));
    } catch (cause) {
      throw new PlanError(`${file} and ${last} have Avro schemas that do not resolve to each other (${(cause as Error).message}); make the newer schema a compatible evolution of the older, or read them as separate jobs`, { cause });
    }
  }
  return { reader, columns, from: last };
}

/** The DuckDB types of the columns, for describing a relation before anything is decoded. */
export function readingColumns(reading: AvroReading): { name: string; type: string }[] {
  return reading.columns.map((c) => ({ name: c.name, type: c.type }));
}

/**
 * Decode `file` and write its rows as Parquet: `<out>.<n>.parquet`, one file per million rows.
 * Returns the files written (none for a file without rows).
 */
export async function avroToParquet(conn: DuckConn, file: string, reading: AvroReading, out: string, signal?: AbortSignal): Promise<string[]> {
  const cols = reading.columns;
  const table = `__backfill_avro_${process.pid}_${Math.random().toString(36).slice(2)}`;
  const types = cols.map((c) => STAGED[c.staged]);
  await conn.run(`CREATE TABLE ${quoteIdent(table)} (${cols.map((c) => `${quoteIdent(c.name)} ${c.staged}`).join(', ')})`);
  const appender = await conn.appender(table);
  const written: string[] = [];
  const batch: DuckDBValue[][] = cols.map(() => new Array<DuckDBValue>(BATCH));
  const fill = new Function('rec', 'b', 'k', cols.map((c, i) => `b[${i}][k] = rec[${JSON.stringify(c.name)}] ?? null;`).join('\n')) as (rec: unknown, b: unknown[][], k: number) => void;
  let k = 0;
  let staged = 0;
  let decoded = 0;
  const declared = declaredRows(file);
  const append = (): void => {
    if (k === 0) return;
    const chunk = DuckDBDataChunk.create(types, k);
    cols.forEach((c, i) => {
      const values = k === BATCH ? (batch[i] as DuckDBValue[]) : (batch[i] as DuckDBValue[]).slice(0, k);
      if (c.convert !== undefined) for (let r = 0; r < k; r++) if (values[r] !== null) values[r] = (c.convert as (v: unknown) => DuckDBValue)(values[r]);
      chunk.setColumnValues(i, values);
    });
    appender.appendDataChunk(chunk);
    staged += k;
    k = 0;
  };
  const writeOut = async (): Promise<void> => {
    appender.flushSync();
    // A file without rows still gets one (empty) copy: its columns are known from it.
    if (staged === 0 && written.length > 0) return;
    const path = `${out}.${written.length}.parquet`;
    const select = cols.map((c) => `${c.select} AS ${quoteIdent(c.name)}`).join(', ');
    await conn.run(`COPY (SELECT ${select} FROM ${quoteIdent(table)}) TO ${quoteLiteral(path)} (FORMAT parquet, COMPRESSION zstd)`, signal);
    await conn.run(`DELETE FROM ${quoteIdent(table)}`);
    written.push(path);
    staged = 0;
  };
  try {
    for await (const rec of decodeFile(file, reading.reader)) {
      fill(rec, batch, k++);
      decoded++;
      if (k === BATCH) {
        append();
        if (staged >= ROWS_PER_PART) await writeOut();
        if (signal?.aborted === true) throw new AbortedError(String(signal.reason));
      }
    }
    append();
    if (decoded !== declared) throw new SourceDataError(`${file}: its blocks declare ${declared} rows but ${decoded} were decoded; the file is truncated or corrupt`);
    await writeOut();
  } catch (cause) {
    if (cause instanceof BackfillError) throw cause;
    // avsc wraps a codec's error ("snappy codec decompression error"); ours names the file and block.
    const inner = (cause as { cause?: unknown }).cause;
    if (inner instanceof BackfillError) throw inner;
    throw new SourceDataError(`${file}: cannot decode it as Avro: ${(cause as Error).message}`, { cause });
  } finally {
    appender.closeSync();
    await conn.run(`DROP TABLE IF EXISTS ${quoteIdent(table)}`);
  }
  return written;
}
