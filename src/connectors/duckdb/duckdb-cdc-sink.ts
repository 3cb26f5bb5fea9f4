// Change data capture into a DuckDB table: each micro-batch is staged from a JSON-lines file and
// applied by DELETE and INSERT … ON CONFLICT in one transaction with its position.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { changesAsJsonLines, type ChangeSet } from '../../core/cdc-changes.js';
import type { ApplyResult, CdcPosition, ChangeSink, ChangeSinkSpec } from '../change-sink.js';
import { PlanError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral, quoteQualified } from '../../core/sql-text.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';

const STAGE = 'backfill_cdc_stage';

export class DuckdbChangeSink implements ChangeSink {
  private constructor(
    private readonly conn: DuckConn,
    private readonly alias: string,
    private readonly tableName: string,
    private readonly database: string,
    private readonly spec: ChangeSinkSpec,
    private readonly types: readonly string[],
  ) {}

  private get positions(): string {
    return `${quoteIdent(this.alias)}.main.backfill_cdc_positions`;
  }

  private get table(): string {
    return `${quoteIdent(this.alias)}.${quoteQualified(this.tableName)}`;
  }

  /** `conn` has the target database attached as `alias`. */
  static async open(conn: DuckConn, alias: string, tableName: string, database: string, create: boolean, spec: ChangeSinkSpec): Promise<DuckdbChangeSink> {
    const parts = tableName.split('.');
    const schema = parts.length > 1 ? (parts[0] as string) : 'main';
    const name = parts[parts.length - 1] as string;
    const table = `${quoteIdent(alias)}.${quoteQualified(tableName)}`;
    if (spec.readOnly === true) return new DuckdbChangeSink(conn, alias, tableName, database, spec, []);
    await conn.run(`CREATE TABLE IF NOT EXISTS ${quoteIdent(alias)}.main.backfill_cdc_positions (job VARCHAR PRIMARY KEY, slot VARCHAR NOT NULL,
      lsn VARCHAR NOT NULL, snapshot VARCHAR NOT NULL, updated_at TIMESTAMPTZ NOT NULL)`);
    const columnsOf = async (): Promise<Map<string, string>> => {
      const rows = await conn.all<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns
         WHERE table_catalog = ${quoteLiteral(alias)} AND table_schema = ${quoteLiteral(schema)} AND table_name = ${quoteLiteral(name)}`,
      );
      return new Map(rows.map((r) => [r.column_name, r.data_type]));
    };
    let have = await columnsOf();
    if (have.size === 0) {
      if (!create) throw new PlanError(`target.table: ${tableName} does not exist in ${database} (set create: true to create it)`);
      if (parts.length > 1) await conn.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(alias)}.${quoteIdent(schema)}`);
      const defs = spec.columns.map((c) => `${quoteIdent(c.name)} ${c.type}`);
      defs.push(`PRIMARY KEY (${spec.key.map(quoteIdent).join(', ')})`);
      await conn.run(`CREATE TABLE IF NOT EXISTS ${table} (${defs.join(', ')})`);
      have = await columnsOf();
    }
    const missing = spec.columns.filter((c) => !have.has(c.name)).map((c) => c.name);
    if (missing.length > 0) throw new PlanError(`target.table: ${tableName} lacks the source column(s) ${missing.join(', ')}`);
    const constraints = await conn.all<{ cols: string[] }>(
      `SELECT constraint_column_names AS cols FROM duckdb_constraints()
       WHERE database_name = ${quoteLiteral(alias)} AND schema_name = ${quoteLiteral(schema)} AND table_name = ${quoteLiteral(name)}
         AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')`,
    );
    const key = [...spec.key].sort().join('\0');
    if (!constraints.some((c) => [...c.cols].sort().join('\0') === key)) {
      throw new PlanError(`target.table: ${tableName} needs a primary key or unique constraint on exactly (${spec.key.join(', ')}) to apply changes by key`);
    }
    mkdirSync(spec.workDir, { recursive: true });
    return new DuckdbChangeSink(conn, alias, tableName, database, spec, spec.columns.map((c) => have.get(c.name) as string));
  }

  async readPosition(): Promise<CdcPosition | undefined> {
    const exists = await this.conn.all(
      `SELECT 1 FROM duckdb_tables() WHERE database_name = ${quoteLiteral(this.alias)} AND schema_name = 'main' AND table_name = 'backfill_cdc_positions'`,
    );
    if (exists.length === 0) return undefined;
    const rows = await this.conn.all<{ lsn: string; slot: string; snapshot: string }>(
      `SELECT lsn, slot, snapshot FROM ${this.positions} WHERE job = ${quoteLiteral(this.spec.job)}`,
    );
    const row = rows[0];
    return row === undefined ? undefined : { lsn: row.lsn, slot: row.slot, snapshot: JSON.parse(row.snapshot) as CdcPosition['snapshot'] };
  }

  /** A staged text value as the target column's type (bytea's hex text becomes a BLOB). */
  private cast(i: number): string {
    const type = this.types[i] as string;
    return type === 'BLOB' ? `from_hex(substr(s.c${i}, 3))` : `CAST(s.c${i} AS ${type})`;
  }

  async apply(changes: ChangeSet, position: CdcPosition): Promise<ApplyResult> {
    const names = this.spec.columns.map((c) => quoteIdent(c.name));
    const keyIdx = this.spec.key.map((k) => this.spec.columns.findIndex((c) => c.name === k));
    const keyMatch = keyIdx.map((i) => `${this.table}.${names[i] as string} = ${this.cast(i)}`).join(' AND ');
    const file = join(this.spec.workDir, `cdc-${process.pid}.jsonl`);
    const staged = changes.upserts.length > 0 || changes.deletes.length > 0;
    if (staged) writeFileSync(file, changesAsJsonLines(changes, keyIdx, names.length, (kept) => kept));
    const columns = `{op: 'VARCHAR', keep: 'INTEGER[]', ${names.map((_, i) => `c${i}: 'VARCHAR'`).join(', ')}}`;
    try {
      await this.conn.run('BEGIN TRANSACTION');
      try {
        let deleted = 0;
        let upserted = 0;
        if (changes.truncate) deleted += await this.count(`DELETE FROM ${this.table}`);
        if (staged) {
          await this.conn.run(`CREATE OR REPLACE TEMP TABLE ${STAGE} AS SELECT * FROM read_json(${quoteLiteral(file)}, format = 'newline_delimited', columns = ${columns})`);
          if (changes.deletes.length > 0) deleted += await this.count(`DELETE FROM ${this.table} USING ${STAGE} AS s WHERE s.op = 'd' AND ${keyMatch}`);
          const keys = new Set(keyIdx);
          const others = names.map((n, i) => ({ n, i })).filter((c) => !keys.has(c.i));
          if (changes.upserts.length > 0) {
            // Only rows that really change are written (and counted).
            const update =
              others.length === 0
                ? 'DO NOTHING'
                : `DO UPDATE SET ${others.map((c) => `${c.n} = EXCLUDED.${c.n}`).join(', ')} WHERE ${others.map((c) => `${this.table}.${c.n} IS DISTINCT FROM EXCLUDED.${c.n}`).join(' OR ')}`;
            upserted += await this.count(
              `INSERT INTO ${this.table} (${names.join(', ')}) SELECT ${names.map((_, i) => this.cast(i)).join(', ')} FROM ${STAGE} AS s
               WHERE s.op = 'u' AND s.keep IS NULL ON CONFLICT (${keyIdx.map((i) => names[i]).join(', ')}) ${update}`,
            );
            if (changes.upserts.some((r) => r.includes(undefined)) && others.length > 0) {
              const set = others.map((c) => `${c.n} = CASE WHEN list_contains(s.keep, ${c.i}) THEN ${this.table}.${c.n} ELSE ${this.cast(c.i)} END`).join(', ');
              upserted += await this.count(`UPDATE ${this.table} SET ${set} FROM ${STAGE} AS s WHERE s.op = 'u' AND s.keep IS NOT NULL AND ${keyMatch}`);
            }
          }
        }
        await this.conn.run(
          `INSERT OR REPLACE INTO ${this.positions} VALUES (${quoteLiteral(this.spec.job)}, ${quoteLiteral(position.slot)}, ${quoteLiteral(position.lsn)},
           ${quoteLiteral(JSON.stringify(position.snapshot))}, now())`,
        );
        await this.conn.run('COMMIT');
        return { upserted, deleted };
      } catch (err) {
        await this.conn.run('ROLLBACK').catch(() => {});
        throw err;
      }
    } finally {
      if (staged) rmSync(file, { force: true });
    }
  }

  private async count(sql: string): Promise<number> {
    const rows = await this.conn.all<{ Count?: string | number; count?: string | number }>(sql);
    const first = rows[0];
    return Number(first?.Count ?? first?.count ?? 0);
  }

  async forget(): Promise<void> {
    if ((await this.readPosition()) === undefined) return;
    await this.conn.run(`DELETE FROM ${this.positions} WHERE job = ${quoteLiteral(this.spec.job)}`);
  }

  describe(): string {
    return `duckdb table ${this.tableName} in ${this.database}`;
  }

  async close(): Promise<void> {}
}

