// The `init` command: inspect a source and write a commented job file for it.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { initJob } from '../engine/init/init-job.js';

export function addInitCommand(program: Command, print: (text: string) => void): void {
  program
    .command('init')
    .description('inspect a source and write a job file for it: chunk column, key and chunk size chosen from what it holds')
    .requiredOption('--source <url|glob>', 'a postgres:// or mysql:// URL (with --table), a .duckdb file (with --table), or CSV / JSON-lines / Parquet files (a glob)')
    .option('--table <name>', 'the source table (or schema.table)')
    .requiredOption('--target <url|path>', 'a postgres:// or mysql:// URL, a .duckdb file, or a folder (a Parquet lake)')
    .option('-o, --output <file>', 'the job file to write (default: <name>.yaml, named after the source)')
    .option('--force', 'replace the job file if it exists')
    .action(async (flags: { source: string; table?: string; target: string; output?: string; force?: boolean }) => {
      const jobDir = flags.output === undefined ? process.cwd() : dirname(resolve(flags.output));
      const result = await initJob({ source: flags.source, table: flags.table, target: flags.target, jobDir });
      const file = flags.output ?? `${result.name}.yaml`;
      mkdirSync(dirname(resolve(file)), { recursive: true });
      try {
        // `wx` refuses an existing file in the same call that creates it: nothing is overwritten by accident.
        writeFileSync(file, result.text, { flag: flags.force === true ? 'w' : 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${file} exists; use --force to replace it`);
        throw err;
      }
      print(`wrote ${file}`);
      if (result.variables.length > 0) {
        print(`it reads passwords from the environment: set ${result.variables.join(' and ')} before running it (e.g. export ${result.variables[0]}=…)`);
      }
      print(`next: backfill plan ${file}`);
    });
}
