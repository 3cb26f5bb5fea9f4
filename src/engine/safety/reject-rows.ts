// Rejected rows: kept per chunk in a JSON-lines file with their location and reason, and counted against maxRejects.

import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Chunk } from '../../core/chunk.js';
import { SourceDataError } from '../../core/errors.js';
import { quoteIdent } from '../../core/sql-text.js';
import type { ChunkRead, RejectedRow, RejectReader, Rejects } from '../../connectors/connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';

/**
 * At most this many rejected rows beyond the chunk's limit are kept in its file; the count is
 * always exact. A chunk past its limit fails anyway, and the first rows say why.
 */
export const KEEP_BEYOND_LIMIT = 1000;

/** The chunk has more rejected rows than maxRejects allows: never retried, the data would be the same. */
export class RejectLimitError extends SourceDataError {}

export const NO_REJECTS: Rejects = { count: 0, rows: [] };

export function addRejects(a: Rejects, b: Rejects): Rejects {
  return b.count === 0 ? a : a.count === 0 ? b : { count: a.count + b.count, rows: [...a.rows, ...b.rows] };
}

/** Where a chunk's rejects live: `<dir>/<chunk tag>.jsonl`. */
export function rejectsFile(dir: string, chunk: Chunk): string {
  return join(dir, `${chunk.tag}.jsonl`);
}

/**
 * Replace the chunk's rejects file with these rows (a retry or restate rewrites it, so rejects
 * are never duplicated); no rejects removes it. Written aside and renamed, so a reader never sees half.
 */
export function saveRejects(dir: string, chunk: Chunk, runId: string, rejects: Rejects): string | undefined {
  const file = rejectsFile(dir, chunk);
  if (rejects.count === 0) {
    rmSync(file, { force: true });
    return undefined;
  }
  mkdirSync(dir, { recursive: true });
  const lines = rejects.rows.map((r) =>
    JSON.stringify({ chunk: chunk.key, source: r.source, line: r.line, key: r.key, raw: r.raw, reason: r.reason, run: runId }),
  );
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, lines.join('\n') + '\n');
  renameSync(tmp, file);
  return file;
}

/** Throws when the chunk's rejects pass its limit or the run's; the message names the first row's place and reason. */
export function checkRejects(
  chunk: Chunk,
  rejects: Rejects,
  limits: { readonly perChunk: number; readonly perRun: number | undefined },
  runSoFar: number,
  file: string | undefined,
): void {
  if (rejects.count === 0) return;
  const overChunk = rejects.count > limits.perChunk;
  const overRun = limits.perRun !== undefined && runSoFar + rejects.count > limits.perRun;
  if (!overChunk && !overRun) return;
  const first = rejects.rows[0];
  const where = first === undefined ? '' : `; first: ${describeReject(first)}`;
  const limit = overChunk ? `maxRejects ${limits.perChunk} per chunk` : `maxRejects.perRun ${String(limits.perRun)} (${runSoFar} rejected before in this run)`;
  throw new RejectLimitError(
    `chunk ${chunk.key}: ${rejects.count} rejected row(s), more than ${limit}${where}${file === undefined ? '' : `; all kept in ${file}`}`,
  );
}

export function describeReject(r: RejectedRow): string {
  const place = r.source === null ? (r.key === null ? '' : `row ${r.key}: `) : `${r.source}${r.line === null ? '' : `:${r.line}`}: `;
  return `${place}${r.reason}`;
}

/**
 * Rows whose chunk column is NULL belong to no chunk. A pass sets them aside under a chunk index
 * of this value; they are counted as rejected (in the first chunk of the plan) instead of vanishing.
 */
export const NULL_CHUNK_INDEX = -1;

/** The rows of a relation as rejects with one reason (e.g. NULL in the chunk column); at most `keep` kept. */
export async function relationRejects(conn: DuckConn, relation: string, reason: string, keep: number): Promise<Rejects> {
  const counted = await conn.all<{ n: string }>(`SELECT count(*) AS n FROM ${relation}`);
  const count = Number(counted[0]?.n ?? 0);
  if (count === 0) return NO_REJECTS;
  const rows = await conn.all<{ raw: string }>(`SELECT CAST(to_json(${quoteIdent('t')}) AS VARCHAR) AS raw FROM ${relation} AS t LIMIT ${keep}`);
  return { count, rows: rows.map((r) => ({ source: null, line: null, key: null, raw: r.raw, reason })) };
}

/** A run's rejects: those a one-pass read met (charged to the plan's first chunk), and the run's running total. */
export class RunRejects {
  private readonly fromPass = new Map<string, Rejects>();
  private total = 0;

  constructor(
    private readonly limits: { readonly perChunk: number; readonly perRun: number | undefined; readonly dir: string },
    private readonly runId: string,
  ) {}

  /** How many rejected rows to keep in memory for one chunk (the count stays exact). */
  get keep(): number {
    return this.limits.perChunk + KEEP_BEYOND_LIMIT;
  }

  /**
   * After a pass over a source that cannot prune: its bad lines and its rows with a NULL chunk
   * value have no chunk of their own, so they are charged to the plan's first chunk — the same
   * chunk on every run, so they are kept once. When that chunk is not in this run, it had them already.
   */
  async collectPass(conn: DuckConn, reader: RejectReader | undefined, nulls: string | undefined, column: string, owner: Chunk | undefined): Promise<void> {
    let rejects = reader === undefined ? NO_REJECTS : await reader.take(conn, this.keep);
    if (nulls !== undefined) {
      const nullRows = await relationRejects(conn, nulls, `NULL in the chunk column "${column}"`, this.keep);
      // A reader that turns unparsable lines into rows of NULLs: name those lines in place of the first such rows.
      const located = nullRows.count > 0 && reader?.locate !== undefined ? await reader.locate(conn, this.keep) : [];
      const rows = [...located, ...nullRows.rows.slice(located.length)];
      rejects = addRejects(rejects, { count: Math.max(nullRows.count, located.length), rows });
    }
    if (owner !== undefined && rejects.count > 0) this.fromPass.set(owner.key, rejects);
  }

  /** Rejects a pass charged to this chunk (also on a retry: the retry reads the chunk alone and cannot meet them). */
  passRejects(chunk: Chunk): Rejects {
    return this.fromPass.get(chunk.key) ?? NO_REJECTS;
  }

  /** Rows the target may still refuse in a chunk that already has `sourceCount` rejects. */
  targetBudget(sourceCount: number): number {
    const chunk = this.limits.perChunk - sourceCount;
    const run = this.limits.perRun === undefined ? chunk : this.limits.perRun - this.total - sourceCount;
    return Math.max(0, Math.min(chunk, run));
  }

  /** Keep the chunk's rejects (replacing an earlier attempt's) and fail it when they pass a limit. */
  record(chunk: Chunk, rejects: Rejects): void {
    const file = saveRejects(this.limits.dir, chunk, this.runId, rejects);
    checkRejects(chunk, rejects, this.limits, this.total, file);
  }

  /**
   * The chunk is written: keep its rejects (the target's refusals were within the budget it was
   * given, so this never fails a committed chunk) and count them toward the run's limit.
   */
  commit(chunk: Chunk, rejects: Rejects, changed: boolean): void {
    if (changed) saveRejects(this.limits.dir, chunk, this.runId, rejects);
    this.total += rejects.count;
  }
}

/** After a strict read failed: read the chunk again, setting bad lines aside, and return them. Only on the failure path. */
export async function diagnoseRejects(conn: DuckConn, reader: RejectReader, read: ChunkRead, keep: number): Promise<Rejects> {
  await reader.take(conn, 0);
  // Materialised, so DuckDB parses and casts every column of every row (a count could skip them).
  await conn.run(`CREATE OR REPLACE TEMP TABLE backfill_diagnose AS SELECT * FROM ${await reader.chunkRelation(read)}`);
  await conn.run('DROP TABLE IF EXISTS backfill_diagnose');
  return reader.take(conn, keep);
}

/** DuckDB's complaints about a line it could not read or a value it could not cast. */
export function isReadError(err: unknown): boolean {
  return !(err instanceof RejectLimitError) && /\b(CSV Error|Conversion Error|Could not convert|Error when converting|Malformed JSON)\b/.test(err instanceof Error ? err.message : String(err));
}

/**
 * Rejected rows kept for a chunk whose commit is adopted after its process died: the file was
 * written before the commit, and a committed chunk is within its limit, so it holds them all.
 */
export function keptRejects(dir: string, chunk: Chunk): number {
  try {
    return readFileSync(rejectsFile(dir, chunk), 'utf8').split('\n').filter((l) => l.trim() !== '').length;
  } catch {
    return 0;
  }
}
