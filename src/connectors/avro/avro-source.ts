// Avro container files as a source. DuckDB as bundled here reads no Avro, so each file is decoded
// once (avsc, fed to DuckDB's appender in column batches) into a Parquet copy under the job's
// state folder, kept while the file is unchanged; chunks then read those copies like Parquet files.

import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { filePeriod } from '../../core/file-period.js';
import { ConnectorError, PlanError } from '../../core/errors.js';
import type { SourceBounds } from '../../core/planner.js';
import { quoteLiteral } from '../../core/sql-text.js';
import type { ChunkRead, FileSet, OpenedChunk, SchemaGroup, Source, SourceCapabilities, SourceContext } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { FilesSource } from '../files/files-source.js';
import type { AvroSourceConfig } from './avro-config.js';
import { avroToParquet, readingOf } from './avro-decode.js';

const DONE = '.complete';

export class AvroSource implements Source, FileSet {
  readonly fileSet: FileSet = this;
  readonly capabilities: SourceCapabilities;
  private inner: FilesSource | undefined;
  /** Parquet copy → the Avro file it was decoded from, for messages. */
  private readonly origin = new Map<string, string>();
  private files: string[] = [];
  private fingerprintText: string | undefined;

  constructor(
    private readonly config: AvroSourceConfig,
    private readonly ctx: Pick<SourceContext, 'job' | 'stateDir' | 'chunking' | 'memoryLimited'>,
  ) {
    const byName = config.pruneBy === 'filename';
    // The copies are Parquet: row-group statistics skip what a chunk does not need.
    this.capabilities = { prunes: true, cheapBounds: byName, copyText: false };
  }

  private get timezone(): string {
    return this.ctx.chunking.kind === 'time' ? this.ctx.chunking.timezone : 'UTC';
  }

  async prepare(conn: DuckConn): Promise<void> {
    const patterns = Array.isArray(this.config.path) ? this.config.path : [this.config.path];
    const found = new Set<string>();
    for (const pattern of patterns) {
      const rows = await conn.all<{ file: string }>(`SELECT file FROM glob(${quoteLiteral(pattern)}) ORDER BY file`);
      if (rows.length === 0) throw new ConnectorError(`source.path: no file matches ${pattern}`);
      for (const row of rows) found.add(row.file);
    }
    this.files = [...found].sort();
    if (this.config.pruneBy === 'filename') {
      const undated = this.files.filter((f) => filePeriod(f, this.timezone) === undefined);
      if (undated.length > 0) {
        throw new PlanError(
          `source.pruneBy is "filename" but ${undated.length} file(s) have no date in their path, e.g. ${undated[0]}; ` +
            'name files like events-2021-03-01.avro or folders like date=2021-03-01/, or set pruneBy: none',
        );
      }
    }
    const reading = readingOf(this.files);
    const schemaKey = JSON.stringify(reading.columns.map((c) => [c.name, c.type]));
    const cache = join(this.ctx.stateDir, 'avro-cache', this.ctx.job.replace(/[^A-Za-z0-9_.-]/g, '_'));
    const hash = createHash('sha256');
    const keep = new Set<string>();
    const copies: string[] = [];
    this.origin.clear();
    for (const file of this.files) {
      const st = statSync(file);
      hash.update(`${file}\0${st.size}\0${st.mtimeMs}\n`);
      const key = createHash('sha256').update(`${file}\0${st.size}\0${st.mtimeMs}\0${schemaKey}`).digest('hex').slice(0, 24);
      keep.add(key);
      // The copy's path ends with the Avro file's own, so the dates in its name still prune.
      const dir = join(cache, key);
      const base = join(dir, file.replace(/^[A-Za-z]:/, '').replace(/^[\\/]+/, ''));
      if (!existsSync(join(dir, DONE))) {
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(join(base, '..'), { recursive: true });
        const tmp = `${base}.tmp`;
        const parts = await avroToParquet(conn, file, reading, tmp);
        // Renamed in once whole, then marked: a killed decode leaves no copy that looks complete.
        for (const part of parts) renameSync(part, part.replace(`${base}.tmp.`, `${base}.`));
        writeFileSync(join(dir, DONE), JSON.stringify({ file, parts: parts.length }));
      }
      for (const name of readdirSync(join(base, '..'))) {
        const path = join(base, '..', name);
        if (path.startsWith(`${base}.`) && path.endsWith('.parquet') && !path.endsWith('.tmp.parquet')) {
          copies.push(path);
          this.origin.set(path, file);
        }
      }
    }
    this.fingerprintText = hash.digest('hex');
    if (existsSync(cache)) for (const name of readdirSync(cache)) if (!keep.has(name)) rmSync(join(cache, name), { recursive: true, force: true });
    this.inner = new FilesSource({ type: 'parquet', path: copies.sort(), hive: false, pruneBy: this.config.pruneBy }, this.timezone, this.ctx.memoryLimited);
    await this.inner.prepare(conn);
  }

  private get files$(): FilesSource {
    if (this.inner === undefined) throw new ConnectorError('the avro source was used before prepare');
    return this.inner;
  }

  async attach(): Promise<void> {}

  fingerprint(): string | undefined {
    return this.fingerprintText;
  }

  relation(): string {
    return this.files$.relation();
  }

  async openChunk(read: ChunkRead): Promise<OpenedChunk> {
    return this.files$.openChunk(read);
  }

  knownBounds(): SourceBounds | undefined {
    return this.files$.knownBounds();
  }

  schemaGroups(): { readonly groups: readonly SchemaGroup[]; readonly byChunk: boolean } {
    const { groups, byChunk } = this.files$.schemaGroups();
    return { groups: groups.map((g) => ({ ...g, files: this.originals(g.files) })), byChunk };
  }

  chunkFiles(read: ChunkRead): readonly string[] {
    return this.originals(this.files$.chunkFiles(read));
  }

  private originals(copies: readonly string[]): string[] {
    return [...new Set(copies.map((c) => this.origin.get(c) ?? c))];
  }

  describe(): string {
    const path = Array.isArray(this.config.path) ? this.config.path.join(', ') : this.config.path;
    return `avro source ${path} (${this.files.length} file${this.files.length === 1 ? '' : 's'})`;
  }

  async close(): Promise<void> {}
}
