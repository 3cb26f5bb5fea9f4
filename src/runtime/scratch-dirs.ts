// Scratch space of a run: entries named after the process that made them (`<pid>-…`), so the next
// process can remove what a killed one left behind without touching a live run's files.

import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { processAlive } from './process-liveness.js';

export interface SweepOptions {
  /** Also remove this process's own entries (a connector that starts clean at prepare). */
  readonly own?: boolean;
  /** Leave this entry alone (e.g. a lake's live data beside its temp folder). */
  readonly keep?: (name: string) => boolean;
}

/**
 * Remove the entries of `dir` whose leading `<pid>-` names a process that no longer runs here;
 * entries without a pid are left alone. A missing folder is nothing to sweep. Returns the names removed.
 */
export function sweepDeadScratch(dir: string, options: SweepOptions = {}): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (options.keep?.(name) === true) continue;
    const match = /^(\d+)[-.]/.exec(name);
    if (match === null) continue;
    const pid = Number(match[1]);
    const mine = pid === process.pid;
    if (mine ? options.own === true : !processAlive(pid)) {
      rmSync(join(dir, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

/** A scratch folder of this process under `root` (created), named `<pid>-<name>` so a later sweep can tell it dead. */
export function scratchDir(root: string, name: string): string {
  const dir = join(root, `${process.pid}-${name}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
