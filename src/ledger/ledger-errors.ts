// The ledger's own refusals, worded once for both stores so a message reads the same whichever store holds the job.

import { LedgerError } from '../core/errors.js';
import type { Lease } from './ledger.js';

/** A fenced write changed no row: another worker holds the chunk now. */
export function leaseLost(lease: Lease, action: string): LedgerError {
  return new LedgerError(
    `lost the lease on chunk ${lease.chunk.key} (token ${lease.token}) before ${action}: another worker took it over`,
    { code: 'LEASE_LOST' },
  );
}

/** `where` is the ledger's printable location (a path, or a URL with the password redacted). */
export function newerSchema(where: string, version: number, known: number): LedgerError {
  return new LedgerError(`the ledger ${where} has schema version ${version}, newer than this backfill understands (${known}); upgrade backfill`);
}

/** A reader does not migrate, so an older ledger must be upgraded by a run first. */
export function olderSchema(where: string, version: number): LedgerError {
  return new LedgerError(`the ledger ${where} has schema version ${version}; run \`backfill run\` once to upgrade it`);
}
