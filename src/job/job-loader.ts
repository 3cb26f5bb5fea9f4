// Read a YAML job file: parse, interpolate ${ENV} variables, validate, resolve paths.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { BackfillError, JobSpecError, type JobIssue } from '../core/errors.js';
import { defineJob, type Job } from './job.js';

export interface LoadJobOptions {
  /** Variables for `${NAME}` interpolation; defaults to process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export function loadJobFile(path: string, options: LoadJobOptions = {}): Job {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (cause as Error).message;
    throw new BackfillError('JOB_FILE', `cannot read job file ${path}: ${reason}`, { cause });
  }
  return parseJobText(text, { file: path, baseDir: dirname(file), env: options.env ?? process.env });
}

export function parseJobText(
  text: string,
  options: { file?: string; baseDir?: string; env?: Readonly<Record<string, string | undefined>> } = {},
): Job {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e): JobIssue => {
      const pos = e.linePos?.[0];
      return { path: pos === undefined ? '' : `line ${pos.line}, column ${pos.col}`, message: e.message.split('\n')[0] ?? e.message };
    });
    throw new JobSpecError(issues, options.file);
  }
  const raw: unknown = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new JobSpecError([{ path: '', message: 'a job file is a YAML mapping (name:, source:, target:, chunk:, …)' }], options.file);
  }
  const issues: JobIssue[] = [];
  const interpolated = interpolate(raw, '', options.env ?? process.env, issues);
  if (issues.length > 0) throw new JobSpecError(issues, options.file);
  return defineJob(interpolated, { ...(options.baseDir === undefined ? {} : { baseDir: options.baseDir }), ...(options.file === undefined ? {} : { file: options.file }) });
}

const VARIABLE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replace `${NAME}` and `${NAME:-default}` in string values (never in keys, and after parsing,
 * so a variable's value cannot change the document's structure). `$$` is a literal `$`.
 */
function interpolate(value: unknown, path: string, env: Readonly<Record<string, string | undefined>>, issues: JobIssue[]): unknown {
  if (typeof value === 'string') {
    return value.replace(VARIABLE, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$$') return '$';
      const found = env[name as string];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      issues.push({ path, message: `environment variable ${name} is not set` });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, `${path}.${i}`, env, issues));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolate(v, path === '' ? k : `${path}.${k}`, env, issues)]),
    );
  }
  return value;
}
