// Watches one job's ledger: polls its change marker and, only when it moved, reads the view and tells the subscribers what changed.

import { describeError } from '../core/errors.js';
import type { Job } from '../job/job.js';
import type { LedgerReader } from '../ledger/ledger.js';
import { openLedgerReader } from '../ledger/open-ledger.js';
import { readJobView, type ChunkCell, type JobSummary, type JobView } from './dashboard-view.js';

/** What a subscriber receives: the whole view first, then the summary with the cells that changed. */
export type ViewUpdate =
  | { readonly type: 'snapshot'; readonly job: string; readonly view: JobView }
  | { readonly type: 'delta'; readonly job: string; readonly summary: JobSummary; readonly changed: readonly ChunkCell[]; readonly removed: readonly string[] };

export interface JobWatcherOptions {
  /** How often the change marker is read. Default 500 ms. */
  readonly pollMs?: number;
  /** Where a failed read is reported (the watcher keeps polling). */
  readonly onError?: (message: string) => void;
  readonly now?: () => number;
}

export class JobWatcher {
  private reader: LedgerReader | undefined;
  private marker: string | undefined;
  private view: JobView | undefined;
  private signatures = new Map<string, string>();
  private readonly subscribers = new Set<(update: ViewUpdate) => void>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;
  private lastError: string | undefined;
  private readonly pollMs: number;
  private readonly now: () => number;

  constructor(
    readonly job: Job,
    /** The job file as the user named it: the commands on the page use it. */
    readonly file: string,
    private readonly options: JobWatcherOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 500;
    this.now = options.now ?? Date.now;
  }

  /** Read the ledger once and start polling. */
  async start(): Promise<void> {
    await this.poll();
    this.schedule();
  }

  /** The current view, read now if nothing was read yet. */
  async current(): Promise<JobView> {
    if (this.view === undefined) await this.poll();
    return this.view as JobView;
  }

  /** Receive the current view at once, then every change. Returns the unsubscribe function. */
  subscribe(listener: (update: ViewUpdate) => void): () => void {
    this.subscribers.add(listener);
    if (this.view !== undefined) listener({ type: 'snapshot', job: this.job.name, view: this.view });
    return () => this.subscribers.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.polling;
    this.subscribers.clear();
    await this.reader?.close().catch(() => undefined);
    this.reader = undefined;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.poll().finally(() => this.schedule());
    }, this.pollMs);
    this.timer.unref();
  }

  private poll(): Promise<void> {
    // One read at a time: a slow ledger must not pile up overlapping reads.
    this.polling ??= this.read().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async read(): Promise<void> {
    try {
      this.reader ??= await openLedgerReader(this.job);
      // A running run updates its chunks at least every heartbeat: re-read at least that often for the ETA and liveness.
      const marker = this.reader === undefined ? 'none' : `${await this.reader.changeMarker(this.job.name)}|${Math.floor(this.now() / 5000)}`;
      if (marker === this.marker && this.view !== undefined) return;
      const view = await readJobView(this.job, this.file, this.reader, this.now());
      this.marker = marker;
      this.lastError = undefined;
      this.publish(view);
    } catch (err) {
      // Said once, not every poll, while the ledger keeps failing the same way.
      const message = `${this.job.name}: cannot read the ledger: ${describeError(err)}`;
      if (message !== this.lastError) this.options.onError?.(message);
      this.lastError = message;
      // A reader that failed (a ledger server restarted) is opened again on the next poll.
      await this.reader?.close().catch(() => undefined);
      this.reader = undefined;
      this.view ??= await readJobView(this.job, this.file, undefined, this.now());
    }
  }

  private publish(view: JobView): void {
    const next = new Map(view.cells.map((c) => [c.key, JSON.stringify(c)]));
    const first = this.view === undefined;
    const changed = view.cells.filter((c) => this.signatures.get(c.key) !== next.get(c.key));
    const removed = [...this.signatures.keys()].filter((k) => !next.has(k));
    this.view = view;
    this.signatures = next;
    const update: ViewUpdate = first
      ? { type: 'snapshot', job: this.job.name, view }
      : { type: 'delta', job: this.job.name, summary: view.summary, changed, removed };
    for (const listener of this.subscribers) {
      try {
        listener(update);
      } catch (err) {
        this.options.onError?.(`${this.job.name}: a subscriber failed: ${describeError(err)}`);
      }
    }
  }
}
