// Generates a realistic, deterministic event history as daily CSV files (some gzipped) to feed demos and benchmarks.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';

export interface GenerateEventsOptions {
  /** Output folder, created if missing; existing files with the same names are replaced. */
  readonly dir: string;
  /** Total rows across all files, exactly. */
  readonly rows: number;
  /** First day (ISO date, UTC). Default '2023-01-01'. */
  readonly from?: string;
  /** Number of days, one file each. Default 730. */
  readonly days?: number;
  /** The Nth, 2Nth, ... day's file is written as .csv.gz. Default 3; 0 = no gzip. */
  readonly gzipEveryNthDay?: number;
  /** Same seed and options give byte-identical files. Default 42. */
  readonly seed?: number;
  /** COPY statements run in parallel (each single-threaded). Default: available cores. */
  readonly threads?: number;
}

export interface GenerateEventsResult {
  readonly files: number;
  readonly rows: number;
  readonly bytes: number;
  readonly from: string;
  /** Exclusive: the day after the last generated day. */
  readonly to: string;
}

const DAY_MS = 86_400_000;
// Upper bound of days (open partition files) per COPY statement, well below common fd limits.
const MAX_DAYS_PER_COPY = 128;

const EVENT_TYPES: ReadonlyArray<readonly [string, number]> = [
  ['page_view', 60],
  ['click', 25],
  ['add_to_cart', 8],
  ['purchase', 3],
  ['signup', 4],
];

const COUNTRIES: ReadonlyArray<readonly [string, number]> = [
  ['US', 330], ['GB', 80], ['DE', 75], ['IN', 70], ['FR', 55], ['BR', 55], ['CA', 45], ['JP', 40],
  ['AU', 30], ['ES', 28], ['IT', 28], ['MX', 27], ['NL', 22], ['PL', 18], ['SE', 14], ['KR', 14],
  ['TR', 13], ['ID', 12], ['ZA', 8], ['NG', 8], ['AR', 8], ['IE', 7], ['CH', 7], ['SG', 6], ['NZ', 5], ['PT', 5],
];

const DEVICES: ReadonlyArray<readonly [string, number]> = [
  ['web', 50],
  ['ios', 28],
  ['android', 22],
];

const TIMESTAMP_FORMAT = '%Y-%m-%d %H:%M:%S.%f';

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** CASE expression picking a label by cumulative weight; `x` must be uniform in [0, total). */
function weightedCase(x: string, choices: ReadonlyArray<readonly [string, number]>): string {
  let cumulative = 0;
  const branches = choices.slice(0, -1).map(([label, weight]) => {
    cumulative += weight;
    return `WHEN ${x} < ${cumulative} THEN ${sqlString(label)}`;
  });
  const last = choices[choices.length - 1];
  if (last === undefined) throw new Error('weightedCase needs at least one choice');
  return `CASE ${branches.join(' ')} ELSE ${sqlString(last[0])} END`;
}

function totalWeight(choices: ReadonlyArray<readonly [string, number]>): number {
  return choices.reduce((sum, [, weight]) => sum + weight, 0);
}

function parseIsoDay(value: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : Number.NaN;
  if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== value) {
    throw new Error(`generateEvents: 'from' must be an ISO date like 2023-01-01, got ${JSON.stringify(value)}`);
  }
  return ms;
}

function requireInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new Error(`generateEvents: '${name}' must be an integer >= ${min}, got ${value}`);
  }
}

async function query(con: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  const reader = await con.runAndReadAll(sql);
  return reader.getRowObjectsJson();
}

interface DayRow {
  readonly day: string;
  readonly n: number;
  readonly gz: boolean;
  readonly part: number;
}

interface CopyJob {
  readonly gz: boolean;
  readonly part: number;
  readonly target: string;
}

export async function generateEvents(options: GenerateEventsOptions): Promise<GenerateEventsResult> {
  const from = options.from ?? '2023-01-01';
  const days = options.days ?? 730;
  const gzipEveryNthDay = options.gzipEveryNthDay ?? 3;
  const seed = options.seed ?? 42;
  const rows = options.rows;
  const fromMs = parseIsoDay(from);
  requireInteger('rows', rows, 0);
  requireInteger('days', days, 1);
  requireInteger('gzipEveryNthDay', gzipEveryNthDay, 0);
  if (options.threads !== undefined) requireInteger('threads', options.threads, 1);
  if (!Number.isFinite(seed)) throw new Error(`generateEvents: 'seed' must be a finite number, got ${seed}`);
  const to = new Date(fromMs + days * DAY_MS).toISOString().slice(0, 10);
  const lanes = Math.max(1, Math.min(options.threads ?? os.availableParallelism(), days));

  const dir = path.resolve(options.dir);
  await mkdir(dir, { recursive: true });
  // Staging inside the target keeps the final renames on one filesystem (atomic, no copying).
  const staging = path.join(dir, `.generate-events-${randomBytes(6).toString('hex')}`);
  await mkdir(staging);

  // A multi-threaded partitioned COPY interleaves rows from different threads within a file, so
  // the bytes would change from run to run. Instead every statement runs on one thread (deterministic
  // order) and the cores are used by running several COPY statements at once, one per connection.
  // Input arrives in day order, so a partition file is never needed again once its day is done; but
  // if DuckDB hits its open-file cap it closes files mid-day and starts a data_1 for the same day.
  let instance: DuckDBInstance | undefined;
  const connections: DuckDBConnection[] = [];
  try {
    instance = await DuckDBInstance.create(':memory:', {
      threads: '1',
      partitioned_write_max_open_files: String(MAX_DAYS_PER_COPY + 16),
    });
    const con = await instance.connect();
    connections.push(con);
    // DuckDB's random() is not reproducible once a query runs on several threads, and multi-argument
    // hash() combines its arguments with XOR (hash(k, 1) and hash(k, 2) are strongly correlated).
    // So every random draw is hash(xor(key, salt)): a 64-bit mixer applied to a per-entity key,
    // which is deterministic for a seed regardless of thread scheduling.
    // Macros and tables are not TEMP because the other connections below must see them.
    await query(con, `CREATE MACRO mix(k, s) AS hash(xor(k::UBIGINT, s::UBIGINT))`);
    await query(con, `CREATE MACRO u01(k, s) AS (mix(k, s) >> 11)::DOUBLE / 9007199254740992.0`);
    // Separate key streams per entity kind, so e.g. day 5 and event 5 never share random draws.
    const seedKey = `hash(${seed}::DOUBLE)`;
    const dayKey = `mix(${seedKey}, 1)`;
    const eventKey = `mix(${seedKey}, 2)`;
    const userKey = `mix(${seedKey}, 3)`;
    const sessionKey = `mix(${seedKey}, 4)`;
    const users = Math.max(1, Math.floor(rows / 40));
    const gzCondition = gzipEveryNthDay === 0 ? 'false' : `(d + 1) % ${gzipEveryNthDay} = 0`;

    // Volume shape: ~40%/year growth, weekday/weekend pattern, a year-end peak, daily noise and
    // occasional campaign spikes. Counts use largest-remainder rounding so they sum to `rows` exactly.
    await query(
      con,
      `CREATE TABLE days AS
      WITH base AS (
        SELECT d, DATE ${sqlString(from)} + d::INTEGER AS day, mix(${dayKey}, d) AS dk
        FROM range(${days}) t(d)
      ), weighted AS (
        SELECT d, day,
          exp(ln(1.4) * d / 365.0)
          * [1.0, 1.03, 1.04, 1.02, 0.95, 0.72, 0.68][isodow(day)]
          * (1 + 0.12 * cos(2 * pi() * (dayofyear(day) - 340) / 365.25))
          * (0.92 + 0.16 * u01(dk, 1))
          * CASE WHEN u01(dk, 2) < 0.02 THEN 1.6 ELSE 1.0 END AS w
        FROM base
      ), floored AS (
        SELECT *, ${rows} * (w / sum(w) OVER ()) AS exact, floor(exact)::BIGINT AS base_n FROM weighted
      ), ranked AS (
        SELECT *,
          row_number() OVER (ORDER BY exact - base_n DESC, d) AS rk,
          ${rows} - sum(base_n) OVER () AS short
        FROM floored
      )
      SELECT d::INTEGER AS d,
        strftime(day, '%Y-%m-%d') AS day,
        epoch_us(day::TIMESTAMP) AS day_us,
        base_n + (rk <= short)::BIGINT AS n,
        (sum(n) OVER (ORDER BY d) - n)::BIGINT AS first_id,
        -- The user base grows with traffic, so early days only see the older (lower) user ids.
        greatest(1, round(${users} * (0.35 + 0.65 * (d + 1) / ${days})))::BIGINT AS users,
        ${gzCondition} AS gz,
        -- Contiguous runs of days per COPY: about one per lane, capped to bound open files.
        ((row_number() OVER (PARTITION BY gz ORDER BY d) - 1)
          // least(${MAX_DAYS_PER_COPY}, ceil(count(*) OVER (PARTITION BY gz) / ${lanes})::BIGINT))::INTEGER AS part
      FROM ranked
      ORDER BY d`,
    );

    const dayRows: DayRow[] = (await query(con, `SELECT day, n, gz, part FROM days ORDER BY d`)).map((r) => ({
      day: String(r['day']),
      n: Number(r['n']),
      gz: r['gz'] === true,
      part: Number(r['part']),
    }));
    const planned = dayRows.reduce((sum, r) => sum + r.n, 0);
    if (dayRows.length !== days || planned !== rows) {
      throw new Error(`generateEvents: planned ${planned} rows over ${dayRows.length} days, expected ${rows} over ${days}`);
    }

    const eventCase = weightedCase('te', EVENT_TYPES);
    const countryCase = weightedCase('cu', COUNTRIES);
    const deviceCase = weightedCase('du', DEVICES);
    const selectEvents = (job: CopyJob): string => `
      WITH r AS (
        SELECT day, d, n, users, day_us, first_id, unnest(range(n)) AS k
        FROM days
        WHERE gz = ${job.gz} AND part = ${job.part} AND n > 0
      ), a AS (
        SELECT *, first_id + k + 1 AS event_id, mix(${eventKey}, event_id) AS ek FROM r
      ), b AS (
        SELECT *,
          -- Stratified within the day (so ts order follows event_id order), then warped by a
          -- monotone map that puts the daily trough around 04:00 UTC and the peak mid-afternoon.
          (k + u01(ek, 1)) / n AS x,
          least(
            floor(86400000000 * (x + 0.55 / (2 * pi()) * (sin(2 * pi() * (x - 0.12)) + sin(2 * pi() * 0.12))))::BIGINT,
            86399999999
          ) AS off_us,
          u01(ek, 2) * ${totalWeight(EVENT_TYPES)} AS te,
          sqrt(-2 * ln(1 - u01(ek, 3))) * cos(2 * pi() * u01(ek, 4)) AS z,
          -- Events are dealt into ~13 concurrent sessions per run of 64 consecutive events, giving
          -- sessions of ~5 events that are close in time and share user, device and session_id.
          mix(mix(${sessionKey}, d), (k // 64) * 16 + floor(u01(ek, 5) * 13)::BIGINT) AS sk
        FROM a
      ), c AS (
        SELECT *,
          -- Power-law pick: low ids are the heavy users.
          least(users, 1 + floor(users * u01(sk, 1) * u01(sk, 1)))::BIGINT AS user_id,
          mix(${userKey}, user_id) AS uk,
          mix(uk, 1) % ${totalWeight(COUNTRIES)} AS cu,
          -- Most sessions come from the user's usual device.
          CASE WHEN u01(sk, 2) < 0.8 THEN mix(uk, 2) ELSE mix(sk, 3) END % ${totalWeight(DEVICES)} AS du,
          lower(lpad(to_hex(mix(sk, 4)), 16, '0') || lpad(to_hex(mix(sk, 5)), 16, '0')) AS hx
        FROM b
      )
      SELECT
        day,
        event_id,
        make_timestamp(day_us + off_us) AS ts,
        user_id,
        ${eventCase} AS event_type,
        CASE event_type
          WHEN 'purchase' THEN least(round(exp(3.8 + 0.8 * z), 2), 9999999999.99)
          WHEN 'add_to_cart' THEN least(round(exp(3.2 + 0.7 * z), 2), 9999999999.99)
        END::DECIMAL(12,2) AS amount,
        ${countryCase} AS country,
        ${deviceCase} AS device,
        substr(hx, 1, 8) || '-' || substr(hx, 9, 4) || '-4' || substr(hx, 14, 3) || '-'
          || substr('89ab', (mix(sk, 6) % 4)::INTEGER + 1, 1) || substr(hx, 18, 3) || '-' || substr(hx, 21, 12) AS session_id
      FROM c`;

    const jobKeys = new Set<string>();
    const jobs: CopyJob[] = [];
    // Gzip jobs first: compression makes them the slowest.
    for (const gz of [true, false]) {
      for (const r of dayRows) {
        const key = `${gz ? 'gz' : 'plain'}-${r.part}`;
        if (r.gz !== gz || r.n === 0 || jobKeys.has(key)) continue;
        jobKeys.add(key);
        jobs.push({ gz, part: r.part, target: path.join(staging, key) });
      }
    }
    while (connections.length < Math.min(lanes, jobs.length)) connections.push(await instance.connect());

    let copied = 0;
    let next = 0;
    let failed = false;
    const worker = async (laneCon: DuckDBConnection): Promise<void> => {
      while (!failed && next < jobs.length) {
        const job = jobs[next++] as CopyJob;
        try {
          const result = await query(
            laneCon,
            `COPY (${selectEvents(job)}) TO ${sqlString(job.target)} (
              FORMAT csv, HEADER, PARTITION_BY (day), FILENAME_PATTERN 'data_{i}',
              TIMESTAMPFORMAT ${sqlString(TIMESTAMP_FORMAT)}${job.gz ? ', COMPRESSION gzip' : ''})`,
          );
          copied += Number(result[0]?.['Count'] ?? Number.NaN);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    // allSettled: connections must not be closed while a sibling COPY is still running.
    const settled = await Promise.allSettled(connections.map(worker));
    for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
    if (copied !== rows) throw new Error(`generateEvents: COPY wrote ${copied} rows, expected ${rows}`);

    // A day that drew zero rows has no partition; it still gets a header-only file so every day exists.
    const emptySelect = `SELECT NULL::BIGINT AS event_id, NULL::TIMESTAMP AS ts, NULL::BIGINT AS user_id,
      NULL::VARCHAR AS event_type, NULL::DECIMAL(12,2) AS amount, NULL::VARCHAR AS country,
      NULL::VARCHAR AS device, NULL::VARCHAR AS session_id WHERE false`;

    let bytes = 0;
    for (const { day, n, gz, part } of dayRows) {
      const finalPath = path.join(dir, `events-${day}.csv${gz ? '.gz' : ''}`);
      if (n === 0) {
        await query(
          con,
          `COPY (${emptySelect}) TO ${sqlString(finalPath)} (FORMAT csv, HEADER${gz ? ', COMPRESSION gzip' : ''})`,
        );
      } else {
        const partition = path.join(staging, `${gz ? 'gz' : 'plain'}-${part}`, `day=${day}`);
        const produced = await readdir(partition);
        const expected = `data_0.csv${gz ? '.gz' : ''}`;
        if (produced.length !== 1 || produced[0] !== expected) {
          throw new Error(`generateEvents: expected only ${expected} in ${partition}, found ${produced.join(', ')}`);
        }
        await rename(path.join(partition, expected), finalPath);
      }
      bytes += (await stat(finalPath)).size;
    }

    return { files: dayRows.length, rows: copied, bytes, from, to };
  } finally {
    for (const c of connections) c.closeSync();
    instance?.closeSync();
    await rm(staging, { recursive: true, force: true });
  }
}
