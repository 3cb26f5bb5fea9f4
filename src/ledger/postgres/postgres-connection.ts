// How the shared ledger reaches PostgreSQL: where it lives (URL and schema), its pool, and driver errors
// turned into LedgerErrors that are safe to print.

import pg from 'pg';
import { LedgerError, redactSecrets } from '../../core/errors.js';

export const DEFAULT_SCHEMA = 'backfill';

/** Where the ledger lives: what pg is given, and what may be printed. */
export interface LedgerLocation {
  readonly connectionString: string;
  readonly schema: string;
  /** The URL with any password redacted: safe in messages. */
  readonly where: string;
}

export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

// bigint (int8) columns hold epoch milliseconds, tokens and counters: read them as numbers, like SQLite does.
// The parser is set on this ledger's pools only, never globally, so other pg users in the process are unaffected.
const INT8 = pg.types.builtins.INT8;
const parseInt8 = (value: string): number => Number(value);
const LEDGER_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** One pool to the ledger's database; every call either succeeds or throws a LedgerError naming the action. */
export class PostgresConnection {
  private readonly pool: pg.Pool;
  private closed = false;
  readonly location: LedgerLocation;

  constructor(location: LedgerLocation, options: { readonly connectTimeoutMs?: number | undefined; readonly readonly: boolean }) {
    this.location = location;
    this.pool = createPool(location, options.connectTimeoutMs ?? 10_000, options.readonly);
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(action: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.guard(action, (db) => db.query<R>(text, values));
  }

  /** How many rows the statement changed. */
  async changes(action: string, text: string, values: unknown[]): Promise<number> {
    return (await this.query(action, text, values)).rowCount ?? 0;
  }

  /** Run `fn` on the pool; any driver error comes out as a LedgerError whose message is safe to print. */
  async guard<T>(action: string, fn: (db: Queryable) => Promise<T>): Promise<T> {
    try {
      return await fn(this.pool);
    } catch (cause) {
      throw this.wrap(action, cause);
    }
  }

  async transaction<T>(action: string, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (cause) {
      throw this.wrap(`connect to ${action}`, cause);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (cause) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection is unusable: have the pool discard it rather than hand it out again.
        broken = rollbackError as Error;
      }
      throw this.wrap(action, cause);
    } finally {
      client.release(broken);
    }
  }

  /** Ends the pool; calling it again does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.pool.end();
    } catch (cause) {
      throw this.wrap('close', cause);
    }
  }

  private wrap(action: string, cause: unknown): LedgerError {
    if (cause instanceof LedgerError) return cause;
    return new LedgerError(redactSecrets(`the ledger ${this.location.where}: cannot ${action}: ${driverMessage(cause)}`), { cause });
  }
}

function createPool(location: LedgerLocation, connectTimeoutMs: number, readonly: boolean): pg.Pool {
  const pool = new pg.Pool({
    connectionString: location.connectionString,
    max: 4,
    application_name: 'backfill-ledger',
    connectionTimeoutMillis: connectTimeoutMs,
    types: LEDGER_TYPES,
    // A reader's every transaction is read-only: `status` can never change the ledger by mistake.
    ...(readonly ? { options: '-c default_transaction_read_only=on' } : {}),
  });
  // An idle connection that breaks (server restart, network) must not crash the process; the pool drops it
  // and the next query reports the problem.
  pool.on('error', () => undefined);
  // A checked-out client whose backend is terminated emits 'error' too, besides failing its query.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Take `?schema=` out of the URL (pg must not see it) and check the schema name. */
export function parseLocation(url: string, schemaOption: string | undefined): LedgerLocation {
  const where = redactSecrets(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // No cause: Node's URL error carries the whole input, password included.
    throw new LedgerError(`the ledger URL ${where} is not a valid URL`);
  }
  const fromUrl = parsed.searchParams.get('schema');
  let connectionString = url;
  if (fromUrl !== null) {
    parsed.searchParams.delete('schema');
    connectionString = parsed.toString();
  }
  const schema = schemaOption ?? (fromUrl === null || fromUrl === '' ? DEFAULT_SCHEMA : fromUrl);
  if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(schema)) {
    throw new LedgerError(`the ledger schema name ${JSON.stringify(schema)} (in ${where}) is not valid: use letters, digits and _ (at most 63)`);
  }
  return { connectionString, schema, where };
}

/** A driver error's message; a failed connection to several addresses is an AggregateError with an empty one. */
function driverMessage(cause: unknown): string {
  if (cause instanceof AggregateError && cause.message === '') {
    return cause.errors.map((e: unknown) => driverMessage(e)).join('; ') || 'connection failed';
  }
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    if (cause.message !== '') return cause.message;
    return typeof code === 'string' ? code : cause.name;
  }
  return String(cause);
}

/** `host:port/database` of a PostgreSQL URL, lower-cased, defaults filled in. */
export function databaseIdentity(url: string): string {
  const parsed = new URL(url);
  const host = decodeURIComponent(parsed.hostname || '127.0.0.1').toLowerCase();
  return `${host === 'localhost' ? '127.0.0.1' : host}:${parsed.port || '5432'}/${decodeURIComponent(parsed.pathname.replace(/^\//, ''))}`;
}
