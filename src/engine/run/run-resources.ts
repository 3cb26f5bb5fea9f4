// What a run holds open — ledger, DuckDB session, source, target, main connection, stage folder — opened together and closed in one place, also when opening fails halfway.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Source, Target } from '../../connectors/connector.js';
import { createSource, createTarget } from '../../connectors/open-connectors.js';
import type { Clock } from '../../core/clock.js';
import type { Job } from '../../job/job.js';
import type { Ledger } from '../../ledger/ledger.js';
import { openLedger } from '../../ledger/open-ledger.js';
import { DuckSession, type DuckConn } from '../../runtime/duckdb-session.js';
import type { LentSource } from './run-options.js';

export interface RunResources {
  readonly ledger: Ledger;
  readonly session: DuckSession;
  readonly source: Source;
  readonly target: Target;
  /** The run's own connection (planning, staging, housekeeping); each chunk in flight opens another. */
  readonly main: DuckConn;
  /** This run's per-chunk staging files (`<pid>-<run>`, so a later run can tell it dead); removed at close. */
  readonly stageDir: string;
  /** Close everything, connections before the session, the ledger last (only when the run opened it). */
  close(): Promise<void>;
}

/** Filled in as each resource opens, so a failure halfway closes exactly what is open. */
interface Opened {
  ledger?: Ledger;
  session?: DuckSession;
  source?: Source;
  target?: Target;
  main?: DuckConn;
}

/**
 * Open what a run needs; `ledger` given by the caller stays open at close (it keeps its own clock),
 * and so do a `lent` session and source (a profile's, for its sample run).
 */
export async function openRunResources(job: Job, runId: string, ledger: Ledger | undefined, clock: Clock, lent?: LentSource): Promise<RunResources> {
  const stageDir = join(job.stateDir, 'stage', `${process.pid}-${runId}`);
  const opened: Opened = {};
  const close = (): Promise<void> => closeAll(opened, stageDir, ledger === undefined, lent === undefined);
  try {
    // The ledger stamps and expires leases by the same clock the run judges them by.
    opened.ledger = ledger ?? (await openLedger(job, { clock }));
    opened.session = lent?.session ?? (await DuckSession.create(job.duckdb));
    opened.source = lent?.source ?? (await createSource(job));
    opened.target = await createTarget(job);
    opened.main = await opened.session.connect();
  } catch (err) {
    // The error that stopped the opening is the one to report, not a later one from closing.
    await close().catch(() => {});
    throw err;
  }
  const { ledger: l, session, source, target, main } = opened as Required<Opened>;
  return { ledger: l, session, source, target, main, stageDir, close };
}

async function closeAll(opened: Opened, stageDir: string, ownsLedger: boolean, ownsSource: boolean): Promise<void> {
  opened.main?.close();
  if (ownsSource) {
    opened.session?.close();
    await opened.source?.close().catch(() => {});
  }
  await opened.target?.close().catch(() => {});
  rmSync(stageDir, { recursive: true, force: true });
  if (ownsLedger) await opened.ledger?.close();
}
