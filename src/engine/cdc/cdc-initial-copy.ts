// The initial copy of a change-data-capture job (DBLog): planned once from the table's key range and
// kept with the position; each chunk read between a low and a high watermark written into the log.

import { randomUUID } from 'node:crypto';
import type { SnapshotProgress } from '../../connectors/change-sink.js';
import type { ChangeSource } from '../../connectors/change-source.js';
import type { ColumnInfo } from '../../connectors/connector.js';
import { WatermarkWindow } from '../../core/cdc-changes.js';
import type { Chunk } from '../../core/chunk.js';
import { planChunks, type KeyChunking } from '../../core/planner.js';

/** The chunk whose watermarks the stream is waiting for. */
export interface OpenWindow {
  readonly window: WatermarkWindow;
  readonly chunk: Chunk;
  readonly last: boolean;
  readonly reached: { resolve(): void; reject(err: Error): void };
}

/** Where the copy meets the stream's applier: the window it opens, and whether to stop or it is done. */
export interface CopyGate {
  window: OpenWindow | undefined;
  readonly stopping: boolean;
  copyDone: boolean;
}

/** The progress of a copy not planned yet (also of one started over: a new slot has not seen the past). */
export const COPY_NOT_PLANNED: SnapshotProgress = { done: false, next: null, to: null, chunksDone: 0, chunksTotal: 0 };

/** The chunks left to copy, and the progress to record: planned now when the position holds no plan yet. */
export async function planCopy(source: ChangeSource, chunking: KeyChunking, recorded: SnapshotProgress | undefined): Promise<{ snapshot: SnapshotProgress; todo: Chunk[] }> {
  let snapshot = recorded ?? COPY_NOT_PLANNED;
  let todo: Chunk[] = [];
  if (!snapshot.done) {
    if (snapshot.next === null || snapshot.to === null) {
      // Planned once, from the table as it is now (kept with the position); rows added later arrive through the stream.
      const bounds = await source.bounds(chunking.column);
      todo = bounds === undefined && (chunking.from === undefined || chunking.to === undefined) ? [] : planChunks(chunking, bounds);
      const first = todo[0];
      const last = todo[todo.length - 1];
      snapshot = first === undefined || last === undefined
        ? { done: true, next: null, to: null, chunksDone: 0, chunksTotal: 0 }
        : { done: false, next: first.lo, to: last.hi, chunksDone: 0, chunksTotal: todo.length };
    } else {
      todo = planChunks({ ...chunking, from: BigInt(snapshot.next), to: BigInt(snapshot.to) }, undefined);
    }
  }
  return { snapshot, todo };
}

/**
 * For each chunk, a low watermark, the chunk's rows, a high watermark; then wait until the stream
 * reached the high watermark (where the applier writes the chunk) before the next.
 */
export async function copyChunks(gate: CopyGate, source: ChangeSource, columns: readonly ColumnInfo[], column: string, todo: readonly Chunk[], signal: AbortSignal | undefined): Promise<void> {
  for (let i = 0; i < todo.length; i++) {
    const chunk = todo[i] as Chunk;
    if (signal?.aborted === true || gate.stopping) return;
    const window = new WatermarkWindow(chunk.key, randomUUID());
    const reached = new Promise<void>((resolve, reject) => {
      gate.window = { window, chunk, last: i === todo.length - 1, reached: { resolve, reject } };
    });
    reached.catch(() => {});
    await source.emitWatermark('low', window.nonce);
    window.rows = await source.readChunk(columns, column, chunk.lo, chunk.hi);
    await source.emitWatermark('high', window.nonce);
    await reached;
  }
  gate.copyDone = true;
}
