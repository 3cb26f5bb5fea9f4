// The change-data-capture side of the CLI: `run` and `status` on a CDC job, and `cdc drop`. Parsing and printing only.

import type { Command } from 'commander';
import { describeError, UsageError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
// The streaming side (and its pgoutput decoder) loads only when a cdc job runs: other commands start without it.
import type { CdcRunResult } from '../engine/cdc/cdc-run.js';
import type { CdcStatus } from '../engine/cdc/cdc-status.js';
import { loadJobFile } from '../job/job-loader.js';
import type { Job } from '../job/job.js';
import { formatBytes, formatCount, formatDuration } from './format.js';
import { printError, printLine, stopWhenOutputCloses } from './output-guard.js';

export { isCdcJob } from '../connectors/open-connectors.js';

/**
 * Stream until SIGINT/SIGTERM (the batch in flight is applied and confirmed, exit 0) or, with
 * `untilCaughtUp`, until the stream passed the position current at start. A second signal exits at once.
 */
export async function runCdcCommand(
  job: Job,
  flags: { json?: boolean; quiet?: boolean; untilCaughtUp?: boolean; from?: string; to?: string; restate?: boolean; retryFailed?: boolean; concurrency?: number; failFast?: boolean },
  print: (text: string) => void,
): Promise<number> {
  const chunkFlags = (['from', 'to', 'restate', 'retryFailed', 'concurrency', 'failFast'] as const).filter((f) => flags[f] !== undefined);
  if (chunkFlags.length > 0) {
    throw new UsageError(`${chunkFlags.map((f) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}: not for a cdc job, which streams changes instead of running chunks (docs/cdc.md)`);
  }
  const stop = new AbortController();
  const onSignal = (name: string): void => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort(`received ${name}`);
    if (flags.json !== true && flags.quiet !== true) printError(`stopping: ${name} received; applying the batch in flight (again to exit at once)`);
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  // Nobody reads the stream's output any more (`--json | head`): stop as on a signal.
  const unwatch = stopWhenOutputCloses(stop);
  const events = new EventBus((err) => printError(`progress display failed: ${describeError(err)}`));
  const detach = attachCdcProgress(events, flags.json === true ? 'json' : flags.quiet === true ? 'quiet' : 'lines');
  try {
    const { runCdc } = await import('../engine/cdc/cdc-run.js');
    const result = await runCdc(job, { signal: stop.signal, untilCaughtUp: flags.untilCaughtUp, events });
    if (flags.json === true) print(JSON.stringify({ event: 'result', ...result }));
    else print(describeResult(result));
    return 0;
  } finally {
    unwatch();
    detach();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

function attachCdcProgress(events: EventBus, mode: 'json' | 'lines' | 'quiet'): () => void {
  if (mode === 'quiet') return () => {};
  if (mode === 'json') {
    return events.onAny((event, payload) => printLine(JSON.stringify({ event, at: new Date().toISOString(), ...payload })));
  }
  const line = printError;
  const offs = [
    events.on('cdc:start', (e) =>
      line(`cdc ${e.job}: streaming from slot ${e.slot} after ${e.lsn}${e.chunksTotal > e.chunksDone ? `; initial copy: ${e.chunksTotal - e.chunksDone} of ${e.chunksTotal} chunks to go` : ''}`),
    ),
    events.on('cdc:chunk', (e) => line(`copied ${e.chunk.key}  ${formatCount(e.rows)} rows${e.dropped > 0 ? ` (${formatCount(e.dropped)} superseded by changes in its window)` : ''}`)),
    events.on('cdc:batch', (e) => line(`applied ${formatCount(e.operations)} changes up to ${e.lsn}: ${formatCount(e.upserted)} upserted, ${formatCount(e.deleted)} deleted (${formatDuration(e.ms)})`)),
    events.on('warning', (e) => line(`warning: ${e.message}`)),
  ];
  return () => offs.forEach((off) => off());
}

function describeResult(r: CdcRunResult): string {
  const copy = r.snapshot.done ? 'initial copy done' : `initial copy ${r.snapshot.chunksDone}/${r.snapshot.chunksTotal} chunks`;
  return (
    `${r.status}: slot ${r.slot} at ${r.lsn}; ${r.batches} batches, ${formatCount(r.changes)} changes, ${formatCount(r.upserted)} upserted, ` +
    `${formatCount(r.deleted)} deleted; ${copy} (${formatCount(r.snapshot.rowsCopied)} rows copied this run) in ${formatDuration(r.ms)}`
  );
}

export async function statusCdcCommand(job: Job, flags: { json?: boolean }, print: (text: string) => void): Promise<void> {
  const { readCdcStatus } = await import('../engine/cdc/cdc-status.js');
  const status = await readCdcStatus(job);
  if (flags.json === true) print(JSON.stringify(status, null, 2));
  else printCdcStatus(status, print);
}

function printCdcStatus(s: CdcStatus, print: (text: string) => void): void {
  print(`job ${s.job}: change data capture from ${s.source} into ${s.target}`);
  const slot = s.slot;
  if (!slot.exists) print(`slot ${slot.slot}: does not exist`);
  else {
    print(`slot ${slot.slot}: ${slot.active ? `active (server process ${slot.activePid ?? '?'})` : 'inactive'}, confirmed up to ${slot.confirmedFlushLsn ?? '-'} (server at ${slot.currentLsn})`);
    print(`lag: ${formatBytes(slot.lagBytes ?? 0)} of WAL not yet applied; retained WAL: ${formatBytes(slot.retainedBytes ?? 0)}; warning above ${formatBytes(s.maxLagBytes)}`);
  }
  print(`publication ${slot.publication}: ${slot.publicationExists ? 'exists' : 'does not exist'}`);
  if (s.position !== null) {
    const p = s.position;
    print(`target holds every change up to ${p.lsn}`);
    print(p.snapshot.done ? `initial copy: done (${p.snapshot.chunksTotal} chunks)` : `initial copy: ${p.snapshot.chunksDone} of ${p.snapshot.chunksTotal} chunks done${p.snapshot.next === null ? '' : `, next from key ${p.snapshot.next}`}`);
  } else if (s.positionError !== null) print(`target position: unavailable (${s.positionError})`);
  else print('target position: nothing applied yet');
  for (const w of s.warnings) print(`warning: ${w}`);
}

export function addCdcCommands(program: Command, print: (text: string) => void): void {
  const cdc = program.command('cdc').description('change data capture: manage the replication slot of a job with source.cdc');
  cdc
    .command('drop')
    .description("drop the job's replication slot and publication (refused while a run streams from the slot); the next run copies the table anew")
    .argument('<job>', 'job file (YAML)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, flags: { json?: boolean }) => {
      const { dropCdc } = await import('../engine/cdc/cdc-status.js');
      const result = await dropCdc(loadJobFile(file));
      if (flags.json === true) print(JSON.stringify(result, null, 2));
      else {
        print(`slot ${result.slot}: ${result.droppedSlot ? 'dropped' : 'already gone'}; publication ${result.publication}: ${result.droppedPublication ? 'dropped' : 'already gone'}`);
        if (result.forgotPosition) print("the target's recorded position was removed: the next run copies the table anew");
      }
    });
}
