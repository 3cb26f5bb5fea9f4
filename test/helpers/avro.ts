// Read an Avro lake with Apache's own JavaScript reader (avro-js), independent of the avsc-based writer under test.

import { createRequire } from 'node:module';
import { createWriteStream, existsSync, readdirSync } from 'node:fs';
import avsc from 'avsc';
import { join, relative, sep } from 'node:path';
import { crc32, inflateRaw } from 'node:zlib';
import { compressSync, uncompressSync } from 'snappy';

const require = createRequire(import.meta.url);
interface AvroJsType {
  toBuffer(value: unknown): Buffer;
}
const avroJs = require('avro-js') as {
  createFileDecoder(path: string, opts?: unknown): NodeJS.ReadableStream & AsyncIterable<Record<string, unknown>>;
  createFileEncoder(path: string, schema: unknown, opts?: unknown): NodeJS.WritableStream;
  parse(schema: unknown, opts?: unknown): AvroJsType;
  types: { LongType: { using(methods: Record<string, unknown>, noUnpack?: boolean): unknown } };
};

/** avro-js's long as bigint (its own stops at 2^53), through its documented `LongType.using`. */
const BIG_LONG = avroJs.types.LongType.using({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (v: unknown) => BigInt(v as string),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});
type Codec = (buf: Buffer, cb: (err: Error | null, data?: Buffer) => void) => void;

/**
 * Snappy blocks as the Avro spec has them (the raw snappy data, then the big-endian CRC32 of the
 * uncompressed bytes), written here from the spec with the `snappy` package and zlib's CRC32, not
 * with the engine's code: for avro-js and avsc, which take codecs through their `codecs` option.
 */
export const SNAPPY_DECODE: Codec = (buf, cb) => {
  let data: Buffer;
  try {
    data = uncompressSync(buf.subarray(0, buf.length - 4), { asBuffer: true }) as Buffer;
  } catch (err) {
    return cb(err as Error);
  }
  if (crc32(data) !== buf.readUInt32BE(buf.length - 4)) return cb(new Error('snappy block: CRC32 mismatch'));
  cb(null, data);
};

export const SNAPPY_ENCODE: Codec = (buf, cb) => {
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(buf));
  cb(null, Buffer.concat([compressSync(buf), crc]));
};

/** avro-js's own codecs (null, deflate) plus snappy, which it does not ship. */
const READ_CODECS: Record<string, Codec> = { null: (buf, cb) => cb(null, buf), deflate: inflateRaw, snappy: SNAPPY_DECODE };

const typeHook = (attrs: unknown): unknown => (attrs === 'long' || (attrs as { type?: unknown })?.type === 'long' ? BIG_LONG : undefined);
export const AVRO_JS_PARSE = { typeHook };

/** Write records with avro-js (longs as bigint), the other way round: files the engine did not write. */
export async function writeAvroJsFile(path: string, schema: unknown, records: readonly Record<string, unknown>[], codec: 'null' | 'deflate' = 'deflate'): Promise<void> {
  const type = avroJs.parse(schema, { typeHook });
  const encoder = avroJs.createFileEncoder(path, type, { codec });
  const done = new Promise<void>((resolve, reject) => {
    (encoder as unknown as { _downstream: NodeJS.EventEmitter })._downstream.on('finish', resolve).on('error', reject);
  });
  for (const r of records) encoder.write(r as never);
  encoder.end();
  await done;
}

/**
 * A file written by avsc's own stream encoder, from the schema as given (so its header keeps
 * defaults and logical types); longs as numbers. `snappy` uses the spec-written codec above;
 * `blockSize` small makes several blocks.
 */
export async function writeAvscFile(
  path: string,
  schema: unknown,
  records: readonly Record<string, unknown>[],
  options: { readonly codec?: 'deflate' | 'snappy'; readonly blockSize?: number } = {},
): Promise<void> {
  const codec = options.codec ?? 'deflate';
  const encoder = new avsc.streams.BlockEncoder(schema as avsc.Schema, {
    codec, ...(codec === 'snappy' ? { codecs: { snappy: SNAPPY_ENCODE } } : {}), ...(options.blockSize === undefined ? {} : { blockSize: options.blockSize }),
  });
  const out = createWriteStream(path);
  const done = new Promise<void>((resolve, reject) => out.on('close', () => resolve()).on('error', reject));
  encoder.pipe(out);
  for (const r of records) encoder.write(r);
  encoder.end();
  await done;
}

/** Every `.avro` file under `dir` (outside the temporary folder), sorted. */
export function avroFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === '.backfill-tmp') continue;
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.avro')) out.push(join(d, e.name));
    }
  };
  walk(dir);
  return out.sort();
}

/** The records of one file, as avro-js decodes them (longs as bigint; unions unwrapped from `{ long: 5 }` to 5). */
export async function readAvroFile(file: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const rec of avroJs.createFileDecoder(file, { parseOpts: { typeHook }, codecs: READ_CODECS })) {
    rows.push(Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, unwrap(v)])));
  }
  return rows;
}

function unwrap(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  const entries = Object.entries(v);
  return entries.length === 1 ? entries[0]?.[1] : v;
}

/** The header of one file as avro-js reads it: the writer's schema and codec. */
export async function avroHeader(file: string): Promise<{ schema: unknown; codec: string }> {
  const decoder = avroJs.createFileDecoder(file, { parseOpts: { typeHook }, codecs: READ_CODECS }) as unknown as NodeJS.EventEmitter & NodeJS.ReadableStream;
  return new Promise((resolve, reject) => {
    let header: { schema: unknown; codec: string } | undefined;
    decoder.on('metadata', (_type: unknown, codec: string, h: { meta: Record<string, Buffer> }) => {
      header = { schema: JSON.parse(String(h.meta['avro.schema'])), codec };
    });
    decoder.on('error', reject);
    decoder.on('end', () => (header === undefined ? reject(new Error(`${file}: no header`)) : resolve(header)));
    decoder.resume();
  });
}

/** Every row of a lake, with its hive folder values (`day=2024-01-01/`) as fields. */
export async function readAvroLake(dir: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const file of avroFiles(dir)) {
    const hive = Object.fromEntries(
      relative(dir, file).split(sep).slice(0, -1).map((p) => p.split('=') as [string, string]),
    );
    for (const rec of await readAvroFile(file)) rows.push({ ...rec, ...hive });
  }
  return rows;
}
