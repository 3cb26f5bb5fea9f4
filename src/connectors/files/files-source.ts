// Files read by DuckDB (CSV, JSON lines, Parquet): globbed, optionally pruned by the dates in their names.

import { columnExpr, nullCondition } from '../../core/chunk.js';
import { statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { filePeriod, type FilePeriod } from '../../core/file-period.js';
import { ConnectorError, PlanError } from '../../core/errors.js';
import type { SourceBounds } from '../../core/planner.js';
import { quoteIdent, quoteLiteral } from '../../core/sql-text.js';
import { inPlace, type ChunkRead, type FileSet, type OpenedChunk, type RejectReader, type SchemaGroup, type Source, type SourceCapabilities } from '../connector.js';
import { checkGzipFiles } from './files-gzip.js';
import { firstLine, headerLines } from './files-lines.js';
import { sniffOptions, sniffPicks } from './files-sniff.js';
import { csvKeepRejects, csvRejectReader, JSONL_KEEP_REJECTS, jsonlRejectReader } from './files-rejects.js';
import { afterUnclosed, locateMalformed, oneColumnError, typesPastTrouble, type UnclosedQuote } from './files-malformed.js';
import { DATA_CHECK_PREFIX, type DuckConn } from '../../runtime/duckdb-session.js';
import { renderOptions, sqlList, duckRangeCondition } from '../../runtime/duckdb-sql.js';
import type { CsvSourceConfig, JsonlSourceConfig } from './files-config.js';
import type { ProfileRequest, SourceProfile } from '../source-profile.js';
import type { ParquetSourceConfig } from '../parquet/parquet-config.js';

type FilesConfig = CsvSourceConfig | JsonlSourceConfig | ParquetSourceConfig;

const READERS: Record<FilesConfig['type'], { fn: string; defaults: Record<string, unknown> }> = {
  csv: { fn: 'read_csv', defaults: {} },
  jsonl: { fn: 'read_json', defaults: { format: 'newline_delimited' } },
  parquet: { fn: 'read_parquet', defaults: {} },
};

const FILE_COLUMN = '__backfill_file';
/**
 * CSV read buffer under `duckdb.memoryLimit`. DuckDB's default (16 × max_line_size, 32 MiB) is
 * held per file being read and outside the limit; 4 MiB took 40–50 MiB off the peak of the
 * capped daily-files benchmark at the same speed. A job's own buffer_size or max_line_size wins.
 */
const CAPPED_CSV_BUFFER = 4 * 1024 * 1024;

/** What `prepare` learned by sniffing, by source settings and files (paths, sizes, modification times); the last few only. */
const SNIFFED = new Map<string, { pinned: Record<string, unknown> | undefined; groupOf: Map<string, number>; groupCount: number; unclosed: readonly UnclosedQuote[] }>();

interface DataFile {
  readonly path: string;
  readonly period: FilePeriod | undefined;
}

export class FilesSource implements Source, FileSet {
  readonly fileSet: FileSet = this;
  readonly capabilities: SourceCapabilities;
  readonly rejectReader: RejectReader | undefined;
  private files: DataFile[] = [];
  private fingerprintText: string | undefined;
  /** CSV dialect and column types detected once at planning, so chunks do not sniff every file again. */
  private pinned: Record<string, unknown> | undefined;
  /** Files by the group of their own columns (CSV header line, Parquet schema); one group for all when unknown. */
  private groupOf = new Map<string, number>();
  private groupCount = 1;
  /** Quotes that never close, found when the sniffer failed: the lines after them are read again (see files-malformed.ts). */
  private unclosed: readonly UnclosedQuote[] = [];

  constructor(
    private readonly config: FilesConfig,
    private readonly timezone: string,
    private readonly memoryCapped = false,
    /** Where the gzip files found whole are remembered (the job's state folder); undefined: only in this process. */
    private readonly gzipRecord?: string,
  ) {
    const byName = config.pruneBy === 'filename';
    // Parquet row groups carry min/max statistics, so a range filter skips what it does not need.
    this.capabilities = { prunes: byName || config.type === 'parquet', cheapBounds: byName, copyText: false };
    // Both readers see the whole source, or a chunk's files once they are found whole, setting bad lines aside.
    const all = (): string => this.read(this.files.map((f) => f.path), false, true);
    const chunk = async (read: ChunkRead): Promise<string> => {
      await this.checkChunkFiles(read);
      return this.chunkRelation(read, true);
    };
    this.rejectReader =
      config.type === 'csv'
        ? csvRejectReader(all, chunk, () => this.unclosed)
        : config.type === 'jsonl'
          ? jsonlRejectReader(all, chunk, () => this.files.map((f) => f.path))
          : undefined;
  }

  async profile(request: ProfileRequest): Promise<SourceProfile> {
    return (await import('./files-profile.js')).profileFiles({ format: this.config.type, files: this.files, prunedByName: this.config.pruneBy === 'filename' }, request);
  }

  async prepare(conn: DuckConn): Promise<void> {
    const patterns = Array.isArray(this.config.path) ? this.config.path : [this.config.path];
    const found = new Set<string>();
    for (const pattern of patterns) {
      const rows = await conn.all<{ file: string }>(`SELECT file FROM glob(${quoteLiteral(pattern)}) ORDER BY file`);
      if (rows.length === 0) throw new ConnectorError(`source.path: no file matches ${pattern}`);
      for (const row of rows) found.add(row.file);
    }
    this.files = [...found].sort().map((path) => ({ path, period: filePeriod(path, this.timezone) }));
    // Every read of a source not pruned by file name covers every file: check them all, beside the
    // sniffing below, so a damaged file fails the job before any row is read. A pruned source's
    // files are checked as each chunk opens them (openChunk).
    const pruned = this.config.pruneBy === 'filename';
    const checkAll = (): Promise<void> => checkGzipFiles(this.files.map((f) => f.path), this.gzipRecord);
    const gzipChecked = pruned ? Promise.resolve() : checkAll();
    gzipChecked.catch(() => {});
    if (this.config.pruneBy === 'filename') {
      const undated = this.files.filter((f) => f.period === undefined);
      if (undated.length > 0) {
        throw new PlanError(
          `source.pruneBy is "filename" but ${undated.length} file(s) have no date in their path, e.g. ${undated[0]?.path}; ` +
            'name files like events-2021-03-01.csv or folders like date=2021-03-01/, or set pruneBy: none',
        );
      }
    }
    const hash = createHash('sha256');
    for (const f of this.files) {
      const st = statSync(f.path);
      hash.update(`${f.path}\0${st.size}\0${st.mtimeMs}\n`);
    }
    this.fingerprintText = hash.digest('hex');
    // The same files read the same way were sniffed already in this process (a plan, then its run; a fleet worker's chunk after chunk).
    const key = `${JSON.stringify([this.config, this.timezone, this.memoryCapped])}\0${this.fingerprintText}`;
    const known = SNIFFED.get(key);
    if (known !== undefined) {
      ({ pinned: this.pinned, groupOf: this.groupOf, groupCount: this.groupCount, unclosed: this.unclosed } = known);
      await gzipChecked;
      return;
    }
    try {
      // A CSV's header lines are read while DuckDB sniffs, on its own threads.
      const [pinned, headers] = await Promise.all([
        this.config.type === 'csv' ? this.sniffOnce(conn) : this.config.type === 'jsonl' ? this.jsonColumnsPastMalformed(conn) : undefined,
        this.config.type === 'csv' && this.groupsFiles() ? headerLines(this.files.map((f) => f.path)) : undefined,
      ]);
      this.pinned = pinned;
      await this.groupFiles(conn, headers);
    } catch (error) {
      // A file cut short explains a failed sniff better than the reader's complaint about its last line.
      await (pruned ? checkAll() : gzipChecked);
      throw error;
    }
    await gzipChecked;
    if (SNIFFED.size >= 8) SNIFFED.delete(SNIFFED.keys().next().value as string);
    SNIFFED.set(key, { pinned: this.pinned, groupOf: this.groupOf, groupCount: this.groupCount, unclosed: this.unclosed });
  }

  /**
   * Detecting a CSV's dialect and types costs about as much as reading a small file, and DuckDB
   * does it per file. Sniff the first, middle and last file once (files-sniff.ts); when they agree,
   * every read uses those settings. When they disagree, or the job sets types itself, DuckDB
   * detects as usual.
   */
  private async sniffOnce(conn: DuckConn): Promise<Record<string, unknown> | undefined> {
    const own = Object.keys(this.config.options ?? {}).map((k) => k.toLowerCase());
    // The job's own reader options go into the detection too (types, delim, …); only when it
    // takes the whole schema into its hands, or asks for per-file schemas, is nothing pinned.
    if (['auto_detect', 'union_by_name'].some((k) => own.includes(k))) return undefined;
    if (this.files.length === 0) return undefined;
    const picks = [...new Set([0, Math.floor(this.files.length / 2), this.files.length - 1])].map((i) => this.files[i]?.path as string);
    const sniffed = await sniffPicks(conn, picks, this.config.options);
    if (sniffed.kind === 'malformed') return this.pastMalformed(conn, sniffed.file, sniffed.hidden, sniffed.lone, sniffed.failure);
    if (sniffed.kind === 'differ') return undefined;
    // Columns the job names itself stay as it wrote them; the dialect is pinned either way.
    if (['columns', 'names', 'column_names'].some((k) => own.includes(k))) return { auto_detect: false, ...sniffed.dialect };
    const columns = Object.fromEntries(sniffed.columns.map((c) => [c.name, c.type]));
    return { auto_detect: false, ...sniffed.dialect, columns };
  }

  /**
   * A JSON line that does not parse (a truncated last line) stops read_json's detection of the
   * columns. Then they are detected skipping such lines and pinned, so the read gets to the line
   * and names it (a rejected row, kept with maxRejects). A clean source is described as usual.
   */
  private async jsonColumnsPastMalformed(conn: DuckConn): Promise<Record<string, unknown> | undefined> {
    const own = Object.keys(this.config.options ?? {}).map((k) => k.toLowerCase());
    if (this.files.length === 0 || own.includes('columns')) return undefined;
    const failed = await conn.all(`DESCRIBE SELECT * FROM ${this.relation()}`).then(() => false, (err: unknown) => /Malformed JSON/i.test(String(err)));
    if (!failed) return undefined;
    const rows = await conn.all<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM ${this.read(this.files.map((f) => f.path), false, true)}`);
    return { columns: Object.fromEntries(rows.map((r) => [r.column_name, r.column_type])) };
  }

  /**
   * Only on the failure path: the sniffer failed on `file` or took its header for one column.
   * The file is read once more with the delimiter the job gave (or the one the lone column's name
   * hides) to find the malformed line. Without a delimiter from the job this fails, naming the
   * line and the options to set. With one, the dialect is pinned as given, so the line fails its
   * chunk with its place, or is kept aside with maxRejects; a quote that never closes is read past.
   */
  private async pastMalformed(conn: DuckConn, file: string, hidden: string | undefined, lone: string | undefined, failure: unknown): Promise<Record<string, unknown> | undefined> {
    const opts = Object.fromEntries(Object.entries(this.config.options ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    const given = typeof opts.delim === 'string' ? opts.delim : typeof opts.sep === 'string' ? opts.sep : undefined;
    const delim = given ?? hidden;
    if (delim === undefined) return undefined;
    // The job's column names and types stay out of the dialect: the file is read as text here.
    const reader = Object.fromEntries(Object.entries(this.config.options ?? {}).filter(([k]) => !/^(sep|types|dtypes|column_types|columns|names|column_names)$/i.test(k)));
    const dialect: Record<string, unknown> = { ...reader, delim, quote: typeof opts.quote === 'string' ? opts.quote : '"', header: opts.header !== false };
    const names = firstLine(file).split(delim).map((n) => n.trim().replace(/^"(.*)"$/, '$1'));
    const trouble = await locateMalformed(conn, file, opts.header === false ? names.map((_, i) => `column${i}`) : names, dialect);
    if (given === undefined) throw oneColumnError(file, lone ?? '', delim, trouble, failure);
    const columns = await typesPastTrouble(conn, file, dialect);
    // Nothing found to blame: DuckDB detects as usual, and says what it says.
    if (trouble.lines.length === 0 || columns === undefined) return undefined;
    this.unclosed = trouble.unclosed;
    const own = typeof opts.types === 'object' && opts.types !== null && !Array.isArray(opts.types) ? (opts.types as Record<string, string>) : {};
    const named = typeof opts.columns === 'object' && opts.columns !== null && !Array.isArray(opts.columns) ? (opts.columns as Record<string, string>) : undefined;
    return { ...dialect, auto_detect: false, columns: named ?? { ...columns, ...own } };
  }

  /**
   * A file whose columns differ from its neighbours' would otherwise be read with the others'
   * columns: DuckDB takes the first file's schema for a multi-file read and silently drops a
   * column only later files have. Group the files by their own columns — a CSV's header line
   * (a few bytes per file) or a Parquet footer's schema — so reads that span groups use
   * union_by_name and every group can be described on its own.
   */
  private async groupFiles(conn: DuckConn, headers: ReadonlyMap<string, string> | undefined): Promise<void> {
    this.groupOf = new Map();
    this.groupCount = 1;
    if (!this.groupsFiles()) return;
    let keys: Map<string, string>;
    if (this.config.type === 'csv') {
      // Below lines the sniff found skipped (a preamble) the header is the line after them.
      const skip = typeof this.pinned?.skip === 'number' ? this.pinned.skip : 0;
      keys = new Map(headers !== undefined && skip === 0 ? headers : await headerLines(this.files.map((f) => f.path), skip));
      // When the sampled files disagreed on types, DuckDB detects them per file as it reads; the
      // groups then follow those types too, so a column that turned from numbers to text is seen.
      if (this.pinned === undefined && this.files.length > 1) {
        for (const f of this.files) {
          const rows = await conn
            .all<{ Columns: unknown }>(`SELECT Columns FROM sniff_csv(${quoteLiteral(f.path)}${renderOptions(sniffOptions(this.config.options))})`)
            .catch(() => []);
          keys.set(f.path, `${keys.get(f.path) ?? ''}\n${JSON.stringify(rows[0]?.Columns ?? null)}`);
        }
      }
    } else if (this.config.type === 'parquet') {
      const rows = await conn.all<{ file_name: string; cols: string }>(
        `SELECT file_name, string_agg(name || ':' || coalesce(type, '') || ':' || coalesce(converted_type, '') || ':' || coalesce(CAST(logical_type AS VARCHAR), ''), ',' ORDER BY name) AS cols
         FROM parquet_schema(${sqlList(this.files.map((f) => f.path))}) WHERE num_children IS NULL OR num_children = 0 GROUP BY file_name`,
      );
      keys = new Map(rows.map((r) => [r.file_name, r.cols]));
    } else {
      return;
    }
    const ids = new Map<string, number>();
    for (const f of this.files) {
      const key = keys.get(f.path) ?? '';
      if (!ids.has(key)) ids.set(key, ids.size);
      this.groupOf.set(f.path, ids.get(key) as number);
    }
    this.groupCount = Math.max(1, ids.size);
  }

  /** The job fixing the columns (or header: false, where a first line is data) leaves grouping to it. So does skipping lines, where the first line is not the header. */
  private groupsFiles(): boolean {
    const own = Object.keys(this.config.options ?? {}).map((k) => k.toLowerCase());
    const opts = Object.fromEntries(Object.entries(this.config.options ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    return !['union_by_name', 'columns', 'names', 'column_names', 'auto_detect', 'skip'].some((k) => own.includes(k)) && opts.header !== false;
  }

  schemaGroups(): { readonly groups: readonly SchemaGroup[]; readonly byChunk: boolean } {
    const byChunk = this.config.pruneBy === 'filename';
    if (this.groupCount <= 1) return { groups: [{ files: this.files.map((f) => f.path), relation: this.relation() }], byChunk };
    const groups: string[][] = Array.from({ length: this.groupCount }, () => []);
    for (const f of this.files) groups[this.groupOf.get(f.path) ?? 0]?.push(f.path);
    return { groups: groups.map((files) => ({ files, relation: this.read(files, false) })), byChunk };
  }

  chunkFiles(read: ChunkRead): readonly string[] {
    if (this.config.pruneBy !== 'filename' || read.chunk.kind !== 'time') return this.files.map((f) => f.path);
    return this.filesOf(read);
  }

  private filesOf(read: ChunkRead): string[] {
    const lo = Date.parse(read.chunk.lo);
    const hi = Date.parse(read.chunk.hi);
    return this.files.filter((f) => f.period !== undefined && f.period.lo < hi && lo < f.period.hi).map((f) => f.path);
  }

  async attach(): Promise<void> {}

  fingerprint(): string | undefined {
    return this.fingerprintText;
  }

  relation(): string {
    return this.read(this.files.map((f) => f.path), false);
  }

  async openChunk(read: ChunkRead): Promise<OpenedChunk> {
    await this.checkChunkFiles(read);
    return inPlace(this.chunkRelation(read));
  }

  /** The chunk's own files, found whole before any of their rows is read, strictly or setting bad lines aside (prepare checked them all otherwise). */
  private async checkChunkFiles(read: ChunkRead): Promise<void> {
    if (this.config.pruneBy === 'filename') await checkGzipFiles(read.nulls === true ? this.files.map((f) => f.path) : this.chunkFiles(read), this.gzipRecord);
  }

  async close(): Promise<void> {}

  /** `keepRejects`: bad lines are set aside on the connection (see files-rejects.ts) instead of failing the read. */
  chunkRelation(read: ChunkRead, keepRejects = false): string {
    const col = columnExpr(read, quoteIdent);
    const inRange = duckRangeCondition(col, read.literals);
    if (read.nulls === true) return `(SELECT * FROM ${this.read(this.files.map((f) => f.path), false, keepRejects)} WHERE ${nullCondition(read, quoteIdent)})`;
    if (this.config.pruneBy !== 'filename') return `(SELECT * FROM ${this.read(this.files.map((f) => f.path), false, keepRejects)} WHERE ${inRange})`;

    const lo = Date.parse(read.chunk.lo);
    const hi = Date.parse(read.chunk.hi);
    const mine = this.files.filter((f) => f.period !== undefined && f.period.lo < hi && lo < f.period.hi);
    if (mine.length === 0) return `(SELECT * FROM ${this.relation()} LIMIT 0)`;
    // A file wholly inside the chunk must hold only rows of its own period: any other row would be
    // silently skipped by every chunk, so it fails the chunk instead. Files wider than the chunk
    // (monthly files, daily chunks) legitimately hold other chunks' rows.
    const wider = mine.filter((f) => (f.period as FilePeriod).lo < lo || (f.period as FilePeriod).hi > hi).map((f) => f.path);
    const fileCol = quoteIdent(FILE_COLUMN);
    const complaint =
      `error(${quoteLiteral(DATA_CHECK_PREFIX)} || ${fileCol} || ${quoteLiteral(`: a row has ${read.column} = `)} || ` +
      `coalesce(CAST(${col} AS VARCHAR), 'NULL') || ${quoteLiteral(` outside the period its file name gives (chunk ${read.chunk.key}); fix the file or set source.pruneBy: none`)})`;
    const widerCase = wider.length === 0 ? '' : ` WHEN ${fileCol} IN (${wider.map(quoteLiteral).join(', ')}) THEN false`;
    return `(SELECT * EXCLUDE (${fileCol}) FROM ${this.read(mine.map((f) => f.path), true, keepRejects)} WHERE CASE WHEN ${inRange} THEN true${widerCase} ELSE ${complaint} END)`;
  }

  knownBounds(): SourceBounds | undefined {
    if (this.config.pruneBy !== 'filename' || this.files.length === 0) return undefined;
    const periods = this.files.map((f) => f.period as FilePeriod);
    const min = Math.min(...periods.map((p) => p.lo));
    const max = Math.max(...periods.map((p) => p.hi)) - 1;
    return { min, max };
  }

  describe(): string {
    const path = Array.isArray(this.config.path) ? this.config.path.join(', ') : this.config.path;
    return `${this.config.type} source ${path} (${this.files.length} file${this.files.length === 1 ? '' : 's'})`;
  }

  private read(paths: readonly string[], withFileColumn: boolean, keepRejects = false): string {
    const reader = READERS[this.config.type];
    const options: Record<string, unknown> = { ...reader.defaults };
    if (this.config.type === 'parquet') options.hive_partitioning = this.config.hive;
    Object.assign(options, this.config.options ?? {});
    if (this.config.type === 'csv' && this.memoryCapped && !Object.keys(options).some((k) => /^(buffer_size|max_line_size)$/i.test(k))) {
      options.buffer_size = CAPPED_CSV_BUFFER;
    }
    const groups = new Set(paths.map((p) => this.groupOf.get(p) ?? 0));
    const firstGroup = this.groupOf.get(this.files[0]?.path ?? '') ?? 0;
    if (keepRejects && this.config.type === 'csv' && groups.size > 1) {
      // DuckDB keeps rejected lines only for a scan without union_by_name: one scan per group of
      // files with the same columns, matched up by name.
      const scans = [...groups].map((g) => `SELECT * FROM ${this.read(paths.filter((p) => (this.groupOf.get(p) ?? 0) === g), withFileColumn, true)}`);
      return `(${scans.join(' UNION ALL BY NAME ')})`;
    }
    // Files of different columns are matched by name (a missing column reads NULL); the pinned
    // CSV settings hold only for the files they were detected on.
    if (groups.size > 1) options.union_by_name = true;
    if (this.pinned !== undefined && groups.size === 1 && groups.has(firstGroup)) {
      // The pinned columns already carry the job's own types.
      for (const key of Object.keys(options)) if (/^(types|dtypes|column_types)$/i.test(key)) delete options[key];
      Object.assign(options, this.pinned);
    }
    if (withFileColumn) options.filename = FILE_COLUMN;
    if (keepRejects) Object.assign(options, this.config.type === 'csv' ? csvKeepRejects() : JSONL_KEEP_REJECTS);
    const scan = `${reader.fn}(${sqlList(paths)}${renderOptions(options)})`;
    // After a quote that never closes DuckDB reads the rest of the file as one value (one rejected
    // line): the lines after it are read again, quoting off, so every other row still loads.
    const resync = keepRejects && options.auto_detect === false ? this.unclosed.filter((u) => paths.includes(u.file)) : [];
    if (resync.length === 0) return scan;
    const tails = resync.map((u) => `SELECT * FROM ${reader.fn}(${sqlList([u.file])}${renderOptions({ ...options, ...afterUnclosed(u) })})`);
    return `(SELECT * FROM ${scan} UNION ALL ${tails.join(' UNION ALL ')})`;
  }
}
