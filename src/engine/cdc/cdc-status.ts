// Replication health of a CDC job (slot, lag, retained WAL, the target's position, the initial copy)
// and the clean removal of its slot and publication.

import type { CdcPosition } from '../../connectors/change-sink.js';
import type { SlotHealth } from '../../connectors/change-source.js';
import { describeError } from '../../core/errors.js';
import type { Job } from '../../job/job.js';
import { changeSinkSpec, closeCdc, openCdc } from './cdc-open.js';

export interface CdcStatus {
  readonly job: string;
  readonly source: string;
  readonly target: string;
  readonly slot: SlotHealth;
  readonly maxLagBytes: number;
  /** What the target recorded with its last batch; null when nothing was applied yet (or the target could not be read). */
  readonly position: CdcPosition | null;
  /** Why the position could not be read (e.g. a DuckDB file held by the running process). */
  readonly positionError: string | null;
  readonly warnings: readonly string[];
}

export async function readCdcStatus(job: Job): Promise<CdcStatus> {
  const opened = await openCdc(job);
  const { settings, source, target, conn } = opened;
  try {
    const slot = await source.health();
    let position: CdcPosition | null = null;
    let positionError: string | null = null;
    try {
      const sink = await target.openChangeSink?.(conn, changeSinkSpec(job, [], true));
      position = (await sink?.readPosition()) ?? null;
      await sink?.close();
    } catch (err) {
      positionError = describeError(err);
    }
    const warnings: string[] = [];
    if (!slot.exists) warnings.push(`slot ${slot.slot} does not exist: the next run creates it and copies the table again`);
    if (slot.lagBytes !== null && slot.lagBytes > settings.maxLagBytes) {
      warnings.push(`slot ${slot.slot} lags ${slot.lagBytes} bytes of WAL behind the server, above maxLag (${settings.maxLagBytes} bytes): the server keeps that WAL until the changes are applied`);
    }
    if (slot.walStatus === 'lost') warnings.push(`slot ${slot.slot} lost WAL it needed (max_slot_wal_keep_size): drop it and run again to copy the table anew`);
    return { job: job.name, source: source.describe(), target: target.describe(), slot, maxLagBytes: settings.maxLagBytes, position, positionError, warnings };
  } finally {
    await closeCdc(opened);
  }
}

export interface CdcDropResult {
  readonly slot: string;
  readonly publication: string;
  readonly droppedSlot: boolean;
  readonly droppedPublication: boolean;
  /** The target's recorded position was removed too (a new slot starts over with a full copy). */
  readonly forgotPosition: boolean;
}

/** Drop the job's slot and publication; refused while a process streams from the slot; a second call does nothing. */
export async function dropCdc(job: Job): Promise<CdcDropResult> {
  const opened = await openCdc(job);
  const { settings, source, target, conn } = opened;
  try {
    const dropped = await source.drop();
    let forgot = false;
    const sink = await target.openChangeSink?.(conn, changeSinkSpec(job, [], true));
    if (sink !== undefined) {
      forgot = (await sink.readPosition()) !== undefined;
      await sink.forget();
      await sink.close();
    }
    return { slot: settings.slot, publication: settings.publication, droppedSlot: dropped.slot, droppedPublication: dropped.publication, forgotPosition: forgot };
  } finally {
    await closeCdc(opened);
  }
}
