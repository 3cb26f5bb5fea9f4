// Housekeeping after a window run: forget the chunk records (and the target's commit markers) of old windows.

import { staleWindowChunks } from '../../core/watermark.js';
import type { Target } from '../../connectors/connector.js';
import type { Ledger } from '../../ledger/ledger.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';

/**
 * A job run every few minutes would pile up window chunk records for ever: keep the latest window
 * runs' only. The target's commit markers of those chunks go first, so a crash in between leaves
 * ledger records whose markers are gone (forgotten again next time), never markers nothing prunes.
 */
export async function forgetOldWindows(ledger: Ledger, job: string, target: Target, conn: DuckConn): Promise<void> {
  const unrestored = new Set((await ledger.listBackups(job)).filter((b) => b.restoredAt === null).map((b) => b.chunkKey));
  const stale = staleWindowChunks(await ledger.listChunks(job), unrestored);
  if (stale.length === 0) return;
  await target.forgetCommits(conn, stale);
  await ledger.forgetChunks(job, stale);
}
