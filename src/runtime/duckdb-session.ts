// One in-process DuckDB per run: a shared thread pool, one connection per chunk in flight.

import { mkdirSync } from 'node:fs';
import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection, type DuckDBDataChunk } from '@duckdb/node-api';
import { AbortedError, ConnectorError } from '../core/errors.js';
import { quoteLiteral } from '../core/sql-text.js';

export interface DuckSessionOptions {
  readonly threads: number;
  readonly memoryLimit?: string | undefined;
  readonly tempDirectory?: string | undefined;
  /** `duckdb.settings` of the job: set on the instance after the engine's own. */
  readonly settings?: Readonly<Record<string, string | number | boolean>> | undefined;
}

export class DuckSession {
  private constructor(private readonly instance: DuckDBInstance) {}

  static async create(options: DuckSessionOptions): Promise<DuckSession> {
    const config: Record<string, string> = {
      threads: String(options.threads),
      preserve_insertion_order: 'false',
      // A partitioned COPY buffers each partition's rows until this many before writing them out;
      // DuckDB's default (about half a million rows per partition and thread) makes the peak grow
      // with the rows per partition up to there. One row group's worth keeps it flat.
      partitioned_write_flush_threshold: '122880',
    };
    if (options.memoryLimit !== undefined) config.memory_limit = options.memoryLimit;
    if (options.tempDirectory !== undefined) {
      mkdirSync(options.tempDirectory, { recursive: true });
      config.temp_directory = options.tempDirectory;
    }
    for (const [name, value] of Object.entries(options.settings ?? {})) config[name] = String(value);
    try {
      const instance = await DuckDBInstance.create(':memory:', config);
      const conn = await instance.connect();
      // Chunk predicates compare naive timestamps as UTC; never let the host's zone leak in.
      // (TimeZone needs the ICU extension, which loads on first use, so it cannot go in the config.)
      await conn.run(`SET GLOBAL TimeZone = 'UTC'`);
      conn.closeSync();
      return new DuckSession(instance);
    } catch (cause) {
      const named = Object.keys(options.settings ?? {}).filter((name) => (cause as Error).message.toLowerCase().includes(name.toLowerCase()));
      const where = named.length > 0 ? ` (duckdb.settings: ${named.join(', ')})` : '';
      throw new ConnectorError(`cannot start DuckDB${where}: ${(cause as Error).message}`, { cause });
    }
  }

  async connect(): Promise<DuckConn> {
    return new DuckConn(await this.instance.connect(), this.instance);
  }

  close(): void {
    this.instance.closeSync();
  }
}

export class DuckConn {
  constructor(
    private readonly connection: DuckDBConnection,
    private readonly instance: DuckDBInstance,
  ) {}

  /** Another connection to the same DuckDB: statements on each run side by side. The caller closes it. */
  async sibling(): Promise<DuckConn> {
    return new DuckConn(await this.instance.connect(), this.instance);
  }

  async run(sql: string, signal?: AbortSignal): Promise<void> {
    await this.all(sql, signal);
  }

  /** Run one statement and return its rows as JSON-safe objects (big integers become strings). */
  async all<T = Record<string, unknown>>(sql: string, signal?: AbortSignal): Promise<T[]> {
    if (isAborted(signal)) throw new AbortedError(abortReason(signal as AbortSignal));
    const onAbort = (): void => this.connection.interrupt();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const reader = await this.connection.runAndReadAll(sql);
      return reader.getRowObjectsJson() as T[];
    } catch (cause) {
      if (isAborted(signal)) throw new AbortedError(abortReason(signal as AbortSignal), { cause });
      throw toConnectorError(cause, sql);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Run one query and hand its result over in DuckDB's own column batches (about 2,048 rows
   * each), for writers outside DuckDB that encode rows themselves (Avro).
   */
  async *chunks(sql: string, signal?: AbortSignal): AsyncGenerator<DuckDBDataChunk> {
    if (isAborted(signal)) throw new AbortedError(abortReason(signal as AbortSignal));
    const onAbort = (): void => this.connection.interrupt();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      let result;
      try {
        result = await this.connection.stream(sql);
      } catch (cause) {
        throw isAborted(signal) ? new AbortedError(abortReason(signal as AbortSignal), { cause }) : toConnectorError(cause, sql);
      }
      for (;;) {
        let chunk;
        try {
          chunk = await result.fetchChunk();
        } catch (cause) {
          throw isAborted(signal) ? new AbortedError(abortReason(signal as AbortSignal), { cause }) : toConnectorError(cause, sql);
        }
        if (chunk === null || chunk.rowCount === 0) return;
        yield chunk;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** DuckDB's appender on a table: rows go in as whole column batches (`appendDataChunk`), never one statement per row. */
  async appender(table: string): Promise<DuckDBAppender> {
    return this.connection.createAppender(table);
  }

  async attach(path: string, alias: string, readOnly: boolean): Promise<void> {
    await this.run(`ATTACH IF NOT EXISTS ${quoteLiteral(path)} AS ${alias}${readOnly ? ' (READ_ONLY)' : ''}`);
  }

  close(): void {
    this.connection.closeSync();
  }
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal !== undefined && signal.aborted;
}

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
}

/** Errors raised by our own `error('backfill: …')` checks inside queries are data problems, not DuckDB's. */
export const DATA_CHECK_PREFIX = 'backfill: ';

function toConnectorError(cause: unknown, sql: string): Error {
  const message = (cause as Error)?.message ?? String(cause);
  const at = message.indexOf(DATA_CHECK_PREFIX);
  if (at >= 0) return new DataCheckError(message.slice(at + DATA_CHECK_PREFIX.length), { cause });
  // Write-write conflicts between concurrent transactions resolve on a retry.
  const retryable = /conflict|could not set lock|IO Error: Could not/i.test(message);
  const shortSql = sql.length > 300 ? `${sql.slice(0, 300)}…` : sql;
  return new ConnectorError(`DuckDB: ${message.split('\n')[0]}`, { cause: Object.assign(new Error(message), { sql: shortSql }), retryable });
}

export class DataCheckError extends ConnectorError {}
