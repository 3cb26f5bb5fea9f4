// The source side of change data capture: checks of the table and server, the publication and the
// replication slot, watermarks for the initial copy, chunk reads as text, and the slot's health.

import type pg from 'pg';
import { watermarkContent, type RowText } from '../../core/cdc-changes.js';
import { formatLsn, parseLsn } from '../../core/cdc-lsn.js';
import type { WatermarkKind } from '../../core/change-events.js';
import { PlanError } from '../../core/errors.js';
import { quoteIdent, quoteQualified } from '../../core/sql-text.js';
import type { CdcSettings, ChangeSource, ChangeStream, ChangeStreamSpec, SlotHealth } from '../change-source.js';
import type { ColumnInfo } from '../connector.js';
import type { PostgresSourceConfig } from './postgres-config.js';
import { createPool, duckTypeOf, pgError, type PgPool } from './postgres-pool.js';
import { PgoutputDecoder } from './postgres-cdc-decode.js';
import { PgChangeStream } from './postgres-cdc-stream.js';

/** Values come back as the text PostgreSQL prints, exactly as the replication stream carries them. */
const AS_TEXT = { getTypeParser: () => (value: string) => value };

export class PostgresCdcSource implements ChangeSource {
  readonly db: PgPool;
  private readonly table: string;

  constructor(
    config: PostgresSourceConfig,
    private readonly settings: CdcSettings,
  ) {
    this.db = createPool(config.connection, config.ssl, 3, 'cdc');
    this.table = quoteQualified(settings.table);
  }

  /** The table's columns in their order, after checking the server, the key and the replica identity. */
  async describeTable(key: readonly string[]): Promise<ColumnInfo[]> {
    return this.with('checking the source table', async (client) => {
      const version = Number((await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]?.v ?? 0);
      if (version < 140000) {
        throw new PlanError(`source: PostgreSQL ${this.db.name} is version ${Math.floor(version / 10000)}; change data capture needs 14 or newer (pgoutput's messages carry the copy's watermarks)`);
      }
      const level = (await client.query<{ wal_level: string }>(`SHOW wal_level`)).rows[0]?.wal_level;
      if (level !== 'logical') {
        throw new PlanError(`source: PostgreSQL ${this.db.name} runs with wal_level = ${level ?? '?'}; change data capture needs wal_level = logical (set it in postgresql.conf and restart the server)`);
      }
      const rel = await client.query<{ oid: string; ident: string }>(
        `SELECT c.oid::text AS oid, c.relreplident::text AS ident FROM pg_class c WHERE c.oid = to_regclass($1)`,
        [this.table],
      );
      const row = rel.rows[0];
      if (row === undefined) throw new PlanError(`source.table: ${this.settings.table} does not exist in ${this.db.name}`);
      const cols = await client.query<{ name: string; type: string }>(
        `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
         WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`,
        [row.oid],
      );
      const indexes = await client.query<{ cols: string[]; primary: boolean; identity: boolean }>(
        `SELECT array_agg(a.attname::text ORDER BY a.attname) AS cols, i.indisprimary AS primary, i.indisreplident AS identity FROM pg_index i
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = $1::oid GROUP BY i.indexrelid, i.indisprimary, i.indisreplident`,
        [row.oid],
      );
      const wanted = [...key].sort().join(', ');
      const primary = indexes.rows.find((r) => r.primary);
      const table = this.settings.table;
      if (primary === undefined) throw new PlanError(`source.table: ${table} has no primary key; change data capture applies changes by the primary key (write.key: [${key.join(', ')}]) — add one`);
      if (primary.cols.join(', ') !== wanted) {
        throw new PlanError(`write.key: [${key.join(', ')}] must be the primary key of ${table}, which is (${primary.cols.join(', ')})`);
      }
      // Deletes and key-changing updates carry only the replica identity: it must hold the key.
      const ident = row.ident;
      const fix = `ALTER TABLE ${table} REPLICA IDENTITY DEFAULT`;
      if (ident === 'n') throw new PlanError(`source.table: ${table} has REPLICA IDENTITY NOTHING, so its deletes do not carry the key; run ${fix}`);
      if (ident === 'i' && indexes.rows.find((r) => r.identity)?.cols.join(', ') !== wanted) {
        throw new PlanError(`source.table: the replica identity index of ${table} is not the key (${key.join(', ')}), so deletes would not carry it; run ${fix}`);
      }
      const names = new Set(cols.rows.map((c) => c.name));
      for (const k of key) if (!names.has(k)) throw new PlanError(`write.key: ${table} has no column ${k}`);
      return cols.rows.map((c) => ({ name: c.name, pgType: c.type, type: duckTypeOf(c.type) }));
    });
  }

  /** The publication, then the slot: decoding looks the publication up as of each change. */
  async prepare(): Promise<{ readonly newSlot: boolean }> {
    await this.ensurePublication();
    return { newSlot: await this.ensureSlot() };
  }

  /** Create the publication for the table when missing; an existing one must publish the table. */
  async ensurePublication(): Promise<boolean> {
    const name = this.settings.publication;
    return this.with(`preparing publication ${name}`, async (client) => {
      const exists = await client.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [name]);
      if (exists.rowCount === 0) {
        await client.query(`CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${this.table}`);
        return true;
      }
      const [schema, table] = this.settings.table.split('.') as [string, string];
      const has = await client.query(`SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3`, [name, schema, table]);
      if (has.rowCount === 0) throw new PlanError(`source.cdc.publication: publication ${name} exists but does not publish ${this.settings.table} (ALTER PUBLICATION ${name} ADD TABLE ${this.settings.table})`);
      return false;
    });
  }

  /** Create the slot when missing (after the publication: decoding looks the publication up as of each change). */
  async ensureSlot(): Promise<boolean> {
    const slot = this.settings.slot;
    return this.with(`preparing replication slot ${slot}`, async (client) => {
      const found = await client.query<{ plugin: string | null; database: string | null }>(
        `SELECT plugin, database FROM pg_replication_slots WHERE slot_name = $1`,
        [slot],
      );
      const row = found.rows[0];
      if (row === undefined) {
        await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
        return true;
      }
      const db = (await client.query<{ db: string }>(`SELECT current_database() AS db`)).rows[0]?.db;
      if (row.plugin !== 'pgoutput' || row.database !== db) {
        throw new PlanError(`source.cdc.slot: slot ${slot} exists but is not a pgoutput slot of database ${db ?? '?'}; name another slot`);
      }
      return false;
    });
  }

  /** A transactional message in the stream (a watermark), committed before this returns. */
  async emitWatermark(kind: WatermarkKind, nonce: string): Promise<void> {
    await this.with('writing a watermark', (client) => client.query(`SELECT pg_logical_emit_message(true, 'backfill', $1)`, [watermarkContent(kind, nonce)]));
  }

  /** min/max of the key column the initial copy is chunked by; undefined for an empty table. */
  async bounds(column: string): Promise<{ min: bigint; max: bigint } | undefined> {
    return this.with('measuring the source table', async (client) => {
      const c = quoteIdent(column);
      const res = await client.query<{ min: string | null; max: string | null }>(`SELECT min(${c})::text AS min, max(${c})::text AS max FROM ${this.table}`);
      const r = res.rows[0];
      return r?.min == null || r.max == null ? undefined : { min: BigInt(r.min), max: BigInt(r.max) };
    });
  }

  /** One chunk of the initial copy: every column as text, as the stream would carry it. */
  async readChunk(columns: readonly ColumnInfo[], column: string, lo: string, hi: string): Promise<RowText[]> {
    return this.with(`reading chunk ${lo}/${hi}`, async (client) => {
      const c = quoteIdent(column);
      const res = await client.query<RowText[]>({
        text: `SELECT ${columns.map((x) => quoteIdent(x.name)).join(', ')} FROM ${this.table} WHERE ${c} >= $1 AND ${c} < $2`,
        values: [lo, hi],
        rowMode: 'array',
        types: AS_TEXT,
      });
      return res.rows as unknown as RowText[];
    });
  }

  async health(): Promise<SlotHealth> {
    return this.with('reading the slot', async (client) => {
      const current = (await client.query<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`)).rows[0]?.lsn ?? '0/0';
      const slot = await client.query<{ active: boolean; pid: number | null; confirmed: string | null; restart: string | null; lag: string | null; retained: string | null; wal_status: string | null }>(
        `SELECT active, active_pid AS pid, confirmed_flush_lsn::text AS confirmed, restart_lsn::text AS restart,
                pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS lag,
                pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS retained, wal_status
           FROM pg_replication_slots WHERE slot_name = $1`,
        [this.settings.slot],
      );
      const pub = await client.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [this.settings.publication]);
      const s = slot.rows[0];
      return {
        slot: this.settings.slot,
        exists: s !== undefined,
        active: s?.active ?? false,
        activePid: s?.pid ?? null,
        confirmedFlushLsn: s?.confirmed ?? null,
        restartLsn: s?.restart ?? null,
        currentLsn: current,
        lagBytes: s?.lag == null ? null : Number(s.lag),
        retainedBytes: s?.retained == null ? null : Number(s.retained),
        publication: this.settings.publication,
        publicationExists: (pub.rowCount ?? 0) > 0,
        walStatus: s?.wal_status ?? null,
      };
    });
  }

  /** Drop the slot (refused while a process streams from it) and the publication; what is already gone is fine. */
  async drop(): Promise<{ slot: boolean; publication: boolean }> {
    return this.with('dropping the slot', async (client) => {
      const found = await client.query<{ active: boolean; pid: number | null }>(`SELECT active, active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1`, [this.settings.slot]);
      const row = found.rows[0];
      if (row?.active === true) throw new PlanError(`slot ${this.settings.slot} is in use by process ${row.pid ?? '?'} on the server: stop the cdc run first`);
      let slot = false;
      if (row !== undefined) {
        await client.query(`SELECT pg_drop_replication_slot($1)`, [this.settings.slot]);
        slot = true;
      }
      const pub = await client.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [this.settings.publication]);
      if ((pub.rowCount ?? 0) > 0) await client.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(this.settings.publication)}`);
      return { slot, publication: (pub.rowCount ?? 0) > 0 };
    });
  }

  openStream(spec: ChangeStreamSpec): Promise<ChangeStream> {
    const decoder = new PgoutputDecoder(this.settings.table, spec.columns, spec.key);
    return PgChangeStream.start(this.db, this.settings.slot, this.settings.publication, decoder);
  }

  formatPosition(position: bigint): string {
    return formatLsn(position);
  }

  parsePosition(text: string): bigint {
    return parseLsn(text);
  }

  private async with<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.db.pool.connect();
    } catch (err) {
      throw pgError(err, what, this.db);
    }
    try {
      return await fn(client);
    } catch (err) {
      throw err instanceof PlanError ? err : pgError(err, what, this.db);
    } finally {
      client.release();
    }
  }

  describe(): string {
    return `postgres table ${this.settings.table} in ${this.db.name} (slot ${this.settings.slot})`;
  }

  async close(): Promise<void> {
    await this.db.pool.end();
  }
}
