// byteBatches: the bytes of a stream of small buffers, unchanged, in buffers of at least the batch size.

import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { byteBatches } from '../../src/runtime/byte-batches.js';

async function batches(parts: readonly Buffer[], size: number): Promise<Buffer[]> {
  // Each write the file stream would get, one per batch.
  const out: Buffer[] = [];
  const sink = new Writable({ write: (b: Buffer, _encoding, done) => (out.push(b), done()) });
  await pipeline(Readable.from(parts), byteBatches(size), sink);
  return out;
}

describe('byteBatches', () => {
  it('passes every byte in order, in batches of at least the size but the last', async () => {
    const parts = Array.from({ length: 1000 }, (_, i) => Buffer.from(`row ${i},${'x'.repeat(i % 37)}\n`));
    const out = await batches(parts, 4096);
    expect(Buffer.concat(out).equals(Buffer.concat(parts))).toBe(true);
    expect(out.length).toBeGreaterThan(1);
    for (const b of out.slice(0, -1)) expect(b.length).toBeGreaterThanOrEqual(4096);
    expect(out.at(-1)?.length).toBeGreaterThan(0);
  });
  it('passes a buffer larger than the size at once, and nothing for no input', async () => {
    const big = Buffer.alloc(10_000, 7);
    expect((await batches([Buffer.from('a'), big], 4096)).map((b) => b.length)).toEqual([10_001]);
    expect(await batches([], 4096)).toEqual([]);
  });
});
