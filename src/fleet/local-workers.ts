// `backfill run --workers N`: worker processes on this machine, for a user with one big box; started with the run and stopped with it.

import { spawn, type ChildProcess } from 'node:child_process';

export interface LocalWorkers {
  readonly pids: readonly number[];
  /** SIGTERM each worker (they finish their chunks in flight), and SIGKILL one still there after `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

/** Start `count` processes of `command` (the program and its arguments up to the verb), each `worker <file> …args`. */
export function startLocalWorkers(count: number, command: readonly string[], file: string, args: readonly string[]): LocalWorkers {
  const [program, ...programArgs] = command;
  if (program === undefined) throw new Error('no command to start workers with');
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i += 1) {
    children.push(spawn(program, [...programArgs, 'worker', file, ...args, '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] }));
  }
  const exited = children.map((child) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()))));
  return {
    pids: children.flatMap((c) => (c.pid === undefined ? [] : [c.pid])),
    async stop(graceMs) {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => {
        for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, graceMs);
      await Promise.all(exited);
      clearTimeout(timer);
    },
  };
}
