// A small real job for the dashboard tests: six weekly chunks of generated events into a Parquet lake, and the CLI as a process.

import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { generateEvents } from '../../src/demo/generate-events.js';
import { startCli, tempDir, writeJob } from '../helpers/cli.js';

/** Six weeks from Monday 2023-01-02: chunk keys `2023-01-02T00:00:00Z/2023-01-09T00:00:00Z` … `2023-02-06…/2023-02-13…`. */
export async function eventsFolder(prefix: string): Promise<string> {
  const dir = tempDir(prefix);
  await generateEvents({ dir: join(dir, 'data'), rows: 30_000, from: '2023-01-02', days: 42, threads: 1 });
  return dir;
}

export function eventsJob(dir: string, options: { name: string; transform?: string; extra?: string }): string {
  return writeJob(dir, 'job.yaml', `
name: ${options.name}
source:
  type: csv
  path: data/events-*.csv*
  pruneBy: filename
chunk:
  column: ts
  every: 1 week
transform: |
  ${options.transform ?? "select *, strftime(ts, '%Y-%m') as month from source"}
target:
  type: parquet
  path: lake
  partitionBy: [month]
write:
  mode: replace
${options.extra ?? ''}
`);
}

/** Resolve with the first match of `pattern` in the process's stdout or stderr as it arrives. */
export function waitForOutput(child: ChildProcess, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer): void => {
      seen += d.toString();
      const m = pattern.exec(seen);
      if (m !== null) {
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        resolve(m);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited (${code}) before printing ${pattern}; output: ${seen}`)));
  });
}

export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Start `backfill ui` in `dir` on a free port and return it with the address it printed. */
export async function startUi(dir: string, args: readonly string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const child = startCli(['ui', ...args, '--port', '0'], { cwd: dir, env });
  const [url] = await waitForOutput(child, /http:\/\/\S+/);
  return { child, url: url as string };
}
