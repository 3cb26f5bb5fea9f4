// A DuckDB connection of the engine's own kind for the tests of one file.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { DuckSession, type DuckConn } from '../../src/runtime/duckdb-session.js';

/** Opens a session before the file's tests and closes it after them; call the result inside a test for the connection. */
export function duckConnForFile(threads = 2): () => DuckConn {
  let session: DuckSession | undefined;
  let conn: DuckConn | undefined;
  beforeAll(async () => {
    session = await DuckSession.create({ threads });
    conn = await session.connect();
  });
  afterAll(() => {
    conn?.close();
    session?.close();
  });
  return () => {
    if (conn === undefined) throw new Error('the DuckDB connection opens before the tests');
    return conn;
  };
}

/** Write `lines` (each ended by a newline) to `dir/name`; returns the path. */
export function writeLines(dir: string, name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}
