// Rows a DuckDB target table refuses (duplicate key, CHECK, NOT NULL) are found by bisection in
// rolled-back transactions, kept as rejected rows with DuckDB's reason, and the rest commits.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineJob, runBackfill, type Job } from '../../src/index.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';

function rejectsOf(job: Job): { raw: string; key: string | null; reason: string }[] {
  if (!existsSync(job.rejects.dir)) return [];
  return readdirSync(job.rejects.dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(job.rejects.dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as never));
}

describe('rows a DuckDB target refuses', () => {
  for (const mode of ['append', 'replace'] as const) {
    it(`are kept with DuckDB's reason and the rest commits (${mode}); past maxRejects the chunk writes nothing`, async () => {
      const dir = tempDir(`duckrej-${mode}`);
      const db = join(dir, 'out.duckdb');
      await query(`ATTACH '${db}' AS o; CREATE TABLE o.refuse (id BIGINT PRIMARY KEY, ts TIMESTAMP NOT NULL, name VARCHAR NOT NULL, qty INTEGER CHECK (qty >= 0));
        INSERT INTO o.refuse VALUES (100, TIMESTAMP '2023-12-31 00:00:00', 'outside', 1); DETACH o`);
      const lines = ['id,ts,name,qty'];
      for (let i = 1; i <= 30; i++) {
        // 4: no name; 9: a negative qty; 15 twice on the same day; 100 exists outside the chunks.
        const id = i === 16 ? 15 : i === 20 ? 100 : i;
        lines.push(`${id},2024-01-01 ${String(i % 24).padStart(2, '0')}:00:00,${i === 4 ? '' : `n${i}`},${i === 9 ? -1 : i}`);
      }
      writeFileSync(join(dir, 'rows.csv'), `${lines.join('\n')}\n`);
      const job = (maxRejects: number): Job =>
        defineJob(
          {
            name: `duckrej-${mode}-${maxRejects}`, source: { type: 'csv', path: 'rows.csv', options: { types: { name: 'VARCHAR' } } },
            chunk: { column: 'ts', every: '1 day', from: '2024-01-01', to: '2024-01-02' },
            target: { type: 'duckdb', database: 'out.duckdb', table: 'refuse' }, write: { mode }, backup: 'never', maxRejects, retries: { attempts: 1 },
          },
          { baseDir: dir },
        );
      const strict = await runBackfill(job(2));
      expect(strict.failed).toBe(1);
      expect(strict.chunks[0]?.error).toMatch(/maxRejects 2/);
      expect(await query<{ n: bigint }>(`ATTACH '${db}' AS o (READ_ONLY); SELECT count(*) AS n FROM o.refuse`).then((r) => Number(r.at(-1)?.n))).toBe(1);

      const lenient = job(10);
      const result = await runBackfill(lenient);
      // 30 rows: 4 (NULL name), 9 (CHECK), the second 15 and 100 (keys taken) refused.
      expect(result).toMatchObject({ status: 'done', done: 1, rowsRead: 30, rowsWritten: 26, rowsRejected: 4 });
      const kept = rejectsOf(lenient);
      expect(kept).toHaveLength(4);
      expect(kept.every((r) => r.reason.startsWith('DuckDB: Constraint Error'))).toBe(true);
      const ids = kept.map((r) => (JSON.parse(r.raw) as { id: number }).id).sort((a, b) => a - b);
      expect(ids).toEqual([4, 9, 15, 100]);
      const rows = await query<{ n: string; distinct_ids: string; outside: string }>(
        `ATTACH '${db}' AS o (READ_ONLY); SELECT count(*) AS n, count(DISTINCT id) AS distinct_ids, max(name) FILTER (WHERE id = 100) AS outside FROM o.refuse`,
      );
      expect(rows.at(-1)).toEqual({ n: '27', distinct_ids: '27', outside: 'outside' });
    });
  }
});
