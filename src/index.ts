// The library API: the same functions the `backfill` command uses.

export { defineJob, type Job, type WriteMode, type DefineJobOptions } from './job/job.js';
export { loadJobFile, parseJobText } from './job/job-loader.js';
export type { JobInput } from './job/job-schema.js';
export { runBackfill, type RunOptions, type RunResult, type ChunkOutcome } from './engine/run/run-backfill.js';
export { profileJob, type ProfileOptions, type ProfileReport } from './engine/profile/profile-job.js';
export { planBackfill, type BackfillPlan, type PlannedChunk } from './engine/plan/plan-backfill.js';
export { readStatus, type JobStatus, type ThrottleStatus } from './engine/status/read-status.js';
export { pauseJob, resumeJob, type PauseResult } from './engine/limits/pause-job.js';
export type { ThrottleReason, ThrottleState, LimitName } from './core/throttle.js';
export { verifyBackfill, type VerifyOptions, type VerifyReport, type ChunkVerdict, type Fingerprint } from './engine/safety/verify-backfill.js';
export { diffBackfill, type DiffOptions, type DiffReport, type ChunkDiff, type DiffTotals } from './engine/safety/diff-chunks.js';
export { rollbackRun, type RollbackOptions, type RollbackResult } from './engine/safety/rollback-run.js';
export { listBackups, pruneBackups, type RunBackups, type PruneOptions } from './engine/safety/list-backups.js';
export { runCdc, type CdcRunOptions, type CdcRunResult } from './engine/cdc/cdc-run.js';
export { readCdcStatus, dropCdc, type CdcStatus, type CdcDropResult } from './engine/cdc/cdc-status.js';
export { isCdcJob } from './connectors/open-connectors.js';
export type { CdcPosition, SnapshotProgress, ChangeSink } from './connectors/change-sink.js';
export { EventBus, type BackfillEvents, type BackfillEventName, type RunResultSummary, type RunLimitTimes } from './core/events.js';
export { planChunks, selectChunks, type Chunking, type SourceBounds } from './core/planner.js';
export type { Chunk, ChunkStats } from './core/chunk.js';
export * from './core/errors.js';
export { SqliteLedger } from './ledger/sqlite/sqlite-ledger.js';
export type { Ledger, LedgerReader, ChunkRecord, RunRecord, Lease, BackupRecord } from './ledger/ledger.js';
export { generateEvents } from './demo/generate-events.js';
export { startDashboard, type Dashboard, type DashboardOptions } from './dashboard/dashboard-server.js';
export { jobMetrics, startMetricsServer, type MetricsServer } from './dashboard/run-metrics.js';
