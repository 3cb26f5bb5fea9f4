// A truncated or damaged `.gz` file is read by DuckDB as far as it inflates, without an error, so
// rows would go missing silently. Every gzip file is inflated whole once, before any row is read,
// and each version found whole (path, size, modification time) is remembered in the job's state
// folder, so later runs, restates and resumes over unchanged files do not inflate them again.

import { createReadStream, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { availableParallelism } from 'node:os';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { ConnectorError } from '../../core/errors.js';

/** Files already found whole in this process, by path, size and modification time. */
const whole = new Set<string>();

/**
 * Inflate each `.gz` file to its end (zlib checks the trailer's CRC and length), a few at a time on
 * the thread pool; throws naming the first file that ends early or is damaged.
 */
export async function checkGzipFiles(paths: readonly string[], record?: string): Promise<void> {
  const gz = paths.filter((p) => /\.gz$/i.test(p));
  if (gz.length === 0) return;
  if (record !== undefined) for (const id of readRecord(record)) whole.add(id);
  const todo = gz.map((path) => ({ path, id: identity(path) })).filter((f) => !whole.has(f.id));
  if (todo.length === 0) return;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < todo.length; i = next++) {
      const file = todo[i] as { path: string; id: string };
      await inflateWhole(file.path);
      whole.add(file.id);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(todo.length, Math.max(2, availableParallelism())) }, worker));
  } finally {
    // What was found whole stays found whole, even when another file was not.
    if (record !== undefined) saveRecord(record, gz.map(identity).filter((id) => whole.has(id)));
  }
}

function readRecord(record: string): string[] {
  try {
    const ids: unknown = JSON.parse(readFileSync(record, 'utf8'));
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

/** The record keeps the files of the latest check (a file replaced or removed drops out); written whole, then renamed in. */
function saveRecord(record: string, ids: readonly string[]): void {
  try {
    mkdirSync(dirname(record), { recursive: true });
    const tmp = `${record}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(ids));
    renameSync(tmp, record);
  } catch {
    // Only a saving: without the record, the next run checks the files again.
  }
}

async function inflateWhole(path: string): Promise<void> {
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  try {
    await pipeline(createReadStream(path), createGunzip(), sink);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConnectorError(
      `source file ${path} is not a whole gzip stream (${reason}): it ends early or is damaged, so some of its rows could not be read; ` +
        'replace the file (no row of it has been read)',
    );
  }
}

function identity(path: string): string {
  const st = statSync(path);
  return `${path}\0${st.size}\0${st.mtimeMs}`;
}
