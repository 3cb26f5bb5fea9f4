// What `backfill profile` reports: the shape profile-job.ts and profile-cut.ts fill in.

import type { DurationEstimate } from './profile-estimate.js';
import type { Figure } from '../../connectors/source-profile.js';
import type { ChunkRows, Skew } from './profile-skew.js';
import type { Problem } from './profile-problems.js';
import type { ChunkingAdvice } from './profile-recommend.js';

export interface ProfileOptions {
  /** Count rows per chunk with one aggregate query instead of reading statistics. */
  readonly exact?: boolean | undefined;
  /** Time a sampled slice into a scratch target for the duration estimate (default true). */
  readonly estimate?: boolean | undefined;
}

export interface ProfileReport {
  readonly job: string;
  readonly source: string;
  readonly column: string;
  /** `1 month`, or `1000000 keys`. */
  readonly chunking: string;
  readonly rows: Figure<number> | undefined;
  readonly bytes: Figure<number> | undefined;
  readonly min: string | undefined;
  readonly max: string | undefined;
  /** Rows of each chunk of the plan, and where those counts came from. */
  readonly perChunk: { readonly source: string; readonly chunks: readonly ChunkRows[] };
  readonly skew: Skew;
  readonly nullRows: Figure<number> | undefined;
  readonly duplicates: (Figure<number> & { readonly examples: readonly { readonly key: string; readonly rows: number }[] }) | undefined;
  readonly problems: readonly Problem[];
  readonly estimate: DurationEstimate;
  readonly recommended: ChunkingAdvice | undefined;
  /** How long the profile itself took. */
  readonly profileSeconds: number;
}
