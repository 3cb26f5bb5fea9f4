// Fault injection for crash trials only: `BACKFILL_FAULT=after-commit:<n>` makes the process SIGKILL itself at a named point.

/**
 * For testing only. Unset (the normal case) every call is a no-op. With
 * `BACKFILL_FAULT=<point>:<n>` the n-th time this process reaches `<point>` it kills itself
 * with SIGKILL, exactly as a crash or `kill -9` would, so trials can land a kill in a window
 * too narrow to hit from outside. Points:
 * - `after-commit`: a chunk's data has committed in the target (files renamed into place, the
 *   transaction committed) and its ledger mark has not been written yet.
 * - `cdc-after-commit`: a change batch and its position have committed in the target and the
 *   replication slot has not been told yet (docs/cdc.md).
 */
export type FaultPointName = 'after-commit' | 'cdc-after-commit';

const spec = parseFault(process.env['BACKFILL_FAULT']);
let reached = 0;

export function faultPoint(name: FaultPointName): void {
  if (spec === undefined || spec.name !== name) return;
  reached += 1;
  if (reached === spec.n) process.kill(process.pid, 'SIGKILL');
}

function parseFault(value: string | undefined): { name: string; n: number } | undefined {
  const m = /^([a-z-]+):(\d+)$/.exec(value ?? '');
  return m === null ? undefined : { name: m[1] as string, n: Number(m[2]) };
}
