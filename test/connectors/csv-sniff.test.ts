// A CSV source's dialect and types, detected once on its first, middle and last file: the later ones
// with a delimiter given (the one the first header line suggests, or the one the first file has).
import { describe, expect, it } from 'vitest';
import { likelyDelimiter, SNIFF_BUFFER, sniffOptions, sniffPicks } from '../../src/connectors/files/files-sniff.js';
import { tempDir } from '../helpers/cli.js';
import { duckConnForFile, writeLines } from '../helpers/duck.js';

const dir = tempDir('csv-sniff');
const duck = duckConnForFile();
const csv = (name: string, lines: readonly string[]): string => writeLines(dir, name, lines);
const rows = (delim: string, n: number, value: (i: number) => string): string[] => Array.from({ length: n }, (_, i) => [`2024-05-0${1 + (i % 9)} 10:00:00`, value(i)].join(delim));

describe('sniffing a CSV source\'s picks', () => {
  it('the delimiter a header line holds most of', () => {
    expect([likelyDelimiter('a,b,c'), likelyDelimiter('a;b;c'), likelyDelimiter('a\tb'), likelyDelimiter('a|b|c'), likelyDelimiter('abc'), likelyDelimiter('"x,y";z')]).toEqual([',', ';', '\t', '|', ',', ',']);
  });

  it('agrees on the first file\'s dialect and types where the later files share them', async () => {
    const picks = ['a', 'b', 'c'].map((n) => csv(`agree-${n}.csv`, ['ts,v', ...rows(',', 50, (i) => String(i))]));
    expect(await sniffPicks(duck(), picks, undefined)).toEqual({
      kind: 'agreed', dialect: { delim: ',', header: true }, columns: [{ name: 'ts', type: 'TIMESTAMP' }, { name: 'v', type: 'BIGINT' }],
    });
  });

  it('a header line that suggests the wrong delimiter: the later files are sniffed again with the one found', async () => {
    // A quoted name holding a comma: the header line holds one comma and one semicolon, and suggests a comma.
    const picks = ['a', 'b', 'c'].map((n) => csv(`guess-${n}.csv`, ['"ts,at";v', ...rows(';', 50, (i) => String(i))]));
    expect(await sniffPicks(duck(), picks, undefined)).toEqual({
      kind: 'agreed', dialect: { delim: ';', header: true }, columns: [{ name: 'ts,at', type: 'TIMESTAMP' }, { name: 'v', type: 'BIGINT' }],
    });
  });

  it('a later file of other types or another dialect: they differ', async () => {
    const first = csv('differ-a.csv', ['ts,v', ...rows(',', 50, (i) => String(i))]);
    const decimals = csv('differ-b.csv', ['ts,v', ...rows(',', 50, (i) => `${i}.5`)]);
    const semicolons = csv('differ-c.csv', ['ts;v', ...rows(';', 50, (i) => String(i))]);
    expect(await sniffPicks(duck(), [first, decimals, first], undefined)).toEqual({ kind: 'differ' });
    expect(await sniffPicks(duck(), [first, first, semicolons], undefined)).toEqual({ kind: 'differ' });
  });

  it('the job\'s own reader options go into every sniff and are not given again', async () => {
    const picks = ['a', 'b'].map((n) => csv(`own-${n}.csv`, ['ts|v', ...rows('|', 50, (i) => String(i))]));
    expect(await sniffPicks(duck(), picks, { delim: '|', types: { v: 'VARCHAR' } })).toEqual({
      kind: 'agreed', dialect: { header: true }, columns: [{ name: 'ts', type: 'TIMESTAMP' }, { name: 'v', type: 'VARCHAR' }],
    });
  });

  it('quoting other than the default, dates in another format, lines before the header: found on the first file and given to the others', async () => {
    // Single quotes around values that hold the delimiter; day/month/year timestamps; two lines of preamble.
    const body = (n: number): string[] => Array.from({ length: 40 }, (_, i) => `${i};0${1 + (i % 9)}/05/2024 10:00:0${i % 10};'note; ${n}'`);
    const picks = ['a', 'b', 'c'].map((n, i) => csv(`dialect-${n}.csv`, ['exported by a tool', 'on a day', 'id;ts;note', ...body(i)]));
    const sniffed = await sniffPicks(duck(), picks, undefined);
    expect(sniffed).toEqual({
      kind: 'agreed',
      dialect: { delim: ';', header: true, quote: "'", escape: '', skip: 2, timestampformat: '%d/%m/%Y %H:%M:%S' },
      columns: [{ name: 'id', type: 'BIGINT' }, { name: 'ts', type: 'TIMESTAMP' }, { name: 'note', type: 'VARCHAR' }],
    });
    // The later files were read with that dialect: a file in another date format among them differs.
    const iso = csv('dialect-iso.csv', ['exported by a tool', 'on a day', 'id;ts;note', ...Array.from({ length: 40 }, (_, i) => `${i};2024-05-0${1 + (i % 9)} 10:00:00;'x; y'`)]);
    expect(await sniffPicks(duck(), [picks[0] as string, iso, picks[2] as string], undefined)).toEqual({ kind: 'differ' });
  });

  it('a sample without quotes keeps the default quoting; the sniff reads a bounded buffer unless the job sizes it', async () => {
    const picks = ['a', 'b'].map((n) => csv(`plain-${n}.csv`, ['ts,v', ...rows(',', 50, (i) => String(i))]));
    const sniffed = await sniffPicks(duck(), picks, { max_line_size: 4194304 });
    expect(sniffed).toMatchObject({ kind: 'agreed', dialect: { delim: ',', header: true } });
    expect(sniffed.kind === 'agreed' && 'quote' in sniffed.dialect).toBe(false);
    expect(sniffOptions(undefined)).toEqual({ buffer_size: SNIFF_BUFFER });
    expect(sniffOptions({ delim: ';', MAX_LINE_SIZE: 4194304 })).toEqual({ delim: ';', MAX_LINE_SIZE: 4194304 });
    expect(sniffOptions({ buffer_size: 1 << 20 })).toEqual({ buffer_size: 1 << 20 });
  });
});
