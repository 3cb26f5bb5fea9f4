// `backfill init` on CSV, JSON-lines or Parquet files: the columns DuckDB detects, the rows
// (Parquet metadata, or counted in the same scan that finds the chunk column's range), and
// whether the file names carry dates to prune by.

import { basename, resolve } from 'node:path';
import { ConnectorError } from '../../core/errors.js';
import { filePeriod } from '../../core/file-period.js';
import { quoteLiteral } from '../../core/sql-text.js';
import { duckKind, duckRange } from '../duckdb/duckdb-inspect.js';
import type { InitRequest, SourceInspection } from '../descriptor.js';

type Format = 'csv' | 'jsonl' | 'parquet';

const EXTENSIONS: Record<Format, RegExp> = {
  csv: /\.(csv|tsv)(\.gz)?$/i,
  jsonl: /\.(jsonl|ndjson|json)(\.gz)?$/i,
  parquet: /\.parquet$/i,
};

/** Whether `--source` names files of this format, by their extension. */
export function claimsFiles(format: Format): (text: string) => boolean {
  return (text) => !/:\/\//.test(text) && EXTENSIONS[format].test(text);
}

export function inspectFiles(format: Format): (request: InitRequest) => Promise<SourceInspection> {
  return async (request) => {
    const path = resolve(request.text);
    const reader =
      format === 'csv' ? `read_csv(${quoteLiteral(path)})` : format === 'jsonl' ? `read_json(${quoteLiteral(path)}, format = 'newline_delimited')` : `read_parquet(${quoteLiteral(path)})`;
    const { DuckSession } = await import('../../runtime/duckdb-session.js');
    const session = await DuckSession.create({ threads: 2 });
    const conn = await session.connect();
    const close = async (): Promise<void> => {
      conn.close();
      session.close();
    };
    try {
      const files = (await conn.all<{ file: string }>(`SELECT file FROM glob(${quoteLiteral(path)})`)).map((r) => r.file);
      if (files.length === 0) throw new ConnectorError(`--source: no file matches ${request.text}`);
      const cols = await conn.all<{ name: string; type: string }>(`SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * FROM ${reader})`);
      // Parquet footers hold the row count; text files must be read, which the range query does anyway.
      const counted =
        format === 'parquet' ? await conn.all<{ n: string }>(`SELECT sum(num_rows) AS n FROM parquet_file_metadata(${quoteLiteral(path)})`) : [];
      const rows = counted[0] === undefined ? undefined : Number(counted[0].n);
      const dated = files.every((f) => filePeriod(f, 'UTC') !== undefined);
      return {
        block: { type: format, path, ...(dated ? { pruneBy: 'filename' } : {}) },
        name: nameOf(request.text),
        description: `${files.length} ${format === 'jsonl' ? 'JSON-lines' : format.toUpperCase()} file${files.length === 1 ? '' : 's'} matching ${request.text}${dated ? ', each named by its day or month' : ''}`,
        columns: cols.map((c) => ({ name: c.name, type: c.type, kind: duckKind(c.type), indexed: false })),
        primaryKey: [],
        hasIndexes: false,
        rows,
        rowsFrom: rows === undefined ? 'counted while reading the range' : 'the Parquet footers',
        range: (column) => duckRange(conn, reader, column, rows === undefined),
        close,
      };
    } catch (err) {
      await close();
      throw err;
    }
  };
}

/** `data/events-*.csv` → `events`; `data/events/*.csv` → `events`; `data/orders-2024.csv.gz` → `orders-2024`. */
function nameOf(text: string): string {
  const parts = text.split(/[\\/]/).filter((p) => p !== '' && p !== '.');
  const glob = parts.findIndex((p) => /[*?[{]/.test(p));
  if (glob < 0) return basename(text).replace(/(\.[A-Za-z0-9]+)+$/, '') || 'files';
  // The text before the first wildcard names the files when it says something (events-*.csv).
  const stem = (parts[glob] as string).split(/[*?[{]/)[0]?.replace(/[^A-Za-z0-9]+$/, '') ?? '';
  if (glob === parts.length - 1 && /[A-Za-z]/.test(stem)) return stem;
  return glob > 0 ? (parts[glob - 1] as string) : 'files';
}
