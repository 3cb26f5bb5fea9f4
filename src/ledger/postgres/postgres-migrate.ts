// Schema versioning of the shared ledger: create or upgrade its tables under a lock, refuse a schema newer than the code.

import { newerSchema, olderSchema } from '../ledger-errors.js';
import type { PostgresConnection, Queryable } from './postgres-connection.js';
import { POSTGRES_MIGRATIONS, metaTableSql } from './postgres-migrations.js';
import { quoteIdent, type PostgresStatements } from './postgres-statements.js';

/** Create or upgrade the tables in one transaction, under a lock that other workers' migrations wait on. */
export async function migrate(conn: PostgresConnection, sql: PostgresStatements): Promise<void> {
  const latest = POSTGRES_MIGRATIONS.length;
  const { schema: name, where } = conn.location;
  await conn.transaction('create or upgrade the ledger tables', async (db) => {
    await db.query(sql.migrationLock, [name]);
    const current = await readVersion(db, sql, name);
    if (current > latest) throw newerSchema(where, current, latest);
    if (current === latest) return;
    // CREATE … IF NOT EXISTS still needs the privilege, so only ask for what is missing.
    if ((await db.query(sql.schemaExists, [name])).rowCount === 0) await db.query(sql.createSchema);
    const schema = quoteIdent(name);
    await db.query(metaTableSql(schema));
    for (let v = current; v < latest; v++) {
      await db.query((POSTGRES_MIGRATIONS[v] as (schema: string) => string)(schema));
    }
    await db.query(sql.writeVersion, [String(latest)]);
  });
}

/**
 * For a reader, which never migrates: false when the ledger's tables do not exist yet; throws when the
 * schema is newer or older than the code.
 */
export async function checkReadable(conn: PostgresConnection, sql: PostgresStatements): Promise<boolean> {
  const version = await conn.guard('open', (db) => readVersion(db, sql, conn.location.schema));
  if (version === 0) return false;
  if (version > POSTGRES_MIGRATIONS.length) throw newerSchema(conn.location.where, version, POSTGRES_MIGRATIONS.length);
  if (version < POSTGRES_MIGRATIONS.length) throw olderSchema(conn.location.where, version);
  return true;
}

/** The schema version; 0 when the ledger's tables do not exist. */
async function readVersion(db: Queryable, sql: PostgresStatements, schema: string): Promise<number> {
  const meta = `${quoteIdent(schema)}.backfill_meta`;
  const { rows } = await db.query<{ name: string | null }>(sql.metaTable, [meta]);
  if (rows[0]?.name === null || rows[0]?.name === undefined) return 0;
  const version = (await db.query<{ value: string }>(sql.readVersion)).rows[0];
  return version === undefined ? 0 : Number(version.value);
}
