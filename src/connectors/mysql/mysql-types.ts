// Types between MySQL / MariaDB and DuckDB: a result column's DuckDB type and how its text is written, and a DuckDB column's MySQL type and LOAD DATA text.

import { quoteIdent } from '../../core/sql-text.js';
import type { ColumnInfo } from '../connector.js';

// ---------------------------------------------------------------------------------------------
// MySQL → DuckDB (the source).
// ---------------------------------------------------------------------------------------------

/** How a value's text goes into the chunk's CSV file. */
export type Encoding = 'raw' | 'text' | 'base64' | 'bool' | 'temporal' | 'bit';

export interface SourceColumn extends ColumnInfo {
  readonly encoding: Encoding;
}

/** mysql2's column metadata (the fields of a result). */
export interface FieldInfo {
  readonly name: string;
  readonly columnType: number;
  readonly characterSet: number;
  readonly columnLength: number;
  readonly decimals: number;
  readonly flags: number;
  readonly extendedFormat?: string;
}


const UNSIGNED_FLAG = 32;
const BINARY_CHARSET = 63;

/** DuckDB type and CSV encoding of a MySQL result column. */
export function duckTypeOf(f: FieldInfo): { type: string; encoding: Encoding } {
  const unsigned = (f.flags & UNSIGNED_FLAG) !== 0;
  if (f.extendedFormat === 'json') return { type: 'JSON', encoding: 'text' };
  switch (f.columnType) {
    case 1: // TINYINT
      if (f.columnLength === 1 && !unsigned) return { type: 'BOOLEAN', encoding: 'bool' };
      return { type: unsigned ? 'SMALLINT' : 'TINYINT', encoding: 'raw' };
    case 2: // SMALLINT
      return { type: unsigned ? 'INTEGER' : 'SMALLINT', encoding: 'raw' };
    case 9: // MEDIUMINT
      return { type: 'INTEGER', encoding: 'raw' };
    case 3: // INT
      return { type: unsigned ? 'BIGINT' : 'INTEGER', encoding: 'raw' };
    case 8: // BIGINT
      return { type: unsigned ? 'UBIGINT' : 'BIGINT', encoding: 'raw' };
    case 13: // YEAR
      return { type: 'SMALLINT', encoding: 'raw' };
    case 4:
      return { type: 'FLOAT', encoding: 'raw' };
    case 5:
      return { type: 'DOUBLE', encoding: 'raw' };
    case 0: // DECIMAL
    case 246: {
      // The length counts the digits, the point (when there are decimals) and the sign (when signed).
      const scale = f.decimals;
      const precision = Math.max(1, scale, f.columnLength - (scale > 0 ? 1 : 0) - (unsigned ? 0 : 1));
      return precision <= 38 ? { type: `DECIMAL(${precision},${scale})`, encoding: 'raw' } : { type: 'VARCHAR', encoding: 'text' };
    }
    case 10: // DATE
    case 14:
      return { type: 'DATE', encoding: 'temporal' };
    case 7: // TIMESTAMP (UTC in our sessions)
    case 12: // DATETIME
      return { type: 'TIMESTAMP', encoding: 'temporal' };
    case 16: // BIT(n)
      return { type: 'UBIGINT', encoding: 'bit' };
    case 245: // JSON (MySQL)
      return { type: 'JSON', encoding: 'text' };
    case 255: // GEOMETRY (WKB with SRID)
      return { type: 'BLOB', encoding: 'base64' };
    case 6: // NULL literal
    case 11: // TIME may exceed 24 hours or be negative: kept as text
    case 247: // ENUM
    case 248: // SET
      return { type: 'VARCHAR', encoding: 'text' };
    default:
      // CHAR, VARCHAR, TEXT, BLOB, BINARY: bytes when the character set is binary.
      return f.characterSet === BINARY_CHARSET ? { type: 'BLOB', encoding: 'base64' } : { type: 'VARCHAR', encoding: 'text' };
  }
}

// ---------------------------------------------------------------------------------------------
// DuckDB → MySQL (the target).
// ---------------------------------------------------------------------------------------------

const INTEGER = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|INT\d*)$/;
const UNQUOTED = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|INT\d*|FLOAT|REAL|DOUBLE|DECIMAL.*|BOOLEAN|DATE|TIME|TIMESTAMP.*|DATETIME)$/i;
const TIMESTAMP = /^(TIMESTAMP.*|DATETIME)$/i;
const NESTED = /(\[\d*\]$)|^(STRUCT|MAP|UNION)\b/i;

export function isBlob(type: string): boolean {
  return /^(BLOB|BYTEA|BINARY|VARBINARY)$/i.test(type);
}

/** The SELECT item that prints a DuckDB column as MySQL reads it. */
export function exportColumn(c: ColumnInfo): string {
  const col = quoteIdent(c.name);
  const t = c.type.toUpperCase();
  if (isBlob(t)) return `to_base64(${col}) AS ${col}`;
  // Zoned values print in UTC (the session's zone); DATETIME(6) keeps the microseconds.
  if (TIMESTAMP.test(t)) return `strftime(CAST(${col} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f') AS ${col}`;
  if (t === 'BOOLEAN') return `CAST(${col} AS TINYINT) AS ${col}`;
  if (NESTED.test(t)) return `CAST(to_json(${col}) AS VARCHAR) AS ${col}`;
  return col;
}

/** MySQL column type for a DuckDB type, for `create: true`; indexed text needs a bounded length. */
export function mysqlTypeOf(duckType: string, indexed: boolean): string {
  const t = duckType.toUpperCase();
  if (INTEGER.test(t)) {
    const ints: Record<string, string> = {
      TINYINT: 'TINYINT', SMALLINT: 'SMALLINT', INTEGER: 'INT', BIGINT: 'BIGINT', HUGEINT: 'DECIMAL(39,0)',
      UTINYINT: 'TINYINT UNSIGNED', USMALLINT: 'SMALLINT UNSIGNED', UINTEGER: 'INT UNSIGNED', UBIGINT: 'BIGINT UNSIGNED', UHUGEINT: 'DECIMAL(39,0) UNSIGNED',
    };
    return ints[t] ?? 'BIGINT';
  }
  const decimal = /^DECIMAL\((\d+),\s*(\d+)\)$/.exec(t);
  if (decimal !== null) return `DECIMAL(${decimal[1]},${decimal[2]})`;
  if (t === 'DOUBLE' || t === 'FLOAT8') return 'DOUBLE';
  if (t === 'FLOAT' || t === 'REAL' || t === 'FLOAT4') return 'FLOAT';
  if (t === 'BOOLEAN') return 'BOOLEAN';
  if (t === 'DATE') return 'DATE';
  if (t === 'TIME') return 'TIME(6)';
  if (TIMESTAMP.test(t)) return 'DATETIME(6)';
  if (t === 'UUID') return 'CHAR(36)';
  if (isBlob(t)) return indexed ? 'VARBINARY(255)' : 'LONGBLOB';
  if (t === 'JSON' || NESTED.test(t)) return 'JSON';
  return indexed ? 'VARCHAR(255)' : 'LONGTEXT';
}

/** DuckDB COPY options of the CSV text LOAD DATA reads: NULL unquoted, text quoted (`forceQuote`). */
export function loadDataCsvOptions(columns: readonly ColumnInfo[]): string {
  return `(FORMAT csv, HEADER false, DELIMITER ',', QUOTE '"', ESCAPE '"', NULLSTR 'NULL'${forceQuote(columns)})`;
}

function forceQuote(columns: readonly ColumnInfo[]): string {
  // Quoted so that a text value "NULL" is not read as NULL; numbers and dates never need it.
  const quoted = columns.filter((c) => !UNQUOTED.test(c.type)).map((c) => quoteIdent(c.name));
  return quoted.length === 0 ? '' : `, FORCE_QUOTE (${quoted.join(', ')})`;
}
