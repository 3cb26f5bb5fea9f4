// A scratch PostgreSQL table for `backfill bench`: in a schema of its own in the target's database,
// shaped LIKE the real table (indexes, constraints, defaults) so writes cost what they would cost there.

import type { WriteMode } from '../../core/write.js';
import { quoteIdent, quoteQualified } from '../../core/sql-text.js';
import type { ScratchTarget, TargetVariant } from '../scratch-target.js';
import type { PostgresTargetConfig } from './postgres-config.js';
import { createPool, pgError, type PgPool } from './postgres-pool.js';

export class PostgresScratch implements ScratchTarget<PostgresTargetConfig> {
  readonly target: PostgresTargetConfig;
  private readonly db: PgPool;
  private readonly schema: string;

  constructor(
    private readonly real: PostgresTargetConfig,
    private readonly mode: WriteMode,
    id: string,
    private readonly benchJob: string,
    /** The job streams chunks from a PostgreSQL source as COPY (no engine transform): text and binary COPY can be compared. */
    private readonly copyStream = false,
  ) {
    this.schema = `backfill_bench_${id}`;
    const table = real.table.split('.').pop() as string;
    this.target = { ...real, table: `${this.schema}.${table}`, create: true };
    this.db = createPool(real.connection, real.ssl, 1, 'bench');
  }

  private async sql(text: string, values: unknown[] = []): Promise<{ rows: Record<string, unknown>[] }> {
    try {
      return await this.db.pool.query(text, values);
    } catch (err) {
      throw pgError(err, 'preparing the scratch table', this.db);
    }
  }

  async reset(): Promise<void> {
    const scratch = quoteQualified(this.target.table);
    await this.sql(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.schema)}`);
    await this.sql(`DROP TABLE IF EXISTS ${scratch}`);
    const found = await this.sql(`SELECT to_regclass($1) IS NOT NULL AS present`, [quoteQualified(this.real.table)]);
    if (found.rows[0]?.['present'] === true) await this.sql(`CREATE TABLE ${scratch} (LIKE ${quoteQualified(this.real.table)} INCLUDING ALL)`);
    await this.forgetMarkers();
  }

  private async forgetMarkers(): Promise<void> {
    const markers = await this.sql(`SELECT to_regclass('backfill.chunk_commits') IS NOT NULL AS present`);
    if (markers.rows[0]?.['present'] === true) await this.sql('DELETE FROM backfill.chunk_commits WHERE job = $1', [this.benchJob]);
  }

  async size(): Promise<number> {
    const res = await this.sql(`SELECT COALESCE(pg_total_relation_size(to_regclass($1)), 0)::bigint AS bytes`, [quoteQualified(this.target.table)]);
    return Number(res.rows[0]?.['bytes'] ?? 0);
  }

  variants(): readonly TargetVariant<PostgresTargetConfig>[] {
    const out: TargetVariant<PostgresTargetConfig>[] = [];
    if (this.copyStream) {
      // A first load, where the COPY itself is most of the work.
      for (const format of ['text', 'binary'] as const) {
        out.push({ dimension: 'write method', label: `COPY ${format}`, target: { ...this.target, copyFormat: format }, setting: `target.copyFormat: ${format}`, scenario: 'empty' });
      }
    }
    if (this.mode !== 'merge') return out;
    return [
      ...out,
      { dimension: 'write method', label: 'INSERT … ON CONFLICT', target: { ...this.target, mergeWith: 'on-conflict' }, setting: 'target.mergeWith: on-conflict' },
      { dimension: 'write method', label: 'MERGE', target: { ...this.target, mergeWith: 'merge' }, setting: 'target.mergeWith: merge' },
      { dimension: 'write method', label: 'delete + insert (replace mode)', target: this.target, mode: 'replace', setting: 'write.mode: replace' },
    ];
  }

  async drop(): Promise<void> {
    try {
      await this.sql(`DROP SCHEMA IF EXISTS ${quoteIdent(this.schema)} CASCADE`);
      await this.forgetMarkers();
    } finally {
      await this.db.pool.end();
    }
  }

  describe(): string {
    return `scratch table ${this.target.table} in ${this.db.name}`;
  }
}
