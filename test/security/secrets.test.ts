// A planted password in every connection URL must appear nowhere a run leaves traces: output, errors, ledgers, files.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeJob, type CliResult } from '../helpers/cli.js';
import { ensurePostgres, POSTGRES_URL } from '../helpers/services.js';

const SUFFIX = Math.random().toString(36).slice(2, 8);
const SCHEMA = `sec_secret_${SUFFIX}`;
// The server trusts any password, so the planted one still connects.
const SECRET = `Pl4nted-${SUFFIX}-Secr3t`;
const url = new URL(POSTGRES_URL);
const WITH_SECRET = `postgres://${url.username || 'postgres'}:\${BACKFILL_SECRET_PW}@${url.host}${url.pathname}`;
const ENV = { BACKFILL_SECRET_PW: SECRET };

let client: pg.Client;

beforeAll(async () => {
  await ensurePostgres();
  client = new pg.Client({ connectionString: POSTGRES_URL, application_name: SCHEMA });
  await client.connect();
  await client.query(`CREATE SCHEMA ${SCHEMA}`);
  await client.query(`CREATE TABLE ${SCHEMA}.src (id bigint PRIMARY KEY, v text)`);
  await client.query(`INSERT INTO ${SCHEMA}.src SELECT i, 'v' || i FROM generate_series(1, 40) i`);
});

afterAll(async () => {
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA}_ledger CASCADE`);
  await client.end();
});

/** Every file under `dir`, as bytes. */
function allFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

function leaks(text: string): boolean {
  return text.includes(SECRET) || text.includes(encodeURIComponent(SECRET));
}

/** A job whose source, target (and optionally ledger) URLs carry the planted password. */
function jobYaml(name: string, options: { ledger?: string; target?: string } = {}): string {
  // The chunk [10, 20) ends its own source connection (pg_terminate_backend of its own backend): a connection error mid-chunk.
  return `
name: ${name}
source:
  type: postgres
  connection: ${WITH_SECRET}
  query: "select id, v from ${SCHEMA}.src where case when id = 13 then pg_terminate_backend(pg_backend_pid()) else true end"
chunk: { column: id, size: 10 }
transform: "select id, v || '!' as v from source"
target:
  type: postgres
  connection: ${options.target ?? WITH_SECRET}
  table: ${SCHEMA}.${name.replace(/-/g, '_')}
  create: true
write: { mode: merge, key: [id] }
retries: { attempts: 2, backoff: 10ms }
${options.ledger === undefined ? '' : `ledger: ${options.ledger}`}
`;
}

function expectClean(what: string, text: string): void {
  // Reports which output leaked, without printing the secret itself.
  expect(leaks(text) ? `${what} holds the password` : 'clean').toBe('clean');
}

describe('secrets', () => {
  it('never appear in run/status/plan output, errors, the SQLite ledger or the state folder — with a chunk failing on a lost connection', async () => {
    const dir = tempDir('secrets');
    const job = writeJob(dir, 'job.yaml', jobYaml(`secret-${SUFFIX}`));
    const outputs: [string, CliResult][] = [];
    const run = await runCli(['run', job, '--json'], { env: ENV });
    outputs.push(['run --json', run]);
    // The run really used the password-carrying URLs and one chunk failed on its connection.
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/"chunk:failed"/);
    expect(run.stdout).toMatch(/terminat|connection/i);
    for (const args of [['run', job], ['status', job, '--json'], ['status', job], ['plan', job, '--json'], ['plan', job]]) {
      outputs.push([args.join(' '), await runCli(args, { env: ENV })]);
    }
    const status = JSON.parse(outputs.find(([w]) => w === `status ${job} --json`)?.[1].stdout ?? '{}') as { counts?: { done: number; failed: number } };
    expect(status.counts).toMatchObject({ done: 4, failed: 1 });
    for (const [what, result] of outputs) {
      expectClean(`${what} stdout`, result.stdout);
      expectClean(`${what} stderr`, result.stderr);
    }
    // The SQLite ledger (with its WAL) and everything else under the state folder, byte for byte.
    const files = allFiles(join(dir, '.backfill'));
    expect(files.some((f) => f.endsWith('.ledger.sqlite'))).toBe(true);
    for (const file of [...files, job]) {
      if (file === job) continue; // the job file holds only ${BACKFILL_SECRET_PW}
      expectClean(file, readFileSync(file).toString('latin1'));
    }
    expect(readFileSync(job, 'utf8')).not.toContain(SECRET);
    // The target's commit markers name the job and the claim, nothing more.
    const markers = await client.query<{ row: string }>(`SELECT row_to_json(c)::text AS row FROM backfill.chunk_commits c WHERE job = $1`, [`secret-${SUFFIX}`]);
    expect(markers.rows.length).toBe(4);
    for (const m of markers.rows) expectClean('a commit marker', m.row);
  }, 300_000);

  it('never appear with a PostgreSQL ledger, nor in connection and authentication errors', async () => {
    const dir = tempDir('secrets-pg');
    const ledger = `${WITH_SECRET}?schema=${SCHEMA}_ledger`;
    const job = writeJob(dir, 'job.yaml', jobYaml(`secret-pg-${SUFFIX}`, { ledger }));
    const outputs: [string, CliResult][] = [['run --json', await runCli(['run', job, '--json'], { env: ENV })]];
    expect(outputs[0]?.[1].code).toBe(1);
    for (const args of [['status', job, '--json'], ['plan', job, '--json']]) outputs.push([args.join(' '), await runCli(args, { env: ENV })]);
    // Every text the ledger's tables hold.
    const tables = await client.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1`, [`${SCHEMA}_ledger`]);
    expect(tables.rows.length).toBeGreaterThan(3);
    for (const { t } of tables.rows) {
      const rows = await client.query<{ row: string }>(`SELECT row_to_json(x)::text AS row FROM ${SCHEMA}_ledger.${t} x`);
      for (const r of rows.rows) expectClean(`ledger table ${t}`, r.row);
    }
    // A target nobody listens on, a role that does not exist, and a ledger on a closed port: each fails the run with a message.
    const refused = writeJob(dir, 'refused.yaml', jobYaml(`secret-refused-${SUFFIX}`, { target: `postgres://postgres:\${BACKFILL_SECRET_PW}@127.0.0.1:1/test` }));
    const noRole = writeJob(dir, 'norole.yaml', jobYaml(`secret-norole-${SUFFIX}`, { target: `postgres://no_such_role_${SUFFIX}:\${BACKFILL_SECRET_PW}@${url.host}${url.pathname}` }));
    const badLedger = writeJob(dir, 'badledger.yaml', jobYaml(`secret-badledger-${SUFFIX}`, { ledger: `postgres://postgres:\${BACKFILL_SECRET_PW}@127.0.0.1:1/test` }));
    for (const [what, file] of [['refused', refused], ['no role', noRole], ['bad ledger', badLedger]] as const) {
      for (const args of [['run', file, '--json'], ['status', file]]) {
        const result = await runCli(args, { env: ENV });
        outputs.push([`${what}: ${args.join(' ')}`, result]);
      }
    }
    const refusedRun = outputs.find(([w]) => w.startsWith('refused: run'))?.[1];
    expect(refusedRun?.code).not.toBe(0);
    expect(refusedRun?.stderr).toMatch(/ECONNREFUSED|connect|refused/i);
    const noRoleRun = outputs.find(([w]) => w.startsWith('no role: run'))?.[1];
    expect(noRoleRun?.code).not.toBe(0);
    expect(noRoleRun?.stderr).toMatch(/no_such_role/);
    for (const [what, result] of outputs) {
      expectClean(`${what} stdout`, result.stdout);
      expectClean(`${what} stderr`, result.stderr);
    }
    for (const file of allFiles(join(dir, '.backfill'))) expectClean(file, readFileSync(file).toString('latin1'));
  }, 300_000);
});
