// A scratch MySQL/MariaDB table for `backfill bench`: beside the real table, created LIKE it
// (same keys and engine), so writes cost what they would cost there.

import type { ScratchTarget, TargetVariant } from '../scratch-target.js';
import type { MysqlTargetConfig } from './mysql-config.js';
import { createMysqlPool, mysqlError, quoteMysqlIdent, quoteMysqlTable, splitMysqlTable, withConnection, type MysqlPool } from './mysql-pool.js';

const MARKERS = 'backfill_chunk_commits';

export class MysqlScratch implements ScratchTarget<MysqlTargetConfig> {
  readonly target: MysqlTargetConfig;
  private readonly db: MysqlPool;

  constructor(
    private readonly real: MysqlTargetConfig,
    id: string,
    private readonly benchJob: string,
  ) {
    const { schema, table } = splitMysqlTable(real.table);
    // MySQL table names stop at 64 characters.
    const name = `backfill_bench_${id}_${table}`.slice(0, 64);
    this.target = { ...real, table: schema === undefined ? name : `${schema}.${name}`, create: true };
    this.db = createMysqlPool(real.connection, real.ssl, 1, { foundRows: false, session: [] });
  }

  private async sql(text: string, values: unknown[] = []): Promise<unknown[]> {
    try {
      return await withConnection(this.db, undefined, async (conn) => (await conn.query(text, values))[0] as unknown[]);
    } catch (err) {
      throw mysqlError(err, 'preparing the scratch table', this.db);
    }
  }

  async reset(): Promise<void> {
    const scratch = quoteMysqlTable(this.target.table);
    await this.sql(`DROP TABLE IF EXISTS ${scratch}`);
    const { schema, table } = splitMysqlTable(this.real.table);
    const found = await this.sql('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?', [schema ?? null, table]);
    if (found.length > 0) await this.sql(`CREATE TABLE ${scratch} LIKE ${quoteMysqlTable(this.real.table)}`);
    await this.forgetMarkers();
  }

  private async forgetMarkers(): Promise<void> {
    const found = await this.sql('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [MARKERS]);
    if (found.length > 0) await this.sql(`DELETE FROM ${quoteMysqlIdent(MARKERS)} WHERE job = ?`, [this.benchJob]);
  }

  async size(): Promise<number> {
    const { schema, table } = splitMysqlTable(this.target.table);
    // Table statistics are estimates until analysed.
    await this.sql(`ANALYZE TABLE ${quoteMysqlTable(this.target.table)}`);
    const rows = (await this.sql(
      'SELECT COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) AS bytes FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?',
      [schema ?? null, table],
    )) as { bytes: number | string }[];
    return Number(rows[0]?.bytes ?? 0);
  }

  variants(): readonly TargetVariant<MysqlTargetConfig>[] {
    const other = this.real.loadWith === 'insert' ? 'load-data' : 'insert';
    const label = other === 'insert' ? 'multi-row INSERT' : 'LOAD DATA LOCAL INFILE';
    return [{ dimension: 'write method', label, target: { ...this.target, loadWith: other }, setting: `target.loadWith: ${other}` }];
  }

  async drop(): Promise<void> {
    try {
      await this.sql(`DROP TABLE IF EXISTS ${quoteMysqlTable(this.target.table)}`);
      await this.forgetMarkers();
    } finally {
      await this.db.end();
    }
  }

  describe(): string {
    return `scratch table ${this.target.table} in ${this.db.name}`;
  }
}
