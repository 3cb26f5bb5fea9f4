// A chunk's CSV file (DuckDB's LOAD DATA text) into a MySQL table: LOAD DATA LOCAL INFILE, or multi-row INSERTs where the server refuses it.

import { createReadStream } from 'node:fs';
import type { PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { ConnectorError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import type { ColumnInfo } from '../connector.js';
import { quoteMysqlIdent } from './mysql-pool.js';
import { isBlob } from './mysql-types.js';

/** Rows per multi-row INSERT when LOAD DATA LOCAL is not allowed (`loadWith: insert`), and a size cap under max_allowed_packet. */
const INSERT_ROWS = 5_000;
const INSERT_CHARS = 4 << 20;

/** Where a load goes and what it says when the server warns. */
export interface LoadInto {
  readonly conn: PoolConnection;
  /** The table, quoted. */
  readonly table: string;
  readonly columns: readonly ColumnInfo[];
  /** The target table's name, for messages. */
  readonly name: string;
}

/** LOAD DATA of DuckDB's CSV text; binary columns travel as base64 and are decoded on the way in. */
export function loadDataSql(table: string, columns: readonly ColumnInfo[]): string {
  const targets = columns.map((c, i) => (isBlob(c.type) ? `@backfill_${i}` : quoteMysqlIdent(c.name)));
  const decode = columns.flatMap((c, i) => (isBlob(c.type) ? [`${quoteMysqlIdent(c.name)} = FROM_BASE64(@backfill_${i})`] : []));
  return (
    `LOAD DATA LOCAL INFILE ? INTO TABLE ${table} CHARACTER SET utf8mb4 ` +
    `FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY '' LINES TERMINATED BY '\\n' ` +
    `(${targets.join(', ')})${decode.length === 0 ? '' : ` SET ${decode.join(', ')}`}`
  );
}

/** LOAD DATA LOCAL INFILE, streamed from the file; its warnings (truncation, bad values) fail the chunk. */
export async function loadData(into: LoadInto, file: string): Promise<number> {
  const [result] = await into.conn.query({
    sql: loadDataSql(into.table, into.columns),
    values: [file],
    infileStreamFactory: () => createReadStream(file, { highWaterMark: 1 << 20 }),
  });
  const header = result as ResultSetHeader;
  // LOCAL loads cannot stop the client mid-file, so the server turns data errors into warnings.
  if (header.warningStatus > 0) await failOnWarnings(into, header.warningStatus);
  return header.affectedRows;
}

/**
 * Multi-row INSERTs with parameters, for servers that refuse LOAD DATA LOCAL. DuckDB reads the
 * chunk's file back as text (`NULL` unquoted is NULL, `"NULL"` is text) into a temporary table on
 * the chunk's connection, and hands it out a page at a time, so memory stays bounded.
 */
export async function insertRows(into: LoadInto, file: string, duck: DuckConn, tag: string, signal: AbortSignal): Promise<number> {
  const cols = into.columns.map((c) => quoteMysqlIdent(c.name)).join(', ');
  const tuple = `(${into.columns.map((c) => (isBlob(c.type) ? 'FROM_BASE64(?)' : '?')).join(', ')})`;
  const width = into.columns.length;
  const temp = quoteIdent(`backfill_insert_${tag}`);
  // DuckDB reserves 16 × max_line_size per scan: tell it the file's real longest record.
  const maxLine = Math.max(2 * 1024 * 1024, (await longestRecord(file)) + 1024);
  const spec = `{${into.columns.map((_, i) => `'c${i}': 'VARCHAR'`).join(', ')}}`;
  await duck.run(
    `CREATE OR REPLACE TEMP TABLE ${temp} AS SELECT * FROM read_csv(${quoteLiteral(file)}, header = false, auto_detect = false, allow_quoted_nulls = false, ` +
      `nullstr = ['NULL', ''], delim = ',', quote = '"', escape = '"', new_line = '\\n', max_line_size = ${maxLine}, columns = ${spec})`,
    signal,
  );
  let loaded = 0;
  let values: (string | null)[] = [];
  let count = 0;
  let chars = 0;
  const flush = async (): Promise<void> => {
    if (count === 0) return;
    const [result] = await into.conn.query(`INSERT INTO ${into.table} (${cols}) VALUES ${Array(count).fill(tuple).join(', ')}`, values);
    const header = result as ResultSetHeader;
    if (header.warningStatus > 0) await failOnWarnings(into, header.warningStatus);
    loaded += header.affectedRows;
    values = [];
    count = 0;
    chars = 0;
  };
  try {
    for (let from = 0; ; from += INSERT_ROWS) {
      const page = await duck.all<Record<string, string | null>>(`SELECT * FROM ${temp} WHERE rowid >= ${from} AND rowid < ${from + INSERT_ROWS}`, signal);
      if (page.length === 0) break;
      for (const row of page) {
        for (let i = 0; i < width; i++) {
          const v = row[`c${i}`] ?? null;
          values.push(v);
          chars += v === null ? 4 : v.length + 3;
        }
        count++;
        if (count >= INSERT_ROWS || chars >= INSERT_CHARS) await flush();
      }
    }
    await flush();
  } finally {
    await duck.run(`DROP TABLE IF EXISTS ${temp}`).catch(() => {});
  }
  return loaded;
}

/** Bytes of the longest CSV record in `file`; a newline inside double quotes belongs to its field. */
async function longestRecord(file: string): Promise<number> {
  let longest = 0;
  let length = 0;
  let quoted = false;
  for await (const block of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let at = 0;
    let newline = -1;
    while (at < block.length) {
      const quote = block.indexOf(0x22, at);
      if (!quoted && newline < at) newline = block.indexOf(0x0a, at);
      if (!quoted && newline >= 0 && (quote < 0 || newline < quote)) {
        longest = Math.max(longest, length + newline + 1 - at);
        length = 0;
        at = newline + 1;
      } else if (quote >= 0) {
        length += quote + 1 - at;
        at = quote + 1;
        quoted = !quoted;
      } else {
        length += block.length - at;
        at = block.length;
      }
    }
  }
  return Math.max(longest, length);
}

async function failOnWarnings(into: LoadInto, count: number): Promise<never> {
  const [rows] = await into.conn.query('SHOW WARNINGS LIMIT 3');
  const list = (rows as { Level: string; Code: number; Message: string }[]).map((r) => `${r.Level} ${r.Code}: ${r.Message}`);
  throw new ConnectorError(`loading the chunk into ${into.name} gave ${count} warning(s), e.g. ${list.join('; ')}`);
}
