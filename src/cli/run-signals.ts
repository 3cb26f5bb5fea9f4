// Running under SIGINT/SIGTERM: the first signal stops taking work (chunks in flight finish), a
// second interrupts them; progress is shown as asked while it runs. Used by `run` and `worker`.

import { describeError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import { attachProgress, type ProgressMode } from './progress.js';
import { printError, stopWhenOutputCloses } from './output-guard.js';

/**
 * First SIGINT/SIGTERM, or stdout/stderr closing under the run: stop taking chunks and let
 * in-flight ones finish; a signal after that interrupts them.
 */
export async function runWithSignals<T>(
  fn: (signal: AbortSignal, hardSignal: AbortSignal, events: EventBus) => Promise<T>,
  mode: ProgressMode,
): Promise<T> {
  const graceful = new AbortController();
  const hard = new AbortController();
  const onSignal = (name: string): void => {
    if (!graceful.signal.aborted) graceful.abort(`received ${name}`);
    else hard.abort(`received ${name} again`);
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const unwatch = stopWhenOutputCloses(graceful);
  const events = new EventBus((err) => printError(`progress display failed: ${describeError(err)}`));
  const detach = attachProgress(events, mode);
  try {
    return await fn(graceful.signal, hard.signal, events);
  } finally {
    unwatch();
    detach();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
