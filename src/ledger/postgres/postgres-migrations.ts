// Numbered migrations of the shared PostgreSQL ledger; the array index + 1 is the schema version.
// Each one is given the quoted schema name so that every object lands in the ledger's own schema.
// Columns mirror the embedded SQLite ledger one for one (timestamps are epoch milliseconds in a bigint),
// so a record reads the same whichever store holds it.

/** A migration: the SQL to run, given the already quoted schema identifier. */
export type PostgresMigration = (schema: string) => string;

/** The table that records the schema version; created before any migration runs. */
export function metaTableSql(schema: string): string {
  return `CREATE TABLE IF NOT EXISTS ${schema}.backfill_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`;
}

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  /* 1 */ (s) => `
  CREATE TABLE ${s}.backfill_runs (
    run_id        TEXT PRIMARY KEY,
    job           TEXT NOT NULL,
    owner         TEXT NOT NULL,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT,
    finished_at   BIGINT,
    options       TEXT,
    chunks_total  BIGINT NOT NULL DEFAULT 0,
    chunks_done   BIGINT NOT NULL DEFAULT 0,
    chunks_failed BIGINT NOT NULL DEFAULT 0,
    rows_read     BIGINT NOT NULL DEFAULT 0,
    rows_written  BIGINT NOT NULL DEFAULT 0,
    bytes         BIGINT NOT NULL DEFAULT 0,
    error         TEXT,
    -- Insertion order, the counterpart of SQLite's rowid: breaks ties between runs started in the same millisecond.
    seq           BIGINT GENERATED ALWAYS AS IDENTITY
  );
  CREATE INDEX backfill_runs_job ON ${s}.backfill_runs (job, started_at);

  CREATE TABLE ${s}.backfill_chunks (
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
    lease_expires_at BIGINT,
    fencing_token    BIGINT NOT NULL DEFAULT 0,
    started_at       BIGINT,
    finished_at      BIGINT,
    duration_ms      BIGINT,
    rows_read        BIGINT,
    rows_written     BIGINT,
    rows_rejected    BIGINT,
    bytes            BIGINT,
    error            TEXT,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (job, chunk_key)
  );
  CREATE INDEX backfill_chunks_status ON ${s}.backfill_chunks (job, status);

  -- The source's min/max of the chunk column, kept while the source is unchanged (same fingerprint).
  CREATE TABLE ${s}.backfill_bounds (
    job          TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    column_name  TEXT NOT NULL,
    min_value    TEXT,
    max_value    TEXT,
    measured_at  BIGINT NOT NULL
  );

  -- One monotonically increasing fencing token per job.
  CREATE TABLE ${s}.backfill_tokens (
    job        TEXT PRIMARY KEY,
    last_token BIGINT NOT NULL
  );
  `,
  /* 2 */ (s) => `
  -- The source's output columns and types as first recorded (and as evolved since): every chunk is compared with it.
  CREATE TABLE ${s}.backfill_source_schemas (
    job          TEXT PRIMARY KEY,
    columns      TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL
  );
  `,
  /* 3 */ (s) => `
  -- Backups taken before a run changed a chunk's data in the target, so \`rollback\` can put them back.
  CREATE TABLE ${s}.backfill_backups (
    job          TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    chunk_key    TEXT NOT NULL,
    target_kind  TEXT NOT NULL,
    location     TEXT NOT NULL,
    rows         BIGINT NOT NULL,
    bytes        BIGINT NOT NULL,
    checksum     TEXT NOT NULL,
    detail       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    restored_at  BIGINT,
    PRIMARY KEY (job, run_id, chunk_key)
  );
  CREATE INDEX backfill_backups_created ON ${s}.backfill_backups (job, created_at);
  `,
  /* 4 */ (s) => `
  -- Incremental jobs: every row with a cursor below value has been read (epoch ms or an integer).
  CREATE TABLE ${s}.backfill_watermarks (
    job            TEXT PRIMARY KEY,
    cursor_column  TEXT NOT NULL,
    kind           TEXT NOT NULL,
    value          BIGINT NOT NULL,
    phase          TEXT NOT NULL,
    window_lo      BIGINT,
    window_hi      BIGINT,
    run_id         TEXT,
    updated_at     BIGINT NOT NULL
  );
  `,
  /* 5 */ (s) => `
  -- A chunk's bytes are NULL where the target could not tell them (rows moved inside the database, a
  -- DuckDB table); earlier versions recorded 0 there, which a chunk that wrote rows cannot really have.
  -- A run counts its chunks of unknown size beside the bytes it knows.
  UPDATE ${s}.backfill_chunks SET bytes = NULL WHERE bytes = 0 AND rows_written > 0;
  ALTER TABLE ${s}.backfill_runs ADD COLUMN bytes_unknown INTEGER NOT NULL DEFAULT 0;
  UPDATE ${s}.backfill_runs SET bytes_unknown = chunks_done WHERE bytes = 0 AND rows_written > 0;
  `,
  /* 6 */ (s) => `
  -- What every process of a job obeys (docs/limits.md): its pause (backfill pause / resume), and the
  -- instant its rate limit lets the next chunk start (epoch ms, fractional).
  CREATE TABLE ${s}.backfill_controls (
    job           TEXT PRIMARY KEY,
    paused_at     BIGINT,
    paused_by     TEXT,
    pause_reason  TEXT,
    rate_next_at  DOUBLE PRECISION
  );
  -- What each run is doing about its limits: JSON of ThrottleState (core/throttle.ts).
  ALTER TABLE ${s}.backfill_runs ADD COLUMN throttle TEXT;
  `,
  /* 7 */ (s) => `
  -- Chunks cut by rows (chunk.rows): the chunking they were cut for and every chunk in order, so
  -- later runs reuse the same boundaries and only add chunks past the end.
  CREATE TABLE ${s}.backfill_chunk_plans (
    job         TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    chunks      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
  );
  `,
];
