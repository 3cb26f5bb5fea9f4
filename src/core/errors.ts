// The error hierarchy: one root, stable codes, the cause always kept.

export type ErrorCode =
  | 'JOB_SPEC'
  | 'JOB_FILE'
  | 'PLAN'
  | 'CONNECTOR'
  | 'SOURCE_DATA'
  | 'LEDGER'
  | 'LEASE_LOST'
  | 'CHUNK_FAILED'
  | 'CHUNK_TIMEOUT'
  | 'ABORTED'
  | 'USAGE'
  | 'SCHEMA_DRIFT'
  | 'VERIFY_MISMATCH'
  | 'ROLLBACK_REFUSED';

export class BackfillError extends Error {
  readonly code: ErrorCode;
  /** Whether retrying the same work may succeed (network blips, lock conflicts). */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** One problem in a job file: where (a dotted path such as `chunk.every`) and what. */
export interface JobIssue {
  readonly path: string;
  readonly message: string;
}

export class JobSpecError extends BackfillError {
  readonly issues: readonly JobIssue[];
  readonly file: string | undefined;

  constructor(issues: readonly JobIssue[], file?: string, options: { cause?: unknown } = {}) {
    const where = file === undefined ? 'job' : file;
    const lines = issues.map((i) => `  - ${i.path === '' ? '(root)' : i.path}: ${i.message}`);
    super('JOB_SPEC', `invalid job ${where}:\n${lines.join('\n')}`, options);
    this.issues = issues;
    this.file = file;
  }
}

export class PlanError extends BackfillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('PLAN', message, options);
  }
}

export class ConnectorError extends BackfillError {
  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super('CONNECTOR', message, options);
  }
}

/** The source holds data the job cannot process as declared (a row outside its file's period, …). */
export class SourceDataError extends BackfillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SOURCE_DATA', message, options);
  }
}

export class LedgerError extends BackfillError {
  constructor(message: string, options: { cause?: unknown; code?: 'LEDGER' | 'LEASE_LOST' } = {}) {
    super(options.code ?? 'LEDGER', message, options);
  }
}

export class ChunkFailedError extends BackfillError {
  readonly chunkKey: string;
  readonly attempts: number;

  constructor(chunkKey: string, attempts: number, options: { cause?: unknown } = {}) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super('CHUNK_FAILED', `chunk ${chunkKey} failed after ${attempts} attempt(s): ${reason}`, options);
    this.chunkKey = chunkKey;
    this.attempts = attempts;
  }
}

/** A chunk's rows in the target differ from what the source gives (counts or checksums); retrying the same write would not help. */
export class VerifyMismatchError extends BackfillError {
  constructor(message: string) {
    super('VERIFY_MISMATCH', message, { retryable: false });
  }
}

export class AbortedError extends BackfillError {
  constructor(message = 'aborted', options: { cause?: unknown } = {}) {
    super('ABORTED', message, options);
  }
}

export class UsageError extends BackfillError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** The source's columns differ from the schema recorded for the job (added, lost or retyped columns). */
export class SchemaDriftError extends BackfillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SCHEMA_DRIFT', message, options);
  }
}

/** A rollback that would be wrong or impossible (no backups, a later run wrote the same chunks, still running). */
export class RollbackRefusedError extends BackfillError {
  constructor(message: string) {
    super('ROLLBACK_REFUSED', message);
  }
}

/** Turn anything thrown into an Error, keeping the original as the cause. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown), { cause: thrown });
}

/** A message safe to print: the error's message plus its causes, secrets redacted. */
export function describeError(thrown: unknown): string {
  const parts: string[] = [];
  let current: unknown = thrown;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    const err = coerceError(current);
    // A driver error wrapped by ours often repeats our message; say each thing once.
    if (!parts.some((p) => p.includes(err.message) || err.message.includes(p))) parts.push(err.message);
    current = (err as { cause?: unknown }).cause;
  }
  return redactSecrets(parts.join(': '));
}

const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)([^@/\s]+)(@)/gi;
const KEY_VALUE_SECRET = /\b(password|passwd|pwd|secret|token|api[_-]?key)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi;

/** Remove passwords from URLs and `password=…`-style pairs. */
export function redactSecrets(text: string): string {
  return text.replace(URL_PASSWORD, '$1***$3').replace(KEY_VALUE_SECRET, '$1$2***');
}
