// Whether the process that left something behind (a lease, a scratch folder) is still alive.

import { hostname } from 'node:os';

/** True when a process with this id runs on this machine (or exists but is not ours to signal). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lease owner `host:pid:runId`: alive unless it is on this host and its process is gone. */
export function ownerAlive(owner: string): boolean {
  const [host, pid] = owner.split(':');
  if (host !== hostname()) return true; // another machine: only lease expiry can tell
  return processAlive(Number(pid));
}
