// `backfill ui <job…>`: serve the live dashboard until Ctrl-C/SIGTERM. Parsing and printing only.

import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadJobFile } from '../job/job-loader.js';
import { startDashboard } from '../dashboard/dashboard-server.js';
import { printError } from './output-guard.js';

export function addUiCommand(program: Command, print: (text: string) => void): void {
  program
    .command('ui')
    .description('serve a live, read-only dashboard of the jobs (chunks, throughput, failures, backups, runs) and their status as JSON')
    .argument('<jobs...>', 'job files (YAML)')
    .addOption(new Option('--port <n>', 'port to listen on (0: any free port)').argParser(port).default(8787))
    .option('--host <address>', 'address to listen on; any address but 127.0.0.1, ::1 or localhost requires the token printed at start', '127.0.0.1')
    .action(async (files: string[], flags: { port: number; host: string }) => {
      const jobs = files.map((file) => ({ job: loadJobFile(file), file }));
      const dashboard = await startDashboard({
        jobs, port: flags.port, host: flags.host, token: process.env['BACKFILL_UI_TOKEN'] || undefined,
        onError: (message) => printError(`warning: ${message}`),
      });
      print(`dashboard of ${jobs.map((j) => j.job.name).join(', ')} on ${dashboard.url}`);
      if (dashboard.token !== undefined) print('requests without this token are refused; it is shown only here');
      print('Ctrl-C to stop');
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await dashboard.close();
    });
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected a port number (0-65535), got "${value}"`);
  return n;
}
