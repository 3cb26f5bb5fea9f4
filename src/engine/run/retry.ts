// Which failures are worth another attempt, and how long to wait before it.

import { BackfillError } from '../../core/errors.js';

/** Failures that will happen again with the same input: retrying them only delays the report. */
const DETERMINISTIC = /\b(Conversion Error|Binder Error|Parser Error|Catalog Error|Constraint Error|Invalid Input Error|Not implemented Error|Syntax Error)\b/;

export function isRetryable(err: unknown): boolean {
  if (err instanceof BackfillError) {
    if (err.retryable) return true;
    if (err.code === 'SOURCE_DATA' || err.code === 'PLAN' || err.code === 'JOB_SPEC' || err.code === 'LEASE_LOST' || err.code === 'ABORTED' || err.code === 'SCHEMA_DRIFT' || err.code === 'VERIFY_MISMATCH') return false;
    if (err.code === 'CHUNK_TIMEOUT') return true;
    if (err.code === 'CONNECTOR') return !DETERMINISTIC.test(err.message) && !err.constructor.name.startsWith('DataCheck');
  }
  return !DETERMINISTIC.test(err instanceof Error ? err.message : String(err));
}

/** Exponential backoff with full jitter: a random wait in [base/2, min(max, base·2^(n-1))]. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const floor = Math.min(ceiling, baseMs / 2);
  return Math.round(floor + random() * (ceiling - floor));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
