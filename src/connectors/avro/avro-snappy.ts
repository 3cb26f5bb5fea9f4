// Avro's snappy codec: a block's data snappy-compressed (raw format), followed by the 4-byte
// big-endian CRC32 of the uncompressed data.

import * as zlib from 'node:zlib';
import { ConnectorError, SourceDataError } from '../../core/errors.js';

type Snappy = typeof import('snappy');
let loaded: Promise<Snappy> | undefined;

/** The native module is loaded on first use only: a platform without its prebuilt binary still has deflate and null. */
function snappy(): Promise<Snappy> {
  loaded ??= import('snappy').catch((cause: unknown) => {
    loaded = undefined;
    throw new ConnectorError(`the Avro snappy codec needs the "snappy" package, which did not load here (${(cause as Error).message}); use codec: deflate or null`, { cause });
  });
  return loaded;
}

/**
 * The block's bytes as they go in the file: the compressed data, then the CRC32 of `data`.
 *
 * On the main thread, unlike deflate: the package's async calls run on libuv's pool, and its native
 * allocator keeps memory per thread; writing 10M rows (scripts/bench-avro.mjs's data) the async
 * calls peaked at 342-351 MiB and the synchronous ones at 222 MiB, in the same time (17.3 s, 17.6 s).
 * The output is copied into a buffer of V8's own (`copyOutputData`), which V8's heuristics count.
 */
export async function snappyBlock(data: Buffer): Promise<Buffer[]> {
  const compressed = (await snappy()).compressSync(data, { copyOutputData: true });
  const crc = Buffer.allocUnsafe(4);
  crc.writeUInt32BE(crc32(data));
  return [compressed, crc];
}

/**
 * A decompressor for one file's snappy blocks, in avsc's codec shape (called once per block, in
 * file order, so it knows each block's number); a block whose data fails its CRC32 is refused naming
 * the file and the block. Synchronous, as the compressor is, for the same reason.
 */
export function snappyBlocks(file: string): (block: Buffer, cb: (err: Error | null, data?: Buffer) => void) => void {
  let n = 0;
  return (block, cb) => {
    const at = ++n;
    // Called back outside the promise chain, so an exception in avsc's callback is not swallowed.
    const done = (err: Error | null, data?: Buffer): void => process.nextTick(cb, err, data);
    const fail = (why: string, cause?: unknown): void => done(new SourceDataError(`${file}: corrupt Avro file: snappy block ${at} ${why}`, cause === undefined ? {} : { cause }));
    if (block.length < 4) return fail(`is ${block.length} bytes long, too short for its CRC32`);
    snappy()
      .then((s) => s.uncompressSync(block.subarray(0, block.length - 4), { asBuffer: true, copyOutputData: true }))
      .then(
        (out) => {
          const data = out as Buffer;
          const stored = block.readUInt32BE(block.length - 4);
          const actual = crc32(data);
          if (stored !== actual) return fail(`fails its CRC32 check (stored ${hex(stored)}, the uncompressed data's ${hex(actual)})`);
          done(null, data);
        },
        (cause: unknown) => (cause instanceof ConnectorError ? done(cause) : fail(`does not decompress: ${(cause as Error).message}`, cause)),
      );
  };
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** CRC32 (IEEE), zlib's where Node has it (20.15 and later), a table otherwise. */
export const crc32: (data: Buffer) => number = (zlib as { crc32?: (data: Buffer) => number }).crc32 ?? tableCrc32;

let table: Uint32Array | undefined;

export function tableCrc32(data: Buffer): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[i] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of data) crc = (table[(crc ^ b) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
