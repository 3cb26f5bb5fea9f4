// The file rules every lake target shares (Parquet, Avro): part files named by their chunk, found by
// walking the lake, and a chunk's new files renamed in before what it no longer produces goes.

import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { ConnectorError } from '../../core/errors.js';
import type { WriteMode } from '../../core/write.js';
import type { WriteResult } from '../connector.js';

/** Each process writes a chunk's files under here first, inside the lake (same file system: a rename publishes). */
export const TMP_DIR = '.backfill-tmp';

/** `part-<chunk tag>[-g<generation>]-<n>.<extension>`: group 1 the tag, 2 the generation (appends), 3 the number. */
export function partPattern(extension: string): RegExp {
  return new RegExp(`^part-(.+?)(?:-g(\\d+))?-(\\d+)\\.${extension}$`);
}

/** The lake's files of one extension, hive folders included, the temporary folder left out. */
export function* walkLake(dir: string, extension: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === TMP_DIR) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walkLake(path, extension);
    else if (entry.isFile() && entry.name.endsWith(`.${extension}`)) yield path;
  }
}

export interface ProducedFile {
  readonly file: string;
  readonly rows: number;
  readonly bytes: number;
}

/**
 * Rename a chunk's files from `tmp` into the lake, numbered per folder in the order given, then remove
 * the files this chunk produced before and not now (`files`, the chunk's entry of the lake's index,
 * is kept up to date): older output for replace and merge, a crashed attempt of the same
 * generation for append.
 */
export function publishLakeFiles(
  lake: { readonly path: string; readonly extension: string; readonly writer: string },
  w: { readonly tag: string; readonly mode: WriteMode; readonly generation: number },
  tmp: string, produced: readonly ProducedFile[], files: Set<string>,
): WriteResult {
  const part = partPattern(lake.extension);
  const generation = w.mode === 'append' ? `-g${w.generation}` : '';
  const perFolder = new Map<string, number>();
  const published = new Set<string>();
  let rows = 0;
  let bytes = 0;
  for (const p of produced) {
    const folder = relative(tmp, dirname(p.file));
    if (folder.startsWith('..')) throw new ConnectorError(`${lake.writer} wrote ${p.file} outside ${tmp}`);
    const n = perFolder.get(folder) ?? 0;
    perFolder.set(folder, n + 1);
    const dest = join(lake.path, folder, `part-${w.tag}${generation}-${n}.${lake.extension}`);
    mkdirSync(dirname(dest), { recursive: true });
    renameSync(p.file, dest);
    published.add(dest);
    rows += p.rows;
    bytes += p.bytes;
  }
  for (const file of [...files]) {
    if (published.has(file)) continue;
    const gen = part.exec(file.slice(file.lastIndexOf(sep) + 1))?.[2];
    const sameGeneration = gen === undefined ? generation === '' : `-g${gen}` === generation;
    if (w.mode !== 'append' || sameGeneration) {
      rmSync(file, { force: true });
      files.delete(file);
    }
  }
  for (const file of published) files.add(file);
  return { rowsWritten: rows, bytes };
}
