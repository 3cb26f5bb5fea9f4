#!/usr/bin/env node
// Benchmark the database paths against the tools people use instead, in one run on one machine:
// file → PostgreSQL (append, replace, merge) vs `psql \copy` and pgloader; PostgreSQL → PostgreSQL and
// → Parquet vs a raw `COPY … TO STDOUT | COPY … FROM STDIN` pipe; file → MySQL vs a raw LOAD DATA; a merge over
// keys already present (PostgreSQL, MySQL, DuckDB, with and without the automatic backup) vs a hand-written staged
// upsert; replace vs append into a table the engine created, over several dozen time chunks.
// Every run is a separate process timed from the outside, so start-up costs count on both sides.
//
//   node scripts/bench-databases.mjs [--rows 2000000] [--reps 3] [--dir .bench] [--out docs/benchmarks-databases.md]
//   node scripts/bench-databases.mjs --quick      20,000 rows, 1 repetition, no report file
//   node scripts/bench-databases.mjs --only merge  only the merges over existing keys (and the staged upsert they are
//                                                  held to); also pg-merge, mysql-merge, duckdb-merge; no report unless --out
//
// Needs the PostgreSQL (127.0.0.1:5432, user postgres) and MariaDB (127.0.0.1:3306, root) servers,
// `psql` and `mariadb` clients; pgloader is measured when installed (Debian package `pgloader`).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { barChart } from './svg-chart.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'backfill.js');
const PG = { host: '127.0.0.1', port: '5432', user: 'postgres' };
const MAIN_DB = 'test';
const OTHER_DB = 'backfill_bench_target';
const MY_DB = 'backfill_bench';
const TABLE_DDL = '(id bigint PRIMARY KEY, ts timestamp NOT NULL, user_id bigint, amount numeric(12,2), note text)';
const MY_DDL = '(id BIGINT PRIMARY KEY, ts DATETIME(6) NOT NULL, user_id BIGINT, amount DECIMAL(12,2), note LONGTEXT, KEY (ts))';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string' },
    reps: { type: 'string' },
    dir: { type: 'string' },
    out: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const quick = args.quick;
const ROWS = Number(args.rows ?? (quick ? 20_000 : 2_000_000));
const REPS = Number(args.reps ?? (quick ? 1 : 3));
const WORK = path.resolve(args.dir ?? path.join(ROOT, '.bench', 'databases'));
const ONLY = args.only;
const SECTIONS = { merge: ['pg-merge', 'mysql-merge', 'duckdb-merge'], 'pg-merge': ['pg-merge'], 'mysql-merge': ['mysql-merge'], 'duckdb-merge': ['duckdb-merge'] };
if (ONLY !== undefined && !(ONLY in SECTIONS)) throw new Error(`--only takes one of ${Object.keys(SECTIONS).join(', ')}; got ${ONLY}`);
/** Whether a section runs: all of them by default, only the named ones with --only. */
const wanted = (section) => ONLY === undefined || SECTIONS[ONLY].includes(section);
// A partial run never overwrites the full report by default.
const OUT = quick || (ONLY !== undefined && args.out === undefined) ? undefined : path.resolve(args.out ?? path.join(ROOT, 'docs', 'benchmarks-databases.md'));
const CHUNKS = 8;

const log = (m) => process.stderr.write(`${m}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (n) => Math.round(n).toLocaleString('en-US');

function psql(db, sql, extra = []) {
  return execFileSync('psql', ['-h', PG.host, '-p', PG.port, '-U', PG.user, '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql, ...extra], { encoding: 'utf8' });
}
function my(sql, db) {
  return execFileSync('mariadb', ['-h', '127.0.0.1', '-P', '3306', '-uroot', '--local-infile=1', ...(db ? [db] : []), '-Nse', sql], { encoding: 'utf8' });
}
function hasCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/**
 * Run a shell command `reps` times after `reset()`, return the median wall seconds. Every run
 * starts right after a CHECKPOINT: each load writes a few hundred MB of WAL, and a checkpoint
 * that the previous run left due would otherwise land inside whichever run comes next.
 */
function measure(label, reset, command, check, expected = ROWS) {
  const times = [];
  for (let i = 0; i < REPS; i++) {
    reset();
    psql(MAIN_DB, 'CHECKPOINT');
    const t0 = process.hrtime.bigint();
    const res = spawnSync('sh', ['-c', command], { cwd: WORK, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (res.status !== 0) throw new Error(`${label} failed (exit ${res.status}):\n${res.stderr}\n${res.stdout}`);
    const rows = check();
    if (rows !== expected) throw new Error(`${label}: expected ${expected} rows in the target, found ${rows}`);
    times.push(seconds);
    log(`  ${label}: ${seconds.toFixed(2)} s`);
  }
  const s = median(times);
  return { label, seconds: s, rowsPerSecond: expected / s, rows: expected };
}

function jobFile(name, source, target, write, extra = '', chunk = `{ column: id, size: ${Math.ceil(ROWS / CHUNKS)} }`) {
  const file = path.join(WORK, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}\nsource: ${JSON.stringify(source)}\nchunk: ${chunk}\n` +
      `target: ${JSON.stringify(target)}\nwrite: ${JSON.stringify(write)}\nledger: ${name}.ledger.sqlite\n` +
      // Unthrottled: a database source's default (adaptive) would measure this machine's load, not the engine.
      `concurrency: auto\n${extra}`,
  );
  return file;
}
const engine = (file) => `node ${JSON.stringify(BIN)} run ${JSON.stringify(file)} --quiet`;
const dropLedger = (name) => () => rmSync(path.join(WORK, `${name}.ledger.sqlite`), { force: true });

async function main() {
  mkdirSync(WORK, { recursive: true });
  const csv = path.join(WORK, `events-${ROWS}.csv`);
  if (!existsSync(csv)) {
    log(`generating ${fmt(ROWS)} rows × 5 columns …`);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(`COPY (SELECT i AS id, TIMESTAMP '2024-01-01' + to_microseconds(i * 15000000) AS ts, hash(i) % 100000 AS user_id,
        CAST((hash(i * 7) % 10000000) / 100.0 AS DECIMAL(12,2)) AS amount, 'note ' || i || ' ' || md5(CAST(i AS VARCHAR)) AS note
      FROM range(${ROWS}) t(i)) TO '${csv}' (FORMAT csv, HEADER)`);
    conn.closeSync();
    db.closeSync();
  }
  const csvBytes = (await import('node:fs')).statSync(csv).size;

  psql(MAIN_DB, 'CREATE SCHEMA IF NOT EXISTS bench');
  if (psql('postgres', `SELECT 1 FROM pg_database WHERE datname = '${OTHER_DB}'`).trim() !== '1') psql('postgres', `CREATE DATABASE ${OTHER_DB}`);
  psql(OTHER_DB, 'CREATE SCHEMA IF NOT EXISTS bench');
  const fresh = (db, table) => () => psql(db, `DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} ${TABLE_DDL}`);
  const count = (db, table) => () => Number(psql(db, `SELECT count(*) FROM ${table}`).trim());
  const pgUrl = (db) => `postgres://postgres@127.0.0.1:5432/${db}`;
  const results = [];

  const src = { type: 'csv', path: csv };
  let psqlCopy;
  if (wanted('pg-load')) {
    log('file → PostgreSQL');
    psqlCopy = measure('psql \\copy (CSV → indexed table)', fresh(MAIN_DB, 'bench.t'), `psql -h 127.0.0.1 -U postgres -d ${MAIN_DB} -qc "\\copy bench.t FROM '${csv}' CSV HEADER"`, count(MAIN_DB, 'bench.t'));
    results.push(psqlCopy);
    for (const mode of ['append', 'replace', 'merge']) {
      const name = `file-pg-${mode}`;
      const file = jobFile(name, src, { type: 'postgres', connection: pgUrl(MAIN_DB), table: 'bench.t' }, mode === 'merge' ? { mode, key: ['id'] } : { mode });
      const reset = () => {
        fresh(MAIN_DB, 'bench.t')();
        dropLedger(name)();
      };
      results.push(measure(`engine CSV → PostgreSQL, ${mode}`, reset, engine(file), count(MAIN_DB, 'bench.t')));
    }
    {
      // Merge without the automatic backup (which stages the chunk to record its keys): a first
      // load of new keys is then one COPY per chunk — the like-for-like comparison with a raw COPY.
      const name = 'file-pg-merge-nobackup';
      const file = jobFile(name, src, { type: 'postgres', connection: pgUrl(MAIN_DB), table: 'bench.t' }, { mode: 'merge', key: ['id'] }, 'backup: never\n');
      results.push(measure('engine CSV → PostgreSQL, merge, backup: never', () => (fresh(MAIN_DB, 'bench.t')(), dropLedger(name)()), engine(file), count(MAIN_DB, 'bench.t')));
    }
  }
  if (wanted('pg-merge')) {
    log('file → PostgreSQL, merge over existing keys');
    // The same merge over a table that already holds every key, a tenth of them with other values:
    // every chunk takes the staging path and updates only the rows that really changed.
    const name = 'file-pg-remerge';
    const file = jobFile(name, src, { type: 'postgres', connection: pgUrl(MAIN_DB), table: 'bench.t' }, { mode: 'merge', key: ['id'] });
    const reset = () => {
      fresh(MAIN_DB, 'bench.t')();
      psql(MAIN_DB, `\\copy bench.t FROM '${csv}' CSV HEADER`);
      psql(MAIN_DB, `UPDATE bench.t SET note = 'changed' WHERE id % 10 = 0`);
      psql(MAIN_DB, 'VACUUM ANALYZE bench.t');
      dropLedger(name)();
    };
    results.push(measure('engine CSV → PostgreSQL, merge over all keys present (10% changed)', reset, engine(file), count(MAIN_DB, 'bench.t')));
    const never = jobFile('file-pg-remerge-never', src, { type: 'postgres', connection: pgUrl(MAIN_DB), table: 'bench.t' }, { mode: 'merge', key: ['id'] }, 'backup: never\n');
    results.push(measure('engine CSV → PostgreSQL, merge over all keys present, backup: never', () => (reset(), dropLedger('file-pg-remerge-never')()), engine(never), count(MAIN_DB, 'bench.t')));
    // What a careful person writes by hand: COPY into a temporary table, one upsert that skips
    // unchanged rows, all in one transaction (no backup, no chunks, no ledger).
    const upsert = path.join(WORK, 'staged-upsert.sql');
    const others = ['ts', 'user_id', 'amount', 'note'];
    writeFileSync(
      upsert,
      `CREATE TEMP TABLE s (LIKE bench.t) ON COMMIT DROP;\n\\copy s FROM '${csv}' CSV HEADER\n` +
        `INSERT INTO bench.t AS t SELECT * FROM s ON CONFLICT (id) DO UPDATE SET ${others.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}\n` +
        `  WHERE (${others.map((c) => `t.${c}`).join(', ')}) IS DISTINCT FROM (${others.map((c) => `EXCLUDED.${c}`).join(', ')});\n`,
    );
    results.push(measure('hand-written staged upsert (COPY to temp table + ON CONFLICT … IS DISTINCT FROM, one transaction)', reset, `psql -h 127.0.0.1 -U postgres -d ${MAIN_DB} -v ON_ERROR_STOP=1 -q -1 -f ${JSON.stringify(upsert)}`, count(MAIN_DB, 'bench.t')));
  }
  let pgloader;
  let pipe;
  if (wanted('pg-load')) {
    {
      // Replace and append into a table the engine creates (create: true), chunked by time into
      // several dozen chunks: without an index that leads with the chunk column, each replace's
      // range delete would scan everything loaded before it, and the cost would grow with history.
      const hours = Math.max(1, Math.round((ROWS * 15) / 3600 / 48));
      const chunk = `{ column: ts, every: ${hours} hours }`;
      const created = { type: 'postgres', connection: pgUrl(MAIN_DB), table: 'bench.created', create: true };
      const drop = (name) => () => (psql(MAIN_DB, 'DROP TABLE IF EXISTS bench.created'), dropLedger(name)());
      for (const mode of ['replace', 'append']) {
        const name = `file-pg-created-${mode}`;
        const file = jobFile(name, src, created, { mode }, '', chunk);
        results.push(measure(`engine CSV → PostgreSQL, ${mode} into a created table (${Math.ceil((ROWS * 15) / 3600 / hours)} time chunks)`, drop(name), engine(file), count(MAIN_DB, 'bench.created')));
      }
    }
    // The approaches people start with are too slow for the whole file: they load its first rows.
    const naive = (mode, rows) =>
      measure(
        `${mode === 'row' ? 'one INSERT per row' : 'multi-row INSERT, 1,000 rows per statement'} (node pg, first ${fmt(rows)} rows)`,
        fresh(MAIN_DB, 'bench.t'),
        `node ${JSON.stringify(path.join(ROOT, 'scripts', 'naive-inserts.mjs'))} ${JSON.stringify(csv)} ${pgUrl(MAIN_DB)} bench.t ${mode} ${rows}`,
        count(MAIN_DB, 'bench.t'),
        rows,
      );
    results.push(naive('row', Math.min(Math.ceil(ROWS / 10), 20_000)));
    results.push(naive('batch', Math.min(ROWS, 200_000)));
    if (hasCommand('pgloader')) {
      const load = path.join(WORK, 'pgloader.load');
      writeFileSync(
        load,
        `LOAD CSV FROM '${csv}' (id, ts, user_id, amount, note)\n INTO postgresql://postgres@127.0.0.1:5432/${MAIN_DB}\n` +
          ` TARGET TABLE bench.t\n TARGET COLUMNS (id, ts, user_id, amount, note)\n` +
          ` WITH skip header = 1, fields terminated by ',', fields optionally enclosed by '"';\n`,
      );
      pgloader = measure('pgloader (CSV → indexed table)', fresh(MAIN_DB, 'bench.t'), `pgloader --quiet ${JSON.stringify(load)}`, count(MAIN_DB, 'bench.t'));
      results.push(pgloader);
    } else {
      log('pgloader not installed: skipped (apt-get install pgloader)');
    }

    log('PostgreSQL → PostgreSQL / Parquet');
    fresh(MAIN_DB, 'bench.src')();
    psql(MAIN_DB, `\\copy bench.src FROM '${csv}' CSV HEADER`);
    psql(MAIN_DB, 'ANALYZE bench.src');
    pipe = measure(
      'raw COPY TO STDOUT → COPY FROM STDIN pipe (other database)',
      fresh(OTHER_DB, 'bench.t'),
      `psql -h 127.0.0.1 -U postgres -d ${MAIN_DB} -qc "\\copy bench.src TO STDOUT" | psql -h 127.0.0.1 -U postgres -d ${OTHER_DB} -qc "\\copy bench.t FROM STDIN"`,
      count(OTHER_DB, 'bench.t'),
    );
    results.push(pipe);
    const pgSource = { type: 'postgres', connection: pgUrl(MAIN_DB), table: 'bench.src' };
    {
      const name = 'pg-pg';
      const file = jobFile(name, pgSource, { type: 'postgres', connection: pgUrl(OTHER_DB), table: 'bench.t' }, { mode: 'replace' });
      results.push(measure('engine PostgreSQL → PostgreSQL (other database, COPY stream)', () => (fresh(OTHER_DB, 'bench.t')(), dropLedger(name)()), engine(file), count(OTHER_DB, 'bench.t')));
    }
    {
      // The same with the COPY stream in text, as the raw pipe sends it (the default takes binary when the column types match).
      const name = 'pg-pg-text';
      const file = jobFile(name, pgSource, { type: 'postgres', connection: pgUrl(OTHER_DB), table: 'bench.t', copyFormat: 'text' }, { mode: 'replace' });
      results.push(measure('engine PostgreSQL → PostgreSQL (other database, COPY stream, copyFormat: text)', () => (fresh(OTHER_DB, 'bench.t')(), dropLedger(name)()), engine(file), count(OTHER_DB, 'bench.t')));
    }
    {
      const name = 'pg-pg-same';
      const file = jobFile(name, pgSource, { type: 'postgres', connection: pgUrl(MAIN_DB), table: 'bench.t' }, { mode: 'replace' });
      results.push(measure('engine PostgreSQL → PostgreSQL (same database, in-database)', () => (fresh(MAIN_DB, 'bench.t')(), dropLedger(name)()), engine(file), count(MAIN_DB, 'bench.t')));
    }
    {
      const name = 'pg-parquet';
      const lake = path.join(WORK, 'pg-lake');
      const file = jobFile(name, pgSource, { type: 'parquet', path: lake }, { mode: 'replace' });
      const lakeRows = () => {
        const out = spawnSync('node', ['-e', `import('@duckdb/node-api').then(async ({DuckDBInstance}) => { const i = await DuckDBInstance.create(); const c = await i.connect(); const r = await c.runAndReadAll("select count(*) n from read_parquet('${lake}/**/*.parquet')"); console.log(String(r.getRows()[0][0])); })`], { cwd: ROOT, encoding: 'utf8' });
        return Number(out.stdout.trim());
      };
      results.push(measure('engine PostgreSQL → Parquet', () => (rmSync(lake, { recursive: true, force: true }), dropLedger(name)()), engine(file), lakeRows));
    }
  }

  my(`CREATE DATABASE IF NOT EXISTS ${MY_DB}`);
  const myFresh = () => my(`DROP TABLE IF EXISTS t; CREATE TABLE t ${MY_DDL}`, MY_DB);
  const myCount = () => Number(my('SELECT count(*) FROM t', MY_DB).trim());
  let loadData;
  if (wanted('mysql-load')) {
    log('file → MySQL');
    loadData = measure(
      'raw LOAD DATA LOCAL INFILE (mariadb client)',
      myFresh,
      `mariadb -h 127.0.0.1 -uroot --local-infile=1 ${MY_DB} -e "LOAD DATA LOCAL INFILE '${csv}' INTO TABLE t FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\\"' IGNORE 1 LINES (id, ts, user_id, amount, note)"`,
      myCount,
    );
    results.push(loadData);
    {
      const name = 'file-mysql';
      const file = jobFile(name, src, { type: 'mysql', connection: `mysql://root@127.0.0.1:3306/${MY_DB}`, table: 't' }, { mode: 'append' });
      results.push(measure('engine CSV → MySQL, append', () => (myFresh(), dropLedger(name)()), engine(file), myCount));
    }
  }
  for (const backup of wanted('mysql-merge') ? ['auto', 'never'] : []) {
    // A merge over a table holding every key, a tenth of the rows changed, as for PostgreSQL.
    const name = `file-mysql-remerge-${backup}`;
    const file = jobFile(name, src, { type: 'mysql', connection: `mysql://root@127.0.0.1:3306/${MY_DB}`, table: 't' }, { mode: 'merge', key: ['id'] }, `backup: ${backup}\n`);
    const reset = () => {
      myFresh();
      my(`LOAD DATA LOCAL INFILE '${csv}' INTO TABLE t FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' IGNORE 1 LINES (id, ts, user_id, amount, note); UPDATE t SET note = 'changed' WHERE id % 10 = 0`, MY_DB);
      dropLedger(name)();
    };
    results.push(measure(`engine CSV → MySQL, merge over all keys present (10% changed)${backup === 'never' ? ', backup: never' : ''}`, reset, engine(file), myCount));
  }

  if (wanted('duckdb-merge')) log('file → DuckDB');
  const duckFile = path.join(WORK, 'target.duckdb');
  const duck = (sql) => {
    const out = spawnSync('node', ['-e', `import('@duckdb/node-api').then(async ({DuckDBInstance}) => { const i = await DuckDBInstance.create(${JSON.stringify(duckFile)}); const c = await i.connect(); const r = await c.runAndReadAll(${JSON.stringify(sql)}); const rows = r.getRows(); console.log(rows.length ? String(rows[rows.length - 1][0]) : ''); c.closeSync(); i.closeSync(); })`], { cwd: ROOT, encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`duckdb: ${out.stderr}`);
    return out.stdout.trim();
  };
  for (const backup of wanted('duckdb-merge') ? ['auto', 'never'] : []) {
    const name = `file-duckdb-remerge-${backup}`;
    const file = jobFile(name, src, { type: 'duckdb', database: duckFile, table: 't' }, { mode: 'merge', key: ['id'] }, `backup: ${backup}\n`);
    const reset = () => {
      rmSync(duckFile, { force: true });
      rmSync(`${duckFile}.wal`, { force: true });
      duck(`CREATE TABLE t (id BIGINT PRIMARY KEY, ts TIMESTAMP NOT NULL, user_id BIGINT, amount DECIMAL(12,2), note VARCHAR);
        INSERT INTO t SELECT * FROM read_csv('${csv}', header = true); UPDATE t SET note = 'changed' WHERE id % 10 = 0; SELECT 1`);
      dropLedger(name)();
    };
    results.push(measure(`engine CSV → DuckDB, merge over all keys present (10% changed)${backup === 'never' ? ', backup: never' : ''}`, reset, engine(file), () => Number(duck('SELECT count(*) FROM t'))));
  }

  const by = (label) => results.find((r) => r.label.startsWith(label));
  const ratio = (a, b) => (a && b ? a.rowsPerSecond / b.rowsPerSecond : undefined);
  const goals = [
    ['file → PostgreSQL append vs psql \\copy', ratio(by('engine CSV → PostgreSQL, append'), psqlCopy), 0.8],
    ['file → PostgreSQL merge, backup: never vs raw COPY (psql \\copy)', ratio(by('engine CSV → PostgreSQL, merge, backup: never'), psqlCopy), 0.5],
    ['file → PostgreSQL merge with its automatic backup vs raw COPY', ratio(by('engine CSV → PostgreSQL, merge'), psqlCopy), undefined],
    ['file → PostgreSQL merge over existing rows (10% changed) vs raw COPY', ratio(by('engine CSV → PostgreSQL, merge over'), psqlCopy), undefined],
    ['file → PostgreSQL merge vs pgloader', ratio(by('engine CSV → PostgreSQL, merge'), pgloader), 5],
    ['file → PostgreSQL append vs pgloader', ratio(by('engine CSV → PostgreSQL, append'), pgloader), 5],
    ['file → PostgreSQL append vs one INSERT per row', ratio(by('engine CSV → PostgreSQL, append'), by('one INSERT per row')), undefined],
    ['file → PostgreSQL append vs multi-row INSERT', ratio(by('engine CSV → PostgreSQL, append'), by('multi-row INSERT')), undefined],
    ['PostgreSQL → PostgreSQL vs raw COPY pipe', ratio(by('engine PostgreSQL → PostgreSQL (other'), pipe), 0.8],
    ['PostgreSQL → PostgreSQL, copyFormat: text vs raw COPY pipe', ratio(by('engine PostgreSQL → PostgreSQL (other database, COPY stream, copyFormat: text'), pipe), undefined],
    ['PostgreSQL → Parquet vs raw COPY pipe', ratio(by('engine PostgreSQL → Parquet'), pipe), 0.8],
    ['file → MySQL append vs raw LOAD DATA', ratio(by('engine CSV → MySQL'), loadData), undefined],
    ['PostgreSQL merge over existing keys, default backup vs hand-written staged upsert', ratio(by('engine CSV → PostgreSQL, merge over all keys present (10% changed)'), by('hand-written staged upsert')), 0.8],
    ['PostgreSQL merge over existing keys, backup: never vs hand-written staged upsert', ratio(by('engine CSV → PostgreSQL, merge over all keys present, backup: never'), by('hand-written staged upsert')), undefined],
    ['MySQL merge over existing keys, default backup vs backup: never', ratio(by('engine CSV → MySQL, merge over all keys present (10% changed)'), by('engine CSV → MySQL, merge over all keys present (10% changed), backup: never')), undefined],
    ['DuckDB merge over existing keys, default backup vs backup: never', ratio(by('engine CSV → DuckDB, merge over all keys present (10% changed)'), by('engine CSV → DuckDB, merge over all keys present (10% changed), backup: never')), undefined],
    ['PostgreSQL replace vs append into a created table (several dozen time chunks)', ratio(by('engine CSV → PostgreSQL, replace into a created table'), by('engine CSV → PostgreSQL, append into a created table')), 0.8],
  ];

  const lines = [];
  lines.push('| run | rows | seconds (median) | rows/s |', '|---|---:|---:|---:|');
  for (const r of results) lines.push(`| ${r.label} | ${fmt(r.rows)} | ${r.seconds.toFixed(2)} | ${fmt(r.rowsPerSecond)} |`);
  lines.push('', '| goal | ratio | target | met |', '|---|---:|---:|---|');
  for (const [name, value, goal] of goals) {
    if (value === undefined) continue;
    lines.push(`| ${name} | ${value.toFixed(2)}× | ${goal === undefined ? '—' : `≥ ${goal}×`} | ${goal === undefined ? '—' : value >= goal ? 'yes' : '**no**'} |`);
  }
  const table = lines.join('\n');
  process.stdout.write(`${table}\n`);

  if (OUT !== undefined) {
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    const pgVersion = psql(MAIN_DB, 'SHOW server_version').trim();
    const myVersion = my('SELECT version()').trim();
    const doc = `# Database benchmarks

Produced by \`node scripts/bench-databases.mjs --rows ${ROWS} --reps ${REPS}\` (part of \`npm run bench\`) on
${new Date().toISOString().slice(0, 10)}: ${os.availableParallelism()} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB,
Node ${process.version}, PostgreSQL ${pgVersion}, MariaDB ${myVersion}${hasCommand('pgloader') ? `, ${execFileSync('pgloader', ['--version'], { encoding: 'utf8' }).split('\n')[0]}` : ''}.

Data: ${fmt(ROWS)} rows × 5 columns (bigint key, timestamp, bigint, numeric(12,2), text), one ${(csvBytes / 1e6).toFixed(0)} MB CSV
file. Targets are tables with a primary key (\`${TABLE_DDL}\`), emptied before every run, and every run
starts right after a \`CHECKPOINT\` (so no run pays for the previous one's WAL). The engine runs
are the \`backfill\` command on a job file, ${CHUNKS} key chunks, \`concurrency: auto\` (unthrottled: the cores, at least 2; a
database source's default, adaptive, would give way to the benchmark's own load on this machine); every figure is the
median of ${REPS} runs, timed from outside the process (start-up included), and every run is checked to
have loaded exactly ${fmt(ROWS)} rows. The CSV file cannot be pruned by name, so the engine stages it
in one pass before committing chunk by chunk.

${table}

![Throughput by path and method](benchmarks-databases.svg)

How to reproduce: \`npm run build && node scripts/bench-databases.mjs --rows ${ROWS} --reps ${REPS}\`.
`;
    writeFileSync(OUT, doc);
    const chart = barChart({
      title: `Databases: throughput by path and method (${fmt(ROWS)} rows)`,
      unit: 'rows/s (median)',
      groups: [
        { name: 'file → PostgreSQL', bars: results.filter((r) => /PostgreSQL, |psql|pgloader|INSERT/.test(r.label) && !/PostgreSQL →/.test(r.label)) },
        { name: 'PostgreSQL → PostgreSQL / Parquet', bars: results.filter((r) => /pipe|PostgreSQL →/.test(r.label)) },
        { name: 'file → MySQL', bars: results.filter((r) => /MySQL|LOAD DATA/.test(r.label)) },
        { name: 'file → DuckDB', bars: results.filter((r) => /DuckDB/.test(r.label)) },
      ].map((g) => ({ name: g.name, bars: g.bars.map((r) => ({ label: r.label.replace(/ \(.*\)$/, (m) => (m.length > 40 ? '' : m)), value: r.rowsPerSecond })) })),
    });
    writeFileSync(path.join(path.dirname(OUT), 'benchmarks-databases.svg'), chart);
    log(`wrote ${OUT}`);
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
