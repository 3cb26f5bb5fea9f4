// The `cdc:` field of a PostgreSQL source block and its defaults.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { durationSchema, sizeSchema } from '../../job/unit-schemas.js';

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

export type { CdcSettings } from '../../core/cdc-settings.js';

/** A name PostgreSQL takes for a slot: lower case, [a-z0-9_], at most 63 bytes, still unique when cut. */
export function defaultSlotName(job: string): string {
  const clean = `backfill_${job.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
  if (clean.length <= 63) return clean;
  const hash = createHash('sha256').update(job).digest('hex').slice(0, 8);
  return `${clean.slice(0, 54)}_${hash}`;
}
