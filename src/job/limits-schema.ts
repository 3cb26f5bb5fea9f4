// The job file's `limits:` block — how hard a run may press on its source (docs/limits.md) — and its resolved form.

import { z } from 'zod';
import { durationSchema } from './unit-schemas.js';

const loadSchema = z
  .strictObject({
    query: z.string().min(1).describe('SQL the source runs; the first column of its first row is the load (a number).'),
    above: z.number().describe('The limit holds while the number is above this.'),
  })
  .describe('A load query and its threshold.');

export const limitsSchema = z
  .strictObject({
    rowsPerSecond: z.number().positive().optional().describe('Chunks are spaced so that the rows read stay under this, across every process of the job.'),
    maxReplicaLag: durationSchema.optional().describe("Take no new chunk while the source's replicas (or the replica read from) lag more than this, e.g. 5s. Database sources."),
    maxLoad: loadSchema.optional().describe('Take no new chunk while the query returns more than `above`. Database sources.'),
    criticalLoad: loadSchema.optional().describe('Stop the run when the query returns more than `above`: chunks in flight are interrupted and roll back. Database sources.'),
    pauseFile: z.string().min(1).optional().describe('While this file exists, take no new chunk.'),
    checkInterval: durationSchema.default(1000).describe('How often the limits, the pause and the pause file are read while a run goes (default 1s); they are also read before each chunk.'),
  })
  .describe('How hard a run may press on its source (docs/limits.md): rate, replica lag, load, a pause file.');

export type LimitsSpec = z.output<typeof limitsSchema>;

/** `limits:` resolved: paths absolute, durations in milliseconds. */
export interface Limits {
  readonly rowsPerSecond: number | undefined;
  readonly maxReplicaLagMs: number | undefined;
  readonly maxLoad: { readonly query: string; readonly above: number } | undefined;
  readonly criticalLoad: { readonly query: string; readonly above: number } | undefined;
  readonly pauseFile: string | undefined;
  readonly checkIntervalMs: number;
}

/** The limits a source must be a database to check; named by their job-file path. */
export function databaseLimits(spec: LimitsSpec | undefined): string[] {
  if (spec === undefined) return [];
  return (['maxReplicaLag', 'maxLoad', 'criticalLoad'] as const).filter((name) => spec[name] !== undefined).map((name) => `limits.${name}`);
}

export function resolveLimits(spec: LimitsSpec | undefined, abs: (path: string) => string): Limits {
  return {
    rowsPerSecond: spec?.rowsPerSecond,
    maxReplicaLagMs: spec?.maxReplicaLag,
    maxLoad: spec?.maxLoad,
    criticalLoad: spec?.criticalLoad,
    pauseFile: spec?.pauseFile === undefined ? undefined : abs(spec.pauseFile),
    checkIntervalMs: spec?.checkInterval ?? 1000,
  };
}
