// The run's result from its chunks' outcomes: counts, totals, and the status the ledger and the caller get.

import type { Chunk } from '../../core/chunk.js';
import type { ChunkResult } from './chunk-attempt.js';
import type { ChunkOutcome, RunResult } from './run-options.js';

/** A chunk never reached (the run stopped first) counts as interrupted. */
export function summarize(
  runId: string,
  total: number,
  todo: readonly Chunk[],
  outcomes: ReadonlyMap<string, ChunkResult>,
  stopping: string | undefined,
  ms: number,
): RunResult {
  const count = (o: ChunkOutcome): number => [...outcomes.values()].filter((x) => x.outcome === o).length;
  const sum = (f: (s: NonNullable<ChunkResult['stats']>) => number): number => [...outcomes.values()].reduce((n, x) => n + (x.stats === undefined ? 0 : f(x.stats)), 0);
  const failed = count('failed');
  const interrupted = count('interrupted') + todo.filter((c) => !outcomes.has(c.key)).length;
  return {
    runId, total,
    status: stopping !== undefined && interrupted > 0 ? 'interrupted' : failed > 0 ? 'failed' : 'done',
    done: count('done'), failed, skipped: count('skipped'), interrupted,
    rowsRead: sum((s) => s.rowsRead), rowsWritten: sum((s) => s.rowsWritten), rowsRejected: sum((s) => s.rowsRejected), bytes: sum((s) => s.bytes ?? 0),
    bytesUnknown: [...outcomes.values()].filter((x) => x.stats !== undefined && x.stats.bytes === null).length,
    ms,
    chunks: todo.map((c) => {
      const o = outcomes.get(c.key);
      return { key: c.key, outcome: o?.outcome ?? 'interrupted', ...(o?.error === undefined ? {} : { error: o.error }) };
    }),
  };
}
