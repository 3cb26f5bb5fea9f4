// Bad CSV lines set aside per read: each read records them under table names of its own, and every
// line an error names is counted, whether or not DuckDB recorded the file it came from.
import { describe, expect, it } from 'vitest';
import { csvKeepRejects, csvRejectReader } from '../../src/connectors/files/files-rejects.js';
import { renderOptions } from '../../src/runtime/duckdb-sql.js';
import { tempDir } from '../helpers/cli.js';
import { duckConnForFile, writeLines } from '../helpers/duck.js';

const dir = tempDir('csv-rejects');
const duck = duckConnForFile();
const reader = csvRejectReader(() => '', async () => '', () => []);
const COLUMNS = { columns: { id: 'BIGINT', amount: 'BIGINT' }, header: true, auto_detect: false };
const csv = (name: string, lines: readonly string[]): string => writeLines(dir, name, ['id,amount', ...lines]);

describe('bad CSV lines set aside', () => {
  it('each read records them under names of its own (DuckDB shares one record per name across connections)', () => {
    const a = csvKeepRejects();
    const b = csvKeepRejects();
    expect(a.store_rejects).toBe(true);
    expect(a.rejects_table).not.toBe(b.rejects_table);
    expect(a.rejects_scan).not.toBe(b.rejects_scan);
    expect(a.rejects_table).not.toBe(a.rejects_scan);
  });

  it('two reads side by side on two connections: each connection takes its own bad lines, with their files', async () => {
    const bad = csv('bad.csv', ['1,10', '2,abc', '3,30', '4,xyz']);
    const good = csv('good.csv', ['5,50']);
    const conn = duck();
    const other = await conn.sibling();
    try {
      for (let round = 0; round < 20; round++) {
        await Promise.all([
          conn.run(`CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM read_csv('${bad}'${renderOptions({ ...COLUMNS, ...csvKeepRejects() })})`),
          other.run(`CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM read_csv('${good}'${renderOptions({ ...COLUMNS, ...csvKeepRejects() })})`),
        ]);
        const mine = await reader.take(conn, 10);
        expect(mine.count).toBe(2);
        expect(mine.rows.map((r) => [r.source, r.line, r.raw])).toEqual([[bad, 3, '2,abc'], [bad, 5, '4,xyz']]);
        expect((await reader.take(other, 10)).count).toBe(0);
      }
      // Taken means dropped: the next take finds nothing.
      expect((await reader.take(conn, 10)).count).toBe(0);
    } finally {
      other.close();
    }
  });

  it('a bad line whose scan names no file is still counted', async () => {
    const conn = duck();
    const path = csv('unmatched.csv', ['1,10', '2,abc']);
    const names = csvKeepRejects();
    await conn.run(`CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM read_csv('${path}'${renderOptions({ ...COLUMNS, ...names })})`);
    // As when DuckDB numbered the file differently in its two tables.
    await conn.run(`UPDATE ${String(names.rejects_scan)} SET file_id = file_id + 100`);
    const taken = await reader.take(conn, 10);
    expect(taken.count).toBe(1);
    expect(taken.rows[0]).toMatchObject({ source: '(file not recorded)', line: 3, raw: '2,abc' });
  });
});
