// Schema drift: the source's output columns are recorded once and every chunk is compared with them before it writes.

import { SchemaDriftError } from '../../core/errors.js';
import { quoteIdent } from '../../core/sql-text.js';
import { CHUNK_INDEX_COLUMN, type ColumnInfo, type SchemaGroup, type Source, type Target } from '../../connectors/connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import { describeQuery } from '../../runtime/duckdb-sql.js';
import type { Job } from '../../job/job.js';
import type { Ledger } from '../../ledger/ledger.js';
import { transformQuery, type DescribedJob } from '../run/prepare.js';

export type ColumnChange =
  | { readonly kind: 'added'; readonly name: string; readonly type: string }
  | { readonly kind: 'lost'; readonly name: string; readonly type: string }
  | { readonly kind: 'retyped'; readonly name: string; readonly from: string; readonly to: string; readonly widening: boolean };

const INTEGERS = ['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT'];
const UNSIGNED = ['UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT'];
const DECIMAL = /^DECIMAL\((\d+),\s*(\d+)\)$/;

function normalType(type: string): string {
  const t = type.trim().toUpperCase();
  return ({ INT: 'INTEGER', INT4: 'INTEGER', INT8: 'BIGINT', INT2: 'SMALLINT', INT1: 'TINYINT', LONG: 'BIGINT', FLOAT4: 'FLOAT', REAL: 'FLOAT', FLOAT8: 'DOUBLE', STRING: 'VARCHAR', TEXT: 'VARCHAR' } as Record<string, string>)[t] ?? t;
}

/** Digits before the point a type holds exactly, for integer → DECIMAL widening. */
const INTEGER_DIGITS: Record<string, number> = { TINYINT: 3, SMALLINT: 5, INTEGER: 10, BIGINT: 19, UTINYINT: 3, USMALLINT: 5, UINTEGER: 10 };

/**
 * Whether every value of `from` is exactly a value of `to`, so the target's column can be
 * changed to `to` without losing anything: a wider integer, FLOAT → DOUBLE, a DECIMAL with at
 * least as many digits on both sides of the point, an integer into a DECIMAL that holds it.
 */
export function isWidening(from: string, to: string): boolean {
  const a = normalType(from);
  const b = normalType(to);
  if (a === b) return false;
  const ia = INTEGERS.indexOf(a);
  const ib = INTEGERS.indexOf(b);
  if (ia >= 0 && ib >= 0) return ia < ib;
  const ua = UNSIGNED.indexOf(a);
  if (ua >= 0 && ib >= 0) return ib > ua + 1 || (ib === ua + 1 && ib < INTEGERS.length);
  if (ua >= 0 && UNSIGNED.indexOf(b) >= 0) return ua < UNSIGNED.indexOf(b);
  if (a === 'FLOAT' && b === 'DOUBLE') return true;
  const db = DECIMAL.exec(b);
  if (db !== null) {
    const [p2, s2] = [Number(db[1]), Number(db[2])];
    const da = DECIMAL.exec(a);
    if (da !== null) {
      const [p1, s1] = [Number(da[1]), Number(da[2])];
      return s2 >= s1 && p2 - s2 >= p1 - s1;
    }
    const digits = INTEGER_DIGITS[a];
    return digits !== undefined && p2 - s2 >= digits;
  }
  return false;
}

/**
 * Whether a chunk's values of type `value` can be written into a column of type `column` without
 * loss: the same type, a widening, any value into text, integers and FLOAT into DOUBLE. CSV types
 * are detected per file, so a day of whole numbers in a DOUBLE column is no change of schema.
 */
export function fitsIn(value: string, column: string): boolean {
  const v = normalType(value);
  const c = normalType(column);
  if (v === c || isWidening(v, c) || c === 'VARCHAR') return true;
  return c === 'DOUBLE' && (v === 'FLOAT' || INTEGERS.includes(v) || UNSIGNED.includes(v));
}

/** Changes a chunk of `current` columns cannot be written as into `reference` columns (a narrower type is cast up). */
export function blockingChanges(reference: readonly ColumnInfo[], current: readonly ColumnInfo[]): ColumnChange[] {
  return compareColumns(reference, current).filter((c) => c.kind !== 'retyped' || !fitsIn(c.to, c.from));
}

/** How `current` differs from `reference`, by column name (order does not matter). */
export function compareColumns(reference: readonly ColumnInfo[], current: readonly ColumnInfo[]): ColumnChange[] {
  const changes: ColumnChange[] = [];
  const now = new Map(current.map((c) => [c.name, c]));
  const before = new Map(reference.map((c) => [c.name, c]));
  for (const c of current) if (!before.has(c.name)) changes.push({ kind: 'added', name: c.name, type: c.type });
  for (const r of reference) {
    const c = now.get(r.name);
    if (c === undefined) changes.push({ kind: 'lost', name: r.name, type: r.type });
    else if (normalType(c.type) !== normalType(r.type)) changes.push({ kind: 'retyped', name: r.name, from: r.type, to: c.type, widening: isWidening(r.type, c.type) });
  }
  return changes;
}

export function describeChanges(changes: readonly ColumnChange[]): string {
  return changes
    .map((c) =>
      c.kind === 'added' ? `added column "${c.name}" (${c.type})`
      : c.kind === 'lost' ? `lost column "${c.name}" (${c.type})`
      : `column "${c.name}" changed type from ${c.from} to ${c.to}${c.widening ? ' (a widening)' : ''}`,
    )
    .join('; ');
}

/** The recorded columns as stored in the ledger. */
function parseColumns(text: string): ColumnInfo[] {
  return (JSON.parse(text) as { name: string; type: string }[]).map((c) => ({ name: c.name, type: c.type }));
}

function fileList(files: readonly string[]): string {
  const shown = files.slice(0, 5).join(', ');
  return files.length > 5 ? `${shown} and ${files.length - 5} more` : shown;
}

const HINT_FAIL = 'set schemaChanges: evolve in the job to add new columns to the target and write NULL into lost ones (see docs/schema-changes.md)';
const HINT_RETYPE = 'a column can change type only by a safe widening (e.g. INTEGER → BIGINT, FLOAT → DOUBLE, a wider DECIMAL); change the transform to cast it back';

/**
 * The run's view of the schema: the recorded reference (or the first files' columns on a first
 * run), what the target must hold after evolution, and whether every part of the source agrees
 * with it (then the single-pass and direct routes are safe).
 */
export class SchemaGuard {
  private constructor(
    private readonly job: Job,
    private readonly ledger: Ledger,
    /** The recorded reference before this run (undefined on a first run). */
    private readonly recorded: readonly ColumnInfo[] | undefined,
    /** The columns the target holds and every chunk writes, in order. */
    readonly columns: readonly ColumnInfo[],
    /** Columns to add to an existing target and columns to widen there (evolve mode). */
    private readonly additions: readonly ColumnInfo[],
    private readonly widenings: readonly ColumnInfo[],
    /** Every group of the source, and the read over all files, has exactly `columns`: the one-pass and direct routes are safe. */
    readonly clean: boolean,
  ) {}

  /**
   * Describe each group of source files through the transform and compare it with the recorded
   * reference. A source whose chunks read every file (no per-chunk files) cannot fail only the
   * chunks that changed, so there a change that is not allowed fails the whole run before any write.
   */
  static async open(job: Job, ledger: Ledger, source: Source, conn: DuckConn, described: DescribedJob): Promise<SchemaGuard> {
    const split = source.fileSet?.schemaGroups();
    const groups: readonly SchemaGroup[] = split !== undefined && split.groups.length > 1 ? split.groups : [];
    const outputs: { files: readonly string[]; columns: readonly ColumnInfo[] | undefined; error?: string }[] = [];
    if (groups.length === 0) {
      outputs.push({ files: [], columns: described.outputColumns });
    } else {
      for (const g of groups) {
        try {
          outputs.push({ files: g.files, columns: await describeQuery(conn, transformQuery(job, `(SELECT * FROM ${g.relation} LIMIT 0)`)) });
        } catch (err) {
          outputs.push({ files: g.files, columns: undefined, error: (err as Error).message });
        }
      }
    }
    const storedText = await ledger.sourceSchema(job.name);
    const recorded = storedText === undefined ? undefined : parseColumns(storedText);
    const first = outputs.find((o) => o.columns !== undefined)?.columns ?? described.outputColumns;
    // Native types (PostgreSQL's own) ride along where the column is unchanged, for creating a target.
    const native = new Map(described.outputColumns.map((c) => [c.name, c]));
    const withNative = (cols: readonly ColumnInfo[]): ColumnInfo[] =>
      cols.map((c) => {
        const n = native.get(c.name);
        return n !== undefined && normalType(n.type) === normalType(c.type) ? { ...n, name: c.name, type: c.type } : { name: c.name, type: c.type };
      });
    // On a first run the names come from the first files, the types from DuckDB's detection over
    // all of them (it unifies per-file CSV guesses, e.g. BIGINT in one file and DOUBLE in another).
    const unified = new Map(described.outputColumns.map((c) => [c.name, c.type]));
    const reference = withNative(recorded ?? first.map((c) => ({ name: c.name, type: unified.get(c.name) ?? c.type })));
    const evolve = job.schemaChanges === 'evolve';
    const columns = [...reference];
    const additions: ColumnInfo[] = [];
    const widenings: ColumnInfo[] = [];
    const problems: string[] = [];
    const where = (files: readonly string[]): string => (files.length === 0 ? source.describe() : `file(s) ${fileList(files)}`);
    for (const o of outputs) {
      if (o.columns === undefined) {
        problems.push(`${where(o.files)}: the transform cannot read these files' columns: ${o.error ?? ''}`);
        continue;
      }
      const changes = blockingChanges(reference, o.columns);
      if (changes.length === 0) continue;
      if (!evolve) {
        problems.push(`${where(o.files)}: ${describeChanges(changes)}`);
        continue;
      }
      for (const c of changes) {
        if (c.kind === 'added' && !columns.some((x) => x.name === c.name)) {
          const col = withNative([{ name: c.name, type: c.type }])[0] as ColumnInfo;
          columns.push(col);
          additions.push(col);
        } else if (c.kind === 'retyped' && c.widening) {
          const i = columns.findIndex((x) => x.name === c.name);
          const current = columns[i];
          if (current !== undefined && isWidening(current.type, c.to)) {
            columns[i] = { name: c.name, type: c.to };
            const w = widenings.findIndex((x) => x.name === c.name);
            if (w >= 0) widenings.splice(w, 1);
            widenings.push({ name: c.name, type: c.to });
          }
        } else if (c.kind === 'retyped') {
          problems.push(`${where(o.files)}: ${describeChanges([c])}; ${HINT_RETYPE}`);
        }
      }
    }
    // The reads spanning every file (one pass, direct routes) see the union's columns and types: only when they are the run's own.
    const clean =
      outputs.every((o) => o.columns !== undefined && compareColumns(columns, o.columns).length === 0 && sameOrder(columns, o.columns)) &&
      (groups.length === 0 || compareColumns(columns, described.outputColumns).length === 0);
    if (problems.length > 0 && split?.byChunk !== true) {
      throw new SchemaDriftError(
        `the source's columns changed since the schema recorded for job ${job.name} (${reference.map((c) => `${c.name} ${c.type}`).join(', ')}): ` +
          `${problems.join(' | ')}. Nothing was written; ${evolve ? HINT_RETYPE : HINT_FAIL}`,
      );
    }
    return new SchemaGuard(job, ledger, recorded, columns, additions, widenings, clean);
  }

  /** Evolve the target (evolve mode), prepare it for the run's columns, and record them as the reference. */
  async prepareTarget(target: Target, conn: DuckConn): Promise<void> {
    if (this.additions.length > 0) {
      await target.addColumns(conn, this.columns);
    }
    if (this.widenings.length > 0) {
      await target.widenColumns(conn, this.widenings);
    }
    await target.prepare(conn, this.columns);
    const text = JSON.stringify(this.columns.map((c) => ({ name: c.name, type: c.type })));
    if (this.recorded === undefined || JSON.stringify(this.recorded.map((c) => ({ name: c.name, type: c.type }))) !== text) {
      await this.ledger.saveSourceSchema(this.job.name, text);
    }
  }

  /**
   * Compare the chunk's described output with the run's columns before anything is written. A
   * change fails the chunk (schemaChanges: fail, or a retype that is not a widening); under
   * evolve the chunk's query is laid onto the run's columns: a lost column reads NULL, a
   * narrower type is cast to the target's wider one.
   */
  async conform(conn: DuckConn, query: string, chunkKey: string, files: readonly string[] | undefined): Promise<string> {
    // Every group of files (or the one relation of a database) was described at the start and
    // matched the run's columns: each chunk's files belong to one of them, nothing to compare again.
    if (this.clean) return query;
    // The staged split keeps each row's chunk index beside it; it is the engine's, never the target's.
    const out = (await describeQuery(conn, query)).filter((c) => c.name !== CHUNK_INDEX_COLUMN);
    const changes = blockingChanges(this.columns, out);
    if (changes.length === 0) return sameOrder(this.columns, out) && compareColumns(this.columns, out).length === 0 ? query : project(this.columns, out, query);
    const where = `chunk ${chunkKey}${files === undefined || files.length === 0 ? '' : ` (file(s) ${fileList(files)})`}`;
    const evolve = this.job.schemaChanges === 'evolve';
    // Under evolve, a chunk's column may be missing (NULL is written) or narrower than the target's (cast up).
    const refused = changes.filter((c) => !evolve || c.kind === 'added' || c.kind === 'retyped');
    if (refused.length > 0) {
      throw new SchemaDriftError(
        `${where}: the source's columns differ from the schema recorded for job ${this.job.name}: ${describeChanges(refused)}. ` +
          `Nothing of this chunk was written; ${!evolve ? HINT_FAIL : refused.some((c) => c.kind === 'retyped') ? HINT_RETYPE : 'the column appeared after the run started; run again to add it'}`,
      );
    }
    return project(this.columns, out, query);
  }
}

function sameOrder(a: readonly ColumnInfo[], b: readonly ColumnInfo[]): boolean {
  return a.length === b.length && a.every((c, i) => c.name === b[i]?.name);
}

/** The chunk's output with exactly the target's columns, in order: missing ones NULL, narrower ones cast. */
function project(columns: readonly ColumnInfo[], out: readonly ColumnInfo[], query: string): string {
  const have = new Map(out.map((c) => [c.name, c]));
  const exprs = columns.map((c) => {
    const col = quoteIdent(c.name);
    const o = have.get(c.name);
    if (o === undefined) return `CAST(NULL AS ${c.type}) AS ${col}`;
    return normalType(o.type) === normalType(c.type) ? col : `CAST(${col} AS ${c.type}) AS ${col}`;
  });
  return `SELECT ${exprs.join(', ')} FROM (${query}) AS backfill_conformed`;
}
