// Every statement the embedded ledger runs, by name.

const CHUNK_COLUMNS = `job, chunk_key AS key, kind, lo, hi, tag, status, attempts, generation, run_id AS runId,
  lease_owner AS leaseOwner, lease_expires_at AS leaseExpiresAt, fencing_token AS fencingToken,
  started_at AS startedAt, finished_at AS finishedAt, duration_ms AS durationMs, rows_read AS rowsRead,
  rows_written AS rowsWritten, rows_rejected AS rowsRejected, bytes, error`;

const RUN_COLUMNS = `run_id AS runId, job, owner, host, pid, status, started_at AS startedAt, heartbeat_at AS heartbeatAt,
  finished_at AS finishedAt, options, chunks_total AS chunksTotal, chunks_done AS chunksDone,
  chunks_failed AS chunksFailed, rows_read AS rowsRead, rows_written AS rowsWritten, bytes, bytes_unknown AS bytesUnknown, error, throttle`;

const BACKUP_COLUMNS = `job, run_id AS runId, chunk_key AS chunkKey, target_kind AS targetKind, location, rows, bytes, checksum,
  detail, created_at AS createdAt, restored_at AS restoredAt`;

const WATERMARK_COLUMNS = `job, cursor_column AS cursor, kind, CAST(value AS TEXT) AS value, phase, CAST(window_lo AS TEXT) AS windowLo,
  CAST(window_hi AS TEXT) AS windowHi, run_id AS runId, updated_at AS updatedAt`;

export const SQL = {
  // ---- schema version ----------------------------------------------------------------------
  createMeta: `CREATE TABLE IF NOT EXISTS backfill_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  readVersion: `SELECT value FROM backfill_meta WHERE key = 'schema_version'`,
  writeVersion: `INSERT INTO backfill_meta (key, value) VALUES ('schema_version', ?)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value`,

  // ---- chunks, runs and the rest -------------------------------------------------------------
  listChunks: `SELECT ${CHUNK_COLUMNS} FROM backfill_chunks WHERE job = ? ORDER BY kind, CASE kind WHEN 'key' THEN CAST(lo AS INTEGER) END, CASE kind WHEN 'range' THEN tag END, lo`,
  changeMarker: `SELECT
    (SELECT count(*) || ':' || coalesce(max(updated_at), 0) || ':' || coalesce(sum(fencing_token), 0) || ':' || coalesce(sum(generation), 0)
       || ':' || coalesce(sum(status = 'done'), 0) || ':' || coalesce(sum(status = 'failed'), 0) || ':' || coalesce(sum(status = 'running'), 0)
       FROM backfill_chunks WHERE job = @job)
    || '|' || (SELECT count(*) || ':' || coalesce(max(coalesce(finished_at, heartbeat_at, started_at)), 0) || ':' || coalesce(sum(status = 'running'), 0)
       FROM backfill_runs WHERE job = @job)
    || '|' || (SELECT count(*) || ':' || coalesce(max(coalesce(restored_at, created_at)), 0) FROM backfill_backups WHERE job = @job)
    || '|' || coalesce((SELECT updated_at FROM backfill_watermarks WHERE job = @job), 0)
    || '|' || coalesce((SELECT paused_at FROM backfill_controls WHERE job = @job), 0)
    || '|' || coalesce((SELECT group_concat(throttle, ';') FROM backfill_runs WHERE job = @job AND status = 'running'), '') AS marker`,
  getChunk: `SELECT ${CHUNK_COLUMNS} FROM backfill_chunks WHERE job = ? AND chunk_key = ?`,
  listRuns: `SELECT ${RUN_COLUMNS} FROM backfill_runs WHERE job = ? ORDER BY started_at DESC, rowid DESC LIMIT ?`,
  insertChunk: `INSERT INTO backfill_chunks (job, chunk_key, kind, lo, hi, tag, updated_at)
    VALUES (@job, @key, @kind, @lo, @hi, @tag, @now) ON CONFLICT (job, chunk_key) DO NOTHING`,
  ensureTokenRow: `INSERT INTO backfill_tokens (job, last_token) VALUES (?, 0) ON CONFLICT (job) DO NOTHING`,
  nextToken: `UPDATE backfill_tokens SET last_token = last_token + 1 WHERE job = ? RETURNING last_token AS token`,
  claim: `UPDATE backfill_chunks
    SET status = 'running', lease_owner = @owner, lease_expires_at = @expires, fencing_token = @token,
        attempts = attempts + 1, run_id = @runId, started_at = @now, finished_at = NULL, error = NULL, updated_at = @now
    WHERE job = @job AND chunk_key = @key
      AND (status IN ('pending', 'failed') OR (status = 'running' AND lease_expires_at < @now))
    RETURNING attempts, generation`,
  heartbeat: `UPDATE backfill_chunks SET lease_expires_at = @expires, updated_at = @now
    WHERE job = @job AND chunk_key = @key AND fencing_token = @token AND status = 'running'`,
  complete: `UPDATE backfill_chunks
    SET status = 'done', generation = generation + 1, lease_owner = NULL, lease_expires_at = NULL, finished_at = @now,
        duration_ms = @durationMs, rows_read = @rowsRead, rows_written = @rowsWritten, rows_rejected = @rowsRejected,
        bytes = @bytes, error = NULL, updated_at = @now
    WHERE job = @job AND chunk_key = @key AND fencing_token = @token AND status = 'running'`,
  fail: `UPDATE backfill_chunks
    SET status = 'failed', lease_owner = NULL, lease_expires_at = NULL, finished_at = @now, duration_ms = @durationMs,
        error = @error, updated_at = @now
    WHERE job = @job AND chunk_key = @key AND fencing_token = @token AND status = 'running'`,
  release: `UPDATE backfill_chunks
    SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, error = @error, updated_at = @now
    WHERE job = @job AND chunk_key = @key AND fencing_token = @token AND status = 'running'`,
  reset: `UPDATE backfill_chunks SET status = 'pending', error = NULL, updated_at = @now
    WHERE job = @job AND chunk_key = @key AND status IN ('done', 'failed')`,
  forgetChunk: `DELETE FROM backfill_chunks WHERE job = @job AND chunk_key = @key AND status <> 'running'`,
  staleChunks: `SELECT ${CHUNK_COLUMNS} FROM backfill_chunks WHERE job = ? AND status = 'running'`,
  adoptCommitted: `UPDATE backfill_chunks
    SET status = 'done', generation = generation + 1, lease_owner = NULL, lease_expires_at = NULL, finished_at = @now,
        rows_read = @rowsRead, rows_written = @rowsWritten, rows_rejected = @rowsRejected, bytes = @bytes,
        error = NULL, updated_at = @now
    WHERE job = @job AND chunk_key = @key AND fencing_token = @token AND status = 'running'`,
  resetStale: `UPDATE backfill_chunks SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = @now
    WHERE job = @job AND chunk_key = @key AND fencing_token = @token AND status = 'running'`,
  startRun: `INSERT INTO backfill_runs (run_id, job, owner, host, pid, status, started_at, heartbeat_at, options, chunks_total)
    VALUES (@runId, @job, @owner, @host, @pid, 'running', @now, @now, @options, @chunksTotal)`,
  heartbeatRun: `UPDATE backfill_runs SET heartbeat_at = ? WHERE run_id = ?`,
  setRunThrottle: `UPDATE backfill_runs SET throttle = ? WHERE run_id = ?`,
  pauseOf: `SELECT job, paused_at AS pausedAt, paused_by AS pausedBy, pause_reason AS reason FROM backfill_controls WHERE job = ?`,
  pause: `INSERT INTO backfill_controls (job, paused_at, paused_by, pause_reason) VALUES (@job, @now, @by, @reason)
    ON CONFLICT (job) DO UPDATE SET paused_at = excluded.paused_at, paused_by = excluded.paused_by, pause_reason = excluded.pause_reason
    WHERE backfill_controls.paused_at IS NULL`,
  resume: `UPDATE backfill_controls SET paused_at = NULL, paused_by = NULL, pause_reason = NULL WHERE job = ? AND paused_at IS NOT NULL`,
  reserveRate: `INSERT INTO backfill_controls (job, rate_next_at) VALUES (@job, @now + @cost)
    ON CONFLICT (job) DO UPDATE SET rate_next_at = MAX(COALESCE(backfill_controls.rate_next_at, @now), @now) + @cost
    RETURNING rate_next_at - @cost AS startAt`,
  adjustRate: `UPDATE backfill_controls SET rate_next_at = rate_next_at + @delta WHERE job = @job AND rate_next_at IS NOT NULL`,
  finishRun: `UPDATE backfill_runs
    SET status = @status, finished_at = @now, chunks_done = @chunksDone, chunks_failed = @chunksFailed,
        rows_read = @rowsRead, rows_written = @rowsWritten, bytes = @bytes, bytes_unknown = @bytesUnknown, error = @error
    WHERE run_id = @runId`,
  runningRuns: `SELECT run_id AS runId, owner FROM backfill_runs WHERE job = ? AND status = 'running'`,
  markRunInterrupted: `UPDATE backfill_runs SET status = 'interrupted', finished_at = COALESCE(heartbeat_at, started_at),
    error = 'the process stopped without finishing the run' WHERE run_id = ? AND status = 'running'`,
  cachedBounds: `SELECT min_value AS min, max_value AS max FROM backfill_bounds WHERE job = ? AND fingerprint = ? AND column_name = ?`,
  saveBounds: `INSERT INTO backfill_bounds (job, fingerprint, column_name, min_value, max_value, measured_at)
    VALUES (@job, @fingerprint, @column, @min, @max, @now)
    ON CONFLICT (job) DO UPDATE SET fingerprint = excluded.fingerprint, column_name = excluded.column_name,
      min_value = excluded.min_value, max_value = excluded.max_value, measured_at = excluded.measured_at`,
  hasChunkPlans: `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'backfill_chunk_plans'`,
  chunkPlan: `SELECT spec, chunks FROM backfill_chunk_plans WHERE job = ?`,
  saveChunkPlan: `INSERT INTO backfill_chunk_plans (job, spec, chunks, updated_at) VALUES (@job, @spec, @chunks, @now)
    ON CONFLICT (job) DO UPDATE SET spec = excluded.spec, chunks = excluded.chunks, updated_at = excluded.updated_at`,
  sourceSchema: `SELECT columns FROM backfill_source_schemas WHERE job = ?`,
  saveSourceSchema: `INSERT INTO backfill_source_schemas (job, columns, recorded_at) VALUES (@job, @columns, @now)
    ON CONFLICT (job) DO UPDATE SET columns = excluded.columns, recorded_at = excluded.recorded_at`,
  listBackups: `SELECT ${BACKUP_COLUMNS} FROM backfill_backups WHERE job = @job AND (@runId IS NULL OR run_id = @runId)
    ORDER BY created_at, run_id, chunk_key`,
  recordBackup: `INSERT INTO backfill_backups (job, run_id, chunk_key, target_kind, location, rows, bytes, checksum, detail, created_at)
    VALUES (@job, @runId, @chunkKey, @targetKind, @location, @rows, @bytes, @checksum, @detail, @createdAt)
    ON CONFLICT (job, run_id, chunk_key) DO NOTHING`,
  markBackupRestored: `UPDATE backfill_backups SET restored_at = @at
    WHERE job = @job AND run_id = @runId AND chunk_key = @chunkKey AND restored_at IS NULL`,
  deleteBackups: `DELETE FROM backfill_backups WHERE job = @job AND run_id = @runId`,
  watermark: `SELECT ${WATERMARK_COLUMNS} FROM backfill_watermarks WHERE job = ?`,
  initWatermark: `INSERT INTO backfill_watermarks (job, cursor_column, kind, value, phase, run_id, updated_at)
    VALUES (@job, @cursor, @kind, @value, 'history', @runId, @now) ON CONFLICT (job) DO NOTHING`,
  advanceWatermark: `UPDATE backfill_watermarks SET value = @value, run_id = @runId, updated_at = @now
    WHERE job = @job AND value < @value`,
  startWindow: `UPDATE backfill_watermarks SET phase = 'incremental', window_lo = @lo, window_hi = @hi, run_id = @runId, updated_at = @now
    WHERE job = @job`,
  rewindWatermark: `UPDATE backfill_watermarks SET value = @value, updated_at = @now WHERE job = @job AND value > @value`,
} as const;
