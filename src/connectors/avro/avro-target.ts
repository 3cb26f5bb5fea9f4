// An Avro lake as a target: each chunk's files written to a temporary folder by the Avro encoder
// and renamed in as `part-<chunk>-<n>.avro`, hive folders when partitioned; the Parquet lake's rules.

import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, sep } from 'node:path';
import { PlanError } from '../../core/errors.js';
import { quoteIdent } from '../../core/sql-text.js';
import type { ChunkWrite, ColumnInfo, OpenedChunk, Target, TargetCapabilities, TargetContext, TargetRead, WriteResult } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import type { BackupRecord } from '../../core/write.js';
import { partPattern, publishLakeFiles, TMP_DIR, walkLake } from '../parquet/lake-files.js';
import { sweepDeadScratch } from '../../runtime/scratch-dirs.js';
import { backupChunkFiles, dropChunkBackups, restoreChunkFiles } from '../parquet/parquet-backup.js';
import { recordNameOf, type AvroTargetConfig } from './avro-config.js';
import { fileColumns, writeAvroFiles, type AvroLayout, type WrittenFile } from './avro-encode.js';
import { avroChecksum, openLakeFiles } from './avro-readback.js';

const PART = partPattern('avro');

/**
 * Output files are named `part-<chunk tag>-<n>.avro` (append mode adds `-g<generation>`), so a
 * retried or restated chunk overwrites its own files by rename and then removes any it no longer
 * produces: no reader sees a partial file, and a replay never duplicates rows.
 */
export class AvroTarget implements Target {
  readonly capabilities: TargetCapabilities = {
    modes: ['append', 'replace', 'merge'], replaceBy: 'chunk', mergeScope: 'chunk', transactional: false, maxConcurrentWrites: undefined, copyText: false,
  };
  /** chunk tag → files of that chunk in the lake (absolute paths). */
  private readonly index = new Map<string, Set<string>>();
  private indexed = false;
  private columns: readonly ColumnInfo[] = [];
  private readonly tmpRoot: string;

  constructor(
    private readonly config: AvroTargetConfig,
    private readonly ctx: Pick<TargetContext, 'job'>,
  ) {
    this.tmpRoot = join(config.path, TMP_DIR);
  }

  /** Each file carries its own schema in its header: new files simply have the new column. */
  async addColumns(): Promise<readonly string[]> {
    return [];
  }

  async widenColumns(): Promise<void> {}

  /** Checks the output against Avro before anything is written: a column without a faithful Avro type fails here, by name. */
  async prepare(_conn: DuckConn, columns: readonly ColumnInfo[]): Promise<void> {
    const names = new Set(columns.map((c) => c.name));
    for (const col of this.config.partitionBy) {
      if (!names.has(col)) throw new PlanError(`target.partitionBy: "${col}" is not a column of the transform's output (${[...names].join(', ')})`);
    }
    if (this.config.partitionBy.length === columns.length) throw new PlanError('target.partitionBy lists every output column; no data would be left in the files');
    fileColumns({ columns, partitionBy: this.config.partitionBy });
    this.columns = columns;
    mkdirSync(this.config.path, { recursive: true });
    sweepDeadScratch(this.tmpRoot, { own: true });
    this.scan();
  }

  private scan(): void {
    this.index.clear();
    if (existsSync(this.config.path)) {
      for (const file of walkLake(this.config.path, 'avro')) {
        const match = PART.exec(file.slice(file.lastIndexOf(sep) + 1));
        if (match?.[1] !== undefined) this.entry(match[1]).add(file);
      }
    }
    this.indexed = true;
  }

  async readChunk(conn: DuckConn, read: TargetRead, signal: AbortSignal): Promise<OpenedChunk> {
    if (!this.indexed) this.scan();
    return openLakeFiles(conn, [...this.entry(read.chunk.tag)].sort(), this.config.path, read.columns, this.tmpRoot, signal);
  }

  async attach(): Promise<void> {}

  async forgetCommits(): Promise<void> {}

  async committedLease(): Promise<undefined> {
    return undefined;
  }

  async write(w: ChunkWrite): Promise<WriteResult> {
    const tmp = join(this.tmpRoot, `${process.pid}-${w.chunk.tag}-${w.token}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    let old: OpenedChunk | undefined;
    try {
      const backup = await this.backup(w);
      let query = w.query;
      if (w.mode === 'merge' && this.entry(w.chunk.tag).size > 0) {
        old = await openLakeFiles(w.conn, [...this.entry(w.chunk.tag)].sort(), this.config.path, this.columns, this.tmpRoot, w.signal);
        query = mergeQuery(w, old.relation);
      }
      const files = await writeAvroFiles(w.conn, query, tmp, this.layout(), w.signal);
      return { ...this.publish(w, tmp, files), ...backup };
    } finally {
      await old?.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  private layout(): AvroLayout {
    return {
      columns: this.columns,
      partitionBy: this.config.partitionBy,
      recordName: this.config.recordName ?? recordNameOf(this.ctx.job),
      namespace: this.config.namespace,
      codec: this.config.codec,
    };
  }

  private async backup(w: ChunkWrite): Promise<Pick<WriteResult, 'backup'>> {
    if (w.backup === undefined) return {};
    return { backup: await backupChunkFiles(w.conn, this.config.path, w.chunk.tag, this.entry(w.chunk.tag), w.backup, avroChecksum(this.tmpRoot)) };
  }

  async restoreBackup(conn: DuckConn, backup: BackupRecord): Promise<{ rows: number; checksum: string }> {
    const { tag } = JSON.parse(backup.detail) as { tag: string };
    mkdirSync(this.config.path, { recursive: true });
    const current = [...walkLake(this.config.path, 'avro')].filter((file) => PART.exec(file.slice(file.lastIndexOf(sep) + 1))?.[1] === tag);
    return restoreChunkFiles(conn, this.config.path, current, backup, avroChecksum(this.tmpRoot));
  }

  async dropBackups(_conn: DuckConn, backups: readonly BackupRecord[]): Promise<void> {
    dropChunkBackups(backups);
  }

  async close(): Promise<void> {}

  describe(): string {
    return `avro lake ${this.config.path}`;
  }

  private publish(w: ChunkWrite, tmp: string, produced: readonly WrittenFile[]): WriteResult {
    const ordered = produced.filter((f) => f.rows > 0).sort((a, b) => a.file.localeCompare(b.file, 'en', { numeric: true }));
    const lake = { path: this.config.path, extension: 'avro', writer: 'the Avro encoder' };
    return publishLakeFiles(lake, { tag: w.chunk.tag, mode: w.mode, generation: w.generation }, tmp, ordered, this.entry(w.chunk.tag));
  }

  private entry(tag: string): Set<string> {
    let set = this.index.get(tag);
    if (set === undefined) {
      set = new Set();
      this.index.set(tag, set);
    }
    return set;
  }
}

/** Upsert within the chunk's own output: new rows win, old rows of other keys stay. */
function mergeQuery(w: ChunkWrite, old: string): string {
  const keys = w.key.map(quoteIdent);
  const match = keys.map((k) => `n.${k} = o.${k}`).join(' AND ');
  return `WITH n AS MATERIALIZED (${w.query}), o AS (SELECT * FROM ${old})
    SELECT * FROM n UNION ALL BY NAME SELECT o.* FROM o WHERE NOT EXISTS (SELECT 1 FROM n WHERE ${match})`;
}

