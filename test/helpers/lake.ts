// Read results back with DuckDB to compare what a run produced.

import { DuckDBInstance } from '@duckdb/node-api';

export async function query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  try {
    const reader = await conn.runAndReadAll(sql);
    return reader.getRowObjectsJson() as T[];
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

export function lakeGlob(dir: string): string {
  return `${dir.replace(/'/g, "''")}/**/*.parquet`;
}

/** Rows in one set and not the other (both directions, duplicates counted), plus totals. */
export async function compareLakes(a: string, b: string): Promise<{ rowsA: number; rowsB: number; onlyA: number; onlyB: number }> {
  const read = (d: string): string => `read_parquet('${lakeGlob(d)}', hive_partitioning = true)`;
  const rows = await query<{ rowsA: string; rowsB: string; onlyA: string; onlyB: string }>(`
    SELECT (SELECT count(*) FROM ${read(a)}) AS rowsA, (SELECT count(*) FROM ${read(b)}) AS rowsB,
      (SELECT count(*) FROM (SELECT * FROM ${read(a)} EXCEPT ALL SELECT * FROM ${read(b)})) AS onlyA,
      (SELECT count(*) FROM (SELECT * FROM ${read(b)} EXCEPT ALL SELECT * FROM ${read(a)})) AS onlyB`);
  const r = rows[0] as { rowsA: string; rowsB: string; onlyA: string; onlyB: string };
  return { rowsA: Number(r.rowsA), rowsB: Number(r.rowsB), onlyA: Number(r.onlyA), onlyB: Number(r.onlyB) };
}
