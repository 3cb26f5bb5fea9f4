import { describe, expect, it } from 'vitest';
import { ChangeBatch, keyText, parseWatermark, WatermarkWindow } from '../../src/core/cdc-changes.js';
import { defaultSlotName } from '../../src/connectors/postgres/postgres-cdc-config.js';
import { formatLsn, parseLsn } from '../../src/core/cdc-lsn.js';
import { copyText } from '../../src/connectors/postgres/postgres-cdc-sink.js';

describe('ChangeBatch: a micro-batch collapsed per key to the last operation', () => {
  const cases: { name: string; ops: (b: ChangeBatch) => void; upserts: unknown[]; deletes: unknown[]; truncate?: boolean }[] = [
    { name: 'insert then update keeps the update', ops: (b) => { b.upsert(['1', 'a']); b.upsert(['1', 'b']); }, upserts: [['1', 'b']], deletes: [] },
    { name: 'insert then delete is a delete', ops: (b) => { b.upsert(['1', 'a']); b.delete(['1']); }, upserts: [], deletes: [['1']] },
    { name: 'delete then insert is an upsert', ops: (b) => { b.delete(['1']); b.upsert(['1', 'c']); }, upserts: [['1', 'c']], deletes: [] },
    { name: 'keys stay apart', ops: (b) => { b.upsert(['1', 'a']); b.upsert(['2', 'b']); b.delete(['3']); }, upserts: [['1', 'a'], ['2', 'b']], deletes: [['3']] },
    { name: 'an unchanged TOAST value is taken from the earlier image', ops: (b) => { b.upsert(['1', 'long']); b.upsert(['1', undefined]); }, upserts: [['1', 'long']], deletes: [] },
    { name: 'an unchanged TOAST value without an earlier image stays unknown', ops: (b) => b.upsert(['1', undefined]), upserts: [['1', undefined]], deletes: [] },
    { name: 'truncate forgets what came before it', ops: (b) => { b.upsert(['1', 'a']); b.truncate(); b.upsert(['2', 'b']); }, upserts: [['2', 'b']], deletes: [], truncate: true },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const batch = new ChangeBatch([0]);
      c.ops(batch);
      const set = batch.take();
      expect(set.upserts).toEqual(c.upserts);
      expect(set.deletes).toEqual(c.deletes);
      expect(set.truncate).toBe(c.truncate ?? false);
      expect(batch.empty).toBe(true);
    });
  }

  it('keys of several columns, NULL and text that looks alike do not collide', () => {
    expect(keyText(['a', 'b'])).not.toBe(keyText(['a\u0000b']));
    expect(keyText([null])).not.toBe(keyText(['']));
  });
});

describe('WatermarkWindow (DBLog)', () => {
  it('drops the chunk rows whose key changed between the low and the high watermark, and only those', () => {
    const w = new WatermarkWindow('0/10', 'n1');
    const keyOf = (r: readonly (string | null | undefined)[]): string => keyText([r[0]]);
    w.saw(keyText(['1']), ['1', 'x']); // before the low watermark: the chunk's read is newer
    w.low();
    w.rows = [['1', 'a'], ['2', 'b'], ['3', 'c']];
    w.saw(keyText(['2']), ['2', 'y']);
    const { rows, dropped } = w.survivors(keyOf);
    expect(rows).toEqual([['1', 'a'], ['3', 'c']]);
    expect(dropped).toBe(1);
  });

  it('a change without an unchanged TOASTed value takes it from the chunk row; deletes and full images drop the row', () => {
    const w = new WatermarkWindow('0/10', 'n1');
    w.low();
    w.rows = [['1', 'n0', 'big1'], ['2', 'n0', 'big2'], ['3', 'n0', 'big3'], ['4', 'n0', 'big4']];
    w.saw('1', ['1', 'n1', undefined]);
    w.saw('2', ['2', 'n1', 'new2']);
    w.saw('2', ['2', 'n2', undefined]);
    w.saw('3', ['3', 'n1', undefined]);
    w.saw('3', null);
    const { rows, dropped } = w.survivors((r) => String(r[0]));
    expect(rows).toEqual([['1', 'n1', 'big1'], ['4', 'n0', 'big4']]);
    expect(dropped).toBe(3);
  });

  it('a truncate inside the window drops the whole chunk', () => {
    const w = new WatermarkWindow('0/10', 'n1');
    w.low();
    w.rows = [['1', 'a']];
    w.sawTruncate();
    expect(w.survivors((r) => String(r[0])).rows).toEqual([]);
  });

  it('parses watermark messages', () => {
    expect(parseWatermark('low:abc')).toEqual({ kind: 'low', nonce: 'abc' });
    expect(parseWatermark('caught-up:x')).toEqual({ kind: 'caught-up', nonce: 'x' });
    expect(parseWatermark('other')).toBeUndefined();
  });
});

describe('names and positions', () => {
  it('LSNs round-trip and order as numbers', () => {
    for (const text of ['0/0', '0/16B3748', '16/B374D848', 'FFFFFFFF/FFFFFFFF']) expect(formatLsn(parseLsn(text))).toBe(text);
    expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
    expect(() => parseLsn('nope')).toThrow(/LSN/);
  });

  it('default slot names are valid PostgreSQL names, unique when cut to 63 bytes', () => {
    expect(defaultSlotName('Orders-CDC.v2')).toBe('backfill_orders_cdc_v2');
    const a = defaultSlotName('x'.repeat(100) + 'a');
    const b = defaultSlotName('x'.repeat(100) + 'b');
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).toMatch(/^[a-z0-9_]+$/);
    expect(a).not.toBe(b);
  });

  it("COPY text escaping keeps tabs, newlines and backslashes", () => {
    expect(copyText('a\tb\nc\\d\re')).toBe('a\\tb\\nc\\\\d\\re');
    expect(copyText(null)).toBe('\\N');
    expect(copyText('\\N')).toBe('\\\\N');
  });
});
