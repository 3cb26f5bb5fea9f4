// Rows of raw MySQL value bytes (mysql2 with typeCast off) encoded as the CSV text DuckDB reads back typed.

import { Transform, type TransformCallback } from 'node:stream';
import type { Encoding } from './mysql-types.js';

const COMMA = 0x2c;
const QUOTE = 0x22;
const NEWLINE = 0x0a;
const FLUSH_AT = 1 << 20;
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');

/**
 * Rows of raw value bytes (mysql2 with typeCast false) → CSV bytes DuckDB reads back typed: NULL is an
 * unquoted empty field, text is always quoted (so an empty string is `""`), numbers and dates go as
 * the server printed them, binary as base64.
 */
export class CsvEncoder extends Transform {
  private out = Buffer.allocUnsafe(FLUSH_AT * 2);
  private pos = 0;
  /** Bytes of the longest line written, so the reader is told its real maximum line size. */
  longestLine = 0;

  constructor(private readonly encodings: readonly Encoding[]) {
    super({ writableObjectMode: true, writableHighWaterMark: 256 });
  }

  override _transform(row: (Buffer | null)[], _encoding: BufferEncoding, callback: TransformCallback): void {
    const encodings = this.encodings;
    const start = this.pos;
    for (let i = 0; i < encodings.length; i++) {
      if (i > 0) this.byte(COMMA);
      const value = row[i];
      if (value === null || value === undefined) continue;
      switch (encodings[i]) {
        case 'raw':
          this.bytes(value);
          break;
        case 'text':
          this.quoted(value);
          break;
        case 'temporal':
          // Zero dates ('0000-00-00', '2024-00-00') have no DuckDB value: they read as NULL.
          if (!isZeroDate(value)) this.bytes(value);
          break;
        case 'bool':
          this.bytes(value.length === 1 && value[0] === 0x30 ? FALSE : TRUE);
          break;
        case 'bit':
          this.bytes(Buffer.from(bitValue(value), 'latin1'));
          break;
        case 'base64':
          this.byte(QUOTE);
          this.bytes(Buffer.from(value.toString('base64'), 'latin1'));
          this.byte(QUOTE);
          break;
      }
    }
    this.byte(NEWLINE);
    if (this.pos - start > this.longestLine) this.longestLine = this.pos - start;
    if (this.pos >= FLUSH_AT) this.flushOut();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.flushOut();
    callback();
  }

  private flushOut(): void {
    if (this.pos === 0) return;
    this.push(this.out.subarray(0, this.pos));
    this.out = Buffer.allocUnsafe(Math.max(FLUSH_AT * 2, this.out.length));
    this.pos = 0;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.pos + n));
    this.out.copy(bigger, 0, 0, this.pos);
    this.out = bigger;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.out[this.pos++] = b;
  }

  private bytes(value: Buffer): void {
    this.ensure(value.length);
    this.pos += value.copy(this.out, this.pos);
  }

  private quoted(value: Buffer): void {
    this.ensure(value.length * 2 + 2);
    const out = this.out;
    out[this.pos++] = QUOTE;
    let from = 0;
    for (let at = value.indexOf(QUOTE); at >= 0; at = value.indexOf(QUOTE, from)) {
      this.pos += value.copy(out, this.pos, from, at + 1);
      out[this.pos++] = QUOTE;
      from = at + 1;
    }
    this.pos += value.copy(out, this.pos, from);
    out[this.pos++] = QUOTE;
  }
}

function isZeroDate(value: Buffer): boolean {
  // YYYY-MM-DD…: year 0000, month 00 or day 00.
  const zero2 = (at: number): boolean => value[at] === 0x30 && value[at + 1] === 0x30;
  return (zero2(0) && zero2(2)) || zero2(5) || zero2(8);
}

function bitValue(bytes: Buffer): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n.toString();
}
