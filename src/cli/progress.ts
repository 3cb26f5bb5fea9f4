// Observers of the event stream for the terminal: a live bar, plain lines, or JSON lines.

import { createRequire } from 'node:module';
import type cliProgressModule from 'cli-progress';
import type { EventBus } from '../core/events.js';
import { formatBytes, formatCount, formatDuration } from './format.js';
import { printLine } from './output-guard.js';

export type ProgressMode = 'bar' | 'lines' | 'json' | 'quiet';

export function attachProgress(events: EventBus, mode: ProgressMode, out: NodeJS.WriteStream = process.stderr): () => void {
  if (mode === 'quiet') return () => {};
  if (mode === 'json') {
    return events.onAny((event, payload) => {
      printLine(JSON.stringify({ event, at: new Date().toISOString(), ...payload }));
    });
  }
  let total = 0;
  let done = 0;
  let rows = 0;
  let started = Date.now();
  const line = (text: string): void => {
    // Its reader may be gone (`2>&1 | head`): the run is stopping then, the lines are not needed.
    if (out.writable) out.write(`${text}\n`);
  };
  const rate = (): string => {
    const seconds = (Date.now() - started) / 1000;
    return seconds > 0 ? `${formatCount(Math.round(rows / seconds))} rows/s` : '';
  };
  // Loaded only for a terminal that shows the bar; logs and JSON output start without it.
  const cliProgress = mode === 'bar' ? (createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule) : undefined;
  let bar: cliProgressModule.SingleBar | undefined;
  const offs: (() => void)[] = [];
  const log = (text: string): void => {
    if (bar !== undefined) bar.stop();
    line(text);
    if (bar !== undefined) bar.start(total, done, { rows: formatCount(rows), rate: rate() });
  };
  offs.push(
    events.on('run:start', (e) => {
      total = e.todo;
      started = Date.now();
      line(`run ${e.runId}: ${e.todo} of ${e.total} chunks to do, ${e.concurrency === 0 ? 'through the queue' : `${e.concurrency} at a time`}`);
      if (cliProgress !== undefined && e.todo > 0) {
        bar = new cliProgress.SingleBar(
          { format: ' {bar} {value}/{total} chunks | {rows} rows | {rate} | ETA {eta_formatted}', hideCursor: true, stream: out, etaBuffer: 20 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0, { rows: '0', rate: '' });
      }
    }),
    events.on('stage:start', (e) => log(`staging ${e.chunks} chunks in one pass over the source…`)),
    events.on('stage:done', (e) =>
      log(
        e.pass === 'one-pass'
          ? `wrote ${formatCount(e.rows)} rows for all chunks in one pass in ${formatDuration(e.ms)}; publishing chunk by chunk`
          : `split ${formatCount(e.rows)} rows into chunks in ${formatDuration(e.ms)}`,
      ),
    ),
    events.on('chunk:done', (e) => {
      done++;
      rows += e.stats.rowsWritten;
      // Rejected rows are worth a line even under the bar: they are data that did not arrive.
      if (e.stats.rowsRejected > 0) log(`chunk ${e.chunk.key}: ${formatCount(e.stats.rowsRejected)} row(s) rejected and kept aside (backfill status lists where)`);
      if (bar !== undefined) bar.update(done, { rows: formatCount(rows), rate: rate() });
      else line(`done   ${e.chunk.key}  ${formatCount(e.stats.rowsWritten)} rows  ${e.stats.bytes === null ? 'size unknown' : formatBytes(e.stats.bytes)}  ${formatDuration(e.ms)}${total > 0 ? `  [${done}/${total}]` : ''}`);
    }),
    events.on('chunk:retry', (e) => log(`retry  ${e.chunk.key} after attempt ${e.attempt} in ${formatDuration(e.delayMs)}: ${e.error}`)),
    events.on('chunk:failed', (e) => {
      done++;
      log(`FAILED ${e.chunk.key} (attempt ${e.attempt}): ${e.error}`);
    }),
    events.on('chunk:released', (e) => log(`released ${e.chunk.key}: ${e.reason}`)),
    events.on('run:stopping', (e) => log(`stopping: ${e.reason} (in-flight chunks finish; Ctrl-C again to interrupt them)`)),
    events.on('warning', (e) => log(`warning: ${e.message}`)),
    // What holds the run, with each limit's value and threshold: "throttled: replica lag 7.2 s > 5 s".
    events.on('throttle:start', (e) => log(`${e.state}: ${e.reasons.map((r) => r.text).join('; ')} (chunks in flight finish; no new one starts)`)),
    events.on('throttle:end', (e) => log(`resumed after ${formatDuration(e.ms)} held by limits`)),
    events.on('throttle:concurrency', (e) =>
      log(`${e.concurrency < 1 ? `one chunk at a time, ${Math.round(e.concurrency * 100)}% of the time` : `concurrency ${e.concurrency}`}: source query latency p95 ${e.latencyMs < 0 ? 'unreadable' : `${e.latencyMs.toFixed(1)} ms`} against a baseline of ${e.baselineMs.toFixed(1)} ms`),
    ),
    events.on('run:done', () => {
      if (bar !== undefined) {
        bar.stop();
        bar = undefined;
      }
    }),
  );
  return () => {
    bar?.stop();
    offs.forEach((off) => off());
  };
}
