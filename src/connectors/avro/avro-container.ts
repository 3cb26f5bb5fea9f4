// Avro object container files: a block-buffered writer around avsc's compiled record encoder
// (deflate, snappy or no compression), and a reader that decodes with avsc and resolves schemas.

import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { constants as zlibConstants, createDeflateRaw, inflateRaw, type DeflateRaw } from 'node:zlib';
import avro from 'avsc';
import { ConnectorError } from '../../core/errors.js';
import { snappyBlock, snappyBlocks } from './avro-snappy.js';

const MAGIC = Buffer.from('Obj\x01', 'latin1');
const HEADER_META = avro.Type.forSchema({ type: 'map', values: 'bytes' });

export type AvroCodec = 'null' | 'deflate' | 'snappy';
const CODECS: readonly string[] = ['null', 'deflate', 'snappy'] satisfies AvroCodec[];

/** Longs as bigint: avsc's own long stops at 2^53, and a BIGINT or a timestamp in micros goes past it. */
const BIG_LONG = avro.types.LongType.__with(
  {
    fromBuffer: (buf: Buffer): bigint => readVarLong(buf),
    toBuffer: (n: bigint): Buffer => writeVarLong(n),
    fromJSON: (v: unknown): bigint => BigInt(v as string | number),
    toJSON: (n: bigint): number => Number(n),
    isValid: (n: unknown): boolean => typeof n === 'bigint',
    compare: (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0),
  },
  true,
);

/**
 * avsc's type for a schema, with longs as bigint (or, with `numberLongs`, avsc's own long, which
 * takes JS numbers and is faster); logical types are left to the caller (their underlying values travel).
 */
export function avroType(schema: unknown, numberLongs = false): avro.Type {
  if (numberLongs) return avro.Type.forSchema(schema as avro.Schema);
  return avro.Type.forSchema(schema as avro.Schema, {
    typeHook: (s) => (s === 'long' || (typeof s === 'object' && s !== null && (s as { type?: unknown }).type === 'long') ? (BIG_LONG as unknown as avro.Type) : undefined),
  });
}

const varBuf = Buffer.alloc(10);
const SAFE = 1n << 52n;

/** Zig-zag varint of a long, into a shared scratch buffer (avsc copies it out at once). */
function writeVarLong(n: bigint): Buffer {
  let pos = 0;
  if (n < SAFE && n > -SAFE) {
    let z = Number(n);
    z = z >= 0 ? z * 2 : -z * 2 - 1;
    while (z >= 0x80) {
      varBuf[pos++] = (z % 0x80) | 0x80;
      z = Math.floor(z / 0x80);
    }
    varBuf[pos++] = z;
    return varBuf.subarray(0, pos);
  }
  let z = n >= 0n ? n << 1n : ((-n) << 1n) - 1n;
  while (z >= 0x80n) {
    varBuf[pos++] = Number(z & 0x7fn) | 0x80;
    z >>= 7n;
  }
  varBuf[pos++] = Number(z);
  return varBuf.subarray(0, pos);
}

function readVarLong(buf: Buffer): bigint {
  if (buf.length <= 7) {
    let z = 0;
    let mul = 1;
    for (const b of buf) {
      z += (b & 0x7f) * mul;
      mul *= 0x80;
    }
    return BigInt(z % 2 === 0 ? z / 2 : -(z + 1) / 2);
  }
  let z = 0n;
  let shift = 0n;
  for (const b of buf) {
    z |= BigInt(b & 0x7f) << shift;
    shift += 7n;
  }
  return z & 1n ? -((z + 1n) >> 1n) : z >> 1n;
}

/** A varint of its own (the scratch buffer is shared). */
function varInt(n: number): Buffer {
  return Buffer.from(writeVarLong(BigInt(n)));
}

/**
 * One Avro container file being written: records go through avsc's compiled encoder straight
 * into a block buffer; a full block is compressed and written while the next one fills.
 */
export class AvroFileWriter {
  private buf: Buffer;
  private spare: Buffer;
  private pos = 0;
  private count = 0;
  private pending: Promise<void> = Promise.resolve();
  private readonly deflater: BlockDeflater | undefined;
  private written = 0;
  private total = 0;

  private constructor(
    private readonly file: FileHandle,
    private readonly type: avro.Type,
    private readonly codec: AvroCodec,
    private readonly sync: Buffer,
    private readonly blockBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(blockBytes * 2);
    this.spare = Buffer.allocUnsafe(blockBytes * 2);
    this.deflater = codec === 'deflate' ? new BlockDeflater() : undefined;
  }

  /** Create `path` and write the header: the schema as given (logical types and all) and the codec. */
  static async create(path: string, schemaJson: string, type: avro.Type, codec: AvroCodec, blockBytes = 256 * 1024): Promise<AvroFileWriter> {
    const file = await open(path, 'w');
    const sync = randomBytes(16);
    const meta = HEADER_META.toBuffer({ 'avro.schema': Buffer.from(schemaJson, 'utf8'), 'avro.codec': Buffer.from(codec, 'latin1') });
    const header = Buffer.concat([MAGIC, meta, sync]);
    await file.write(header);
    const writer = new AvroFileWriter(file, type, codec, sync, blockBytes);
    writer.written = header.length;
    return writer;
  }

  /** Encode one record (its fields read by name; the caller may reuse the object), with `type` when given: the same schema compiled for other value types. */
  append(record: unknown, type: avro.Type = this.type): void {
    for (;;) {
      const end = type.encode(record, this.buf, this.pos);
      if (end >= 0) {
        this.pos = end;
        this.count++;
        this.total++;
        return;
      }
      // Not enough room: a bigger buffer, keeping what the block holds so far.
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.pos);
      this.buf = bigger;
      this.spare = Buffer.allocUnsafe(bigger.length);
    }
  }

  /** Records appended so far. */
  get rows(): number {
    return this.total;
  }

  /** Write the block out when it is full (or always, with `force`); the previous block's write is awaited first. */
  async flush(force = false): Promise<void> {
    if (this.count === 0 || (!force && this.pos < this.blockBytes)) return;
    const data = this.buf.subarray(0, this.pos);
    const count = this.count;
    [this.buf, this.spare] = [this.spare, this.buf];
    this.pos = 0;
    this.count = 0;
    await this.pending;
    this.pending = this.writeBlock(data, count);
    // A failed write surfaces at the next flush or at close.
    this.pending.catch(() => {});
  }

  private async writeBlock(data: Buffer, count: number): Promise<void> {
    // deflate runs on libuv's thread pool, not on the main thread that encodes the next block (snappy: see snappyBlock).
    const body = this.deflater !== undefined ? await this.deflater.block(data) : this.codec === 'snappy' ? await snappyBlock(data) : [data];
    const bytes = body.reduce((sum, b) => sum + b.length, 0);
    const head = Buffer.concat([varInt(count), varInt(bytes)]);
    await this.file.writev([head, ...body, this.sync]);
    this.written += head.length + bytes + this.sync.length;
  }

  /** Write the last block and close the file; returns its size in bytes. */
  async close(): Promise<number> {
    try {
      await this.flush(true);
      await this.pending;
    } finally {
      this.deflater?.close();
      await this.file.close();
    }
    return this.written;
  }

  /** Close without caring for the content (the file is about to be removed). */
  async abandon(): Promise<void> {
    await this.pending.catch(() => {});
    this.deflater?.close();
    await this.file.close().catch(() => {});
  }
}

/**
 * One file's deflate compressor: a single zlib stream, finished at the end of each block (each
 * block is a whole raw deflate stream of its own, as Avro's deflate codec has it) and reset for the
 * next. With a compressor per block (`zlib.deflateRaw`), Node sets up zlib's state (about 256 KiB)
 * on a pool thread, in that thread's malloc arena, and frees it from the main thread, block after
 * block; here that happens once per file (memory figures: docs/benchmarks.md, Avro lake). One
 * block at a time: the writer awaits each before it starts the next.
 */
class BlockDeflater {
  private readonly stream: DeflateRaw = createDeflateRaw({ chunkSize: 64 * 1024 });
  private out: Buffer[] = [];
  private failed: Error | undefined;
  private onError: ((err: Error) => void) | undefined;

  constructor() {
    this.stream.on('data', (part: Buffer) => this.out.push(part));
    this.stream.on('error', (err: Error) => {
      this.failed ??= err;
      this.onError?.(err);
    });
  }

  /** `data` as one complete raw deflate stream, in the pieces zlib gave it out. */
  block(data: Buffer): Promise<Buffer[]> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.onError = reject;
      this.stream.write(data);
      this.stream.flush(zlibConstants.Z_FINISH, () => {
        this.onError = undefined;
        const out = this.out;
        this.out = [];
        if (this.failed !== undefined) return reject(this.failed);
        this.stream.reset();
        resolve(out);
      });
    });
  }

  close(): void {
    this.stream.close();
  }
}

/** The writer's schema in a file's header (read from its first bytes only). */
export function fileSchema(path: string): unknown {
  let header: { meta: Record<string, Buffer> } | null;
  try {
    header = avro.extractFileHeader(path, { decode: false }) as { meta: Record<string, Buffer> } | null;
  } catch (cause) {
    throw new ConnectorError(`${path}: cannot read it as an Avro file: ${(cause as Error).message}`, { cause });
  }
  const schema = header?.meta['avro.schema'];
  if (header === null || schema === undefined) throw new ConnectorError(`${path}: not an Avro object container file (no Avro header)`);
  const codec = header.meta['avro.codec']?.toString() ?? 'null';
  if (!CODECS.includes(codec)) throw new ConnectorError(`${path}: compressed with "${codec}", which this package cannot read (it reads ${CODECS.join(', ')})`);
  return JSON.parse(schema.toString('utf8'));
}

/**
 * The records a file's blocks declare, read from the block headers alone (each block's data is
 * skipped). Throws when the file ends inside a block or a block is not followed by the file's sync
 * marker: avsc's decoder stops quietly at a cut-off block, which would lose its rows silently.
 */
export function declaredRows(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const small = Buffer.alloc(32);
    let pos = 0;
    const varLong = (): number => {
      const n = readSync(fd, small, 0, 10, pos);
      let z = 0;
      let mul = 1;
      for (let i = 0; i < n; i++) {
        const b = small[i] as number;
        z += (b & 0x7f) * mul;
        mul *= 0x80;
        if ((b & 0x80) === 0) {
          pos += i + 1;
          return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
        }
      }
      throw new ConnectorError(`${path}: truncated Avro file (the file ends inside a length at byte ${pos})`);
    };
    pos = MAGIC.length;
    // The header's metadata map: blocks of entries, each a key and a value (both length-prefixed).
    for (let count = varLong(); count !== 0; count = varLong()) {
      if (count < 0) varLong();
      for (let i = 0; i < Math.abs(count) * 2; i++) {
        const length = varLong();
        pos += length;
      }
    }
    const sync = Buffer.alloc(16);
    readSync(fd, sync, 0, 16, pos);
    pos += 16;
    let rows = 0;
    while (pos < size) {
      const at = pos;
      const count = varLong();
      const bytes = varLong();
      pos += bytes;
      if (count < 0 || bytes < 0 || pos + 16 > size) throw new ConnectorError(`${path}: truncated or corrupt Avro file (the block at byte ${at} runs past its end; ${rows} rows before it)`);
      readSync(fd, small, 0, 16, pos);
      if (!small.subarray(0, 16).equals(sync)) throw new ConnectorError(`${path}: corrupt Avro file (the block at byte ${at} is not followed by the file's sync marker)`);
      pos += 16;
      rows += count;
    }
    return rows;
  } finally {
    closeSync(fd);
  }
}

/**
 * The records of a file, decoded with the writer's schema and resolved to `reader`'s. A snappy
 * block failing its CRC32 stops the decode with avsc's "codec decompression error", whose `cause`
 * names the file and block.
 */
export function decodeFile(path: string, reader: avro.Type): AsyncIterable<Record<string, unknown>> {
  const codecs = { null: (buf: Buffer, cb: (err: Error | null, data?: Buffer) => void) => cb(null, buf), deflate: inflateRaw, snappy: snappyBlocks(path) };
  return avro.createFileDecoder(path, { readerSchema: reader, parseHook: (schema) => avroType(schema), codecs }) as unknown as AsyncIterable<Record<string, unknown>>;
}
