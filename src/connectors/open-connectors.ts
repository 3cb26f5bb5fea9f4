// The engine's way in: a job's source, target, scratch target and change-capture settings, each
// made by the connector the registry names for the block's `type:`. Connectors get a narrow
// context, never the job itself.

import { JobSpecError, PlanError, type JobIssue } from '../core/errors.js';
import type { ChangeSource } from './change-source.js';
import type { CdcSettings } from '../core/cdc-settings.js';
import type { Job } from '../job/job.js';
import type { Source, SourceContext, Target, TargetContext } from './connector.js';
import type { ScratchTarget } from './scratch-target.js';
import { sourceSide, targetSide, SOURCE_TYPES, TARGET_TYPES, type TargetConfig } from './registry.js';
import type { InitRequest, SourceInspection, TargetDraft } from './descriptor.js';
import { redactSecrets, UsageError } from '../core/errors.js';

export function targetContext(job: Job): TargetContext {
  return { job: job.name, stateDir: job.stateDir, chunking: job.chunking, write: job.write };
}

export function sourceContext(job: Job): SourceContext {
  return { ...targetContext(job), sourceTransform: job.sourceTransform, memoryLimited: job.duckdb.memoryLimit !== undefined };
}

export async function createSource(job: Job): Promise<Source> {
  return sourceSide(job.source.type).open(job.source, sourceContext(job));
}

export async function createTarget(job: Job): Promise<Target> {
  return targetSide(job.target.type).open(job.target, targetContext(job));
}

/** A scratch copy of the job's target named by `id` (lowercase letters and digits) for a bench whose runs are named `benchJob`. */
export async function createScratchTarget(job: Job, id: string, dir: string, benchJob: string): Promise<ScratchTarget<TargetConfig>> {
  const source = sourceSide(job.source.type);
  const target = targetSide(job.target.type);
  // Chunks travel as a COPY stream from a source in another database when no engine transform runs.
  const copyStream =
    job.transform === undefined && source.traits.copyText && target.traits.copyText && source.databaseOf?.(job.source) !== target.databaseOf?.(job.target);
  return target.scratch(job.target, { id, dir, benchJob, mode: job.write.mode, copyStream });
}

/** The change source of a job that captures changes, with the settings `cdcSettings(job)` gave. */
export async function createChangeSource(job: Job, settings: CdcSettings): Promise<ChangeSource> {
  const capture = sourceSide(job.source.type).changeCapture;
  if (capture === undefined || !capture.enabled(job.source)) throw new PlanError(`job ${job.name} has no cdc: field on a source that captures changes`);
  return capture.open(job.source, settings);
}

/** Whether the job streams changes from its source's log (`cdc:` in a source block that offers it). */
export function isCdcJob(job: Job): boolean {
  return sourceSide(job.source.type).changeCapture?.enabled(job.source) === true;
}

/** The job's change-capture settings, checked against the rest of the job; undefined for a job that captures no changes. */
export function cdcSettings(job: Job): CdcSettings | undefined {
  const capture = sourceSide(job.source.type).changeCapture;
  if (capture === undefined || !capture.enabled(job.source)) return undefined;
  const found = capture.settings(job.source, job);
  const issues: JobIssue[] = Array.isArray(found) ? [...found] : [];
  if (job.write.mode !== 'merge') issues.push({ path: 'write.mode', message: `cdc applies inserts, updates and deletes by key: use merge, not ${job.write.mode}` });
  if (job.write.key.length === 0) issues.push({ path: 'write.key', message: "cdc needs the source table's primary key" });
  if (job.transform !== undefined || job.sourceTransform !== undefined) issues.push({ path: 'transform', message: 'cdc copies the table as it is; a transform is not supported' });
  if (job.incremental !== undefined) issues.push({ path: 'incremental', message: 'a cdc source streams every change from the log; watermark windows are for sources without it: use one or the other' });
  if (job.chunking.kind !== 'key') issues.push({ path: 'chunk', message: 'the initial copy of a cdc job is chunked by an integer key: chunk: { column: <key column>, size: N }' });
  else if (!job.write.key.includes(job.chunking.column)) issues.push({ path: 'chunk.column', message: `must be a column of write.key (${job.write.key.join(', ')})` });
  if (issues.length > 0) throw new JobSpecError(issues, job.file);
  return found as CdcSettings;
}

/**
 * `backfill init`: the source named by `source.text` inspected, and the target block for the
 * request `target` gives once the source's name is known (it names the target table), each made
 * by the one connector that claims its text (a URL scheme, an extension). `relocate` applies a
 * side's `resolvePaths`, so the caller can write paths relative to the job file.
 */
export async function inspectForInit(source: InitRequest, target: (sourceName: string) => InitRequest): Promise<{
  readonly source: SourceInspection;
  readonly target: TargetDraft;
  readonly relocate: (block: Readonly<Record<string, unknown>>, side: 'source' | 'target', to: (path: string) => string) => Readonly<Record<string, unknown>>;
}> {
  const claimed = <T extends { claims?(text: string): boolean }>(types: readonly string[], side: (t: string) => T, text: string, flag: string, offers: (s: T) => boolean): T => {
    const found = types.filter((t) => side(t).claims?.(text) === true && offers(side(t)));
    const names = types.filter((t) => side(t).claims !== undefined && offers(side(t))).join(', ');
    if (found.length !== 1) throw new UsageError(`${flag}: ${found.length === 0 ? 'cannot tell' : `both ${found.join(' and ')} could read`} what ${redactSecrets(text)} is; give a database URL, a file glob or path (${names})`);
    return side(found[0] as string);
  };
  const from = claimed(SOURCE_TYPES, sourceSide, source.text, '--source', (s) => s.inspect !== undefined);
  const into = claimed(TARGET_TYPES, targetSide, target('').text, '--target', (t) => t.draft !== undefined);
  const inspection = await (from.inspect as NonNullable<typeof from.inspect>)(source);
  try {
    const draft = (into.draft as NonNullable<typeof into.draft>)(target(inspection.name));
    return {
      source: inspection,
      target: draft,
      relocate: (block, side, to) => {
        const resolve = (side === 'source' ? from.resolvePaths : into.resolvePaths) as ((c: unknown, r: (p: string) => string) => Record<string, unknown>) | undefined;
        return resolve === undefined ? block : resolve(block, to);
      },
    };
  } catch (err) {
    await inspection.close();
    throw err;
  }
}
