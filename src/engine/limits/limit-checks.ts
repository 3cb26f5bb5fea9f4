// The limits a run reads (docs/limits.md), each as a check that names itself, its value and its threshold when it holds.

import { existsSync } from 'node:fs';
import { PlanError, describeError } from '../../core/errors.js';
import { formatLimitValue, type LimitName, type ThrottleReason } from '../../core/throttle.js';
import type { Source } from '../../connectors/connector.js';
import type { SourceHealth } from '../../connectors/source-health.js';
import type { Job } from '../../job/job.js';
import type { Ledger } from '../../ledger/ledger.js';

/** One limit: read it, and say why it holds (undefined while it does not). */
export interface LimitCheck {
  readonly limit: LimitName;
  /** Read once before the run's first chunk: a limit that cannot be read refuses the run. */
  readonly probed: boolean;
  read(): Promise<ThrottleReason | undefined>;
}

/** The checks the job's limits ask for, the job's pause first; `criticalLoad` apart (it stops the run instead). */
export function limitChecks(job: Job, ledger: Ledger, source: Source): { readonly hold: readonly LimitCheck[]; readonly critical: LimitCheck | undefined } {
  const { limits } = job;
  const hold: LimitCheck[] = [pauseCheck(job, ledger)];
  const { pauseFile } = limits;
  if (pauseFile !== undefined) {
    hold.push({
      limit: 'pauseFile', probed: false,
      read: async () => (existsSync(pauseFile) ? { limit: 'pauseFile', value: null, threshold: null, text: `pause file ${pauseFile} exists` } : undefined),
    });
  }
  const health = (): SourceHealth => {
    // The job schema refuses these limits for a source without probes; this is the engine's own guard.
    if (source.health === undefined) throw new PlanError(`${source.describe()} cannot report replica lag, load or latency`);
    return source.health;
  };
  const lag = limits.maxReplicaLagMs;
  if (lag !== undefined) {
    hold.push({
      limit: 'maxReplicaLag', probed: true,
      read: async () => {
        const found = await health().replicaLag();
        if (found.ms === null) return { limit: 'maxReplicaLag', value: null, threshold: lag, text: `replica lag unknown (${found.detail})` };
        if (found.ms <= lag) return undefined;
        return { limit: 'maxReplicaLag', value: Math.round(found.ms), threshold: lag, text: `replica lag ${formatLimitValue('maxReplicaLag', found.ms)} > ${formatLimitValue('maxReplicaLag', lag)} (${found.detail})` };
      },
    });
  }
  if (limits.maxLoad !== undefined) hold.push(loadCheck('maxLoad', limits.maxLoad, health));
  return { hold, critical: limits.criticalLoad === undefined ? undefined : loadCheck('criticalLoad', limits.criticalLoad, health) };
}

function pauseCheck(job: Job, ledger: Ledger): LimitCheck {
  return {
    limit: 'pause', probed: false,
    read: async () => {
      const pause = await ledger.pauseOf(job.name);
      if (pause?.pausedAt === undefined || pause.pausedAt === null) return undefined;
      const why = pause.reason === null ? '' : `: ${pause.reason}`;
      return { limit: 'pause', value: null, threshold: null, text: `paused by ${pause.pausedBy ?? 'someone'} at ${new Date(pause.pausedAt).toISOString()}${why} (backfill resume lifts it)` };
    },
  };
}

function loadCheck(limit: 'maxLoad' | 'criticalLoad', load: { readonly query: string; readonly above: number }, health: () => SourceHealth): LimitCheck {
  const name = limit === 'maxLoad' ? 'load' : 'critical load';
  return {
    limit, probed: true,
    read: async () => {
      const value = await health().load(load.query);
      if (value <= load.above) return undefined;
      return { limit, value, threshold: load.above, text: `${name} ${formatLimitValue(limit, value)} > ${formatLimitValue(limit, load.above)}` };
    },
  };
}

/** Read every database limit once before the first chunk: one that cannot be read refuses the run, naming the limit and why. */
export async function verifyLimits(checks: readonly LimitCheck[], source: Source): Promise<void> {
  for (const check of checks.filter((c) => c.probed)) {
    try {
      await check.read();
    } catch (err) {
      throw new PlanError(`limits.${check.limit} cannot be checked on ${source.describe()}: ${describeError(err)}`, { cause: err });
    }
  }
}

/** A limit that could be read at start and cannot now (a dropped connection): hold the run rather than press on blind. */
export function unreadable(check: LimitCheck, err: unknown): ThrottleReason {
  return { limit: check.limit, value: null, threshold: null, text: `limits.${check.limit} cannot be read: ${describeError(err)}` };
}
