// Change data capture into a MySQL / MariaDB table: DuckDB turns each micro-batch into LOAD DATA's
// text, which fills a temporary staging table; DELETE … JOIN and INSERT … ON DUPLICATE KEY UPDATE
// apply it in one transaction with the position.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { changesAsJsonLines, type ChangeSet } from '../../core/cdc-changes.js';
import type { ApplyResult, CdcPosition, ChangeSink, ChangeSinkSpec } from '../change-sink.js';
import { PlanError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import type { ColumnInfo } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { mysqlError, quoteMysqlIdent, splitMysqlTable, type MysqlPool } from './mysql-pool.js';

const POSITIONS = 'backfill_cdc_positions';
const STAGE = 'backfill_cdc_stage';
const OP = 'backfill_op';
const KEEP = 'backfill_keep';

/** What the sink borrows from the MySQL target: its pool, its table, and how it writes LOAD DATA text. */
export interface MysqlSinkTools {
  readonly db: MysqlPool;
  readonly tableName: string;
  /** The table, quoted. */
  readonly table: string;
  readonly create: boolean;
  createTableSql(): string;
  checkUniqueKey(conn: PoolConnection): Promise<void>;
  /** DuckDB select list printing these columns as LOAD DATA reads them. */
  exportColumns(columns: readonly ColumnInfo[]): string;
  /** DuckDB COPY options of that CSV text. */
  csvOptions(columns: readonly ColumnInfo[]): string;
  /** LOAD DATA LOCAL of such a file into `into`; a warning fails it. */
  loadData(conn: PoolConnection, into: string, file: string, columns: readonly ColumnInfo[]): Promise<number>;
}

export class MysqlChangeSink implements ChangeSink {
  private broken = false;

  private constructor(
    private readonly duck: DuckConn,
    private readonly conn: PoolConnection,
    private readonly spec: ChangeSinkSpec,
    private readonly tools: MysqlSinkTools,
  ) {}

  static async open(duck: DuckConn, spec: ChangeSinkSpec, tools: MysqlSinkTools): Promise<MysqlChangeSink> {
    let conn: PoolConnection;
    try {
      conn = await tools.db.acquire();
    } catch (err) {
      throw mysqlError(err, 'connecting to the target', tools.db);
    }
    const sink = new MysqlChangeSink(duck, conn, spec, tools);
    if (spec.readOnly === true) return sink;
    try {
      await conn.query(
        `CREATE TABLE IF NOT EXISTS ${quoteMysqlIdent(POSITIONS)} (job VARCHAR(128) NOT NULL PRIMARY KEY, slot VARCHAR(64) NOT NULL,
          lsn VARCHAR(32) NOT NULL, snapshot TEXT NOT NULL, updated_at DATETIME(6) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
      );
      const { schema, table } = splitMysqlTable(tools.tableName);
      const columnsOf = async (): Promise<Map<string, string>> => {
        const [rows] = await conn.query(
          'SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
          [schema ?? null, table],
        );
        return new Map((rows as { name: string; type: string }[]).map((r) => [r.name, r.type]));
      };
      let have = await columnsOf();
      if (have.size === 0) {
        if (!tools.create) throw new PlanError(`target.table: ${tools.tableName} does not exist in ${tools.db.name} (set create: true to create it)`);
        await conn.query(tools.createTableSql());
        have = await columnsOf();
      }
      const missing = spec.columns.filter((c) => !have.has(c.name)).map((c) => c.name);
      if (missing.length > 0) throw new PlanError(`target.table: ${tools.tableName} lacks the source column(s) ${missing.join(', ')}`);
      await tools.checkUniqueKey(conn);
      // The staging table has the target's column types, every column nullable (deletes carry only the key).
      const defs = spec.columns.map((c) => `${quoteMysqlIdent(c.name)} ${have.get(c.name) as string} NULL`);
      await conn.query(`DROP TEMPORARY TABLE IF EXISTS ${STAGE}`);
      await conn.query(`CREATE TEMPORARY TABLE ${STAGE} (${OP} CHAR(1) NOT NULL, ${KEEP} VARCHAR(4096) NULL, ${defs.join(', ')}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
      mkdirSync(spec.workDir, { recursive: true });
      return sink;
    } catch (err) {
      sink.broken = true;
      await sink.close();
      throw err instanceof PlanError ? err : mysqlError(err, 'preparing the target for changes', tools.db);
    }
  }

  async readPosition(): Promise<CdcPosition | undefined> {
    try {
      const [exists] = await this.conn.query(`SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, [POSITIONS]);
      if ((exists as unknown[]).length === 0) return undefined;
      const [rows] = await this.conn.query(`SELECT lsn, slot, snapshot FROM ${quoteMysqlIdent(POSITIONS)} WHERE job = ?`, [this.spec.job]);
      const row = (rows as { lsn: string; slot: string; snapshot: string }[])[0];
      return row === undefined ? undefined : { lsn: row.lsn, slot: row.slot, snapshot: JSON.parse(row.snapshot) as CdcPosition['snapshot'] };
    } catch (err) {
      throw mysqlError(err, 'reading the change position', this.tools.db);
    }
  }

  async apply(changes: ChangeSet, position: CdcPosition): Promise<ApplyResult> {
    const { spec, conn, tools } = this;
    const names = spec.columns.map((c) => quoteMysqlIdent(c.name));
    const keyIdx = spec.key.map((k) => spec.columns.findIndex((c) => c.name === k));
    const on = keyIdx.map((i) => `t.${names[i] as string} = s.${names[i] as string}`).join(' AND ');
    const json = join(spec.workDir, `cdc-${process.pid}.jsonl`);
    const csv = join(spec.workDir, `cdc-${process.pid}.csv`);
    const staged = changes.upserts.length > 0 || changes.deletes.length > 0;
    try {
      let rows = 0;
      const stageColumns: ColumnInfo[] = [{ name: OP, type: 'VARCHAR' }, { name: KEEP, type: 'VARCHAR' }, ...spec.columns];
      if (staged) {
        writeFileSync(json, changesAsJsonLines(changes, keyIdx, names.length, (kept) => kept.join(',')));
        // DuckDB reads PostgreSQL's text as the source's types, then prints them as LOAD DATA reads them.
        const casts = spec.columns.map((c, i) => `${c.type === 'BLOB' ? `from_hex(substr(c${i}, 3))` : `CAST(c${i} AS ${c.type})`} AS ${quoteIdent(c.name)}`);
        const columns = `{op: 'VARCHAR', keep: 'VARCHAR', ${names.map((_, i) => `c${i}: 'VARCHAR'`).join(', ')}}`;
        const copied = await this.duck.all<{ Count: string }>(
          `COPY (SELECT ${tools.exportColumns(stageColumns)} FROM (SELECT op AS ${OP}, keep AS ${KEEP}, ${casts.join(', ')}
             FROM read_json(${quoteLiteral(json)}, format = 'newline_delimited', columns = ${columns}))) TO ${quoteLiteral(csv)} ${tools.csvOptions(stageColumns)}`,
        );
        rows = Number(copied[0]?.Count ?? 0);
      }
      await conn.query('START TRANSACTION');
      let deleted = 0;
      let upserted = 0;
      if (changes.truncate) deleted += affected(await conn.query(`DELETE FROM ${tools.table}`));
      if (staged) {
        await conn.query(`DELETE FROM ${STAGE}`);
        const loaded = await tools.loadData(conn, STAGE, csv, stageColumns);
        if (loaded !== rows) throw new PlanError(`staged ${loaded} of the batch's ${rows} changes`);
        if (changes.deletes.length > 0) deleted += affected(await conn.query(`DELETE t FROM ${tools.table} AS t JOIN ${STAGE} AS s ON ${on} WHERE s.${OP} = 'd'`));
        if (changes.upserts.length > 0) {
          const keys = new Set(keyIdx);
          const others = names.map((n, i) => ({ n, i })).filter((c) => !keys.has(c.i));
          const sets = others.length > 0 ? others.map((c) => `${c.n} = VALUES(${c.n})`) : keyIdx.map((i) => `${names[i] as string} = ${names[i] as string}`);
          const [result] = await conn.query(
            `INSERT INTO ${tools.table} (${names.join(', ')}) SELECT ${names.join(', ')} FROM ${STAGE} WHERE ${OP} = 'u' AND ${KEEP} IS NULL
             ON DUPLICATE KEY UPDATE ${sets.join(', ')}`,
          );
          // Without FOUND_ROWS: 1 per insert, 2 per real update, 0 unchanged; `Duplicates` counts the updates.
          const header = result as ResultSetHeader;
          upserted += header.affectedRows - Number(/Duplicates:\s*(\d+)/.exec(header.info ?? '')?.[1] ?? 0);
          if (changes.upserts.some((r) => r.includes(undefined)) && others.length > 0) {
            const set = others.map((c) => `t.${c.n} = IF(FIND_IN_SET('${c.i}', s.${KEEP}) > 0, t.${c.n}, s.${c.n})`).join(', ');
            upserted += affected(await conn.query(`UPDATE ${tools.table} AS t JOIN ${STAGE} AS s ON ${on} SET ${set} WHERE s.${OP} = 'u' AND s.${KEEP} IS NOT NULL`));
          }
        }
      }
      await conn.query(
        `INSERT INTO ${quoteMysqlIdent(POSITIONS)} (job, slot, lsn, snapshot, updated_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6))
         ON DUPLICATE KEY UPDATE slot = VALUES(slot), lsn = VALUES(lsn), snapshot = VALUES(snapshot), updated_at = VALUES(updated_at)`,
        [spec.job, position.slot, position.lsn, JSON.stringify(position.snapshot)],
      );
      await conn.query('COMMIT');
      return { upserted, deleted };
    } catch (err) {
      this.broken = true;
      await conn.query('ROLLBACK').catch(() => {});
      throw err instanceof PlanError ? err : mysqlError(err, `applying changes to ${tools.tableName}`, tools.db);
    } finally {
      rmSync(json, { force: true });
      rmSync(csv, { force: true });
    }
  }

  async forget(): Promise<void> {
    if ((await this.readPosition()) === undefined) return;
    await this.conn.query(`DELETE FROM ${quoteMysqlIdent(POSITIONS)} WHERE job = ?`, [this.spec.job]).catch((err: unknown) => {
      throw mysqlError(err, 'removing the change position', this.tools.db);
    });
  }

  describe(): string {
    return `mysql table ${this.tools.tableName} in ${this.tools.db.name}`;
  }

  async close(): Promise<void> {
    if (this.broken) this.conn.destroy();
    else this.conn.release();
  }
}

function affected(result: unknown): number {
  return ((result as [ResultSetHeader])[0]).affectedRows;
}

