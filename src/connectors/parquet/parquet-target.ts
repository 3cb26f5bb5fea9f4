// A hive-partitioned Parquet lake as a target: each chunk's files appear by rename, named by the chunk.

import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, sep } from 'node:path';
import { PlanError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import { CHUNK_INDEX_COLUMN, inPlace, type ChunkWrite, type ColumnInfo, type OnePassOutput, type OnePassWriter, type OpenedChunk, type Target, type TargetCapabilities, type TargetRead, type WriteResult } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { emptyRelation, sqlList } from '../../runtime/duckdb-sql.js';
import type { BackupRecord, WriteMode } from '../../core/write.js';
import { partPattern, publishLakeFiles, TMP_DIR, walkLake } from './lake-files.js';
import { sweepDeadScratch } from '../../runtime/scratch-dirs.js';
import { backupChunkFiles, dropChunkBackups, restoreChunkFiles } from './parquet-backup.js';
import type { ParquetTargetConfig } from './parquet-config.js';

const PART = partPattern('parquet');

interface StatsRow {
  readonly filename: string;
  readonly count: string | number;
  readonly file_size_bytes: string | number;
}

/**
 * Output files are named `part-<chunk tag>-<n>.parquet` (append mode adds `-g<generation>`), so a
 * retried or restated chunk overwrites its own files by rename and then removes any it no
 * longer produces; no reader ever sees a partial file, and a replay never duplicates rows.
 */
export class ParquetTarget implements Target, OnePassWriter {
  /** One pass: every chunk's files are written at once and renamed in when the chunk is published. */
  readonly onePass: OnePassWriter = this;
  readonly capabilities: TargetCapabilities;
  /** chunk tag → files of that chunk in the lake (absolute paths). */
  private readonly index = new Map<string, Set<string>>();
  private indexed = false;

  constructor(private readonly config: ParquetTargetConfig) {
    // The one pass partitions its output by chunk, and DuckDB cannot roll partitioned files over
    // by size: with `fileSize`, chunks are split into staging files and written one by one.
    const onePassModes: WriteMode[] = config.fileSize === undefined ? ['append', 'replace'] : [];
    this.capabilities = { modes: ['append', 'replace', 'merge'], replaceBy: 'chunk', mergeScope: 'chunk', transactional: false, maxConcurrentWrites: undefined, copyText: false, onePassModes };
  }

  /** Each file carries its own columns: new files simply have the new column; readers match files by name (union_by_name). */
  async addColumns(): Promise<readonly string[]> {
    return [];
  }

  /** New files carry the wider type; readers with union_by_name promote the older files' values. */
  async widenColumns(): Promise<void> {}

  async prepare(_conn: DuckConn, columns: readonly ColumnInfo[]): Promise<void> {
    const names = new Set(columns.map((c) => c.name));
    for (const col of this.config.partitionBy) {
      if (!names.has(col)) throw new PlanError(`target.partitionBy: "${col}" is not a column of the transform's output (${[...names].join(', ')})`);
    }
    if (this.config.partitionBy.length === columns.length) throw new PlanError('target.partitionBy lists every output column; no data would be left in the files');
    mkdirSync(this.config.path, { recursive: true });
    this.cleanDeadTemp();
    this.scan();
  }

  private scan(): void {
    this.index.clear();
    if (existsSync(this.config.path)) {
      for (const file of walkLake(this.config.path, 'parquet')) {
        const match = PART.exec(file.slice(file.lastIndexOf(sep) + 1));
        if (match?.[1] !== undefined) this.entry(match[1]).add(file);
      }
    }
    this.indexed = true;
  }

  /** The chunk's own files: what replace and merge in this lake compare against. */
  async readChunk(_conn: DuckConn, read: TargetRead): Promise<OpenedChunk> {
    if (!this.indexed) this.scan();
    const files = [...this.entry(read.chunk.tag)].sort();
    if (files.length === 0) return inPlace(emptyRelation(read.columns));
    const cols = read.columns.map((c) => quoteIdent(c.name)).join(', ');
    // Partition values come back from folder names; read them as the output's own types.
    const hive = read.columns.filter((c) => this.config.partitionBy.includes(c.name));
    const hiveTypes = hive.length === 0 ? '' : `, hive_types = {${hive.map((c) => `${quoteLiteral(c.name)}: ${quoteLiteral(c.type)}`).join(', ')}}`;
    const partitioned = this.config.partitionBy.length > 0;
    return inPlace(`(SELECT ${cols} FROM read_parquet(${sqlList(files)}, hive_partitioning = ${partitioned}, union_by_name = true${hiveTypes}))`);
  }

  async attach(): Promise<void> {}

  /** A lake keeps no commit markers: nothing to forget. */
  async forgetCommits(): Promise<void> {}

  async committedLease(): Promise<undefined> {
    return undefined;
  }

  async write(w: ChunkWrite): Promise<WriteResult> {
    const tmp = join(this.config.path, TMP_DIR, `${process.pid}-${w.chunk.tag}-${w.token}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    try {
      const backup = await this.backup(w);
      const query = w.mode === 'merge' ? this.mergeQuery(w) : w.query;
      const stats = await w.conn.all<StatsRow>(`COPY (${query}) TO ${quoteLiteral(this.copyTarget(tmp))} (${this.copyOptions()})`, w.signal);
      return { ...this.publish(w, tmp, stats), ...backup };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  async writeAll(conn: DuckConn, query: string, signal: AbortSignal): Promise<OnePassOutput> {
    const root = join(this.config.path, TMP_DIR, `${process.pid}-all-${Date.now().toString(36)}`);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    const stats = await conn.all<StatsRow>(
      `COPY (${query}) TO ${quoteLiteral(root)} (${this.copyOptions([CHUNK_INDEX_COLUMN, ...this.config.partitionBy])})`,
      signal,
    );
    const chunks = new Map<string, { root: string; stats: StatsRow[] }>();
    for (const row of stats) {
      const match = new RegExp(`${CHUNK_INDEX_COLUMN}=(-?\\d+)`).exec(row.filename);
      if (match === null) continue;
      const idx = match[1] as string;
      const entry = chunks.get(idx) ?? { root: join(root, `${CHUNK_INDEX_COLUMN}=${idx}`), stats: [] };
      entry.stats.push(row);
      chunks.set(idx, entry);
    }
    const rows = stats.reduce((n, r) => n + Number(r.count), 0);
    return { chunks, rows, cleanup: () => rmSync(root, { recursive: true, force: true }) };
  }

  shareRelation(staged: unknown): string | undefined {
    const share = staged as { root: string } | undefined;
    return share === undefined ? undefined : `read_parquet(${quoteLiteral(join(share.root, '**', '*.parquet'))}, hive_partitioning = false)`;
  }

  async publishChunk(w: ChunkWrite, staged: unknown): Promise<WriteResult> {
    const share = staged as { root: string; stats: StatsRow[] } | undefined;
    const backup = await this.backup(w);
    return { ...this.publish(w, share?.root ?? this.config.path, share?.stats ?? []), ...backup };
  }

  /** The chunk's files as they are before this write publishes, linked aside (`job.backup`). */
  private async backup(w: ChunkWrite): Promise<Pick<WriteResult, 'backup'>> {
    if (w.backup === undefined) return {};
    return { backup: await backupChunkFiles(w.conn, this.config.path, w.chunk.tag, this.entry(w.chunk.tag), w.backup) };
  }

  async restoreBackup(conn: DuckConn, backup: BackupRecord): Promise<{ rows: number; checksum: string }> {
    const { tag } = JSON.parse(backup.detail) as { tag: string };
    mkdirSync(this.config.path, { recursive: true });
    const current = [...walkLake(this.config.path, 'parquet')].filter((file) => PART.exec(file.slice(file.lastIndexOf(sep) + 1))?.[1] === tag);
    return restoreChunkFiles(conn, this.config.path, current, backup);
  }

  async dropBackups(_conn: DuckConn, backups: readonly BackupRecord[]): Promise<void> {
    dropChunkBackups(backups);
  }

  async close(): Promise<void> {}

  describe(): string {
    return `parquet lake ${this.config.path}`;
  }

  private copyTarget(tmp: string): string {
    const toFolder = this.config.partitionBy.length > 0 || this.config.fileSize !== undefined;
    return toFolder ? tmp : join(tmp, 'data_0.parquet');
  }

  private copyOptions(partitionBy: readonly string[] = this.config.partitionBy): string {
    const opts = ['FORMAT parquet', `COMPRESSION ${this.config.compression}`, 'RETURN_STATS true', `WRITE_BLOOM_FILTER ${this.config.bloomFilters}`];
    if (partitionBy.length > 0) opts.push(`PARTITION_BY (${partitionBy.map(quoteIdent).join(', ')})`);
    if (partitionBy.length > 0 || this.config.fileSize !== undefined) opts.push(`FILENAME_PATTERN 'data_{i}'`);
    if (this.config.fileSize !== undefined) opts.push(`FILE_SIZE_BYTES ${this.config.fileSize}`);
    if (this.config.rowGroupSize !== undefined) opts.push(`ROW_GROUP_SIZE ${this.config.rowGroupSize}`);
    return opts.join(', ');
  }

  /** Upsert within the chunk's own output: new rows win, old rows of other keys stay. */
  private mergeQuery(w: ChunkWrite): string {
    const old = [...this.entry(w.chunk.tag)];
    if (old.length === 0) return w.query;
    const keys = w.key.map(quoteIdent);
    const match = keys.map((k) => `n.${k} = o.${k}`).join(' AND ');
    return `WITH n AS MATERIALIZED (${w.query}),
      o AS (SELECT * FROM read_parquet(${sqlList(old)}, hive_partitioning = true, union_by_name = true))
      SELECT * FROM n UNION ALL BY NAME SELECT o.* FROM o WHERE NOT EXISTS (SELECT 1 FROM n WHERE ${match})`;
  }

  private publish(w: ChunkWrite, tmp: string, stats: readonly StatsRow[]): WriteResult {
    const produced = stats
      .map((s) => ({ file: s.filename, rows: Number(s.count), bytes: Number(s.file_size_bytes) }))
      .filter((s) => s.rows > 0)
      .sort((a, b) => a.file.localeCompare(b.file));
    const lake = { path: this.config.path, extension: 'parquet', writer: 'DuckDB' };
    return publishLakeFiles(lake, { tag: w.chunk.tag, mode: w.mode, generation: w.generation }, tmp, produced, this.entry(w.chunk.tag));
  }

  private entry(tag: string): Set<string> {
    let set = this.index.get(tag);
    if (set === undefined) {
      set = new Set();
      this.index.set(tag, set);
    }
    return set;
  }

  /** Remove temporary output of processes that no longer run. */
  private cleanDeadTemp(): void {
    sweepDeadScratch(join(this.config.path, TMP_DIR), { own: true });
  }
}


