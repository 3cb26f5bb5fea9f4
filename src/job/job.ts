// A validated, resolved job: what the engine runs. Built by `defineJob` or `loadJobFile`.

import { availableParallelism } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { IANAZone } from 'luxon';
import type { JobChunking } from '../core/planner.js';
import { parseInstant, parseKey } from '../core/planner.js';
import { parseDuration, parseStep, type Step } from '../core/duration.js';
import { JobSpecError, type JobIssue } from '../core/errors.js';
import { REFUSED_TYPES, sourceSide, targetSide } from '../connectors/registry.js';
import { databaseLimits, resolveLimits, type Limits } from './limits-schema.js';
import { jobSchema, SOURCE_TYPES, TARGET_TYPES, type JobInput, type JobSpec } from './job-schema.js';

import type { WriteMode } from '../core/write.js';

export type { WriteMode } from '../core/write.js';

export interface Job {
  readonly name: string;
  /** The job file, when loaded from one. */
  readonly file: string | undefined;
  /** Relative paths in the job resolve against this folder. */
  readonly baseDir: string;
  readonly source: JobSpec['source'];
  readonly target: JobSpec['target'];
  readonly chunking: JobChunking;
  /** DuckDB SQL over `source`, run by the engine. */
  readonly transform: string | undefined;
  /** SQL over `source` in the source database's own dialect, run there (`transformIn: source`). */
  readonly sourceTransform: string | undefined;
  readonly write: { readonly mode: WriteMode; readonly key: readonly string[] };
  /** Watermark runs after the first backfill (docs/incremental.md); undefined for a plain backfill. */
  readonly incremental: Incremental | undefined;
  /** Source columns added, lost or retyped since the recorded schema: `fail` the chunk, or `evolve` the target. */
  readonly schemaChanges: 'fail' | 'evolve';
  /** When a run backs up what it changes (`backup:`): auto = replace and merge, always = also append, never. */
  readonly backup: 'auto' | 'always' | 'never';
  /** Chunks in flight at once; with `adaptiveConcurrency` the most the run grows to. */
  readonly concurrency: number;
  /** `concurrency: adaptive`: AIMD within [1, concurrency] on the source's query latency (docs/limits.md). */
  readonly adaptiveConcurrency: boolean;
  /** The query whose latency adaptive concurrency watches (`concurrency.adaptive.probe`); undefined: SELECT 1. */
  readonly adaptiveProbe: string | undefined;
  /** How hard a run may press on its source (`limits:`, docs/limits.md). */
  readonly limits: Limits;
  /** Verify each chunk right after its write (docs/verification.md); a mismatch fails the chunk. */
  readonly verify: boolean;
  readonly retries: { readonly attempts: number; readonly backoffMs: number; readonly maxBackoffMs: number };
  readonly timeoutMs: number;
  readonly shutdownTimeoutMs: number;
  /** The embedded ledger's file (used when `ledgerUrl` is not set). */
  readonly ledgerPath: string;
  /** A shared PostgreSQL ledger (`ledger: postgres://…`). */
  readonly ledgerUrl: string | undefined;
  /** Chunks distributed to `backfill worker` processes through a queue (docs/fleet.md); undefined: run here. */
  readonly queue: QueueSettings | undefined;
  /** Folder for the run's working files (staging, DuckDB spill). */
  readonly stateDir: string;
  /** Rejected rows: how many a chunk (and a run) may have, and the folder that keeps them. */
  readonly rejects: { readonly perChunk: number; readonly perRun: number | undefined; readonly dir: string };
  readonly duckdb: { readonly threads: number; readonly memoryLimit: string | undefined; readonly tempDirectory: string; readonly settings?: Readonly<Record<string, string | number | boolean>> | undefined };
}

/** `queue:` resolved: where the fleet's queue is and its fleet-wide limits. */
export interface QueueSettings {
  readonly url: string;
  readonly name: string;
  readonly inFlight: number | undefined;
  readonly rate: { readonly max: number; readonly perMs: number } | undefined;
  readonly stalledAfterMs: number;
  readonly leaseMs: number;
}

/** `incremental:` resolved. Which kind of cursor it is (time or integer) is learnt from the source's column. */
export interface Incremental {
  readonly cursor: string;
  /** The lookback as written: milliseconds for a time cursor, a count of cursor values for an integer one. */
  readonly lookback: { readonly ms: number; readonly count: bigint; readonly given: 'duration' | 'number' | 'none' };
  readonly settleMs: number;
  readonly step: Step;
  readonly size: bigint;
  /** The zone a cursor without a time zone holds wall-clock times of (`incremental.timezone`, default UTC). */
  readonly timezone: string;
  /** Day, week and month boundaries of window chunks follow this zone (the job's chunk.timezone). */
  readonly alignZone: string;
}

export interface DefineJobOptions {
  /** Folder that relative paths resolve against; defaults to the working directory. */
  readonly baseDir?: string;
  /** Only used in error messages. */
  readonly file?: string;
}

/** Validate and resolve a job given as an object; throws JobSpecError naming every bad field. */
export function defineJob(input: JobInput | unknown, options: DefineJobOptions = {}): Job {
  const parsed = jobSchema.safeParse(input);
  if (!parsed.success) {
    throw new JobSpecError(parsed.error.issues.map((issue) => toJobIssue(issue, input)), options.file);
  }
  return resolveJob(parsed.data, options);
}

function toJobIssue(issue: { path: PropertyKey[]; message: string; code: string; keys?: string[] }, input: unknown): JobIssue {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys' && issue.keys !== undefined) {
    const prefix = path === '' ? '' : `${path}.`;
    return { path: `${prefix}${issue.keys.join(', ' + prefix)}`, message: 'unknown field' };
  }
  if (issue.code === 'invalid_union' && (path === 'source' || path === 'target' || path === 'source.type' || path === 'target.type')) {
    const side = path.startsWith('source') ? 'source' : 'target';
    const given = (input as Record<string, Record<string, unknown> | undefined> | undefined)?.[side]?.type;
    const types = side === 'source' ? SOURCE_TYPES : TARGET_TYPES;
    const refused = typeof given === 'string' ? REFUSED_TYPES[given.toLowerCase()] : undefined;
    if (refused !== undefined) return { path: `${side}.type`, message: `"${String(given)}": ${refused}` };
    return {
      path: `${side}.type`,
      message: given === undefined ? `missing; one of ${types.join(', ')}` : `unknown type "${String(given)}"; one of ${types.join(', ')}`,
    };
  }
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return { path, message: 'required' };
  return { path, message: issue.message };
}

function resolveJob(spec: JobSpec, options: DefineJobOptions): Job {
  const baseDir = resolve(options.baseDir ?? process.cwd());
  const issues: JobIssue[] = [];
  const at = (path: string, message: string): void => {
    issues.push({ path, message });
  };

  const chunking = resolveChunking(spec, at);
  if (spec.write.mode === 'merge' && spec.write.key === undefined) at('write.key', 'merge mode needs the key columns to match rows on');
  if (spec.transformIn === 'source' && !sourceSide(spec.source.type).traits.runsSql) {
    const runners = SOURCE_TYPES.filter((t) => sourceSide(t).traits.runsSql).join(', ');
    at('transformIn', `"source" needs a database source that runs SQL (${runners}), not ${spec.source.type}`);
  }
  if (spec.transformIn === 'source' && spec.transform === undefined) at('transformIn', '"source" needs a transform to run');
  if (!sourceSide(spec.source.type).traits.probes) {
    const probing = SOURCE_TYPES.filter((t) => sourceSide(t).traits.probes).join(', ');
    const wanted = [...databaseLimits(spec.limits), ...(spec.concurrency !== undefined && adaptive(spec.concurrency) ? ['concurrency'] : [])];
    for (const path of wanted) at(path, `needs a database source that reports it (${probing}); a ${spec.source.type} source has no replicas, load or query latency to read`);
  }

  const incremental = resolveIncremental(spec, at);
  const queue = resolveQueue(spec, at);

  if (issues.length > 0) throw new JobSpecError(issues, options.file);

  const abs = (p: string): string => (isAbsolute(p) ? p : join(baseDir, p));
  const sourceConnector = sourceSide(spec.source.type);
  const targetConnector = targetSide(spec.target.type);
  const source = sourceConnector.resolvePaths?.(spec.source, abs) ?? spec.source;
  const target = targetConnector.resolvePaths?.(spec.target, abs) ?? spec.target;
  const stateDir = join(baseDir, '.backfill');
  const cores = availableParallelism();
  // A source that can report its latency is spared by default: a run presses only as hard as the
  // tail of its query latency allows (docs/limits.md); `concurrency: auto` or a number runs unthrottled.
  const concurrency = spec.concurrency ?? (sourceConnector.traits.probes ? 'adaptive' : 'auto');
  return {
    name: spec.name,
    file: options.file,
    baseDir,
    source,
    target,
    chunking,
    transform: spec.transformIn === 'engine' ? spec.transform?.trim().replace(/;\s*$/, '') : undefined,
    sourceTransform: spec.transformIn === 'source' ? spec.transform?.trim().replace(/;\s*$/, '') : undefined,
    write: { mode: spec.write.mode, key: spec.write.key ?? [] },
    incremental,
    schemaChanges: spec.schemaChanges,
    backup: spec.backup,
    // Chunks share one DuckDB thread pool sized to the cores, so more chunks in flight than
    // cores only adds memory; two keep the pool busy while one chunk commits.
    concurrency: typeof concurrency === 'number' ? concurrency : typeof concurrency === 'object' ? concurrency.adaptive.max : Math.max(2, cores),
    adaptiveConcurrency: adaptive(concurrency),
    adaptiveProbe: typeof concurrency === 'object' ? concurrency.adaptive.probe : undefined,
    limits: resolveLimits(spec.limits, abs),
    verify: spec.verify,
    retries: { attempts: spec.retries.attempts, backoffMs: spec.retries.backoff, maxBackoffMs: spec.retries.maxBackoff },
    timeoutMs: spec.timeout,
    shutdownTimeoutMs: spec.shutdownTimeout,
    stateDir,
    queue,
    ledgerPath: spec.ledger === undefined || isPostgresUrl(spec.ledger) ? join(stateDir, `${spec.name}.ledger.sqlite`) : abs(spec.ledger),
    ledgerUrl: spec.ledger !== undefined && isPostgresUrl(spec.ledger) ? spec.ledger : undefined,
    rejects: {
      perChunk: typeof spec.maxRejects === 'number' ? spec.maxRejects : spec.maxRejects.perChunk,
      perRun: typeof spec.maxRejects === 'number' ? undefined : spec.maxRejects.perRun,
      dir: spec.rejects === undefined ? join(stateDir, 'rejects', spec.name) : abs(spec.rejects),
    },
    duckdb: {
      threads: spec.duckdb?.threads ?? cores,
      memoryLimit: spec.duckdb?.memoryLimit,
      tempDirectory: spec.duckdb?.tempDirectory === undefined ? join(stateDir, 'tmp') : abs(spec.duckdb.tempDirectory),
      settings: spec.duckdb?.settings,
    },
  };
}

function resolveChunking(spec: JobSpec, at: (path: string, message: string) => void): JobChunking {
  const c = spec.chunk;
  if (c === undefined) return { kind: 'all' };
  if (c.rows !== undefined) {
    const columns = Array.isArray(c.column) ? c.column : [c.column];
    if (new Set(columns).size !== columns.length) at('chunk.column', `names a column twice (${columns.join(', ')})`);
    return { kind: 'rows', column: columns[0] as string, columns, rows: c.rows, timezone: c.timezone };
  }
  const column = Array.isArray(c.column) ? (c.column[0] as string) : c.column;
  if (c.every !== undefined) {
    const step = parseStep(c.every);
    if (typeof step === 'string') at('chunk.every', step);
    if (!IANAZone.isValidZone(c.timezone)) at('chunk.timezone', `unknown time zone "${c.timezone}" (use an IANA name such as UTC or Europe/Berlin)`);
    const bound = (name: 'from' | 'to'): number | undefined => {
      const value = c[name];
      if (value === undefined) return undefined;
      try {
        if (value instanceof Date) return value.getTime();
        if (typeof value === 'number') throw new Error(`a time chunk needs a date such as 2021-03-01, got the number ${value}`);
        return parseInstant(value, IANAZone.isValidZone(c.timezone) ? c.timezone : 'UTC');
      } catch (err) {
        at(`chunk.${name}`, (err as Error).message);
        return undefined;
      }
    };
    const from = bound('from');
    const to = bound('to');
    if (from !== undefined && to !== undefined && to <= from) at('chunk.to', 'must be after chunk.from');
    return { kind: 'time', column, step: typeof step === 'string' ? { n: 1, unit: 'day' } : step, timezone: c.timezone, from, to };
  }
  const size = BigInt(c.size ?? 1);
  const bound = (name: 'from' | 'to'): bigint | undefined => {
    const value = c[name];
    if (value === undefined) return undefined;
    try {
      if (typeof value === 'number') {
        if (!Number.isSafeInteger(value)) throw new Error(`must be an integer, got ${value}`);
        return BigInt(value);
      }
      if (value instanceof Date) throw new Error('a key chunk needs an integer bound, got a date');
      return parseKey(value);
    } catch (err) {
      at(`chunk.${name}`, (err as Error).message);
      return undefined;
    }
  };
  const from = bound('from');
  const to = bound('to');
  if (from !== undefined && to !== undefined && to <= from) at('chunk.to', 'must be greater than chunk.from');
  return { kind: 'key', column, size, from, to };
}

function resolveIncremental(spec: JobSpec, at: (path: string, message: string) => void): Incremental | undefined {
  const inc = spec.incremental;
  if (inc === undefined) return undefined;
  // A window reads again the rows inside the lookback: only a merge by key makes that harmless.
  if (spec.write.mode !== 'merge') at('write.mode', `incremental runs read rows again inside the lookback, so they merge by key: set write.mode to merge (got ${spec.write.mode})`);
  let lookback: Incremental['lookback'] = { ms: 0, count: 0n, given: 'none' };
  if (typeof inc.lookback === 'number') lookback = { ms: 0, count: BigInt(inc.lookback), given: 'number' };
  else if (typeof inc.lookback === 'string') {
    if (/^\s*\d+\s*$/.test(inc.lookback)) lookback = { ms: 0, count: BigInt(inc.lookback.trim()), given: 'number' };
    else {
      const ms = parseDuration(inc.lookback);
      if (typeof ms === 'string') at('incremental.lookback', ms);
      else lookback = { ms, count: 0n, given: 'duration' };
    }
  }
  const step = parseStep(inc.every ?? '1 day');
  if (typeof step === 'string') at('incremental.every', step);
  if (inc.timezone !== undefined && !IANAZone.isValidZone(inc.timezone)) {
    at('incremental.timezone', `unknown time zone "${inc.timezone}" (use an IANA name such as UTC or America/New_York)`);
  }
  return {
    cursor: inc.cursor,
    lookback,
    settleMs: inc.settle ?? 0,
    step: typeof step === 'string' ? { n: 1, unit: 'day' } : step,
    size: BigInt(inc.size ?? 1_000_000),
    timezone: inc.timezone ?? 'UTC',
    alignZone: spec.chunk?.timezone ?? 'UTC',
  };
}

function adaptive(concurrency: NonNullable<JobSpec['concurrency']>): boolean {
  return concurrency === 'adaptive' || typeof concurrency === 'object';
}

function resolveQueue(spec: JobSpec, at: (path: string, message: string) => void): QueueSettings | undefined {
  if (spec.queue === undefined) return undefined;
  const q = typeof spec.queue === 'string' ? { url: spec.queue, stalledAfter: 30_000, lease: 60_000 } : spec.queue;
  const problem = queueProblem(q.url, spec.ledger);
  if (problem !== undefined) at('queue', problem);
  const more = typeof spec.queue === 'string' ? undefined : spec.queue;
  return {
    url: q.url, name: more?.name ?? spec.name, inFlight: more?.inFlight,
    rate: more?.rate === undefined ? undefined : { max: more.rate.max, perMs: more.rate.per },
    stalledAfterMs: q.stalledAfter, leaseMs: q.lease,
  };
}

/** Why a queue at `url` cannot serve a job whose ledger is `ledger`; undefined when it can. */
export function queueProblem(url: string, ledger: string | undefined): string | undefined {
  if (!/^(rediss?|postgres(ql)?):\/\//i.test(url)) return 'a queue is a redis://, rediss:// or postgres:// URL';
  if (ledger === undefined || !isPostgresUrl(ledger)) {
    return 'a fleet needs a PostgreSQL ledger (ledger: postgres://…): workers on other hosts cannot see an embedded SQLite ledger';
  }
  return undefined;
}

export function isPostgresUrl(text: string): boolean {
  return /^postgres(ql)?:\/\//i.test(text);
}
