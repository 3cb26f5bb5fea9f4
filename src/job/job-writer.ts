// Writes a job file as YAML text, section by section, each with the comments that explain it.

import { stringify } from 'yaml';

export interface JobFileSection {
  /** Lines written as `# …` above the section. */
  readonly comments: readonly string[];
  /** The top-level field (`name`, `source`, `chunk`, …). */
  readonly key: string;
  readonly value: unknown;
}

/** The file's text: a header comment, then each section; values are quoted as YAML needs. */
export function renderJobFile(header: readonly string[], sections: readonly JobFileSection[]): string {
  const comment = (lines: readonly string[]): string => lines.map((l) => (l === '' ? '#' : `# ${l}`)).join('\n');
  const parts = [comment(header)];
  for (const s of sections) {
    const body = stringify({ [s.key]: s.value }, { lineWidth: 0 }).trimEnd();
    parts.push(s.comments.length === 0 ? body : `${comment(s.comments)}\n${body}`);
  }
  return `${parts.join('\n\n')}\n`;
}
