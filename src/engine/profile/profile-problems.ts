// The problems `profile` finds before a run meets them, each with the exact change that fixes it.

import { DateTime, IANAZone } from 'luxon';
import type { SourceProfile } from '../../connectors/source-profile.js';
import type { Skew } from './profile-skew.js';

export type ProblemCode = 'source-chunk-index' | 'target-index' | 'null-chunk-values' | 'duplicate-keys' | 'zoneless-dst' | 'skew' | 'one-chunk';

export interface Problem {
  readonly code: ProblemCode;
  readonly message: string;
  /** The statement or job-file change that fixes it. */
  readonly fix: string;
}

/** A chunk this many times the median is worth splitting: it alone sets how long the run takes. */
export const SKEW_RATIO = 5;

export interface ProblemInput {
  readonly column: string;
  readonly timezone: string | undefined;
  readonly key: readonly string[];
  readonly source: SourceProfile;
  readonly nullRows: number | undefined;
  readonly skew: Skew;
  /** The target's index advice (`Target.indexAdvice`), each already naming its statement. */
  readonly targetAdvice: readonly string[];
  /** The recommended chunk setting, for the skew fix. */
  readonly recommended: string | undefined;
}

export function findProblems(input: ProblemInput): Problem[] {
  const out: Problem[] = [];
  const index = input.source.chunkIndex;
  if (index !== undefined && !index.present) {
    out.push({
      code: 'source-chunk-index',
      message: `${index.table} has no index that leads with the chunk column "${input.column}": every chunk would scan the whole table`,
      fix: index.statement,
    });
  }
  for (const advice of input.targetAdvice) {
    const statement = /(CREATE INDEX[^;]*;?|ALTER TABLE[^;]*;?)/.exec(advice)?.[1];
    out.push({ code: 'target-index', message: advice, fix: statement ?? advice });
  }
  if (input.nullRows !== undefined && input.nullRows > 0) {
    out.push({
      code: 'null-chunk-values',
      message: `${input.nullRows.toLocaleString('en-US')} row(s) have a NULL "${input.column}": they belong to no chunk and would be rejected (counted, kept aside with their reason)`,
      fix: `fill "${input.column}" in the source, or leave them out: WHERE "${input.column}" IS NOT NULL in source.query`,
    });
  }
  const dups = input.source.duplicates;
  if (dups !== undefined && dups.keys > 0) {
    const keys = input.key.map((k) => `"${k}"`).join(', ');
    out.push({
      code: 'duplicate-keys',
      message: `${dups.keys.toLocaleString('en-US')} value(s) of the merge key (${keys}) occur more than once, e.g. ${dups.examples.map((e) => `${e.key} (${e.rows} rows)`).join(', ')}: a merge keeps only one row of each`,
      fix: `keep one row per key in the transform: SELECT * FROM source QUALIFY row_number() OVER (PARTITION BY ${keys} ORDER BY "${input.column}" DESC) = 1`,
    });
  }
  if (input.source.zoneless === true && input.timezone !== undefined && hasDst(input.timezone)) {
    out.push({
      code: 'zoneless-dst',
      message: `"${input.column}" is a timestamp without time zone while chunk.timezone is ${input.timezone}, which has daylight saving time: ` +
        'the values are read as UTC, so chunk boundaries fall at local midnight only in winter or only in summer, and wall-clock values of the repeated hour are ambiguous',
      fix: `store the column with its zone (ALTER TABLE … ALTER COLUMN "${input.column}" TYPE timestamptz USING "${input.column}" AT TIME ZONE '${input.timezone}'), or chunk in UTC: chunk.timezone: UTC`,
    });
  }
  const skew = input.skew;
  if (skew.largest !== undefined && skew.median > 0 && skew.ratio >= SKEW_RATIO) {
    out.push({
      code: 'skew',
      message: `the largest chunk (${skew.largest.lo} … ${skew.largest.hi}) holds ${Math.round(skew.ratio)}× the rows of the median chunk: it alone sets the run's length and memory`,
      fix: input.recommended ?? 'use smaller chunks',
    });
  }
  return out;
}

/** Whether a zone's offset changes during the year. */
export function hasDst(zone: string): boolean {
  if (!IANAZone.isValidZone(zone)) return false;
  const year = DateTime.utc().year;
  const z = IANAZone.create(zone);
  return z.offset(Date.UTC(year, 0, 1)) !== z.offset(Date.UTC(year, 6, 1));
}
