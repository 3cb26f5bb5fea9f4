// Every statement the shared PostgreSQL ledger runs, by name; the counterpart of sqlite-statements.ts.
// Tables are qualified with the ledger's schema, so pooled connections never depend on search_path.

const CHUNK_COLUMNS = `job, chunk_key AS "key", kind, lo, hi, tag, status, attempts, generation, run_id AS "runId",
  lease_owner AS "leaseOwner", lease_expires_at AS "leaseExpiresAt", fencing_token AS "fencingToken",
  started_at AS "startedAt", finished_at AS "finishedAt", duration_ms AS "durationMs", rows_read AS "rowsRead",
  rows_written AS "rowsWritten", rows_rejected AS "rowsRejected", bytes, error`;

const BACKUP_COLUMNS = `job, run_id AS "runId", chunk_key AS "chunkKey", target_kind AS "targetKind", location, rows, bytes, checksum,
  detail, created_at AS "createdAt", restored_at AS "restoredAt"`;

const RUN_COLUMNS = `run_id AS "runId", job, owner, host, pid, status, started_at AS "startedAt", heartbeat_at AS "heartbeatAt",
  finished_at AS "finishedAt", options, chunks_total AS "chunksTotal", chunks_done AS "chunksDone",
  chunks_failed AS "chunksFailed", rows_read AS "rowsRead", rows_written AS "rowsWritten", bytes, bytes_unknown AS "bytesUnknown", error, throttle`;

/** How many chunks one INSERT registers; larger plans are sent in several statements of one transaction. */
export const INSERT_BATCH = 1000;

/** A schema name as a quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The statements for a ledger kept in `schema` (unquoted name). */
export function postgresStatements(schema: string) {
  const s = quoteIdent(schema);
  const chunks = `${s}.backfill_chunks`;
  const runs = `${s}.backfill_runs`;
  const tokens = `${s}.backfill_tokens`;
  const bounds = `${s}.backfill_bounds`;
  const schemas = `${s}.backfill_source_schemas`;
  const meta = `${s}.backfill_meta`;
  const backups = `${s}.backfill_backups`;
  const watermarks = `${s}.backfill_watermarks`;
  const controls = `${s}.backfill_controls`;
  const fenced = `job = $1 AND chunk_key = $2 AND fencing_token = $3 AND status = 'running'`;

  return {
    // ---- schema management -------------------------------------------------------------------
    /** Serialises migrations of this schema across processes; released at commit or rollback. */
    migrationLock: `SELECT pg_advisory_xact_lock(hashtext('backfill-ledger'), hashtext($1))`,
    schemaExists: `SELECT 1 FROM pg_namespace WHERE nspname = $1`,
    createSchema: `CREATE SCHEMA IF NOT EXISTS ${s}`,
    /** The meta table's name when it exists, NULL otherwise (never an error). */
    metaTable: `SELECT to_regclass($1) AS name`,
    readVersion: `SELECT value FROM ${meta} WHERE key = 'schema_version'`,
    writeVersion: `INSERT INTO ${meta} (key, value) VALUES ('schema_version', $1)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value`,

    // ---- chunks ------------------------------------------------------------------------------
    // COLLATE "C" sorts like SQLite's BINARY collation whatever the database's locale.
    listChunks: `SELECT ${CHUNK_COLUMNS} FROM ${chunks} WHERE job = $1
      ORDER BY kind COLLATE "C", CASE WHEN kind = 'key' THEN lo::numeric END, CASE WHEN kind = 'range' THEN tag END COLLATE "C", lo COLLATE "C"`,
    changeMarker: `SELECT
      (SELECT count(*) || ':' || coalesce(max(updated_at), 0) || ':' || coalesce(sum(fencing_token), 0) || ':' || coalesce(sum(generation), 0)
         || ':' || count(*) FILTER (WHERE status = 'done') || ':' || count(*) FILTER (WHERE status = 'failed')
         || ':' || count(*) FILTER (WHERE status = 'running') FROM ${chunks} WHERE job = $1)
      || '|' || (SELECT count(*) || ':' || coalesce(max(coalesce(finished_at, heartbeat_at, started_at)), 0)
         || ':' || count(*) FILTER (WHERE status = 'running') FROM ${runs} WHERE job = $1)
      || '|' || (SELECT count(*) || ':' || coalesce(max(coalesce(restored_at, created_at)), 0) FROM ${backups} WHERE job = $1)
      || '|' || coalesce((SELECT updated_at FROM ${watermarks} WHERE job = $1), 0)
      || '|' || coalesce((SELECT paused_at FROM ${controls} WHERE job = $1), 0)
      || '|' || coalesce((SELECT string_agg(throttle, ';') FROM ${runs} WHERE job = $1 AND status = 'running'), '') AS marker`,
    getChunk: `SELECT ${CHUNK_COLUMNS} FROM ${chunks} WHERE job = $1 AND chunk_key = $2`,
    /** $1 job, $2 keys, $3 kinds, $4 los, $5 his, $6 tags (parallel arrays), $7 now. */
    insertChunks: `INSERT INTO ${chunks} (job, chunk_key, kind, lo, hi, tag, updated_at)
      SELECT $1, u.chunk_key, u.kind, u.lo, u.hi, u.tag, $7
      FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u (chunk_key, kind, lo, hi, tag)
      ON CONFLICT (job, chunk_key) DO NOTHING`,
    ensureTokenRow: `INSERT INTO ${tokens} (job, last_token) VALUES ($1, 0) ON CONFLICT (job) DO NOTHING`,
    /**
     * One statement: take the job's next fencing token and lease the chunk with it.
     * The token row stays locked until the statement commits, so claims of one job are serialised and a
     * concurrent claim of the same chunk re-checks the committed row (READ COMMITTED re-evaluation) and
     * finds it running. A claim that finds nothing to lease still uses up a token: tokens only need to increase.
     * $1 job, $2 key, $3 owner, $4 runId, $5 now, $6 lease expiry.
     */
    claim: `WITH t AS (
        INSERT INTO ${tokens} AS bt (job, last_token) VALUES ($1, 1)
        ON CONFLICT (job) DO UPDATE SET last_token = bt.last_token + 1
        RETURNING bt.last_token
      )
      UPDATE ${chunks} AS c
      SET status = 'running', lease_owner = $3, lease_expires_at = $6, fencing_token = t.last_token,
          attempts = c.attempts + 1, run_id = $4, started_at = $5, finished_at = NULL, error = NULL, updated_at = $5
      FROM t
      WHERE c.job = $1 AND c.chunk_key = $2
        AND (c.status IN ('pending', 'failed') OR (c.status = 'running' AND c.lease_expires_at < $5))
      RETURNING c.attempts, c.generation, c.fencing_token AS token`,
    /** $1 job, $2 key, $3 token, $4 now, $5 lease expiry. */
    heartbeat: `UPDATE ${chunks} SET lease_expires_at = $5, updated_at = $4 WHERE ${fenced}`,
    /** $1 job, $2 key, $3 token, $4 now, $5 durationMs, $6 rowsRead, $7 rowsWritten, $8 rowsRejected, $9 bytes. */
    complete: `UPDATE ${chunks}
      SET status = 'done', generation = generation + 1, lease_owner = NULL, lease_expires_at = NULL, finished_at = $4,
          duration_ms = $5, rows_read = $6, rows_written = $7, rows_rejected = $8, bytes = $9, error = NULL, updated_at = $4
      WHERE ${fenced}`,
    /** $1 job, $2 key, $3 token, $4 now, $5 durationMs, $6 error. */
    fail: `UPDATE ${chunks}
      SET status = 'failed', lease_owner = NULL, lease_expires_at = NULL, finished_at = $4, duration_ms = $5,
          error = $6, updated_at = $4
      WHERE ${fenced}`,
    /** $1 job, $2 key, $3 token, $4 now, $5 error. */
    release: `UPDATE ${chunks}
      SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, error = $5, updated_at = $4
      WHERE ${fenced}`,
    /** $1 job, $2 keys, $3 now. */
    reset: `UPDATE ${chunks} SET status = 'pending', error = NULL, updated_at = $3
      WHERE job = $1 AND chunk_key = ANY ($2::text[]) AND status IN ('done', 'failed')`,
    /** $1 job, $2 keys. */
    forgetChunks: `DELETE FROM ${chunks} WHERE job = $1 AND chunk_key = ANY ($2::text[]) AND status <> 'running'`,
    staleChunks: `SELECT ${CHUNK_COLUMNS} FROM ${chunks} WHERE job = $1 AND status = 'running'`,
    /** $1 job, $2 key, $3 token, $4 now, $5 rowsRead, $6 rowsWritten, $7 rowsRejected, $8 bytes. */
    adoptCommitted: `UPDATE ${chunks}
      SET status = 'done', generation = generation + 1, lease_owner = NULL, lease_expires_at = NULL, finished_at = $4,
          rows_read = $5, rows_written = $6, rows_rejected = $7, bytes = $8, error = NULL, updated_at = $4
      WHERE ${fenced}`,
    /** $1 job, $2 key, $3 token, $4 now. */
    resetStale: `UPDATE ${chunks} SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = $4
      WHERE ${fenced}`,

    // ---- runs --------------------------------------------------------------------------------
    listRuns: `SELECT ${RUN_COLUMNS} FROM ${runs} WHERE job = $1 ORDER BY started_at DESC, seq DESC LIMIT $2`,
    /** $1 runId, $2 job, $3 owner, $4 host, $5 pid, $6 now, $7 options, $8 chunksTotal. */
    startRun: `INSERT INTO ${runs} (run_id, job, owner, host, pid, status, started_at, heartbeat_at, options, chunks_total)
      VALUES ($1, $2, $3, $4, $5, 'running', $6, $6, $7, $8)`,
    /** $1 now, $2 runId. */
    heartbeatRun: `UPDATE ${runs} SET heartbeat_at = $1 WHERE run_id = $2`,
    /** $1 throttle, $2 runId. */
    setRunThrottle: `UPDATE ${runs} SET throttle = $1 WHERE run_id = $2`,

    // ---- job controls: the pause and the rate limit --------------------------------------------
    pauseOf: `SELECT job, paused_at AS "pausedAt", paused_by AS "pausedBy", pause_reason AS reason FROM ${controls} WHERE job = $1`,
    /** $1 job, $2 now, $3 by, $4 reason. */
    pause: `INSERT INTO ${controls} AS c (job, paused_at, paused_by, pause_reason) VALUES ($1, $2, $3, $4)
      ON CONFLICT (job) DO UPDATE SET paused_at = excluded.paused_at, paused_by = excluded.paused_by, pause_reason = excluded.pause_reason
      WHERE c.paused_at IS NULL`,
    resume: `UPDATE ${controls} SET paused_at = NULL, paused_by = NULL, pause_reason = NULL WHERE job = $1 AND paused_at IS NOT NULL`,
    /** $1 job, $2 now, $3 cost (ms): one row lock serialises every process's reservation. */
    reserveRate: `INSERT INTO ${controls} AS c (job, rate_next_at) VALUES ($1, $2::float8 + $3::float8)
      ON CONFLICT (job) DO UPDATE SET rate_next_at = GREATEST(COALESCE(c.rate_next_at, $2::float8), $2::float8) + $3::float8
      RETURNING c.rate_next_at - $3::float8 AS "startAt"`,
    /** $1 job, $2 delta (ms). */
    adjustRate: `UPDATE ${controls} SET rate_next_at = rate_next_at + $2::float8 WHERE job = $1 AND rate_next_at IS NOT NULL`,
    /** $1 runId, $2 status, $3 now, $4 chunksDone, $5 chunksFailed, $6 rowsRead, $7 rowsWritten, $8 bytes, $9 error, $10 bytesUnknown. */
    finishRun: `UPDATE ${runs}
      SET status = $2, finished_at = $3, chunks_done = $4, chunks_failed = $5,
          rows_read = $6, rows_written = $7, bytes = $8, error = $9, bytes_unknown = $10
      WHERE run_id = $1`,
    runningRuns: `SELECT run_id AS "runId", owner FROM ${runs} WHERE job = $1 AND status = 'running'`,
    /** $1 runIds. */
    markRunsInterrupted: `UPDATE ${runs} SET status = 'interrupted', finished_at = COALESCE(heartbeat_at, started_at),
      error = 'the process stopped without finishing the run' WHERE run_id = ANY ($1::text[]) AND status = 'running'`,

    // ---- bounds cache ------------------------------------------------------------------------
    cachedBounds: `SELECT min_value AS "min", max_value AS "max" FROM ${bounds}
      WHERE job = $1 AND fingerprint = $2 AND column_name = $3`,
    /** $1 job, $2 fingerprint, $3 column, $4 min, $5 max, $6 now. */
    saveBounds: `INSERT INTO ${bounds} (job, fingerprint, column_name, min_value, max_value, measured_at)
      VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (job) DO UPDATE SET fingerprint = excluded.fingerprint, column_name = excluded.column_name,
        min_value = excluded.min_value, max_value = excluded.max_value, measured_at = excluded.measured_at`,
    // ---- chunks cut by rows ----------------------------------------------------------------------
    chunkPlan: `SELECT spec, chunks FROM ${s}.backfill_chunk_plans WHERE job = $1`,
    /** $1 job, $2 spec, $3 chunks (JSON), $4 now. */
    saveChunkPlan: `INSERT INTO ${s}.backfill_chunk_plans (job, spec, chunks, updated_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (job) DO UPDATE SET spec = excluded.spec, chunks = excluded.chunks, updated_at = excluded.updated_at`,
    // ---- reference schema ----------------------------------------------------------------------
    sourceSchema: `SELECT columns FROM ${schemas} WHERE job = $1`,
    /** $1 job, $2 columns (JSON), $3 now. */
    saveSourceSchema: `INSERT INTO ${schemas} (job, columns, recorded_at) VALUES ($1, $2, $3)
      ON CONFLICT (job) DO UPDATE SET columns = excluded.columns, recorded_at = excluded.recorded_at`,

    // ---- watermarks ---------------------------------------------------------------------------
    /** $1 job. */
    watermark: `SELECT job, cursor_column AS "cursor", kind, value::text AS value, phase, window_lo::text AS "windowLo",
      window_hi::text AS "windowHi", run_id AS "runId", updated_at AS "updatedAt" FROM ${watermarks} WHERE job = $1`,
    /** $1 job, $2 cursor, $3 kind, $4 value, $5 runId, $6 now. */
    initWatermark: `INSERT INTO ${watermarks} (job, cursor_column, kind, value, phase, run_id, updated_at)
      VALUES ($1, $2, $3, $4, 'history', $5, $6) ON CONFLICT (job) DO NOTHING`,
    /** $1 job, $2 value, $3 runId, $4 now. */
    advanceWatermark: `UPDATE ${watermarks} SET value = $2, run_id = $3, updated_at = $4 WHERE job = $1 AND value < $2`,
    /** $1 job, $2 lo, $3 hi, $4 runId, $5 now. */
    startWindow: `UPDATE ${watermarks} SET phase = 'incremental', window_lo = $2, window_hi = $3, run_id = $4, updated_at = $5 WHERE job = $1`,
    /** $1 job, $2 value, $3 now. */
    rewindWatermark: `UPDATE ${watermarks} SET value = $2, updated_at = $3 WHERE job = $1 AND value > $2`,

    // ---- backups -----------------------------------------------------------------------------
    /** $1 job, $2 runId or NULL. */
    listBackups: `SELECT ${BACKUP_COLUMNS} FROM ${backups} WHERE job = $1 AND ($2::text IS NULL OR run_id = $2)
      ORDER BY created_at, run_id COLLATE "C", chunk_key COLLATE "C"`,
    /** $1 job, $2 runId, $3 chunkKey, $4 targetKind, $5 location, $6 rows, $7 bytes, $8 checksum, $9 detail, $10 createdAt. */
    recordBackup: `INSERT INTO ${backups} (job, run_id, chunk_key, target_kind, location, rows, bytes, checksum, detail, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (job, run_id, chunk_key) DO NOTHING`,
    /** $1 job, $2 runId, $3 chunkKey, $4 at. */
    markBackupRestored: `UPDATE ${backups} SET restored_at = $4
      WHERE job = $1 AND run_id = $2 AND chunk_key = $3 AND restored_at IS NULL`,
    /** $1 job, $2 runId. */
    deleteBackups: `DELETE FROM ${backups} WHERE job = $1 AND run_id = $2`,
  } as const;
}

export type PostgresStatements = ReturnType<typeof postgresStatements>;
