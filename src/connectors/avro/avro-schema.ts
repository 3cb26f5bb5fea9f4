// DuckDB columns ⇄ Avro schemas: which Avro type (and logical type) holds each DuckDB type
// faithfully, how the encoder reads it from DuckDB, and how a file's schema comes back as columns.

import { PlanError } from '../../core/errors.js';
import { quoteIdent } from '../../core/sql-text.js';
import type { ColumnInfo } from '../connector.js';

/** Avro's rule for record, field and namespace names. */
export const AVRO_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type AvroSchema = string | { readonly type: string; readonly [attr: string]: unknown } | readonly AvroSchema[];

/** How one output column travels into an Avro file. */
export interface EncodedColumn {
  readonly name: string;
  /** The Avro type of a value (without the null branch). */
  readonly avro: AvroSchema;
  /** SQL reading the column as the encoder takes it (micros since the epoch for a timestamp, …). */
  readonly select: string;
  /** The converter from DuckDB's JS value (of `select`) to avsc's; undefined when it is the same. */
  readonly convert: ((value: never) => unknown) | undefined;
}

const INT = /^(TINYINT|SMALLINT|INTEGER|UTINYINT|USMALLINT|INT1|INT2|INT4|INT|SHORT|SIGNED)$/;
const LONG = /^(BIGINT|UINTEGER|INT8|LONG)$/;

/** Why a DuckDB type has no faithful Avro mapping, and what to do instead. */
const REFUSED: readonly [RegExp, string][] = [
  [/^(HUGEINT|UHUGEINT|INT128|UINT128)$/, 'Avro has no 128-bit integer; cast it to DECIMAL(38,0) or BIGINT in the transform'],
  [/^(UBIGINT|UINT64)$/, 'Avro longs are signed 64-bit, so values above 2^63 would not fit; cast it to DECIMAL(20,0) or BIGINT in the transform'],
  [/^TIMESTAMP_NS$/, 'Avro readers agree on microsecond timestamps only; cast it to TIMESTAMP (microseconds) in the transform'],
  [/^INTERVAL$/, "Avro's duration counts months, days and milliseconds and cannot hold microseconds; cast it to VARCHAR or to a number of microseconds (to_microseconds) in the transform"],
  [/^(TIME WITH TIME ZONE|TIMETZ|TIME_NS)$/, 'Avro has no time of day with an offset or nanoseconds; cast it to TIME in the transform'],
  [/^ENUM\(/, 'an Avro enum needs symbols that are Avro names; cast it to VARCHAR in the transform'],
  [/\[|^(STRUCT|MAP|UNION|LIST)\(/, 'nested values are not written to Avro by this target; flatten them or cast them to VARCHAR (JSON) in the transform'],
];

/** The Avro encoding of each output column; throws naming every column that has none. */
export function encodedColumns(columns: readonly ColumnInfo[]): EncodedColumn[] {
  const problems: string[] = [];
  const out: EncodedColumn[] = [];
  for (const c of columns) {
    if (!AVRO_NAME.test(c.name)) {
      problems.push(`column "${c.name}": not a valid Avro field name (letters, digits and _, not starting with a digit); rename it in the transform`);
      continue;
    }
    const mapped = encodingOf(c.name, c.type.toUpperCase().trim());
    if (typeof mapped === 'string') problems.push(`column "${c.name}" (${c.type}): ${mapped}`);
    else out.push(mapped);
  }
  if (problems.length > 0) throw new PlanError(`the avro target cannot hold ${problems.length === 1 ? 'a column' : 'some columns'} of the transform's output: ${problems.join('; ')}`);
  return out;
}

function encodingOf(name: string, type: string): EncodedColumn | string {
  const col = quoteIdent(name);
  const plain = (avro: AvroSchema, select = col, convert?: (value: never) => unknown): EncodedColumn => ({ name, avro, select, convert });
  if (type === 'BOOLEAN' || type === 'BOOL') return plain('boolean');
  if (INT.test(type)) return plain('int', `CAST(${col} AS INTEGER)`);
  if (LONG.test(type)) return plain('long', `CAST(${col} AS BIGINT)`);
  if (type === 'FLOAT' || type === 'REAL' || type === 'FLOAT4') return plain('float');
  if (type === 'DOUBLE' || type === 'FLOAT8') return plain('double');
  if (type === 'VARCHAR' || type === 'JSON' || type === 'TEXT' || type === 'STRING') return plain('string', `CAST(${col} AS VARCHAR)`);
  if (type === 'BLOB' || type === 'BYTEA') return plain('bytes', col, blobToBuffer);
  if (type === 'UUID') return plain({ type: 'string', logicalType: 'uuid' }, `CAST(${col} AS VARCHAR)`);
  if (type === 'DATE') return plain({ type: 'int', logicalType: 'date' }, `CAST(${col} - DATE '1970-01-01' AS INTEGER)`);
  if (type === 'TIME') return plain({ type: 'long', logicalType: 'time-micros' }, `epoch_us(${col})`);
  if (/^TIMESTAMP(_S|_MS)?$|^DATETIME$/.test(type)) return plain({ type: 'long', logicalType: 'local-timestamp-micros' }, `epoch_us(CAST(${col} AS TIMESTAMP))`);
  if (type === 'TIMESTAMP WITH TIME ZONE' || type === 'TIMESTAMPTZ') return plain({ type: 'long', logicalType: 'timestamp-micros' }, `epoch_us(${col})`);
  const dec = /^(?:DECIMAL|NUMERIC)\((\d+),\s*(\d+)\)$/.exec(type);
  if (dec !== null) return plain({ type: 'bytes', logicalType: 'decimal', precision: Number(dec[1]), scale: Number(dec[2]) }, col, decimalToBytes);
  for (const [re, reason] of REFUSED) if (re.test(type)) return `no faithful Avro type: ${reason}`;
  return 'no faithful Avro type known for it; cast it in the transform to one of BOOLEAN, INTEGER, BIGINT, DOUBLE, VARCHAR, BLOB, DATE, TIME, TIMESTAMP, TIMESTAMPTZ, DECIMAL(p,s), UUID';
}

/** The record schema written into every file's header: every field `["null", T]` (DuckDB does not say which output columns can hold NULL). */
export function recordSchema(columns: readonly EncodedColumn[], name: string, namespace: string | undefined): Record<string, unknown> {
  return {
    type: 'record',
    name,
    ...(namespace === undefined ? {} : { namespace }),
    fields: columns.map((c) => ({ name: c.name, type: ['null', c.avro], default: null })),
  };
}

function blobToBuffer(value: { bytes: Uint8Array }): Buffer {
  return Buffer.from(value.bytes.buffer, value.bytes.byteOffset, value.bytes.byteLength);
}

/** A decimal's unscaled value as Avro wants it: big-endian two's complement, in as few bytes as it takes. */
export function decimalToBytes(value: { value: bigint }): Buffer {
  let n = value.value;
  const bytes: number[] = [];
  for (;;) {
    const byte = Number(n & 0xffn);
    bytes.push(byte);
    n >>= 8n;
    // Done once the rest is all sign and the sign bit of this byte agrees with it.
    if ((n === 0n && (byte & 0x80) === 0) || (n === -1n && (byte & 0x80) !== 0)) break;
  }
  return Buffer.from(bytes.reverse());
}

/** The unscaled value of Avro decimal bytes (big-endian two's complement). */
export function bytesToUnscaled(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return (bytes[0] as number) & 0x80 ? n - (1n << BigInt(bytes.length * 8)) : n;
}

/** How one Avro field comes back into DuckDB: the type it is staged as, the SQL that makes the column, and how a decoded value is staged. */
export interface DecodedColumn {
  readonly name: string;
  /** The column's DuckDB type. */
  readonly type: string;
  /** The type of the staging column the appender fills. */
  readonly staged: 'BOOLEAN' | 'INTEGER' | 'BIGINT' | 'FLOAT' | 'DOUBLE' | 'VARCHAR' | 'BLOB';
  /** SQL turning the staging column into the column. */
  readonly select: string;
  /** From avsc's value to the staging column's; undefined when it is the same. */
  readonly convert: ((value: never) => unknown) | undefined;
}

/** A file's record schema as DuckDB columns; throws naming the file and field for a type with no column to hold it. */
export function decodedColumns(schema: unknown, file: string): DecodedColumn[] {
  const record = schema as { type?: unknown; fields?: readonly { name: string; type: unknown }[] };
  if (record.type !== 'record' || !Array.isArray(record.fields)) throw new PlanError(`${file}: the Avro schema is not a record, so its values are not rows of columns`);
  return record.fields.map((f) => {
    const decoded = decodingOf(f.name, f.type);
    if (typeof decoded === 'string') throw new PlanError(`${file}: field "${f.name}": ${decoded}`);
    return decoded;
  });
}

function decodingOf(name: string, type: unknown): DecodedColumn | string {
  const col = quoteIdent(name);
  let t = type;
  if (Array.isArray(t)) {
    const branches = t.filter((b) => b !== 'null');
    if (branches.length !== 1) return `the union ${JSON.stringify(t)} has more than one non-null branch; no single column type holds it`;
    t = branches[0];
  }
  const s = (typeof t === 'string' ? { type: t } : t) as { type: string; logicalType?: string; precision?: number; scale?: number; symbols?: unknown };
  const as = (staged: DecodedColumn['staged'], duck: string, select = col, convert?: (value: never) => unknown): DecodedColumn => ({ name, type: duck, staged, select, convert });
  switch (`${s.type}/${s.logicalType ?? ''}`) {
    case 'int/date': return as('INTEGER', 'DATE', `CAST(DATE '1970-01-01' + ${col} AS DATE)`);
    case 'int/time-millis': return as('INTEGER', 'TIME', `TIME '00:00:00' + to_milliseconds(${col})`);
    case 'long/time-micros': return as('BIGINT', 'TIME', `TIME '00:00:00' + to_microseconds(${col})`);
    case 'long/timestamp-micros': return as('BIGINT', 'TIMESTAMP WITH TIME ZONE', `TIMESTAMPTZ '1970-01-01 00:00:00+00' + to_microseconds(${col})`);
    case 'long/timestamp-millis': return as('BIGINT', 'TIMESTAMP WITH TIME ZONE', `TIMESTAMPTZ '1970-01-01 00:00:00+00' + to_milliseconds(${col})`);
    case 'long/local-timestamp-micros': return as('BIGINT', 'TIMESTAMP', `make_timestamp(${col})`);
    case 'long/local-timestamp-millis': return as('BIGINT', 'TIMESTAMP', `make_timestamp(${col} * 1000)`);
    case 'string/uuid': return as('VARCHAR', 'UUID', `CAST(${col} AS UUID)`);
  }
  if (s.logicalType === 'decimal' && (s.type === 'bytes' || s.type === 'fixed')) {
    const precision = Number(s.precision);
    const scale = Number(s.scale ?? 0);
    if (!(precision >= 1 && precision <= 38)) return `decimal(${s.precision}, ${scale}) is wider than DuckDB's DECIMAL (at most 38 digits)`;
    const duck = `DECIMAL(${precision},${scale})`;
    return as('VARCHAR', duck, `CAST(${col} AS ${duck})`, (b: Uint8Array) => unscaledText(bytesToUnscaled(b), scale));
  }
  switch (s.type) {
    case 'boolean': return as('BOOLEAN', 'BOOLEAN');
    case 'int': return as('INTEGER', 'INTEGER');
    case 'long': return as('BIGINT', 'BIGINT');
    case 'float': return as('FLOAT', 'FLOAT');
    case 'double': return as('DOUBLE', 'DOUBLE');
    case 'string': case 'enum': return as('VARCHAR', 'VARCHAR');
    case 'bytes': case 'fixed': return as('BLOB', 'BLOB', col, (b: Uint8Array) => ({ bytes: b }));
  }
  return `Avro type ${JSON.stringify(type)} has no DuckDB column here (records, arrays and maps are not read as columns)`;
}

function unscaledText(n: bigint, scale: number): string {
  if (scale === 0) return n.toString();
  const neg = n < 0n;
  const digits = (neg ? -n : n).toString().padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}
