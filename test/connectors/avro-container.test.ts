// The Avro container writer on its own: many blocks through one file's deflate stream (finished and
// reset at each block), read back by avro-js and by avsc, and files written side by side.
import { join } from 'node:path';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { AvroFileWriter, avroType, declaredRows, type AvroCodec } from '../../src/connectors/avro/avro-container.js';
import { tempDir } from '../helpers/cli.js';
import { readAvroFile } from '../helpers/avro.js';

const SCHEMA = {
  type: 'record',
  name: 'Row',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
};

/** `rows` records into `file`, in blocks of about `blockBytes`. */
async function writeRows(file: string, codec: AvroCodec, rows: number, blockBytes: number, first = 0): Promise<number> {
  const writer = await AvroFileWriter.create(file, JSON.stringify(SCHEMA), avroType(SCHEMA), codec, blockBytes);
  const record = { id: 0n, note: null as string | null };
  for (let i = first; i < first + rows; i++) {
    record.id = BigInt(i);
    // Text that compresses unevenly, so blocks differ in size and content.
    record.note = i % 5 === 0 ? null : `row ${i} ${'x'.repeat(i % 97)}`;
    writer.append(record);
    await writer.flush();
  }
  return writer.close();
}

/** avsc's own reading of a file, block by block through its deflate codec (zlib's inflateRaw). */
async function readWithAvsc(file: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  await new Promise<void>((resolve, reject) => {
    avro.createFileDecoder(file).on('data', (r: Record<string, unknown>) => rows.push(r)).on('end', resolve).on('error', reject);
  });
  return rows;
}

function expectRows(rows: readonly Record<string, unknown>[], count: number, first = 0): void {
  expect(rows).toHaveLength(count);
  rows.forEach((r, k) => {
    const i = first + k;
    expect(Number(r.id)).toBe(i);
    expect(r.note ?? null).toBe(i % 5 === 0 ? null : `row ${i} ${'x'.repeat(i % 97)}`);
  });
}

describe('avro container writer', () => {
  it('deflate: every block a whole deflate stream of its own, though one zlib stream wrote them all', async () => {
    const dir = tempDir('avro-container');
    const file = join(dir, 'many-blocks.avro');
    // Blocks of about 2 KiB: well over a hundred blocks from one stream, finished and reset at each.
    await writeRows(file, 'deflate', 20_000, 2048);
    expect(declaredRows(file)).toBe(20_000);
    expectRows(await readAvroFile(file), 20_000);
    expectRows(await readWithAvsc(file), 20_000);
  });

  it('deflate: files written side by side keep their streams apart', async () => {
    const dir = tempDir('avro-container-side');
    const files = [0, 1, 2].map((n) => join(dir, `f${n}.avro`));
    await Promise.all(files.map((file, n) => writeRows(file, 'deflate', 5_000, 1024, n * 100_000)));
    for (const [n, file] of files.entries()) expectRows(await readAvroFile(file), 5_000, n * 100_000);
  });

  it.each(['null', 'snappy'] as const)('%s: the same rows read back', async (codec) => {
    const dir = tempDir(`avro-container-${codec}`);
    const file = join(dir, `${codec}.avro`);
    await writeRows(file, codec, 5_000, 2048);
    expect(declaredRows(file)).toBe(5_000);
    expectRows(await readAvroFile(file), 5_000);
  });
});
