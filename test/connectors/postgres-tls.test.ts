// TLS to PostgreSQL against a throwaway cluster that accepts only TLS connections.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, runBackfill } from '../../src/index.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../helpers/throwaway-postgres.js';

const PORT = 25400 + (process.pid % 500);
let server: ThrowawayPostgres;

beforeAll(() => {
  server = startThrowawayPostgres(PORT, { tls: true });
}, 120_000);
afterAll(() => server?.stop());

describe('postgres over TLS', () => {
  const url = `postgres://postgres@127.0.0.1:${PORT}/postgres`;
  const job = (dir: string, ssl: unknown) =>
    defineJob(
      {
        name: 'tls', source: { type: 'parquet', path: 'in.parquet' }, chunk: { column: 'id', size: 500 },
        target: { type: 'postgres', connection: url, table: 'public.t', create: true, ...(ssl === undefined ? {} : { ssl }) },
      },
      { baseDir: dir },
    );

  it('writes over an encrypted connection, and reports a plain one the server refuses', async () => {
    const dir = tempDir('tls');
    await query(`COPY (SELECT i AS id, 'v' || i AS v FROM range(2000) t(i)) TO '${join(dir, 'in.parquet')}' (FORMAT parquet)`);
    const plain = await runBackfill(job(dir, undefined)).catch((err: Error) => err);
    expect(plain).toBeInstanceOf(Error);
    expect(String((plain as Error).message)).toMatch(/no encryption|pg_hba/);

    // A self-signed certificate: encrypted, not verified.
    const result = await runBackfill(job(dir, { rejectUnauthorized: false }));
    expect(result).toMatchObject({ status: 'done', rowsWritten: 2000 });

    // Verification against the system's authorities refuses the self-signed certificate, naming why.
    const verified = await runBackfill(job(dir, true)).catch((err: Error) => err);
    expect(String((verified as Error).message)).toMatch(/self[- ]signed/i);
  });
});
