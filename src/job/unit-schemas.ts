// Job-file values with units — durations ("30s", "2 hours") and sizes ("128MB") — parsed to numbers, with the parser's message on error.

import { z } from 'zod';
import { parseDuration, parseSize } from '../core/duration.js';

/** A duration as milliseconds: "30s", "10 minutes", "1.5 h", or a bare number of milliseconds. */
export const durationSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (typeof ms === 'string') {
    ctx.addIssue({ code: 'custom', message: ms });
    return z.NEVER;
  }
  return ms;
}).meta({
  description: 'A duration: "30s", "10 minutes", "1.5 h", "2d", or a number of milliseconds.',
  // Only the text form is matched (a pattern does not apply to numbers), and units in any case;
  // the loader names a unit it does not know.
  pattern: '^\\s*\\d+(\\.\\d+)?\\s*[A-Za-z]*\\s*$',
});

/** A size as bytes: "128MB", "1 GiB", or a number of bytes. */
export const sizeSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (typeof bytes === 'string') {
    ctx.addIssue({ code: 'custom', message: bytes });
    return z.NEVER;
  }
  return bytes;
}).meta({
  description: 'A size: "128MB", "1 GiB", or a number of bytes.',
  pattern: '^\\s*\\d+(\\.\\d+)?\\s*[A-Za-z]*\\s*$',
});
