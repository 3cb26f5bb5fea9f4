// The `schema` command: print or write the job file's JSON Schema.

import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { jobJsonSchema } from '../job/job-json-schema.js';

export function addSchemaCommand(program: Command, print: (text: string) => void): void {
  program
    .command('schema')
    .description("print the job file's JSON Schema (for editor completion and validation)")
    .option('-o, --output <file>', 'write it to this file instead (replaced if it exists: it is generated)')
    .action((flags: { output?: string }) => {
      const text = `${JSON.stringify(jobJsonSchema(), null, 2)}\n`;
      if (flags.output === undefined) {
        print(text.trimEnd());
        return;
      }
      writeFileSync(flags.output, text);
      print(`wrote ${flags.output}; put "# yaml-language-server: $schema=${flags.output}" (a path relative to the job file, or a URL) as a job file's first line`);
    });
}
