// A profile lends the run of its sampled slices its DuckDB session and its source, prepared and
// described: the run reads through them as they are, and closes neither.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ulid } from 'ulid';
import { describe, expect, it } from 'vitest';
import { defineJob } from '../../src/index.js';
import { createSource } from '../../src/connectors/open-connectors.js';
import { timeChunk } from '../../src/core/chunk.js';
import { describeJob } from '../../src/engine/run/prepare.js';
import { runChunks } from '../../src/engine/run/run-chunks.js';
import { DuckSession } from '../../src/runtime/duckdb-session.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';

const day = (d: string): number => Date.parse(`${d}T00:00:00Z`);

describe('a run on a lent session and source', () => {
  it('reads through the lent source as it was prepared, writes every row of its window, and leaves both open', async () => {
    const dir = tempDir('lent');
    mkdirSync(join(dir, 'in'));
    for (const d of ['2024-05-01', '2024-05-02', '2024-05-03']) {
      await query(`COPY (SELECT TIMESTAMP '${d} 10:00:00' + to_minutes(i) AS ts, i AS v FROM range(100) t(i)) TO '${join(dir, 'in', `m-${d}.csv`)}' (HEADER)`);
    }
    const job = defineJob(
      { name: 'lent', source: { type: 'csv', path: 'in/*.csv', pruneBy: 'filename' }, chunk: { column: 'ts', every: '1 day', timezone: 'UTC' }, target: { type: 'duckdb', database: 'o.duckdb', table: 't' } },
      { baseDir: dir },
    );
    const session = await DuckSession.create(job.duckdb);
    const conn = await session.connect();
    const source = await createSource(job);
    try {
      const described = await describeJob(job, source, conn);
      // A file that appears after the source was prepared is not among its files: the run does not look again.
      await query(`COPY (SELECT TIMESTAMP '2024-05-04 10:00:00' AS ts, 1 AS v) TO '${join(dir, 'in', 'm-2024-05-04.csv')}' (HEADER)`);
      const window = { chunks: [timeChunk(day('2024-05-01'), day('2024-05-03')), timeChunk(day('2024-05-03'), day('2024-05-05'))], runId: ulid(), chunkDone: async () => {}, prune: async () => {} };
      const result = await runChunks(job, {}, { window, lent: { session, source, described } });
      expect(result).toMatchObject({ failed: 0, rowsWritten: 300 });
      const written = await query<{ n: string }>(`ATTACH '${join(dir, 'o.duckdb')}' AS o (READ_ONLY); SELECT count(*)::VARCHAR AS n FROM o.t`);
      expect(written[written.length - 1]?.n).toBe('300');
      // The session and the source still serve the lender.
      const after = await session.connect();
      expect(await after.all<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM ${source.relation()}`)).toEqual([{ n: 300 }]);
      after.close();
    } finally {
      conn.close();
      session.close();
      await source.close();
    }
  });
});
