// The `cdc:` field of a PostgreSQL source, and the settings a change-data-capture job resolves to.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { durationSchema, sizeSchema } from '../../job/unit-schemas.js';
import { JobSpecError, type JobIssue } from '../../core/errors.js';
import type { Job } from '../../job/job.js';
import type { CdcSettings } from '../change-source.js';

const slotName = z
  .string()
  .regex(/^[a-z0-9_]{1,63}$/, 'lower-case letters, digits and "_", at most 63 (PostgreSQL replication slot names)');

export const DEFAULT_MAX_LAG = 1e9;
export const DEFAULT_BATCH_ROWS = 10_000;
export const DEFAULT_BATCH_WAIT_MS = 1_000;

export const cdcSchema = z.union([
  z.boolean(),
  z.strictObject({
    /** Replication slot; default `backfill_<job name>`. */
    slot: slotName.optional(),
    /** Publication holding the table; default the slot's name. Created when missing. */
    publication: z.string().min(1).max(63).optional(),
    /** `status` warns when the slot's lag (WAL not yet confirmed) exceeds this, e.g. "1 GB". */
    maxLag: sizeSchema.optional(),
    /** A micro-batch ends at the first transaction boundary past `rows` changes or `wait` since its first change. */
    batch: z
      .strictObject({
        rows: z.number().int().min(1).max(10_000_000).optional(),
        wait: durationSchema.optional(),
      })
      .optional(),
  }),
]);

export type CdcConfig = z.output<typeof cdcSchema>;

/** A name PostgreSQL takes for a slot: lower case, [a-z0-9_], at most 63 bytes, still unique when cut. */
export function defaultSlotName(job: string): string {
  const clean = `backfill_${job.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
  if (clean.length <= 63) return clean;
  const hash = createHash('sha256').update(job).digest('hex').slice(0, 8);
  return `${clean.slice(0, 54)}_${hash}`;
}

/** Whether the job streams changes (`source: { type: postgres, cdc: … }`). */
export function isCdcJob(job: Job): boolean {
  return job.source.type === 'postgres' && job.source.cdc !== undefined && job.source.cdc !== false;
}

/** The CDC settings of a job, checked against the rest of the job; undefined for a job without `cdc`. */
export function cdcSettings(job: Job): CdcSettings | undefined {
  if (job.source.type !== 'postgres' || job.source.cdc === undefined || job.source.cdc === false) return undefined;
  const cdc = job.source.cdc === true ? {} : job.source.cdc;
  const issues: JobIssue[] = [];
  if (job.source.table === undefined) issues.push({ path: 'source.table', message: 'cdc streams one table: give table, not query' });
  if (job.write.mode !== 'merge') issues.push({ path: 'write.mode', message: `cdc applies inserts, updates and deletes by key: use merge, not ${job.write.mode}` });
  if (job.write.key.length === 0) issues.push({ path: 'write.key', message: "cdc needs the source table's primary key" });
  if (job.transform !== undefined || job.sourceTransform !== undefined) issues.push({ path: 'transform', message: 'cdc copies the table as it is; a transform is not supported' });
  if (job.incremental !== undefined) issues.push({ path: 'incremental', message: 'a cdc source streams every change from the log; watermark windows are for sources without it: use one or the other' });
  if (job.chunking.kind !== 'key') issues.push({ path: 'chunk', message: 'the initial copy of a cdc job is chunked by an integer key: chunk: { column: <key column>, size: N }' });
  else if (!job.write.key.includes(job.chunking.column)) issues.push({ path: 'chunk.column', message: `must be a column of write.key (${job.write.key.join(', ')})` });
  if (issues.length > 0) throw new JobSpecError(issues, job.file);
  const slot = cdc.slot ?? defaultSlotName(job.name);
  const table = job.source.table as string;
  return {
    slot,
    publication: cdc.publication ?? slot,
    maxLagBytes: cdc.maxLag ?? DEFAULT_MAX_LAG,
    batchRows: cdc.batch?.rows ?? DEFAULT_BATCH_ROWS,
    batchWaitMs: cdc.batch?.wait ?? DEFAULT_BATCH_WAIT_MS,
    table: table.includes('.') ? table : `public.${table}`,
  };
}
