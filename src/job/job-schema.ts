// The job-file contract as a schema: what users write, validated before any work starts.

import { z } from 'zod';
import { durationSchema } from './unit-schemas.js';
import { limitsSchema } from './limits-schema.js';
import { IANAZone } from 'luxon';
import { parseStep } from '../core/duration.js';
import { sourceSchemas, targetSchemas, type SourceConfig, type SourceInput, type TargetConfig, type TargetInput } from '../connectors/registry.js';

import { SOURCE_TYPES, TARGET_TYPES } from '../connectors/registry.js';

export { SOURCE_TYPES, TARGET_TYPES };

/**
 * A union over the blocks the registry's connectors define, discriminated by `type`. The union is
 * built at run time from the list, so its static type is stated from the same list.
 */
function blockUnion<Out, In>(schemas: readonly z.ZodType<Out>[]): z.ZodType<Out, In> {
  const [first, second, ...rest] = schemas as unknown as z.core.$ZodTypeDiscriminable[];
  if (first === undefined || second === undefined) throw new Error('a job block needs at least two connectors in the registry');
  return z.discriminatedUnion('type', [first, second, ...rest]) as unknown as z.ZodType<Out, In>;
}

const boundSchema = z.union([z.string().min(1), z.number(), z.date()]);
const stepSchema = z.string().min(1).describe('A calendar step: N hour|day|week|month|year, e.g. "1 day", "3 months".');
const keySizeSchema = z.union([z.number().int().positive(), z.string().regex(/^\d+$/, 'a whole number')]);

const chunkSchema = z
  .strictObject({
    column: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .describe('The column history is split on: a timestamp or date (with every), an integer key (with size), or any ordered column (with rows); with rows, a list of columns is compared as a tuple.'),
    every: stepSchema.optional().describe('Time chunks of this calendar step, e.g. "1 day" or "1 month".'),
    size: keySizeSchema.optional().describe('Key chunks of this many key values, e.g. 1000000.'),
    rows: z.number().int().min(1).optional().describe('Chunks of about this many rows, cut from the data once and recorded in the ledger; any ordered column (time, integer, decimal, text, UUID) or a list of them.'),
    from: boundSchema.optional().describe("Where history starts (a date, or an integer for key chunks); default: the source's minimum."),
    to: boundSchema.optional().describe("Where history ends, exclusive; default: past the source's maximum."),
    timezone: z.string().min(1).default('UTC').describe('Day, week and month boundaries follow this IANA zone across DST.'),
  })
  .superRefine((c, ctx) => {
    if ([c.every, c.size, c.rows].filter((v) => v !== undefined).length !== 1) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of every (time chunks, e.g. "1 day"), size (key chunks, e.g. 1000000) or rows (chunks of about that many rows, e.g. 500000)' });
    }
    if (Array.isArray(c.column) && c.rows === undefined) {
      ctx.addIssue({ code: 'custom', path: ['column'], message: 'a list of columns is chunked by rows (chunk: { column: [a, b], rows: N }); every and size take one column' });
    }
    if (c.rows !== undefined && (c.from !== undefined || c.to !== undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.from !== undefined ? 'from' : 'to'], message: 'chunks by rows start at the data and grow with it; select a part of them with --from/--to on the command line instead' });
    }
    if (c.every !== undefined) {
      const step = parseStep(c.every);
      if (typeof step === 'string') ctx.addIssue({ code: 'custom', path: ['every'], message: step });
    }
    if (!IANAZone.isValidZone(c.timezone)) {
      ctx.addIssue({ code: 'custom', path: ['timezone'], message: `unknown time zone "${c.timezone}" (use an IANA name such as UTC or Europe/Berlin)` });
    }
  })
  // The refinement above in JSON Schema's words, so editors flag it too.
  .meta({ description: 'How history is split into chunks; without it the job is one chunk, the whole source.', oneOf: [{ required: ['every'] }, { required: ['size'] }, { required: ['rows'] }] });

const incrementalSchema = z
  .strictObject({
    cursor: z.string().min(1).describe('The column that grows when a row is written or changed: a timestamp, timestamptz, date or integer.'),
    lookback: z
      .union([z.string().min(1), z.number().int().min(0)])
      .optional()
      .describe('Read again this far behind the watermark, for rows that arrive late: a duration ("2 hours") for a time cursor, a number for an integer one.'),
    settle: durationSchema.optional().describe('Time cursors: leave out the newest rows, up to now minus this, until they have settled ("5 minutes").'),
    every: stepSchema.optional().describe("Split a run's window into chunks of this calendar step (time cursors; default 1 day)."),
    timezone: z.string().min(1).optional().describe('The zone a cursor without a time zone (TIMESTAMP) is written in; default UTC.'),
    size: keySizeSchema.optional().describe("Split a run's window into chunks of this many cursor values (integer cursors; default 1000000)."),
  })
  .describe('After the first full backfill, each run reads only rows whose cursor moved past the watermark (docs/incremental.md).');

const queueSchema = z.union([
  z.string().min(1),
  z.strictObject({
    url: z.string().min(1).describe('redis://host:6379 (rediss:// for TLS) or postgres://… (BullMQ\'s PostgreSQL backend).'),
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/).optional().describe('The queue\'s name; default the job\'s name.'),
    inFlight: z.number().int().min(1).optional().describe('Chunks in flight across the whole fleet (BullMQ global concurrency).'),
    rate: z.strictObject({ max: z.number().int().min(1), per: durationSchema }).optional().describe('At most `max` chunks started per `per` across the fleet (BullMQ rate limiter).'),
    stalledAfter: durationSchema.default(30_000).describe('A chunk whose worker stopped answering is delivered again after this long (default 30s).'),
    lease: durationSchema.default(60_000).describe('How long a worker\'s ledger lease on a chunk lasts without a heartbeat (default 1 minute).'),
  }),
]);

export const jobSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'letters, digits, "_", "-" and "." (at most 128), starting with a letter or digit')
    .describe('Names the job in the ledger: letters, digits, "_", "-" and ".", starting with a letter or digit.'),
  description: z.string().optional(),
  source: blockUnion<SourceConfig, SourceInput>(sourceSchemas()).describe(`Where rows come from; type: ${SOURCE_TYPES.join(' | ')}.`),
  target: blockUnion<TargetConfig, TargetInput>(targetSchemas()).describe(`Where rows go; type: ${TARGET_TYPES.join(' | ')}.`),
  chunk: chunkSchema.optional(),
  transform: z.string().min(1).optional().describe('SQL over the relation `source`: DuckDB SQL run by the engine, or the source database\'s SQL with transformIn: source.'),
  transformIn: z.enum(['engine', 'source']).default('engine').describe('Who runs the transform: the engine (DuckDB SQL, default) or the source database (its own SQL, pushed down).'),
  write: z
    .strictObject({
      mode: z.enum(['append', 'replace', 'merge']).default('replace').describe('append | replace (default: the chunk replaces its range) | merge (by key).'),
      key: z.array(z.string().min(1)).min(1).optional().describe('Columns that identify a row; required for merge.'),
    })
    .default({ mode: 'replace' }),
  incremental: incrementalSchema.optional(),
  schemaChanges: z.enum(['fail', 'evolve']).default('fail').describe('A source column added, lost or retyped since the first run: fail the chunk, or evolve the target.'),
  verify: z.boolean().default(false).describe('Check every chunk after its write: row counts and checksums of source and target must match, or the chunk fails.'),
  backup: z.enum(['auto', 'always', 'never']).default('auto').describe('Back up what a run will change before it changes it: auto = replace and merge runs, always = append too, never.'),
  concurrency: z
    .union([z.literal('auto'), z.literal('adaptive'), z.number().int().min(1).max(256), z.strictObject({
      adaptive: z.strictObject({
        max: z.number().int().min(1).max(256),
        probe: z.string().min(1).optional().describe('The query whose latency is watched (default SELECT 1); one like your users\' queries reacts as they do.'),
      }),
    })])
    .optional()
    .describe("Chunks in flight at once; auto = the number of cores (at least 2), unthrottled; adaptive = up to that many, halved while the tail of the source's query latency rises above its baseline (below one chunk at a time, chunks are spaced), or { adaptive: { max: N, probe: \"<query>\" } }. Default: adaptive for database sources (PostgreSQL, MySQL), auto for the others."),
  limits: limitsSchema.optional(),
  retries: z
    .strictObject({
      attempts: z.number().int().min(1).max(100).default(3),
      backoff: durationSchema.default(1000),
      maxBackoff: durationSchema.default(30_000),
    })
    .default({ attempts: 3, backoff: 1000, maxBackoff: 30_000 }),
  timeout: durationSchema.default(3_600_000).describe('How long one chunk attempt may take (default 1 hour).'),
  maxRejects: z
    .union([z.number().int().min(0), z.strictObject({ perChunk: z.number().int().min(0).default(0), perRun: z.number().int().min(0).optional() })])
    .default(0)
    .describe('Rows that fail to read, cast or load, kept aside (docs/rejected-rows.md); 0 = the first one fails its chunk; or { perChunk, perRun }.'),
  rejects: z.string().min(1).optional().describe('Folder of the rejected rows, one JSON-lines file per chunk; default .backfill/rejects/<name>/.'),
  shutdownTimeout: durationSchema.default(30_000).describe('On Ctrl-C, how long chunks in flight may take to finish (default 30s).'),
  ledger: z.string().min(1).optional().describe('The ledger: a SQLite file (default .backfill/<name>.ledger.sqlite) or a postgres:// URL shared by several workers.'),
  queue: queueSchema.optional().describe('Distribute chunks to `backfill worker` processes through BullMQ: a redis:// or postgres:// URL, or { url, … } with fleet-wide limits (docs/fleet.md). Needs a PostgreSQL ledger.'),
  duckdb: z
    .strictObject({
      threads: z.number().int().min(1).max(1024).optional(),
      memoryLimit: z.string().min(1).optional(),
      tempDirectory: z.string().min(1).optional(),
      settings: z
        .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
        .superRefine((settings, ctx) => {
          for (const name of Object.keys(settings)) {
            const own = MANAGED_DUCKDB_SETTINGS[name.toLowerCase()];
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'not a DuckDB setting name (letters, digits and _)' });
            else if (own !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: own });
          }
        })
        .optional()
        .describe('Further DuckDB settings, passed to the instance as given (e.g. allocator or CSV tuning).'),
    })
    .optional()
    .describe("The engine's in-process DuckDB: threads, memoryLimit, tempDirectory, settings."),
});

/** Settings the engine sets itself: a job names them through their own fields, or not at all. */
const MANAGED_DUCKDB_SETTINGS: Record<string, string> = {
  threads: 'set with duckdb.threads',
  memory_limit: 'set with duckdb.memoryLimit',
  max_memory: 'set with duckdb.memoryLimit',
  temp_directory: 'set with duckdb.tempDirectory',
  timezone: 'the engine keeps DuckDB in UTC; use chunk.timezone',
  preserve_insertion_order: 'the engine sets it (false) for parallel, streaming writes',
};

export type JobInput = z.input<typeof jobSchema>;
export type JobSpec = z.output<typeof jobSchema>;
