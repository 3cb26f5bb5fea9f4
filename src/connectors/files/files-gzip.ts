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
/** Inflations under way, by identity: two chunks that read the same file wait for one check. */
const checking = new Map<string, Promise<void>>();
/** Each state record as this process knows it: what its file said, plus what was found whole since. */
const records = new Map<string, Set<string>>();
let saves = 0;

/**
 * Inflate each `.gz` file to its end (zlib checks the trailer's CRC and length), a few at a time on
 * the thread pool; throws naming the first file that ends early or is damaged. A source that reads
 * every file at once checks them all before its first read; one pruned by file name checks the
 * files of each chunk as the chunk opens them, so a look (`plan`, a profile's statistics) inflates
 * nothing and the first run pays for each file beside the other chunks' work.
 */
export async function checkGzipFiles(paths: readonly string[], record?: string): Promise<void> {
  const gz = paths.filter((p) => /\.gz$/i.test(p));
  if (gz.length === 0) return;
  const known = record === undefined ? undefined : recordOf(record);
  if (known !== undefined) for (const id of known) whole.add(id);
  const files = gz.map((path) => ({ path, id: identity(path) }));
  const todo = files.filter((f) => !whole.has(f.id));
  if (todo.length === 0) return;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < todo.length; i = next++) {
      const file = todo[i] as { path: string; id: string };
      let check = checking.get(file.id);
      if (check === undefined) {
        check = inflateWhole(file.path).then(() => void whole.add(file.id)).finally(() => checking.delete(file.id));
        checking.set(file.id, check);
      }
      await check;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(todo.length, Math.max(2, availableParallelism())) }, worker));
  } finally {
    // What was found whole stays found whole, even when another file was not.
    if (record !== undefined && known !== undefined) {
      for (const f of files) {
        // A file replaced since (another size or time) drops its old version.
        for (const id of known) if (id.startsWith(`${f.path}\0`) && id !== f.id) known.delete(id);
        if (whole.has(f.id)) known.add(f.id);
      }
      saveRecord(record, [...known]);
    }
  }
}

function recordOf(record: string): Set<string> {
  let known = records.get(record);
  if (known === undefined) {
    known = new Set(readRecord(record));
    records.set(record, known);
  }
  return known;
}

function readRecord(record: string): string[] {
  try {
    const ids: unknown = JSON.parse(readFileSync(record, 'utf8'));
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

/** The record is written whole, then renamed in (each write under its own name: chunks save beside each other). */
function saveRecord(record: string, ids: readonly string[]): void {
  try {
    mkdirSync(dirname(record), { recursive: true });
    const tmp = `${record}.${process.pid}.${saves++}.tmp`;
    writeFileSync(tmp, JSON.stringify(ids));
    renameSync(tmp, record);
  } catch {
    // Only a saving: without the record, the next run checks the files again.
  }
}

/**
 * Bytes read and inflated per step of a check. With zlib's default (16 KiB out per step, each a trip
 * to the thread pool and back) checking 30 of the 50M-row demo's gzip files (41.7 MB) one after
 * another took 837–881 ms of CPU; with 1 MiB, 305–321 ms. The demo's first run at 50M rows, three
 * runs each way in turn: 28.1–29.1 s before, 27.7–27.8 s after.
 */
const CHECK_CHUNK = 1024 * 1024;

async function inflateWhole(path: string): Promise<void> {
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  try {
    await pipeline(createReadStream(path, { highWaterMark: CHECK_CHUNK }), createGunzip({ chunkSize: CHECK_CHUNK }), sink);
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
