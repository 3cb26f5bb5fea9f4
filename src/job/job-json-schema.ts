// The job file's JSON Schema, generated from the zod schema (one source of truth) for editors
// and other tools; what JSON Schema cannot say (durations parsed, cross-field checks) the
// loader still checks.

import { z } from 'zod';
import { jobSchema } from './job-schema.js';

/**
 * Draft-07, because it is what editors' YAML support (yaml-language-server) and most validators
 * read everywhere. The schema describes the file as written (`io: 'input'`): fields with defaults
 * are optional, durations and sizes are the text or number a user types.
 */
export function jobJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(jobSchema, {
    target: 'draft-7',
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      // A Date is what YAML's own timestamps would give a program; in a file it is a date string.
      if (ctx.zodSchema._zod.def.type === 'date') Object.assign(ctx.jsonSchema, { type: 'string' });
    },
  });
  const { $schema, ...rest } = schema;
  return {
    $schema,
    title: 'backfill job file',
    description: 'A backfill job: where rows come from, how history is split into chunks, where rows go. See the README ("The job file").',
    ...rest,
  };
}
