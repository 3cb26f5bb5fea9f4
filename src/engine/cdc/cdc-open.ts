// Opening a change-data-capture job: its settings, change source, target and DuckDB connection
// (shared by run, status and drop), and the spec its change sink is opened with.

import { join } from 'node:path';
import type { ChangeSinkSpec } from '../../connectors/change-sink.js';
import type { CdcSettings, ChangeSource } from '../../connectors/change-source.js';
import type { ColumnInfo, Target } from '../../connectors/connector.js';
import { cdcSettings, createChangeSource, createTarget } from '../../connectors/open-connectors.js';
import { PlanError } from '../../core/errors.js';
import type { Job } from '../../job/job.js';
import { DuckSession, type DuckConn } from '../../runtime/duckdb-session.js';

export interface OpenedCdc {
  readonly settings: CdcSettings;
  readonly source: ChangeSource;
  readonly target: Target;
  readonly session: DuckSession;
  readonly conn: DuckConn;
}

/** Open the source, the slot and the target's sink for a CDC job (shared by run, status and drop). */
export async function openCdc(job: Job): Promise<OpenedCdc> {
  const settings = cdcSettings(job);
  if (settings === undefined) throw new PlanError(`job ${job.name} has no cdc: field on a postgres source`);
  const target = await createTarget(job);
  if (target.openChangeSink === undefined) {
    await target.close().catch(() => {});
    throw new PlanError(`target: ${target.describe()} cannot take a change stream (it cannot apply deletes by key); use a postgres or duckdb target`);
  }
  const session = await DuckSession.create({ ...job.duckdb, threads: Math.min(2, job.duckdb.threads) });
  const conn = await session.connect();
  return { settings, source: await createChangeSource(job, settings), target, session, conn };
}

/** Close what `openCdc` opened; the source and target only as far as they still can. */
export async function closeCdc(opened: OpenedCdc): Promise<void> {
  opened.conn.close();
  opened.session.close();
  await opened.target.close().catch(() => {});
  await opened.source.close().catch(() => {});
}

/** The change sink's spec; `readOnly` to read or forget the position only (status, drop). */
export function changeSinkSpec(job: Job, columns: readonly ColumnInfo[], readOnly?: true): ChangeSinkSpec {
  const spec = { job: job.name, columns, key: job.write.key, workDir: join(job.stateDir, 'cdc') };
  return readOnly === undefined ? spec : { ...spec, readOnly };
}
