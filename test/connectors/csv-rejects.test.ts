// Bad CSV lines set aside per read: each read records them under table names of its own, and every
// line an error names is counted, whether or not DuckDB recorded the file it came from.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvKeepRejects, csvRejectReader } from '../../src/connectors/files/files-rejects.js';
import { renderOptions } from '../../src/runtime/duckdb-sql.js';
import { DuckSession, type DuckConn } from '../../src/runtime/duckdb-session.js';
import { tempDir } from '../helpers/cli.js';

const dir = tempDir('csv-rejects');
let session: DuckSession;
let conn: DuckConn;
const reader = csvRejectReader(() => '', async () => '', () => []);
const COLUMNS = { columns: { id: 'BIGINT', amount: 'BIGINT' }, header: true, auto_detect: false };

function csv(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `id,amount\n${lines.join('\n')}\n`);
  return path;
}

describe('bad CSV lines set aside', () => {
  beforeAll(async () => {
    session = await DuckSession.create({ threads: 2 });
    conn = await session.connect();
  });
  afterAll(() => {
    conn.close();
    session.close();
  });

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
