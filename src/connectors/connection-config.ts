// How a job names a database server: a URL or fields, with TLS options; shared by PostgreSQL and MySQL.

import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const tlsSchema = z.union([
  z.boolean(),
  z.strictObject({
    rejectUnauthorized: z.boolean().default(true),
    /** PEM text (use ${ENV} or a file path with `caFile`). */
    ca: z.string().optional(),
    caFile: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
  }),
]);

export const connectionSchema = z.union([
  z.string().regex(/^(postgres|postgresql|mysql|mariadb):\/\//i, 'a URL such as postgres://user:pass@host:5432/db or mysql://user:pass@host:3306/db'),
  z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    database: z.string().min(1),
  }),
]);

/** The fields of a database server as a source; a connector may add its own before refining (see databaseSourceSchema). */
export function databaseSourceFields<T extends string>(type: T) {
  return {
    type: z.literal(type),
    connection: connectionSchema,
    ssl: tlsSchema.optional(),
    /** `table` or `schema.table`. */
    table: z.string().min(1).optional(),
    /** A SELECT run by the database; chunk predicates are added around it. */
    query: z.string().min(1).optional(),
    /** At most this many queries on the source at once, to protect a production database. */
    maxConcurrentQueries: z.number().int().min(1).max(64).default(2),
  };
}

export function oneOfTableOrQuery(s: { readonly table?: string | undefined; readonly query?: string | undefined }): boolean {
  return (s.table === undefined) !== (s.query === undefined);
}

/** A database server as a source: a table or a SELECT of its own SQL, with a cap on concurrent queries. */
export function databaseSourceSchema<T extends string>(type: T) {
  return z.strictObject(databaseSourceFields(type)).refine(oneOfTableOrQuery, { message: 'give exactly one of table or query' });
}

/** The fields every database target shares; each adds its own load or merge options. */
export function databaseTargetFields<T extends string>(type: T) {
  return {
    type: z.literal(type),
    connection: connectionSchema,
    ssl: tlsSchema.optional(),
    /** `table` or `schema.table`. */
    table: z.string().min(1),
    /** Create the table (types from the output columns, primary key from write.key) when it does not exist. */
    create: z.boolean().default(false),
    pool: z.strictObject({ max: z.number().int().min(1).max(64).default(4) }).default({ max: 4 }),
  };
}

export type ConnectionConfig = z.output<typeof connectionSchema>;
export type TlsConfig = z.output<typeof tlsSchema>;

export interface ConnectionFields {
  readonly host: string;
  readonly port: number | undefined;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly database: string;
  /** Extra URL query parameters (sslmode, …). */
  readonly params: Readonly<Record<string, string>>;
}

/** Normalise a URL or fields into fields; the password stays out of every message built from them. */
export function connectionFields(config: ConnectionConfig): ConnectionFields {
  if (typeof config !== 'string') {
    return { host: config.host, port: config.port, user: config.user, password: config.password, database: config.database, params: {} };
  }
  const url = new URL(config);
  return {
    host: decodeURIComponent(url.hostname) || '127.0.0.1',
    port: url.port === '' ? undefined : Number(url.port),
    user: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.replace(/^\//, '')),
    params: Object.fromEntries(url.searchParams.entries()),
  };
}

/** `user@host:port/db`, for messages and status. */
export function describeConnection(fields: ConnectionFields, defaultPort: number): string {
  return `${fields.user === undefined ? '' : `${fields.user}@`}${fields.host}:${fields.port ?? defaultPort}/${fields.database}`;
}

/** Node TLS options for an explicit `ssl:` block (true: verify the server; an object: its settings). */
export function explicitTls(ssl: Exclude<TlsConfig, false>): { rejectUnauthorized: boolean; ca?: string; cert?: string; key?: string } {
  if (ssl === true) return { rejectUnauthorized: true };
  return {
    rejectUnauthorized: ssl.rejectUnauthorized,
    ...(ssl.ca !== undefined ? { ca: ssl.ca } : ssl.caFile !== undefined ? { ca: readFileSync(ssl.caFile, 'utf8') } : {}),
    ...(ssl.cert === undefined ? {} : { cert: ssl.cert }),
    ...(ssl.key === undefined ? {} : { key: ssl.key }),
  };
}

/** `host:port/database`, localhost spelled 127.0.0.1, so two blocks that name one database compare equal (pushdown into it). */
export function databaseIdentity(fields: ConnectionFields, defaultPort: number): string {
  const host = fields.host.toLowerCase();
  return `${host === 'localhost' ? '127.0.0.1' : host}:${fields.port ?? defaultPort}/${fields.database ?? ''}`;
}
