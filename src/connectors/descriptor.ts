// The one shape every connector folder exports (`<system>-connector.ts`): the `type:` it answers
// to, how its block of a job file is checked, what it can do as data, and factories for the parts
// it offers. The registry is a list of these; nothing outside a connector's folder asks its type.

import type { z } from 'zod';
import type { WriteMode } from '../core/write.js';
import type { CdcSettings } from '../core/cdc-settings.js';
import type { JobIssue } from '../core/errors.js';
import type { Source, SourceContext, Target, TargetContext } from './connector.js';
import type { ChangeSource } from './change-source.js';
import type { ScratchTarget } from './scratch-target.js';

/** A job file's `source:` or `target:` block: its `type:` and the fields its connector defines. */
export interface ConnectorBlock {
  readonly type: string;
}

/** Turns a path written in the job file into an absolute one (relative paths resolve against the job's folder). */
export type ResolvePath = (path: string) => string;

/** What a source system can do, known from its type alone (before anything is opened). */
export interface SourceTraits {
  /** Runs SQL of its own, so a job may push its transform down to it (`transformIn: source`). */
  readonly runsSql: boolean;
  /** Streams chunks as PostgreSQL COPY text, so a target that takes COPY needs no engine in between. */
  readonly copyText: boolean;
  /**
   * Offers `Source.health` (replica lag, load queries, query latency), so a job may set the
   * database limits (`limits.maxReplicaLag`, `maxLoad`, `criticalLoad`, `concurrency: adaptive`).
   */
  readonly probes: boolean;
}

/** What a target system can do, known from its type alone. */
export interface TargetTraits {
  /** Takes chunks as PostgreSQL COPY text straight from a source that streams it. */
  readonly copyText: boolean;
}

/** What change data capture needs to know of the job around the source block. */
export interface ChangeCaptureJob {
  readonly name: string;
  readonly write: { readonly mode: WriteMode; readonly key: readonly string[] };
}

/** A source that can stream its table's changes from the database's log (`cdc:` in its block). */
export interface ChangeCapture<C extends ConnectorBlock> {
  /** Whether this block asks for change data capture. */
  enabled(config: C): boolean;
  /** The block's capture settings, or the problems that prevent them (by job-file path). */
  settings(config: C, job: ChangeCaptureJob): CdcSettings | readonly JobIssue[];
  /** The change source that streams the table's changes with these settings. */
  open(config: C, settings: CdcSettings): Promise<ChangeSource>;
}

/** What `backfill init` hands a connector: the text given with --source or --target, and how to keep a secret out of the file. */
export interface InitRequest {
  /** A URL, a path or a glob, as the user gave it. */
  readonly text: string;
  /** `--table` (sources that hold several tables), or the name a target table gets. */
  readonly table: string | undefined;
  /** Records a secret found in `text` and returns the `${VAR}` reference the job file holds instead. */
  secret(value: string): string;
}

/** A column as `backfill init` sees it: enough to choose what to chunk on. */
export interface InspectedColumn {
  readonly name: string;
  /** The type as the system names it, for the job file's comments. */
  readonly type: string;
  /** `time`: a timestamp or date; `integer`: a whole number; `other`: nothing to chunk on. */
  readonly kind: 'time' | 'integer' | 'other';
  /** An index leads with it, so a range on it (a chunk, min/max) is cheap. */
  readonly indexed: boolean;
}

/** The smallest and largest value of a column (epoch milliseconds for time columns), with the row count where reading them counted it. */
export interface InspectedRange {
  readonly min: number;
  readonly max: number;
  readonly rows?: number | undefined;
}

/** What `backfill init` learnt of a source; `close` it when done. */
export interface SourceInspection {
  /** The `source:` block as the job file holds it; paths absolute, secrets as `${VAR}` references. */
  readonly block: ConnectorBlock & Readonly<Record<string, unknown>>;
  /** The table's or files' name: names the job and the target table. */
  readonly name: string;
  /** What was inspected, for the job file's comment (never a secret). */
  readonly description: string;
  readonly columns: readonly InspectedColumn[];
  readonly primaryKey: readonly string[];
  /** Whether the system has indexes at all (files do not: their time column is chosen without one). */
  readonly hasIndexes: boolean;
  /** Rows, from cheap statistics; undefined when they are not known without reading everything. */
  readonly rows: number | undefined;
  /** Where `rows` came from (`pg_class.reltuples`, …), for the comment. */
  readonly rowsFrom: string;
  /** The column's range, read the cheapest way the system has (an index, file statistics); undefined when empty. */
  range(column: InspectedColumn): Promise<InspectedRange | undefined>;
  close(): Promise<void>;
}

/** The `target:` block `backfill init` writes; paths absolute, secrets as `${VAR}` references. */
export type TargetDraft = ConnectorBlock & Readonly<Record<string, unknown>>;

export interface SourceSide<S extends z.ZodType<ConnectorBlock>> {
  /** The block's schema: a strict object whose `type` is the connector's literal. */
  readonly configSchema: S;
  readonly traits: SourceTraits;
  /** The block with its paths made absolute; absent when it names no path. */
  resolvePaths?(config: z.output<S>, resolve: ResolvePath): z.output<S>;
  /** `host:port/database` of a database server, the same text its target side reports; absent for files. */
  databaseOf?(config: z.output<S>): string;
  open(config: z.output<S>, ctx: SourceContext): Promise<Source>;
  readonly changeCapture?: ChangeCapture<z.output<S>>;
  /** Whether `backfill init --source <text>` names this system (a URL scheme, a file extension). */
  claims?(text: string): boolean;
  /** Looks at the source `backfill init` was given: columns, keys, indexes, cheap statistics. */
  inspect?(request: InitRequest): Promise<SourceInspection>;
}

/** What `backfill bench` asks of a scratch copy of a target. */
export interface ScratchParams {
  /** Lower-case letters and digits, unique for the bench run: names the scratch schema or table. */
  readonly id: string;
  /** A folder of the bench run, for file targets. */
  readonly dir: string;
  /** The job name the bench's runs use (their commit markers are removed with the scratch). */
  readonly benchJob: string;
  readonly mode: WriteMode;
  /** Chunks reach the target as a COPY stream from a source in another database (no engine in between). */
  readonly copyStream: boolean;
}

export interface TargetSide<T extends z.ZodType<ConnectorBlock>> {
  readonly configSchema: T;
  readonly traits: TargetTraits;
  resolvePaths?(config: z.output<T>, resolve: ResolvePath): z.output<T>;
  databaseOf?(config: z.output<T>): string;
  open(config: z.output<T>, ctx: TargetContext): Promise<Target>;
  /** A throwaway copy of the target of the same shape, for `backfill bench`. */
  scratch(config: z.output<T>, params: ScratchParams): Promise<ScratchTarget<z.output<T>>>;
  /** Whether `backfill init --target <text>` names this system. */
  claims?(text: string): boolean;
  /** The target block `backfill init` writes for `--target <text>` (no I/O). */
  draft?(request: InitRequest): TargetDraft;
}

/** One connector: a type name with a source side, a target side, or both. */
export interface ConnectorDescriptor<
  Type extends string = string,
  S extends z.ZodType<ConnectorBlock> = z.ZodType<ConnectorBlock>,
  T extends z.ZodType<ConnectorBlock> = z.ZodType<ConnectorBlock>,
> {
  readonly type: Type;
  readonly source?: SourceSide<S>;
  readonly target?: TargetSide<T>;
}

/** Declares a connector; the identity function that keeps its types exact for the registry. */
export function defineConnector<Type extends string, S extends z.ZodType<ConnectorBlock> = never, T extends z.ZodType<ConnectorBlock> = never>(
  descriptor: ConnectorDescriptor<Type, S, T>,
): ConnectorDescriptor<Type, S, T> {
  return descriptor;
}
