// Numbered migrations of the embedded ledger; the array index + 1 is the schema version.

export const SQLITE_MIGRATIONS: readonly string[] = [
  /* 1 */ `
  CREATE TABLE backfill_runs (
    run_id        TEXT PRIMARY KEY,
    job           TEXT NOT NULL,
    owner         TEXT NOT NULL,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
    started_at    INTEGER NOT NULL,
    heartbeat_at  INTEGER,
    finished_at   INTEGER,
    options       TEXT,
    chunks_total  INTEGER NOT NULL DEFAULT 0,
    chunks_done   INTEGER NOT NULL DEFAULT 0,
    chunks_failed INTEGER NOT NULL DEFAULT 0,
    rows_read     INTEGER NOT NULL DEFAULT 0,
    rows_written  INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0,
    error         TEXT
  );
  CREATE INDEX backfill_runs_job ON backfill_runs (job, started_at);

  CREATE TABLE backfill_chunks (
    job              TEXT NOT NULL,
    chunk_key        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    lo               TEXT NOT NULL,
    hi               TEXT NOT NULL,
    tag              TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    generation       INTEGER NOT NULL DEFAULT 0,
    run_id           TEXT,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    fencing_token    INTEGER NOT NULL DEFAULT 0,
    started_at       INTEGER,
    finished_at      INTEGER,
    duration_ms      INTEGER,
    rows_read        INTEGER,
    rows_written     INTEGER,
    rows_rejected    INTEGER,
    bytes            INTEGER,
    error            TEXT,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (job, chunk_key)
  );
  CREATE INDEX backfill_chunks_status ON backfill_chunks (job, status);

  -- The source's min/max of the chunk column, kept while the source is unchanged (same fingerprint).
  CREATE TABLE backfill_bounds (
    job          TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    column_name  TEXT NOT NULL,
    min_value    TEXT,
    max_value    TEXT,
    measured_at  INTEGER NOT NULL
  );

  -- One monotonically increasing fencing token per job.
  CREATE TABLE backfill_tokens (
    job        TEXT PRIMARY KEY,
    last_token INTEGER NOT NULL
  );
  `,
  /* 2 */ `
  -- The source's output columns and types as first recorded (and as evolved since): every chunk is compared with it.
  CREATE TABLE backfill_source_schemas (
    job          TEXT PRIMARY KEY,
    columns      TEXT NOT NULL,
    recorded_at  INTEGER NOT NULL
  );
  `,
  /* 3 */ `
  -- Backups taken before a run changed a chunk's data in the target, so \`rollback\` can put them back.
  CREATE TABLE backfill_backups (
    job          TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    chunk_key    TEXT NOT NULL,
    target_kind  TEXT NOT NULL,
    location     TEXT NOT NULL,
    rows         INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    checksum     TEXT NOT NULL,
    detail       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    restored_at  INTEGER,
    PRIMARY KEY (job, run_id, chunk_key)
  );
  CREATE INDEX backfill_backups_created ON backfill_backups (job, created_at);
  `,
  /* 4 */ `
  -- Incremental jobs: every row with a cursor below value has been read (epoch ms or an integer).
  CREATE TABLE backfill_watermarks (
    job            TEXT PRIMARY KEY,
    cursor_column  TEXT NOT NULL,
    kind           TEXT NOT NULL,
    value          INTEGER NOT NULL,
    phase          TEXT NOT NULL,
    window_lo      INTEGER,
    window_hi      INTEGER,
    run_id         TEXT,
    updated_at     INTEGER NOT NULL
  );
  `,
  /* 5 */ `
  -- A chunk's bytes are NULL where the target could not tell them (rows moved inside the database, a
  -- DuckDB table); earlier versions recorded 0 there, which a chunk that wrote rows cannot really have.
  -- A run counts its chunks of unknown size beside the bytes it knows.
  UPDATE backfill_chunks SET bytes = NULL WHERE bytes = 0 AND rows_written > 0;
  ALTER TABLE backfill_runs ADD COLUMN bytes_unknown INTEGER NOT NULL DEFAULT 0;
  UPDATE backfill_runs SET bytes_unknown = chunks_done WHERE bytes = 0 AND rows_written > 0;
  `,
  /* 6 */ `
  -- What every process of a job obeys (docs/limits.md): its pause (backfill pause / resume), and the
  -- instant its rate limit lets the next chunk start (epoch ms, fractional).
  CREATE TABLE backfill_controls (
    job           TEXT PRIMARY KEY,
    paused_at     INTEGER,
    paused_by     TEXT,
    pause_reason  TEXT,
    rate_next_at  REAL
  );
  -- What each run is doing about its limits: JSON of ThrottleState (core/throttle.ts).
  ALTER TABLE backfill_runs ADD COLUMN throttle TEXT;
  `,
  /* 7 */ `
  -- Chunks cut by rows (chunk.rows): the chunking they were cut for and every chunk in order, so
  -- later runs reuse the same boundaries and only add chunks past the end.
  CREATE TABLE backfill_chunk_plans (
    job         TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    chunks      TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
  );
  `,
];
