// A run's limits at work (docs/limits.md): read them on an interval and before each chunk, hold new chunks while one holds, space chunks for the rate limit, stop on critical load, steer adaptive concurrency, and tell every observer.

import { PlanError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { EventBus, RunLimitTimes } from '../../core/events.js';
import { Aimd, baselineOf, rowsCostMs, stateOf, type ThrottleReason, type ThrottleState } from '../../core/throttle.js';
import type { Source } from '../../connectors/connector.js';
import type { Job } from '../../job/job.js';
import type { Ledger } from '../../ledger/ledger.js';
import { sleep } from '../run/retry.js';
import type { StopController } from '../run/stop-controller.js';
import { LatencyProbe } from './latency-probe.js';
import { limitChecks, unreadable, verifyLimits, type LimitCheck } from './limit-checks.js';

/** Probe round trips taken before the first chunk; their tail is the baseline adaptive concurrency compares with. */
const BASELINE_SAMPLES = 50;
/** The pause between two probe round trips while the run goes: about 40 samples a second, a trivial load. */
const SAMPLE_GAP_MS = 20;
/** A probe round trip slower than this fails, and counts as slow. */
const PROBE_TIMEOUT_MS = 10_000;

/** What a chunk was let in with: the rate cost it reserved, settled once its real rows are known. */
export interface Admission {
  readonly costMs: number;
}

export interface RunThrottleOptions {
  readonly job: Job;
  readonly ledger: Ledger;
  readonly source: Source;
  readonly events: EventBus;
  readonly runId: string;
  readonly clock: Clock;
  readonly stop: Pick<StopController, 'stop' | 'stopping' | 'noMoreWork'>;
  /** The chunks allowed at once (the run's pool); adaptive concurrency moves it. */
  readonly pool: { concurrency: number };
}

export class RunThrottle {
  private readonly hold: readonly LimitCheck[];
  private readonly critical: LimitCheck | undefined;
  private aimd: Aimd | undefined;
  private reasons: readonly ThrottleReason[] = [];
  private since: number | null = null;
  private accountedAt: number;
  private checkedAt = 0;
  private pausedMs = 0;
  private throttledMs = 0;
  private rateWaitMs = 0;
  private checking: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Adaptive concurrency below one chunk at a time: no chunk starts before this instant. */
  private spacedUntil = 0;
  /** Rows per chunk so far, to estimate the rate cost of the next one. */
  private settled = { chunks: 0, rows: 0 };
  private finished: Promise<RunLimitTimes> | undefined;
  /** Adaptive concurrency's probe, on a thread of its own, sampling until the run finishes. */
  private probe: LatencyProbe | undefined;
  /** Chunks let in and not yet settled: a probe sample taken while none is in flight is the source without the run. */
  private inFlight = 0;
  /** When the last chunk in flight finished (epoch ms): a sample started before it saw the run's work. */
  private busyUntil = 0;
  /** How long a chunk runs lately (ms, a moving average): below one chunk at a time, a window must see chunks run. */
  private chunkMs = 0;

  constructor(private readonly o: RunThrottleOptions) {
    const { hold, critical } = limitChecks(o.job, o.ledger, o.source);
    this.hold = hold;
    this.critical = critical;
    this.accountedAt = o.clock.now();
  }

  /** Read every limit once (one that cannot be read refuses the run), take the latency baseline, then read them on the job's interval. */
  async start(): Promise<void> {
    const { job, source } = this.o;
    await verifyLimits([...this.hold, ...(this.critical === undefined ? [] : [this.critical])], source);
    if (job.adaptiveConcurrency) {
      const health = source.health;
      if (health === undefined) throw new PlanError(`concurrency: adaptive needs a source that reports its query latency, not ${source.describe()}`);
      const spec = health.latencyProbe(job.adaptiveProbe);
      const baseline: number[] = [];
      this.probe = await LatencyProbe.start(spec, { burst: BASELINE_SAMPLES, gapMs: SAMPLE_GAP_MS, timeoutMs: PROBE_TIMEOUT_MS }, (sample) => {
        if (this.aimd === undefined) baseline.push(sample.ms);
        else this.aimd.add(sample.ms, this.inFlight === 0 && sample.at > this.busyUntil);
      });
      const tail = baselineOf(baseline);
      if (baseline.some((ms) => !Number.isFinite(ms))) {
        await this.probe.stop();
        throw new PlanError(`concurrency: adaptive cannot measure query latency on ${spec.name}: the probe query failed (${spec.query})`);
      }
      // The most the pool had at the start: the job's concurrency, or `--concurrency`.
      this.aimd = new Aimd(tail, { max: this.o.pool.concurrency }, this.o.clock.now());
      this.o.pool.concurrency = this.aimd.concurrency;
    }
    await this.check({ fresh: false });
    // Not unref'd: while every slot waits for a pause to lift, this timer is all that keeps the process alive.
    this.timer = setInterval(() => void this.check({ fresh: false, steer: true }), job.limits.checkIntervalMs);
  }

  /**
   * Wait until no limit holds and the rate limit (or adaptive spacing) lets a chunk start; undefined
   * when the run stops meanwhile. The limits are read afresh first ("between chunks"), and a hold
   * that a reading finds while the chunk waits for its rate slot holds it too.
   */
  async admit(): Promise<Admission | undefined> {
    const { stop, clock, job, ledger } = this.o;
    let admission: Admission | undefined;
    await this.check({ fresh: true });
    for (;;) {
      if (stop.stopping !== undefined) return undefined;
      if (this.reasons.length > 0) {
        await this.nextCheck();
        continue;
      }
      if (admission !== undefined) {
        this.inFlight++;
        return admission;
      }
      await this.wait(this.spacedUntil - clock.now());
      const rate = job.limits.rowsPerSecond;
      const costMs = rate === undefined || this.settled.chunks === 0 ? 0 : rowsCostMs(this.settled.rows / this.settled.chunks, rate);
      if (rate !== undefined) await this.wait((await ledger.reserveRate(job.name, costMs)) - clock.now());
      admission = { costMs };
    }
  }

  private async wait(ms: number): Promise<void> {
    if (ms <= 0) return;
    const t0 = this.o.clock.now();
    await sleep(ms, this.o.stop.noMoreWork);
    this.rateWaitMs += this.o.clock.now() - t0;
  }

  /**
   * A chunk let in by `admit` finished having read `rows` in `ms`: charge the rate limit its real
   * cost, and below one chunk at a time keep the next one waiting for its share.
   */
  async settle(admission: Admission, rows: number, ms: number): Promise<void> {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.busyUntil = Date.now();
    this.chunkMs = this.chunkMs === 0 ? ms : 0.7 * this.chunkMs + 0.3 * ms;
    const level = this.aimd?.level ?? 1;
    if (level < 1) this.spacedUntil = Math.max(this.spacedUntil, this.o.clock.now() + ms * (1 / level - 1));
    const rate = this.o.job.limits.rowsPerSecond;
    if (rate === undefined) return;
    this.settled = { chunks: this.settled.chunks + 1, rows: this.settled.rows + rows };
    const delta = rowsCostMs(rows, rate) - admission.costMs;
    if (delta !== 0) await this.o.ledger.adjustRate(this.o.job.name, delta);
  }

  /** Stop reading the limits; the run's time held apart from its time working. */
  async finish(totalMs: number): Promise<RunLimitTimes> {
    this.finished ??= this.close(totalMs);
    return this.finished;
  }

  private async close(totalMs: number): Promise<RunLimitTimes> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.probe?.stop();
    await this.checking?.catch(() => undefined);
    this.account(this.o.clock.now());
    this.wake();
    if (this.since !== null) this.o.events.emit('throttle:end', { runId: this.o.runId, ms: this.o.clock.now() - this.since });
    this.reasons = [];
    this.since = null;
    await this.record();
    return { pausedMs: this.pausedMs, throttledMs: this.throttledMs, workingMs: Math.max(0, totalMs - this.pausedMs - this.throttledMs), rateWaitMs: this.rateWaitMs };
  }

  /** The run's state as the ledger keeps it (`status`). */
  state(): ThrottleState {
    return {
      state: stateOf(this.reasons), reasons: this.reasons, since: this.since, pausedMs: this.pausedMs, throttledMs: this.throttledMs,
      rateWaitMs: this.rateWaitMs, concurrency: this.aimd?.level ?? this.o.pool.concurrency, checkedAt: this.checkedAt,
    };
  }

  /**
   * One reading of every limit at a time; callers meanwhile share it. `fresh` (before a chunk): a
   * reading that began before the call may have missed a change, so wait for it and read again
   * (callers arriving meanwhile share that second one). `steer`: the interval's readings also move
   * adaptive concurrency, so it moves once per interval, not once per chunk.
   */
  private async check(how: { readonly fresh: boolean; readonly steer?: boolean }): Promise<void> {
    if (how.fresh && this.checking !== undefined) await this.checking.catch(() => undefined);
    this.checking ??= this.read(how.steer === true).finally(() => {
      this.checking = undefined;
      this.wake();
    });
    return this.checking;
  }

  private async read(steer: boolean): Promise<void> {
    const { events, runId, clock, stop } = this.o;
    const reasons: ThrottleReason[] = [];
    for (const check of this.hold) {
      const reason = await check.read().catch((err: unknown) => unreadable(check, err));
      if (reason !== undefined) reasons.push(reason);
    }
    if (this.critical !== undefined) {
      const critical = this.critical;
      const found = await critical.read().then(
        (r) => (r === undefined ? undefined : { stop: true, reason: r }),
        (err: unknown) => ({ stop: false, reason: unreadable(critical, err) }),
      );
      if (found?.stop === true) stop.stop(`${found.reason.text} (limits.criticalLoad): chunks in flight are interrupted and roll back`, false);
      else if (found !== undefined) reasons.push(found.reason);
    }
    if (steer) await this.steer();
    const now = clock.now();
    this.account(now);
    this.checkedAt = now;
    const before = this.reasons;
    this.reasons = reasons;
    const changed = before.map((r) => r.limit).join() !== reasons.map((r) => r.limit).join();
    if (reasons.length === 0 && before.length > 0 && this.since !== null) {
      events.emit('throttle:end', { runId, ms: now - this.since });
      this.since = null;
    } else if (reasons.length > 0 && changed) {
      this.since ??= now;
      events.emit('throttle:start', { runId, state: stateOf(reasons) === 'paused' ? 'paused' : 'throttled', reasons });
    }
    await this.record();
  }

  /** Adaptive concurrency: at each reading, judge the probe's window and move the pool's size (AIMD). */
  private async steer(): Promise<void> {
    const { aimd } = this;
    if (aimd === undefined || this.o.stop.stopping !== undefined) return;
    const before = aimd.level;
    const { level, tailMs } = aimd.decide(this.o.clock.now(), this.chunkMs);
    if (level !== before) {
      this.o.pool.concurrency = aimd.concurrency;
      this.o.events.emit('throttle:concurrency', { runId: this.o.runId, concurrency: level, latencyMs: tailMs === undefined || !Number.isFinite(tailMs) ? -1 : tailMs, baselineMs: aimd.baselineMs });
      await this.record();
    }
  }

  /** Time since the last reading goes to the state the run was in over it. */
  private account(now: number): void {
    const elapsed = Math.max(0, now - this.accountedAt);
    this.accountedAt = now;
    const state = stateOf(this.reasons);
    if (state === 'paused') this.pausedMs += elapsed;
    else if (state === 'throttled') this.throttledMs += elapsed;
  }

  /** Keep the run's state in the ledger for `status` (also right after the run's record is made). */
  async record(): Promise<void> {
    await this.o.ledger.setRunThrottle(this.o.runId, JSON.stringify(this.state())).catch(() => undefined);
  }

  private nextCheck(): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.o.stop.noMoreWork;
      if (signal.aborted) return resolve();
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
