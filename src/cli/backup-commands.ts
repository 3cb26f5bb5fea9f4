// The `rollback` and `backups` commands: argument parsing and printing only.

import { Option, type Command } from 'commander';
import { parseDuration } from '../core/duration.js';
import { UsageError } from '../core/errors.js';
import { listBackups, pruneBackups, type RunBackups } from '../engine/safety/list-backups.js';
import { rollbackRun } from '../engine/safety/rollback-run.js';
import { loadJobFile } from '../job/job-loader.js';
import { formatBytes, formatCount, formatDuration } from './format.js';

export function addBackupCommands(program: Command, print: (text: string) => void, setExit: (code: number) => void): void {
  program
    .command('rollback')
    .description("restore the target to its state before a run from the run's backups, verified by checksum; its chunks become pending")
    .argument('<job>', 'job file (YAML)')
    .requiredOption('--run <runId>', 'the run to roll back (see `backfill backups` or `backfill status`)')
    .option('--force', 'roll back even when a later run has written the same chunks since (undoes its changes there too)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, flags: { run: string; force?: boolean; json?: boolean }) => {
      const result = await rollbackRun(loadJobFile(file), { runId: flags.run, force: flags.force });
      if (flags.json === true) {
        print(JSON.stringify(result, null, 2));
      } else if (result.status === 'already') {
        print(`run ${result.runId} was already rolled back at ${new Date(result.rolledBackAt ?? 0).toISOString()}; nothing to do`);
      } else {
        print(
          `rolled back run ${result.runId}: ${result.chunks.length} chunk(s) restored, ${formatCount(result.rowsRestored)} rows, ` +
            `every chunk verified against its backup's checksum; the chunks are pending again (${formatDuration(result.ms)})`,
        );
      }
      setExit(0);
    });

  program
    .command('backups')
    .description('list the backups runs took (run, time, chunks, rows, size, location); --prune removes old ones')
    .argument('<job>', 'job file (YAML)')
    .option('--prune', 'remove old backups (with --keep or --older-than)')
    .addOption(new Option('--keep <n>', 'with --prune: keep the backups of the newest N runs').argParser(wholeNumber))
    .addOption(new Option('--older-than <duration>', 'with --prune: remove backups older than this, e.g. 7d').argParser(duration))
    .option('--json', 'print JSON')
    .action(async (file: string, flags: { prune?: boolean; keep?: number; olderThan?: number; json?: boolean }) => {
      const job = loadJobFile(file);
      if (flags.prune !== true) {
        if (flags.keep !== undefined || flags.olderThan !== undefined) throw new UsageError('--keep and --older-than go with --prune');
        const runs = await listBackups(job);
        if (flags.json === true) print(JSON.stringify({ job: job.name, backups: runs }, null, 2));
        else printBackups(job.name, runs, print);
        return;
      }
      const result = await pruneBackups(job, { keep: flags.keep, olderThanMs: flags.olderThan });
      if (flags.json === true) {
        print(JSON.stringify({ job: job.name, ...result }, null, 2));
      } else {
        const bytes = result.removed.reduce((n, r) => n + r.bytes, 0);
        print(`removed the backups of ${result.removed.length} run(s) (${formatBytes(bytes)}); ${result.kept.length} kept`);
      }
    });
}

function printBackups(job: string, runs: readonly RunBackups[], print: (text: string) => void): void {
  if (runs.length === 0) {
    print(`${job}: no backups`);
    return;
  }
  print(`backups of ${job}:`);
  for (const r of runs) {
    const restored = r.restoredAt === null ? '' : `  (rolled back ${new Date(r.restoredAt).toISOString()})`;
    print(
      `  ${r.runId}  ${new Date(r.createdAt).toISOString()}  ${r.chunks} chunk(s)  ${formatCount(r.rows)} rows  ${formatBytes(r.bytes)}  ${r.targetKind} ${r.location}${restored}`,
    );
  }
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`expected a whole number, got "${value}"`);
  return n;
}

function duration(value: string): number {
  const ms = parseDuration(value);
  if (typeof ms === 'string') throw new Error(ms);
  return ms;
}
