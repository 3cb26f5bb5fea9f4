// PostgreSQL's side of a run's limits (docs/limits.md): replica lag on a primary or a standby, load queries, query latency — on a connection of their own.

import { ConnectorError } from '../../core/errors.js';
import { numberOf, type LatencyProbeSpec, type ReplicaLag, type SourceHealth } from '../source-health.js';
import type { PostgresSourceConfig } from './postgres-config.js';
import { createPool, pgClientOptions, pgError, type PgPool } from './postgres-pool.js';

/** A probe that does not answer in this long is a failure, not a wait that holds the run's checks. */
const PROBE_TIMEOUT_MS = 10_000;
/** WAL positions remembered to date a replica's replay position (one per check: an hour at 1 s). */
const MAX_SAMPLES = 3600;

const STANDBY_LAG = `SELECT pg_is_in_recovery() AS standby,
  pg_last_wal_receive_lsn() IS NOT NULL AS streaming,
  COALESCE(pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn(), false) AS caught_up,
  EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000 AS lag_ms`;

// Physical replicas only: a logical slot's consumer (a change-capture job, a subscriber) is not a replica to spare.
const PRIMARY_LAG = `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 AS current_lsn,
  EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS now_ms,
  r.pid, r.application_name AS name, r.client_addr::text AS addr, r.state,
  pg_wal_lsn_diff(r.replay_lsn, '0/0')::float8 AS replay_lsn,
  EXTRACT(EPOCH FROM r.replay_lag) * 1000 AS replay_lag_ms
  FROM (SELECT 1) AS one
  LEFT JOIN pg_stat_replication r
    ON NOT EXISTS (SELECT 1 FROM pg_replication_slots s WHERE s.active_pid = r.pid AND s.slot_type = 'logical')`;

interface PrimaryRow {
  current_lsn: number;
  now_ms: string;
  pid: number | null;
  name: string | null;
  addr: string | null;
  state: string | null;
  replay_lsn: number | null;
  replay_lag_ms: string | null;
}

export class PostgresHealth implements SourceHealth {
  private db: PgPool | undefined;
  /** The primary's WAL position over time, to tell how old the oldest WAL a replica has not replayed is. */
  private readonly samples: { lsn: number; at: number }[] = [];
  /** Replicas seen at the first read: one that disconnects later counts as lag unknown, not as no lag. */
  private replicasAtStart: number | undefined;

  constructor(private readonly config: PostgresSourceConfig) {}

  private get pool(): PgPool {
    this.db ??= createPool(this.config.connection, this.config.ssl, 1, 'limits');
    return this.db;
  }

  private async query<T extends Record<string, unknown>>(what: string, text: string): Promise<T[]> {
    try {
      return (await this.pool.pool.query<T>({ text, query_timeout: PROBE_TIMEOUT_MS } as never)).rows;
    } catch (err) {
      throw pgError(err, what, this.pool);
    }
  }

  async replicaLag(): Promise<ReplicaLag> {
    const [standby] = await this.query<{ standby: boolean; streaming: boolean; caught_up: boolean; lag_ms: string | null }>('reading replica lag', STANDBY_LAG);
    if (standby?.standby === true) return this.standbyLag(standby);
    return this.primaryLag(await this.query<PrimaryRow & Record<string, unknown>>('reading pg_stat_replication', PRIMARY_LAG));
  }

  /** Reading a standby: how old its last replayed transaction is, unless it replayed all it received. */
  private standbyLag(row: { streaming: boolean; caught_up: boolean; lag_ms: string | null }): ReplicaLag {
    if (!row.streaming) throw this.refuse('it is a standby that does not stream from a primary (archive recovery): its lag cannot be told');
    if (row.caught_up) return { ms: 0, detail: 'this standby replayed all it received' };
    if (row.lag_ms === null) return { ms: null, detail: 'this standby has replayed no transaction since it started' };
    return { ms: Math.max(0, Number(row.lag_ms)), detail: 'this standby, now − pg_last_xact_replay_timestamp()' };
  }

  /**
   * Reading a primary: for each physical replica, the larger of `replay_lag` and the age of the
   * oldest WAL it has not replayed (from positions sampled at each check). `replay_lag` alone does
   * not grow while a replica's replay is stuck: it is only measured when a replica replays.
   */
  private primaryLag(rows: readonly PrimaryRow[]): ReplicaLag {
    const first = rows[0];
    if (first === undefined) throw this.refuse('pg_current_wal_lsn() returned nothing');
    const now = Number(first.now_ms);
    this.samples.push({ lsn: Number(first.current_lsn), at: now });
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
    const replicas = rows.filter((r) => r.pid !== null);
    if (this.replicasAtStart === undefined) {
      if (replicas.length === 0) throw this.refuse('it is a primary with no streaming replica (pg_stat_replication is empty) and not a standby: there is no lag to read');
      if (replicas.every((r) => r.replay_lsn === null)) {
        throw this.refuse("the role cannot read the replicas' positions in pg_stat_replication (they read NULL): grant it pg_monitor or pg_read_all_stats");
      }
      this.replicasAtStart = replicas.length;
    }
    if (replicas.length < this.replicasAtStart) return { ms: null, detail: `${this.replicasAtStart - replicas.length} of ${this.replicasAtStart} replica(s) no longer connected` };
    let worst: ReplicaLag = { ms: 0, detail: 'every replica replayed all WAL' };
    for (const r of replicas) {
      const name = r.name !== null && r.name !== '' ? r.name : (r.addr ?? 'a replica');
      if (r.replay_lsn === null) return { ms: null, detail: `replica ${name} reports no replay position (state ${r.state ?? 'unknown'})` };
      if (r.replay_lsn >= Number(first.current_lsn)) continue;
      const unreplayed = this.samples.find((s) => s.lsn > (r.replay_lsn as number)) ?? this.samples[0];
      const age = unreplayed === undefined ? 0 : now - unreplayed.at;
      const ms = Math.max(age, r.replay_lag_ms === null ? 0 : Number(r.replay_lag_ms));
      if (ms > (worst.ms ?? 0)) worst = { ms, detail: `replica ${name}` };
    }
    return worst;
  }

  async load(query: string): Promise<number> {
    const rows = await this.query<Record<string, unknown>>('running a load query', query);
    return numberOf(rows[0], query);
  }

  latencyProbe(query = 'SELECT 1'): LatencyProbeSpec {
    return { driver: 'pg', options: { ...pgClientOptions(this.config.connection, this.config.ssl, 'latency-probe') }, query, name: `PostgreSQL ${this.pool.name}` };
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    await db?.pool.end();
  }

  private refuse(reason: string): ConnectorError {
    return new ConnectorError(`replica lag cannot be read on PostgreSQL ${this.pool.name}: ${reason}`);
  }
}
