// A CSV source's dialect and types, detected once on its first, middle and last file: the later ones
// with a delimiter given (the one the first header line suggests, or the one the first file has).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { likelyDelimiter, sniffPicks } from '../../src/connectors/files/files-sniff.js';
import { DuckSession, type DuckConn } from '../../src/runtime/duckdb-session.js';
import { tempDir } from '../helpers/cli.js';

const dir = tempDir('csv-sniff');
let session: DuckSession;
let conn: DuckConn;

function csv(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}
const rows = (delim: string, n: number, value: (i: number) => string): string[] => Array.from({ length: n }, (_, i) => [`2024-05-0${1 + (i % 9)} 10:00:00`, value(i)].join(delim));

describe('sniffing a CSV source\'s picks', () => {
  beforeAll(async () => {
    session = await DuckSession.create({ threads: 2 });
    conn = await session.connect();
  });
  afterAll(() => {
    conn.close();
    session.close();
  });

  it('the delimiter a header line holds most of', () => {
    expect([likelyDelimiter('a,b,c'), likelyDelimiter('a;b;c'), likelyDelimiter('a\tb'), likelyDelimiter('a|b|c'), likelyDelimiter('abc'), likelyDelimiter('"x,y";z')]).toEqual([',', ';', '\t', '|', ',', ',']);
  });

  it('agrees on the first file\'s dialect and types where the later files share them', async () => {
    const picks = ['a', 'b', 'c'].map((n) => csv(`agree-${n}.csv`, ['ts,v', ...rows(',', 50, (i) => String(i))]));
    expect(await sniffPicks(conn, picks, undefined)).toEqual({
      kind: 'agreed', delim: ',', header: true, columns: [{ name: 'ts', type: 'TIMESTAMP' }, { name: 'v', type: 'BIGINT' }],
    });
  });

  it('a header line that suggests the wrong delimiter: the later files are sniffed again with the one found', async () => {
    // A quoted name holding a comma: the header line holds one comma and one semicolon, and suggests a comma.
    const picks = ['a', 'b', 'c'].map((n) => csv(`guess-${n}.csv`, ['"ts,at";v', ...rows(';', 50, (i) => String(i))]));
    expect(await sniffPicks(conn, picks, undefined)).toEqual({
      kind: 'agreed', delim: ';', header: true, columns: [{ name: 'ts,at', type: 'TIMESTAMP' }, { name: 'v', type: 'BIGINT' }],
    });
  });

  it('a later file of other types or another dialect: they differ', async () => {
    const first = csv('differ-a.csv', ['ts,v', ...rows(',', 50, (i) => String(i))]);
    const decimals = csv('differ-b.csv', ['ts,v', ...rows(',', 50, (i) => `${i}.5`)]);
    const semicolons = csv('differ-c.csv', ['ts;v', ...rows(';', 50, (i) => String(i))]);
    expect(await sniffPicks(conn, [first, decimals, first], undefined)).toEqual({ kind: 'differ' });
    expect(await sniffPicks(conn, [first, first, semicolons], undefined)).toEqual({ kind: 'differ' });
  });

  it('the job\'s own reader options go into every sniff and are not given again', async () => {
    const picks = ['a', 'b'].map((n) => csv(`own-${n}.csv`, ['ts|v', ...rows('|', 50, (i) => String(i))]));
    expect(await sniffPicks(conn, picks, { delim: '|', types: { v: 'VARCHAR' } })).toEqual({
      kind: 'agreed', delim: '|', header: true, columns: [{ name: 'ts', type: 'TIMESTAMP' }, { name: 'v', type: 'VARCHAR' }],
    });
  });
});
