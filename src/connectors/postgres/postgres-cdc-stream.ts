// A logical replication connection reading a slot with pgoutput: its messages in order as neutral
// change events, with backpressure, and the confirmed position sent back only when the caller says it is safe.

import pg from 'pg';
import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { ConnectorError, redactSecrets } from '../../core/errors.js';
import { quoteIdent } from '../../core/sql-text.js';
import { formatLsn } from '../../core/cdc-lsn.js';
import type { ChangeEvent } from '../../core/change-events.js';
import type { ChangeStream } from '../change-source.js';
import type { PgoutputDecoder, StreamItem } from './postgres-cdc-decode.js';
import type { PgPool } from './postgres-pool.js';

/** Decodes pgoutput text values as the text PostgreSQL printed, not as JavaScript values. */
class TextPgoutput extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const message = super.parse(buffer);
    if (message.tag === 'relation') for (const column of message.columns) column.parser = (raw: unknown) => raw;
    return message;
  }
}

const HIGH_WATER = 5_000;
const LOW_WATER = 500;
const STATUS_EVERY_MS = 10_000;

export class PgChangeStream implements ChangeStream {
  private readonly queue: StreamItem[] = [];
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;
  private ended = false;
  private paused = false;
  private confirmed = 0n;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly client: pg.Client,
    private readonly db: PgPool,
    private readonly decoder: PgoutputDecoder,
  ) {}

  /** Start streaming `slot` from its confirmed position (the server skips what was confirmed). */
  static async start(db: PgPool, slot: string, publication: string, decoder: PgoutputDecoder): Promise<PgChangeStream> {
    const config = { ...(db.pool as unknown as { options: pg.ClientConfig }).options, replication: 'database' } as pg.ClientConfig;
    const client = new pg.Client(config);
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (err) {
      throw streamError(err, 'opening a replication connection', db);
    }
    const stream = new PgChangeStream(client, db, decoder);
    const plugin = new TextPgoutput({ protoVersion: 1, publicationNames: [publication], messages: true });
    const connection = (client as unknown as { connection: ConnectionInternals }).connection;
    const started = new Promise<void>((resolve, reject) => {
      connection.once('replicationStart', () => resolve());
      connection.on('copyData', ({ chunk }: { chunk: Buffer }) => {
        try {
          stream.receive(chunk, plugin);
        } catch (err) {
          stream.fail(err as Error);
        }
      });
      const sql = `START_REPLICATION SLOT ${quoteIdent(slot)} LOGICAL 0/0 (proto_version '1', publication_names '${publication.replace(/'/g, "''")}', messages 'true')`;
      client.query(sql).then(
        () => stream.finish(),
        (err: unknown) => {
          reject(err);
          stream.fail(err as Error);
        },
      );
      client.on('end', () => stream.finish());
    });
    try {
      await started;
    } catch (err) {
      await client.end().catch(() => {});
      throw streamError(err, `starting replication from slot ${slot}`, db);
    }
    stream.timer = setInterval(() => stream.sendStatus(false), STATUS_EVERY_MS);
    return stream;
  }

  private receive(chunk: Buffer, plugin: TextPgoutput): void {
    const type = chunk[0];
    if (type === 0x77) {
      // XLogData: 'w', start LSN, end of WAL, send time, then the pgoutput message.
      const lsn = formatLsn(chunk.readBigUInt64BE(1));
      this.push({ kind: 'data', lsn, message: plugin.parse(chunk.subarray(25)) });
    } else if (type === 0x6b) {
      // Keepalive: 'k', end of WAL, send time, reply requested.
      const walEnd = formatLsn(chunk.readBigUInt64BE(1));
      if (chunk.readInt8(17) === 1) this.sendStatus(false);
      this.push({ kind: 'keepalive', walEnd });
    }
  }

  private push(item: StreamItem): void {
    this.queue.push(item);
    if (this.queue.length >= HIGH_WATER && !this.paused) {
      this.paused = true;
      this.socket()?.pause();
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private fail(err: Error): void {
    this.failure ??= streamError(err, 'reading the replication stream', this.db);
    this.wake();
  }

  private finish(): void {
    this.ended = true;
    this.wake();
  }

  private socket(): { pause(): void; resume(): void } | undefined {
    return (this.client as unknown as { connection?: { stream?: { pause(): void; resume(): void } } }).connection?.stream;
  }

  /** The next message's events, or undefined after `waitMs` without one. */
  async next(waitMs: number): Promise<readonly ChangeEvent[] | undefined> {
    const item = await this.nextItem(waitMs);
    return item === undefined ? undefined : this.decoder.decode(item);
  }

  /** The next item, or undefined after `waitMs` without one (or when the stream ended after close). */
  private async nextItem(waitMs: number): Promise<StreamItem | undefined> {
    if (this.queue.length === 0 && this.failure === undefined && !this.ended) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = undefined;
          resolve();
        }, waitMs);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    const item = this.queue.shift();
    if (this.paused && this.queue.length <= LOW_WATER) {
      this.paused = false;
      this.socket()?.resume();
    }
    if (item !== undefined) return item;
    if (this.failure !== undefined) throw this.failure;
    if (this.ended) throw new ConnectorError(`the replication stream from PostgreSQL ${this.db.name} ended`, { retryable: true });
    return undefined;
  }

  /** Everything up to `lsn` is durably applied: the server may forget it (the slot's confirmed_flush_lsn). */
  confirm(lsn: bigint): void {
    if (lsn > this.confirmed) this.confirmed = lsn;
    this.sendStatus(false);
  }

  /** Standby status update: written, flushed and applied all at the confirmed position, never past it. */
  private sendStatus(reply: boolean): void {
    if (this.ended) return;
    const buf = Buffer.alloc(34);
    buf.write('r', 0);
    buf.writeBigUInt64BE(this.confirmed, 1);
    buf.writeBigUInt64BE(this.confirmed, 9);
    buf.writeBigUInt64BE(this.confirmed, 17);
    buf.writeBigUInt64BE(BigInt(Date.now() - 946_684_800_000) * 1000n, 25);
    buf.writeInt8(reply ? 1 : 0, 33);
    try {
      (this.client as unknown as { connection: ConnectionInternals }).connection.sendCopyFromChunk(buf);
    } catch {
      // The connection is gone; next() reports it.
    }
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.sendStatus(false);
    this.ended = true;
    await this.client.end().catch(() => {});
  }
}

interface ConnectionInternals {
  once(event: string, listener: () => void): void;
  on(event: string, listener: (msg: { chunk: Buffer }) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
}

function streamError(err: unknown, what: string, db: PgPool): ConnectorError {
  const e = err as { message?: string; code?: string };
  let message = `${what} on PostgreSQL ${db.name}: ${e.message ?? String(err)}`;
  if (db.fields.password !== undefined && db.fields.password !== '') message = message.split(db.fields.password).join('***');
  const retryable = /ECONNRESET|ECONNREFUSED|terminat/i.test(e.message ?? '') || e.code === '55006';
  return new ConnectorError(redactSecrets(message), { cause: err, retryable });
}
