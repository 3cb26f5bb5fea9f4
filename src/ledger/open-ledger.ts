// Pick the ledger store a job names: the embedded SQLite file, or a shared PostgreSQL database.

import { existsSync } from 'node:fs';
import type { Clock } from '../core/clock.js';
import { redactSecrets } from '../core/errors.js';
import type { Ledger, LedgerReader } from './ledger.js';
import { SqliteLedger } from './sqlite/sqlite-ledger.js';

/** Where a job keeps its ledger (a job is one): the ledger needs nothing else of it. */
export interface LedgerPlace {
  /** A shared PostgreSQL ledger, when the job names one. */
  readonly ledgerUrl: string | undefined;
  /** The embedded SQLite file, used when `ledgerUrl` is not set. */
  readonly ledgerPath: string;
}

export interface OpenLedgerOptions {
  /** Where the ledger's stamps and lease expiries come from. Default: the system clock. */
  readonly clock?: Clock;
}

export async function openLedger(job: LedgerPlace, options: OpenLedgerOptions = {}): Promise<Ledger> {
  if (job.ledgerUrl !== undefined) {
    const { PostgresLedger } = await import('./postgres/postgres-ledger.js');
    return PostgresLedger.open(job.ledgerUrl, { clock: options.clock });
  }
  return SqliteLedger.open(job.ledgerPath, { clock: options.clock });
}

/** A reader for `status` and `plan`; undefined when the job has never run. */
export async function openLedgerReader(job: LedgerPlace): Promise<LedgerReader | undefined> {
  if (job.ledgerUrl !== undefined) {
    const { PostgresLedger } = await import('./postgres/postgres-ledger.js');
    return PostgresLedger.openReader(job.ledgerUrl);
  }
  return existsSync(job.ledgerPath) ? SqliteLedger.openReader(job.ledgerPath) : undefined;
}

/** Where the ledger is, safe to print. */
export function ledgerName(job: LedgerPlace): string {
  return job.ledgerUrl === undefined ? job.ledgerPath : redactSecrets(job.ledgerUrl);
}
