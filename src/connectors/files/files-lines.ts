// The first line of each file (a CSV's header), read without DuckDB: files are grouped by their own columns.

import { closeSync, openSync, readSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';

/**
 * Each file's first line (or the line after `skip` lines: a header below a preamble), a few dozen
 * files a turn: between turns the event loop runs DuckDB's callbacks, so the lines are read while
 * DuckDB works on its own threads (sniffing the files).
 */
export async function headerLines(paths: readonly string[], skip = 0): Promise<Map<string, string>> {
  const lines = new Map<string, string>();
  for (const [i, path] of paths.entries()) {
    if (i % 32 === 0) await nextTurn();
    lines.set(path, firstLine(path, skip));
  }
  return lines;
}

/**
 * A file's first line (its header; with `skip`, the line after that many), decompressing `.gz`;
 * reads only the first few kilobytes. Synchronous on purpose: it runs once per file at planning,
 * and thousands of daily files read through streams cost a round trip to the thread pool each
 * (seconds) and hold their buffers and decompressors until a collection (memory).
 */
export function firstLine(path: string, skip = 0): string {
  const gz = /\.gz$/i.test(path);
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    for (let size = 2 * 1024; ; size *= 8) {
      const buf = Buffer.allocUnsafe(size);
      const n = readSync(fd, buf, 0, size, 0);
      // A partial gzip stream inflates as far as it goes (no error for the missing rest).
      const bytes = gz ? gunzipSync(buf.subarray(0, n), { finishFlush: zlibConstants.Z_SYNC_FLUSH }) : buf.subarray(0, n);
      let start = 0;
      for (let k = 0; k < skip && start >= 0; k++) {
        const end = bytes.indexOf(10, start);
        start = end < 0 ? -1 : end + 1;
      }
      const nl = start < 0 ? -1 : bytes.indexOf(10, start);
      if (nl >= 0) return bytes.toString('utf8', start, nl).replace(/\r$/, '').replace(/^\uFEFF/, '');
      if (n < size || size >= 1 << 20) return start < 0 ? '' : bytes.toString('utf8', start).replace(/^\uFEFF/, '');
    }
  } catch {
    // An unreadable file is reported by DuckDB when it is read.
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
