// `backfill profile` for files: Parquet footers (row-group counts, min/max, NULLs), CSV/JSON file sizes over a sample of lines, and the dates file names carry.

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import type { FilePeriod } from '../../core/file-period.js';
import { quoteLiteral } from '../../core/sql-text.js';
import { sqlList } from '../../runtime/duckdb-sql.js';
import type { ProfileRequest, RowSpread, SourceProfile } from '../source-profile.js';

export interface FilesProfileInput {
  readonly format: 'csv' | 'jsonl' | 'parquet';
  readonly files: readonly { readonly path: string; readonly period: FilePeriod | undefined }[];
  /** `pruneBy: filename`: a chunk reads only the files its period names, each whole. */
  readonly prunedByName: boolean;
}

/** Bytes read from each sampled file to learn the average line length. */
const SAMPLE_BYTES = 256 * 1024;

export async function profileFiles(input: FilesProfileInput, request: ProfileRequest): Promise<SourceProfile> {
  const sizes = input.files.map((f) => statSync(f.path).size);
  const bytes = { value: sizes.reduce((a, b) => a + b, 0), source: 'file sizes' };
  const zoneless = request.kind === 'time' && /^TIMESTAMP(_S|_MS|_NS)?$/i.test(request.columnType);
  const wholeReads = input.prunedByName && request.kind === 'time' ? input.files.flatMap((f) => (f.period === undefined ? [] : [f.period.lo, f.period.hi])) : undefined;
  const whole = wholeReads === undefined ? {} : { wholeReads };
  if (input.format === 'parquet') return { ...(await parquetFooters(input, request)), bytes, zoneless, ...whole };
  // Other compressions say nothing about their rows without reading them: the engine counts.
  if (request.exact || input.files.some((f) => /\.(zst|bz2)$/i.test(f.path))) return { bytes, zoneless, ...whole };
  // Gzip files hold several times the lines per byte of plain ones: each kind is sampled apart.
  const paths = input.files.map((f) => f.path);
  const gz = sampleLines(paths.filter(isGzip), input.format === 'csv');
  const plain = sampleLines(paths.filter((p) => !isGzip(p)), input.format === 'csv');
  if (gz === undefined && plain === undefined) return { bytes, zoneless, ...whole };
  const lines = (gz?.lines ?? 0) + (plain?.lines ?? 0);
  const perFile = sizes.map((s, i) => {
    const sample = (isGzip(paths[i] ?? '') ? gz : plain) ?? gz ?? plain;
    return Math.max(0, Math.round(s / (sample?.bytesPerLine ?? 1)) - (input.format === 'csv' ? 1 : 0));
  });
  const rows = { value: perFile.reduce((a, b) => a + b, 0), source: `file sizes ÷ bytes per line (sample of ${lines.toLocaleString('en-US')} lines)` };
  let spread: RowSpread | undefined;
  if (request.kind === 'time' && input.files.every((f) => f.period !== undefined)) {
    spread = {
      kind: 'ranges',
      ranges: input.files.map((f, i) => ({ lo: (f.period as FilePeriod).lo, hi: (f.period as FilePeriod).hi, rows: perFile[i] ?? 0 })),
      source: 'dates in file names × file sizes',
    };
  } else if (request.bounds !== undefined) {
    spread = { kind: 'ranges', ranges: [{ lo: request.bounds.min, hi: request.bounds.max, rows: rows.value }], source: 'spread evenly over min…max (files carry no statistics)' };
  }
  return { bytes, rows, zoneless, ...whole, ...lightest(input, sizes, perFile, wholeReads !== undefined), ...(spread === undefined ? {} : { spread }) };
}

/** Plain (not gzipped) dated files, fewest bytes first, with their estimated rows (`SourceProfile.lightPieces`); zst and bz2 sources get no row estimates at all (above). */
function lightest(input: FilesProfileInput, sizes: readonly number[], perFile: readonly number[], whole: boolean): Pick<SourceProfile, 'lightPieces'> {
  if (!whole) return {};
  const plain = input.files
    .map((f, i) => ({ period: f.period, gz: isGzip(f.path), bytes: sizes[i] ?? 0, rows: perFile[i] ?? 0 }))
    .filter((f) => f.period !== undefined && !f.gz && f.rows > 0)
    .sort((a, b) => a.bytes - b.bytes);
  return plain.length === 0 ? {} : { lightPieces: plain.map((f) => ({ lo: (f.period as FilePeriod).lo, hi: (f.period as FilePeriod).hi, rows: f.rows })) };
}

const isGzip = (path: string): boolean => path.endsWith('.gz');

/** Average bytes per line over the start of the first, middle and last files. */
function sampleLines(paths: readonly string[], header: boolean): { bytesPerLine: number; lines: number } | undefined {
  const picks = [...new Set([0, Math.floor(paths.length / 2), paths.length - 1])].map((i) => paths[i]).filter((p): p is string => p !== undefined);
  let bytes = 0;
  let lines = 0;
  for (const path of picks) {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(SAMPLE_BYTES);
      const n = readSync(fd, buf, 0, SAMPLE_BYTES, 0);
      // A gzip file: lines per compressed byte, from the start of the file inflated as far as it goes.
      const gz = isGzip(path);
      const text = gz ? gunzipSync(buf.subarray(0, n), { finishFlush: zlibConstants.Z_SYNC_FLUSH }) : buf.subarray(0, n);
      if (gz) {
        const count = newlines(text, 0, text.length);
        const cut = text.length > 0 && text[text.length - 1] !== 10 && n < SAMPLE_BYTES ? 1 : 0;
        bytes += n;
        lines += count + cut - (header ? 1 : 0);
        continue;
      }
      // Whole lines only: a line cut at the end of the sample would look short.
      const end = n === SAMPLE_BYTES ? text.lastIndexOf(10) + 1 : n;
      let start = 0;
      if (header) start = text.indexOf(10) + 1;
      let count = newlines(text, start, end);
      if (end > start && text[end - 1] !== 10) count++;
      bytes += end - start;
      lines += count;
    } finally {
      closeSync(fd);
    }
  }
  return lines === 0 ? undefined : { bytesPerLine: bytes / lines, lines };
}

/** Line feeds in `buf[start, end)`, found by the native search rather than byte by byte. */
function newlines(buf: Buffer, start: number, end: number): number {
  let count = 0;
  for (let i = buf.indexOf(10, start); i >= 0 && i < end; i = buf.indexOf(10, i + 1)) count++;
  return count;
}

/** Rows, NULLs and the spread from the row groups' statistics, read from the footers only. */
async function parquetFooters(input: FilesProfileInput, request: ProfileRequest): Promise<SourceProfile> {
  const value = (v: string): string =>
    request.kind === 'key'
      ? `TRY_CAST(${v} AS DOUBLE)`
      : /TIME ZONE|TIMESTAMPTZ/i.test(request.columnType)
        ? `epoch_ms(TRY_CAST(${v} AS TIMESTAMPTZ))`
        : request.columnType.toUpperCase() === 'DATE'
          ? `epoch_ms(TRY_CAST(${v} AS DATE))`
          : `epoch_ms(TRY_CAST(${v} AS TIMESTAMP))`;
  const rows = await request.conn.all<{ n: string | null; lo: number | null; hi: number | null; nulls: string | null }>(
    `SELECT row_group_num_rows::BIGINT AS n, ${value('stats_min_value')}::DOUBLE AS lo, ${value('stats_max_value')}::DOUBLE AS hi, stats_null_count::BIGINT AS nulls
       FROM parquet_metadata(${sqlList(input.files.map((f) => f.path))}) WHERE path_in_schema = ${quoteLiteral(request.column)}`,
  );
  const source = 'parquet footers';
  const total = rows.reduce((a, r) => a + Number(r.n ?? 0), 0);
  const out = { rows: { value: total, source } };
  // A row group of NULLs only has no min/max and needs none; any other without them leaves the spread unknown.
  const valued = rows.filter((r) => Number(r.nulls ?? -1) !== Number(r.n ?? 0));
  if (request.exact || rows.some((r) => r.nulls === null) || valued.some((r) => r.lo === null || r.hi === null)) return out;
  const nulls = rows.reduce((a, r) => a + Number(r.nulls ?? 0), 0);
  const ranges = valued.map((r) => ({ lo: Number(r.lo), hi: Number(r.hi), rows: Number(r.n ?? 0) - Number(r.nulls ?? 0) }));
  return { ...out, nullRows: { value: nulls, source }, spread: { kind: 'ranges', ranges, source: `parquet footers (${rows.length} row groups' min/max)` } };
}
