// MySQL's and MariaDB's side of a run's limits (docs/limits.md): the lag of the replica read from, load queries, query latency — on a connection of their own.

import { ConnectorError } from '../../core/errors.js';
import { numberOf, type LatencyProbeSpec, type ReplicaLag, type SourceHealth } from '../source-health.js';
import type { MysqlSourceConfig } from './mysql-config.js';
import { createMysqlPool, mysqlConnectionOptions, mysqlError, type MysqlPool } from './mysql-pool.js';

const PROBE_TIMEOUT_MS = 10_000;

export class MysqlHealth implements SourceHealth {
  private db: MysqlPool | undefined;

  constructor(private readonly config: MysqlSourceConfig) {}

  private get pool(): MysqlPool {
    this.db ??= createMysqlPool(this.config.connection, this.config.ssl, 1, { foundRows: true, session: [] });
    return this.db;
  }

  private async query(what: string, sql: string): Promise<Record<string, unknown>[]> {
    const conn = await this.pool.acquire().catch((err: unknown) => {
      throw mysqlError(err, what, this.pool);
    });
    try {
      const [rows] = await conn.query({ sql, timeout: PROBE_TIMEOUT_MS });
      return rows as Record<string, unknown>[];
    } catch (err) {
      throw mysqlError(err, what, this.pool);
    } finally {
      conn.release();
    }
  }

  /**
   * A MySQL primary does not know its replicas' lag, so the limit reads the server the job reads
   * from: `SHOW REPLICA STATUS` (MySQL 8.0.22+, MariaDB 10.5.1+), else `SHOW SLAVE STATUS`.
   */
  async replicaLag(): Promise<ReplicaLag> {
    let rows: Record<string, unknown>[];
    try {
      rows = await this.query('reading replica status', 'SHOW REPLICA STATUS');
    } catch {
      rows = await this.query('reading replica status', 'SHOW SLAVE STATUS');
    }
    if (rows.length === 0) {
      throw new ConnectorError(
        `replica lag cannot be read on MySQL ${this.pool.name}: it is not a replica (SHOW REPLICA STATUS is empty), and a MySQL primary does not know its replicas' lag; point the source at the replica to read from, or remove limits.maxReplicaLag`,
      );
    }
    let worst: ReplicaLag = { ms: 0, detail: 'this replica' };
    for (const row of rows) {
      const seconds = row['Seconds_Behind_Source'] ?? row['Seconds_Behind_Master'];
      const channel = typeof row['Connection_name'] === 'string' && row['Connection_name'] !== '' ? ` (${String(row['Connection_name'])})` : '';
      if (seconds === null || seconds === undefined) return { ms: null, detail: `this replica${channel}: replication is not running (Seconds_Behind_Source is NULL)` };
      const ms = Number(seconds) * 1000;
      if (ms >= (worst.ms ?? 0)) worst = { ms, detail: `this replica${channel}, Seconds_Behind_Source` };
    }
    return worst;
  }

  async load(query: string): Promise<number> {
    return numberOf((await this.query('running a load query', query))[0], query);
  }

  latencyProbe(query = 'SELECT 1'): LatencyProbeSpec {
    return { driver: 'mysql2/promise', options: { ...mysqlConnectionOptions(this.config.connection, this.config.ssl) }, query, name: `MySQL ${this.pool.name}` };
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    await db?.end();
  }
}
