// Throwaway copies of a job's target for `backfill bench`: the same kind of target and table shape,
// never the real one, emptied between strategies and removed at the end. Each connector's target
// side makes its own (`scratch` in its descriptor).

import type { WriteMode } from '../core/write.js';

/** A way of writing that only some targets offer (merge statement, load method, compression). */
export interface TargetVariant<C = unknown> {
  readonly dimension: 'write method' | 'compression';
  readonly label: string;
  /** The scratch target's configuration for this variant. */
  readonly target: C;
  /** Another write mode, for methods that are one (delete + insert is replace mode). */
  readonly mode?: WriteMode;
  /** The setting to put in the job file when this variant wins, e.g. `target.compression: snappy`. */
  readonly setting: string;
  /** Where it is measured: a first load, or a re-run over loaded rows (default for write methods, where merges differ). */
  readonly scenario?: 'empty' | 'loaded';
}

export interface ScratchTarget<C = unknown> {
  /** The job's target block pointed at the scratch place. */
  readonly target: C;
  /** Empty it again (between strategies): the real target's shape, none of its rows. */
  reset(): Promise<void>;
  /** Bytes it holds now (files, or the table with its indexes). */
  size(): Promise<number>;
  /** The target-specific ways of writing worth comparing for this job. */
  variants(): readonly TargetVariant<C>[];
  /** Remove everything it made, commit markers included. */
  drop(): Promise<void>;
  describe(): string;
}
