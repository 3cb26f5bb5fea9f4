// The `pause` and `resume` commands, and how limits show in `run` and `status`: argument parsing and printing only.

import type { Command } from 'commander';
import type { RunLimitTimes } from '../core/events.js';
import type { ThrottleStatus } from '../engine/status/read-status.js';
import { pauseJob, resumeJob, type PauseResult } from '../engine/limits/pause-job.js';
import { loadJobFile } from '../job/job-loader.js';
import { formatDuration } from './format.js';

export function addLimitsCommands(program: Command, print: (text: string) => void): void {
  program
    .command('pause')
    .description('pause the job in its ledger: every process running it finishes its chunks in flight and takes no new one until `resume`')
    .argument('<job>', 'job file (YAML)')
    .option('--reason <text>', 'why, shown by `status` and in the runs\' progress')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, flags: { reason?: string; json?: boolean }) => {
      const result = await pauseJob(loadJobFile(file), { reason: flags.reason });
      printPause(result, flags.json === true, print);
    });

  program
    .command('resume')
    .description("lift the job's pause: its running processes take chunks again within one check interval")
    .argument('<job>', 'job file (YAML)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, flags: { json?: boolean }) => {
      printPause(await resumeJob(loadJobFile(file)), flags.json === true, print);
    });
}

function printPause(r: PauseResult, json: boolean, print: (text: string) => void): void {
  if (json) {
    print(JSON.stringify(r, null, 2));
    return;
  }
  const within = `running processes obey within ${formatDuration(r.checkIntervalMs)}`;
  if (r.pause === undefined) print(r.changed ? `job ${r.job} resumed; ${within}` : `job ${r.job} was not paused`);
  else if (!r.changed) print(`job ${r.job} already paused by ${r.pause.pausedBy ?? '?'} at ${new Date(r.pause.pausedAt ?? 0).toISOString()}`);
  else print(`job ${r.job} paused; ${within} (chunks in flight finish); \`backfill resume\` lifts it`);
}

/** A run's wall time held by limits, for its result line. */
export function formatLimitTimes(t: RunLimitTimes): string {
  return `limits: ${formatDuration(t.workingMs)} working, ${formatDuration(t.pausedMs)} paused, ${formatDuration(t.throttledMs)} throttled; ${formatDuration(t.rateWaitMs)} waited between chunks (rate limit, adaptive spacing)`;
}

/** `status`: the pause and what holds each live run. */
export function printThrottleStatus(t: ThrottleStatus, print: (text: string) => void): void {
  if (t.paused !== null) print(`PAUSED by ${t.paused.by ?? '?'} since ${new Date(t.paused.since).toISOString()}${t.paused.reason === null ? '' : `: ${t.paused.reason}`} (backfill resume lifts it)`);
  for (const r of t.runs) {
    const since = r.since === null ? '' : ` for ${formatDuration(Math.max(0, r.checkedAt - r.since))}`;
    const why = r.reasons.length === 0 ? '' : `: ${r.reasons.map((x) => x.text).join('; ')}`;
    const level = r.concurrency < 1 ? `one chunk at a time, ${Math.round(r.concurrency * 100)}% of the time` : `${r.concurrency} chunk(s) at a time`;
    print(`run ${r.runId} ${r.state}${since}${why}; ${level}`);
  }
}
