// Schema versioning of the embedded ledger: run the numbered migrations, refuse a file newer than the code.

import type Database from 'better-sqlite3';
import { newerSchema, olderSchema } from '../ledger-errors.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import { SQL } from './sqlite-statements.js';

/** Bring the file up to the latest version in one immediate transaction (a second writer waits, then finds it done). */
export function migrate(db: Database.Database, path: string): void {
  db.exec(SQL.createMeta);
  db.transaction(() => {
    const current = readVersion(db);
    if (current > SQLITE_MIGRATIONS.length) throw newerSchema(path, current, SQLITE_MIGRATIONS.length);
    for (let v = current; v < SQLITE_MIGRATIONS.length; v++) {
      db.exec(SQLITE_MIGRATIONS[v] as string);
    }
    db.prepare(SQL.writeVersion).run(String(SQLITE_MIGRATIONS.length));
  }).immediate();
}

/** Refuse a newer file always, and an older one unless the caller is about to migrate it. */
export function checkVersion(db: Database.Database, path: string, options: { allowOlder: boolean }): void {
  const version = readVersion(db);
  if (version > SQLITE_MIGRATIONS.length) throw newerSchema(path, version, SQLITE_MIGRATIONS.length);
  if (version < SQLITE_MIGRATIONS.length && !options.allowOlder) throw olderSchema(path, version);
}

/** 0 for a file without the meta table (new, or not a ledger yet). */
function readVersion(db: Database.Database): number {
  try {
    const row = db.prepare(SQL.readVersion).get() as { value: string } | undefined;
    return row === undefined ? 0 : Number(row.value);
  } catch {
    return 0;
  }
}
