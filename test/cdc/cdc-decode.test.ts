import type { Pgoutput } from 'pg-logical-replication';
import { describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../../src/core/change-events.js';
import type { ColumnInfo } from '../../src/core/column.js';
import { PlanError } from '../../src/core/errors.js';
import { PgoutputDecoder, type StreamItem } from '../../src/connectors/postgres/postgres-cdc-decode.js';

// The table `public.orders (id, name, note)` keyed by id; relation 16384 is it, 16999 another table.
const COLUMNS: ColumnInfo[] = [
  { name: 'id', pgType: 'bigint', type: 'BIGINT' },
  { name: 'name', pgType: 'text', type: 'VARCHAR' },
  { name: 'note', pgType: 'text', type: 'VARCHAR' },
];

function relation(oid: number, schema: string, name: string, columns: readonly string[]): Pgoutput.MessageRelation {
  return {
    tag: 'relation',
    relationOid: oid,
    schema,
    name,
    replicaIdentity: 'default',
    columns: columns.map((c) => ({ name: c, flags: 0, typeOid: 25, typeMod: -1, typeSchema: null, typeName: null, parser: (raw: unknown) => raw })),
    keyColumns: ['id'],
  };
}

const ORDERS = relation(16384, 'public', 'orders', ['id', 'name', 'note']);
const OTHER = relation(16999, 'public', 'other', ['id', 'name', 'note']);
const msg = (m: unknown): StreamItem => ({ kind: 'data', lsn: '0/10', message: m as Pgoutput.Message });
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('PgoutputDecoder: pgoutput messages of one table as neutral change events', () => {
  const cases: { name: string; items: StreamItem[]; events: ChangeEvent[] }[] = [
    { name: 'begin carries the commit LSN', items: [msg({ tag: 'begin', commitLsn: '16/B374D848', commitTime: 0n, xid: 7 })], events: [{ kind: 'begin', commit: (0x16n << 32n) | 0xb374d848n }] },
    { name: 'begin without an LSN starts at zero', items: [msg({ tag: 'begin', commitLsn: null, commitTime: 0n, xid: 7 })], events: [{ kind: 'begin', commit: 0n }] },
    { name: 'commit carries the end LSN to confirm', items: [msg({ tag: 'commit', flags: 0, commitLsn: '0/20', commitEndLsn: '0/2A', commitTime: 0n })], events: [{ kind: 'commit', end: 0x2an }] },
    { name: 'commit without an end LSN', items: [msg({ tag: 'commit', flags: 0, commitLsn: '0/20', commitEndLsn: null, commitTime: 0n })], events: [{ kind: 'commit', end: undefined }] },
    { name: 'a keepalive is the idle position', items: [{ kind: 'keepalive', walEnd: '1/0' }], events: [{ kind: 'idle', position: 1n << 32n }] },
    { name: 'nothing of the table before its relation message', items: [msg({ tag: 'insert', relation: ORDERS, new: { id: '1', name: 'a', note: 'n' } })], events: [] },
    {
      name: 'an insert is an upsert in column order; a value not resent stays undefined',
      items: [msg(ORDERS), msg({ tag: 'insert', relation: ORDERS, new: { note: 'n', id: '1', name: null } }), msg({ tag: 'update', relation: ORDERS, key: null, old: null, new: { id: '1', name: 'b' } })],
      events: [{ kind: 'upsert', row: ['1', null, 'n'] }, { kind: 'upsert', row: ['1', 'b', undefined] }],
    },
    { name: 'another table is ignored', items: [msg(ORDERS), msg(OTHER), msg({ tag: 'insert', relation: OTHER, new: { id: '1' } }), msg({ tag: 'delete', relation: OTHER, key: { id: '1' }, old: null })], events: [] },
    {
      name: 'an update with the same key (identity FULL) is an upsert only',
      items: [msg(ORDERS), msg({ tag: 'update', relation: ORDERS, key: null, old: { id: '1', name: 'a', note: 'n' }, new: { id: '1', name: 'b', note: 'n' } })],
      events: [{ kind: 'upsert', row: ['1', 'b', 'n'] }],
    },
    {
      name: 'an update that changes the key deletes the old key first',
      items: [msg(ORDERS), msg({ tag: 'update', relation: ORDERS, key: { id: '1' }, old: null, new: { id: '2', name: 'b', note: 'n' } })],
      events: [{ kind: 'delete', key: ['1'] }, { kind: 'upsert', row: ['2', 'b', 'n'] }],
    },
    { name: 'a delete carries the key', items: [msg(ORDERS), msg({ tag: 'delete', relation: ORDERS, key: { id: '5' }, old: null })], events: [{ kind: 'delete', key: ['5'] }] },
    { name: 'a delete under identity FULL takes the key from the old row', items: [msg(ORDERS), msg({ tag: 'delete', relation: ORDERS, key: null, old: { id: '6', name: 'x', note: null } })], events: [{ kind: 'delete', key: ['6'] }] },
    { name: 'a truncate naming the table', items: [msg(ORDERS), msg({ tag: 'truncate', cascade: false, restartIdentity: false, relations: [OTHER, ORDERS] })], events: [{ kind: 'truncate' }] },
    { name: 'a truncate of other tables only', items: [msg(ORDERS), msg({ tag: 'truncate', cascade: false, restartIdentity: false, relations: [OTHER] })], events: [] },
    {
      name: 'watermark messages of the run, and only those',
      items: [
        msg({ tag: 'message', flags: 1, transactional: true, messageLsn: '0/1', prefix: 'backfill', content: text('low:n1') }),
        msg({ tag: 'message', flags: 1, transactional: true, messageLsn: '0/1', prefix: 'backfill', content: text('high:n1') }),
        msg({ tag: 'message', flags: 1, transactional: true, messageLsn: '0/1', prefix: 'backfill', content: text('caught-up:n2') }),
        msg({ tag: 'message', flags: 1, transactional: true, messageLsn: '0/1', prefix: 'backfill', content: text('middle:n3') }),
        msg({ tag: 'message', flags: 1, transactional: true, messageLsn: '0/1', prefix: 'other', content: text('low:n4') }),
      ],
      events: [{ kind: 'mark', mark: 'low', nonce: 'n1' }, { kind: 'mark', mark: 'high', nonce: 'n1' }, { kind: 'mark', mark: 'caught-up', nonce: 'n2' }],
    },
    { name: 'origin and type messages say nothing', items: [msg({ tag: 'origin', originLsn: null, originName: 'x' }), msg({ tag: 'type', typeOid: 1, typeSchema: 'public', typeName: 't' })], events: [] },
    {
      name: 'a new relation id for the table (after a reconnect) is followed',
      items: [msg(ORDERS), msg({ ...ORDERS, relationOid: 17000 }), msg({ tag: 'insert', relation: ORDERS, new: { id: '1' } }), msg({ tag: 'insert', relation: { ...ORDERS, relationOid: 17000 }, new: { id: '2', name: 'b', note: 'n' } })],
      events: [{ kind: 'upsert', row: ['2', 'b', 'n'] }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const decoder = new PgoutputDecoder('public.orders', COLUMNS, ['id']);
      expect(c.items.flatMap((item) => [...decoder.decode(item)])).toEqual(c.events);
    });
  }

  it('a key of several columns is taken in key order', () => {
    const decoder = new PgoutputDecoder('public.orders', COLUMNS, ['name', 'id']);
    decoder.decode(msg(ORDERS));
    expect(decoder.decode(msg({ tag: 'update', relation: ORDERS, key: { id: '1', name: 'a' }, old: null, new: { id: '1', name: 'b', note: null } }))).toEqual([
      { kind: 'delete', key: ['a', '1'] },
      { kind: 'upsert', row: ['1', 'b', null] },
    ]);
  });

  it('a column added to or dropped from the table stops the stream with what changed', () => {
    const decoder = new PgoutputDecoder('public.orders', COLUMNS, ['id']);
    const changed = relation(16384, 'public', 'orders', ['id', 'name', 'extra']);
    expect(() => decoder.decode(msg(changed))).toThrow(PlanError);
    expect(() => decoder.decode(msg(changed))).toThrow(
      'the columns of public.orders changed while streaming (added extra, dropped note); change data capture does not follow schema changes: change the target table to match, then run again',
    );
    // A table of the same name in another schema is not ours.
    expect(decoder.decode(msg(relation(1, 'audit', 'orders', ['x'])))).toEqual([]);
  });
});
