// `backfill init --target <folder>`: a Parquet lake in that folder.

import { extname, resolve } from 'node:path';
import type { InitRequest, TargetDraft } from '../descriptor.js';

/** A path without a file extension names a folder: the lake's. */
export function claimsLakeFolder(text: string): boolean {
  return !/:\/\//.test(text) && extname(text.replace(/[\\/]+$/, '')) === '';
}

export function draftParquetTarget(request: InitRequest): TargetDraft {
  return { type: 'parquet', path: resolve(request.text) };
}
