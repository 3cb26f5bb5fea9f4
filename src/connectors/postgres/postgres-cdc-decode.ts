// pgoutput messages of one table turned into neutral change events: relation tracking, rows in the
// table's column order, old keys of key-changing updates, watermark messages and LSNs. Pure: no I/O.

import type { Pgoutput } from 'pg-logical-replication';
import { keyText, parseWatermark, WATERMARK_PREFIX, type RowText } from '../../core/cdc-changes.js';
import type { ChangeEvent } from '../../core/change-events.js';
import type { ColumnInfo } from '../../core/column.js';
import { parseLsn, ZERO_LSN } from '../../core/cdc-lsn.js';
import { PlanError } from '../../core/errors.js';

/** What the replication connection delivers: a decoded message, or the server's WAL end from a keepalive. */
export type StreamItem =
  | { readonly kind: 'data'; readonly lsn: string; readonly message: Pgoutput.Message }
  /** The server's WAL end: nothing before it is left to send once the queue is drained. */
  | { readonly kind: 'keepalive'; readonly walEnd: string };

const NONE: readonly ChangeEvent[] = [];

export class PgoutputDecoder {
  private readonly keyIdx: readonly number[];
  /** The source table's relation id in the stream, set (after checking its columns) by each relation message. */
  private relationOid: number | undefined;

  constructor(
    /** `schema.table`, as the relation messages name it. */
    private readonly table: string,
    private readonly columns: readonly ColumnInfo[],
    private readonly key: readonly string[],
  ) {
    this.keyIdx = key.map((k) => columns.findIndex((c) => c.name === k));
  }

  decode(item: StreamItem): readonly ChangeEvent[] {
    if (item.kind === 'keepalive') return [{ kind: 'idle', position: parseLsn(item.walEnd) }];
    return this.message(item.message);
  }

  message(message: Pgoutput.Message): readonly ChangeEvent[] {
    switch (message.tag) {
      case 'begin':
        return [{ kind: 'begin', commit: parseLsn(message.commitLsn ?? ZERO_LSN) }];
      case 'relation':
        if (`${message.schema}.${message.name}` === this.table) this.checkRelation(message);
        return NONE;
      case 'insert':
        return this.ours(message.relation) ? [{ kind: 'upsert', row: this.rowOf(message.new) }] : NONE;
      case 'update': {
        if (!this.ours(message.relation)) return NONE;
        const row = this.rowOf(message.new);
        const before = message.key ?? message.old;
        const events: ChangeEvent[] = [];
        if (before !== null) {
          // The key changed (or the identity is FULL): the old key goes first.
          const oldKey = this.key.map((k) => before[k] as string);
          const newKey = this.keyIdx.map((i) => row[i] as string);
          if (keyText(oldKey) !== keyText(newKey)) events.push({ kind: 'delete', key: oldKey });
        }
        events.push({ kind: 'upsert', row });
        return events;
      }
      case 'delete': {
        if (!this.ours(message.relation)) return NONE;
        const before = message.key ?? message.old ?? {};
        return [{ kind: 'delete', key: this.key.map((k) => before[k] as string) }];
      }
      case 'truncate':
        return message.relations.some((r) => this.ours(r)) ? [{ kind: 'truncate' }] : NONE;
      case 'message': {
        if (message.prefix !== WATERMARK_PREFIX) return NONE;
        const mark = parseWatermark(Buffer.from(message.content).toString('utf8'));
        return mark === undefined ? NONE : [{ kind: 'mark', mark: mark.kind, nonce: mark.nonce }];
      }
      case 'commit':
        return [{ kind: 'commit', end: message.commitEndLsn === null ? undefined : parseLsn(message.commitEndLsn) }];
      default:
        return NONE;
    }
  }

  private ours(relation: Pgoutput.MessageRelation): boolean {
    return relation.relationOid === this.relationOid;
  }

  private checkRelation(relation: Pgoutput.MessageRelation): void {
    const names = relation.columns.map((c) => c.name);
    const want = this.columns.map((c) => c.name);
    const added = names.filter((n) => !want.includes(n));
    const lost = want.filter((n) => !names.includes(n));
    if (added.length > 0 || lost.length > 0) {
      throw new PlanError(
        `the columns of ${this.table} changed while streaming (${[...added.map((n) => `added ${n}`), ...lost.map((n) => `dropped ${n}`)].join(', ')}); ` +
          'change data capture does not follow schema changes: change the target table to match, then run again',
      );
    }
    this.relationOid = relation.relationOid;
  }

  private rowOf(tuple: Record<string, unknown>): RowText {
    return this.columns.map((c) => tuple[c.name] as string | null | undefined);
  }
}
