// The documents the server sends (dashboard-view.ts and job-watcher.ts), as the page reads them.

export type { ChunkCell, JobSummary, JobView, RunProgress, Throughput, Worker } from '../dashboard-view.js';
export type { ViewUpdate } from '../job-watcher.js';
