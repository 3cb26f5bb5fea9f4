// Pick the ledger store a job names: the embedded SQLite file, or a shared PostgreSQL database.

import { existsSync } from 'node:fs';
import { redactSecrets } from '../core/errors.js';
import type { Job } from '../job/job.js';
import type { Ledger, LedgerReader } from './ledger.js';
import { SqliteLedger } from './sqlite/sqlite-ledger.js';

export async function openLedger(job: Job): Promise<Ledger> {
  if (job.ledgerUrl !== undefined) {
    const { PostgresLedger } = await import('./postgres/postgres-ledger.js');
    return PostgresLedger.open(job.ledgerUrl);
  }
  return SqliteLedger.open(job.ledgerPath);
}

/** A reader for `status` and `plan`; undefined when the job has never run. */
export async function openLedgerReader(job: Job): Promise<LedgerReader | undefined> {
  if (job.ledgerUrl !== undefined) {
    const { PostgresLedger } = await import('./postgres/postgres-ledger.js');
    return PostgresLedger.openReader(job.ledgerUrl);
  }
  return existsSync(job.ledgerPath) ? SqliteLedger.openReader(job.ledgerPath) : undefined;
}

/** Where the ledger is, safe to print. */
export function ledgerName(job: Job): string {
  return job.ledgerUrl === undefined ? job.ledgerPath : redactSecrets(job.ledgerUrl);
}
