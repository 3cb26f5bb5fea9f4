// Keeps stdout and stderr from crashing the command when their reader goes away (`backfill plan job.yaml | head`).

/**
 * Node reports a write to a pipe whose reader has gone (EPIPE) as an 'error' event on
 * process.stdout / process.stderr; with no listener that is an uncaught exception and a
 * stack trace, possibly in the middle of a chunk. Listening once here turns it into a
 * signal: output stops quietly, a run stops gracefully, the exit status stays the command's own.
 */
export interface OutputGuard {
  /** Aborted once stdout or stderr can no longer be written; the reason names which. */
  readonly closed: AbortSignal;
  /** A write error other than a closed reader (a full disk behind a redirect, say): worth an exit status. */
  failure(): Error | undefined;
}

// The reader went away: nothing to report, the output up to here was delivered.
const READER_GONE = new Set(['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED']);

let guard: OutputGuard | undefined;

/** Installs the listeners once per process; later calls return the same guard. */
export function guardOutput(): OutputGuard {
  if (guard !== undefined) return guard;
  const closed = new AbortController();
  let failure: Error | undefined;
  for (const [name, stream] of [['stdout', process.stdout], ['stderr', process.stderr]] as const) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (!READER_GONE.has(err.code ?? '')) failure ??= new Error(`cannot write to ${name}: ${err.message}`);
      if (!closed.signal.aborted) closed.abort(`${name} closed`);
    });
  }
  guard = { closed: closed.signal, failure: () => failure };
  return guard;
}

/** Aborts `controller` (a graceful stop) when output closes; returns the unsubscribe. */
export function stopWhenOutputCloses(controller: AbortController): () => void {
  const { closed } = guardOutput();
  const onClosed = (): void => {
    if (!controller.signal.aborted) controller.abort(String(closed.reason));
  };
  if (closed.aborted) {
    onClosed();
    return () => {};
  }
  closed.addEventListener('abort', onClosed, { once: true });
  return () => closed.removeEventListener('abort', onClosed);
}

/** Writes a line to stdout unless its reader is gone. */
export function printLine(text: string): void {
  if (process.stdout.writable) process.stdout.write(`${text}\n`);
}

/** Writes a line to stderr unless its reader is gone. */
export function printError(text: string): void {
  if (process.stderr.writable) process.stderr.write(`${text}\n`);
}
