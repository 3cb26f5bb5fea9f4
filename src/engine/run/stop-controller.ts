// Two levels of stopping a run: a graceful stop takes no new work and interrupts the work in flight after a grace period; a hard stop interrupts it at once.

import { AbortedError, describeError } from '../../core/errors.js';

export interface StopControllerOptions {
  /** Aborting stops taking work; the work in flight gets `graceMs` to finish, then is interrupted. */
  readonly signal?: AbortSignal | undefined;
  /** Aborting interrupts the work in flight at once (a second Ctrl-C). */
  readonly hardSignal?: AbortSignal | undefined;
  readonly graceMs: number;
  /** Called once, at the first stop of either kind (a run emits `run:stopping`). */
  readonly onStopping: (reason: string) => void;
}

/** Wired to a run's signals until `dispose()`; `stopping` says whether to take more work, `hard` aborts the work in flight. */
export class StopController {
  private readonly interrupt = new AbortController();
  private readonly stopped = new AbortController();
  private reason: string | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly options: StopControllerOptions;
  private readonly onSignal: () => void;
  private readonly onHardSignal: () => void;

  constructor(options: StopControllerOptions) {
    this.options = options;
    this.onSignal = () => this.stop(describeError(options.signal?.reason ?? 'stopped'), true);
    this.onHardSignal = () => this.stop(describeError(options.hardSignal?.reason ?? 'stopped'), false);
    options.signal?.addEventListener('abort', this.onSignal, { once: true });
    options.hardSignal?.addEventListener('abort', this.onHardSignal, { once: true });
    if (options.signal?.aborted === true) this.onSignal();
  }

  /** Aborted when the work in flight must stop: a hard stop, or a graceful one whose grace period ran out. */
  get hard(): AbortSignal {
    return this.interrupt.signal;
  }

  /** Aborted at the first stop of either kind: whatever waits to take work (a pause, a rate limit) stops waiting. */
  get noMoreWork(): AbortSignal {
    return this.stopped.signal;
  }

  /** Why the run is stopping; undefined while it is not. */
  get stopping(): string | undefined {
    return this.reason;
  }

  /** Stop taking work; with `grace` the work in flight is interrupted only after the grace period. */
  stop(reason: string, grace: boolean): void {
    if (this.reason === undefined) {
      this.reason = reason;
      this.options.onStopping(reason);
      this.stopped.abort(new AbortedError(reason));
    }
    if (!grace) this.interrupt.abort(new AbortedError(reason));
    else if (this.graceTimer === undefined) this.graceTimer = setTimeout(() => this.interrupt.abort(new AbortedError(reason)), this.options.graceMs).unref();
  }

  /** Unwire the signals and drop a pending grace timer; the run is over. */
  dispose(): void {
    this.options.signal?.removeEventListener('abort', this.onSignal);
    this.options.hardSignal?.removeEventListener('abort', this.onHardSignal);
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
  }
}
