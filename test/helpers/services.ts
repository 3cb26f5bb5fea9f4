// Local database servers for tests: make sure one is up (starting it when it is not) before a suite uses it.

import { execSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { redactSecrets } from '../../src/core/errors.js';

/** The PostgreSQL the tests use (trust auth); override with BACKFILL_TEST_POSTGRES_URL. */
export const POSTGRES_URL = process.env['BACKFILL_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MARIADB_HOST = '127.0.0.1';
export const MARIADB_PORT = 3306;

const START_TIMEOUT_MS = 60_000;

/**
 * One statement on a connection of its own — to the tests' PostgreSQL, or to `url` — in UTC unless
 * `timezone` says otherwise; the rows as pg returns them (bigint and numeric as text).
 */
export async function pgQuery<T extends pg.QueryResultRow = Record<string, unknown>>(
  text: string, values: unknown[] = [], options: { readonly url?: string; readonly timezone?: string } = {},
): Promise<T[]> {
  const client = new pg.Client({ connectionString: options.url ?? POSTGRES_URL, application_name: 'backfill-tests' });
  await client.connect();
  try {
    if (options.timezone !== undefined) await client.query(`SET TimeZone = '${options.timezone}'`);
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** One statement on a connection of its own to the tests' MariaDB, as root; the rows as mysql2 returns them. */
export async function mysqlQuery<T = Record<string, unknown>>(
  text: string, values: unknown[] = [], options: { readonly dateStrings?: boolean } = {},
): Promise<T[]> {
  const conn = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', dateStrings: options.dateStrings ?? false });
  try {
    return (await (values.length > 0 ? conn.query(text, values) : conn.query(text)))[0] as T[];
  } finally {
    await conn.end();
  }
}

let postgresReady: Promise<void> | undefined;
let mariadbReady: Promise<void> | undefined;

/** Resolve once PostgreSQL answers queries; start the local cluster first if it does not. */
export function ensurePostgres(): Promise<void> {
  postgresReady ??= (async () => {
    if (await postgresAnswers()) return;
    const output = tryRun('pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start');
    await waitFor(postgresAnswers, `PostgreSQL at ${redactSecrets(POSTGRES_URL)} did not come up (${output})`);
  })();
  // A failure is not remembered: a later suite may try again.
  postgresReady.catch(() => (postgresReady = undefined));
  return postgresReady;
}

/** Resolve once MariaDB accepts connections on 127.0.0.1:3306; start the server first if it does not. */
export function ensureMariadb(): Promise<void> {
  mariadbReady ??= (async () => {
    if (await portOpen(MARIADB_HOST, MARIADB_PORT)) return;
    // mariadbd keeps its socket and pid file in /run/mysqld, which a fresh boot may not have.
    if (!existsSync('/run/mysqld')) {
      mkdirSync('/run/mysqld', { recursive: true });
      tryRun('chown mysql:mysql /run/mysqld');
    }
    const output = tryRun('start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd');
    await waitFor(() => portOpen(MARIADB_HOST, MARIADB_PORT), `MariaDB on ${MARIADB_HOST}:${MARIADB_PORT} did not come up (${output})`);
  })();
  mariadbReady.catch(() => (mariadbReady = undefined));
  return mariadbReady;
}

let redisReady: Promise<void> | undefined;

/** Resolve once the shared Redis (127.0.0.1:6379, nothing kept on disk) accepts connections; start it first if it does not. */
export function ensureRedis(): Promise<void> {
  redisReady ??= (async () => {
    if (await portOpen('127.0.0.1', 6379)) return;
    const output = tryRun('redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no');
    await waitFor(() => portOpen('127.0.0.1', 6379), `Redis on 127.0.0.1:6379 did not come up (${output})`);
  })();
  redisReady.catch(() => (redisReady = undefined));
  return redisReady;
}

async function postgresAnswers(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function waitFor(check: () => Promise<boolean>, message: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(message);
}

/** Run a shell command; its output (or why it failed) for the error message, never a throw. */
function tryRun(command: string): string {
  try {
    return execSync(command, { shell: '/bin/sh', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 }).toString().trim() || 'started';
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    return `${command}: ${e.stderr?.toString().trim() || e.message}`;
  }
}
