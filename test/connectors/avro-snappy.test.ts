// Avro's snappy codec: a lake written with it, verified and read by Apache's avro-js; a snappy file
// avsc wrote loaded as a source; a block whose CRC32 does not match refused, naming file and block.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { defineJob, runBackfill, verifyBackfill, type Job } from '../../src/index.js';
import { tableCrc32 } from '../../src/connectors/avro/avro-snappy.js';
import { tempDir } from '../helpers/cli.js';
import { query } from '../helpers/lake.js';
import { avroFiles, avroHeader, readAvroFile, writeAvscFile } from '../helpers/avro.js';

/** Flip one bit of the CRC32 that ends block `n` (1-based): the 4 bytes before the block's sync marker. */
function corruptCrc(file: string, n: number): void {
  const bytes = readFileSync(file);
  const sync = bytes.subarray(bytes.length - 16);
  // The sync marker ends the header, then every block.
  let at = -1;
  for (let i = 0; i <= n; i++) {
    at = bytes.indexOf(sync, at + 1);
    if (at < 0) throw new Error(`${file} has fewer than ${n} blocks`);
  }
  bytes[at - 1] = (bytes[at - 1] as number) ^ 0x01;
  writeFileSync(file, bytes);
}

/** Blocks in a file: the sync marker's occurrences after the header. */
function blockCount(file: string): number {
  const bytes = readFileSync(file);
  const sync = bytes.subarray(bytes.length - 16);
  let count = -1;
  for (let at = bytes.indexOf(sync); at >= 0; at = bytes.indexOf(sync, at + 1)) count++;
  return count;
}

describe('avro snappy codec', () => {
  it('writes a lake with codec snappy that verify checks and Apache avro-js reads, and refuses a block whose CRC32 does not match', async () => {
    const dir = tempDir('avro-snappy-lake');
    // Text that compresses, and enough of it for several 256 KiB blocks a day.
    await query(`COPY (SELECT i AS id, TIMESTAMP '2024-01-01' + to_seconds(i * 3) AS ts, 'event number ' || i || repeat('x', i % 50) AS label, (i * 0.25)::DOUBLE AS v, (i % 9)::BIGINT * 9007199254740993 AS big
      FROM range(60000) t(i)) TO '${join(dir, 'source.parquet')}' (FORMAT parquet)`);
    const job: Job = defineJob(
      {
        name: 'snappy-lake', source: { type: 'parquet', path: 'source.parquet' },
        target: { type: 'avro', path: 'lake', partitionBy: ['day'], codec: 'snappy' },
        transform: `select *, strftime(ts, '%Y-%m-%d') as day from source`,
        chunk: { column: 'ts', every: '1 day' }, write: { mode: 'replace' }, concurrency: 2,
      },
      { baseDir: dir },
    );
    expect(await runBackfill(job)).toMatchObject({ status: 'done', failed: 0, rowsWritten: 60000 });
    const files = avroFiles(join(dir, 'lake'));
    expect(files).toHaveLength(3);
    for (const file of files) expect((await avroHeader(file)).codec).toBe('snappy');

    const verified = await verifyBackfill(job);
    expect(verified.ok, JSON.stringify(verified.chunks)).toBe(true);
    expect(verified.counts).toEqual({ total: 3, matched: 3, mismatched: 0 });

    // An independent reader, with the spec's snappy codec written in the test helper.
    const rows = (await Promise.all(files.map(readAvroFile))).flat().sort((a, b) => Number(a.id) - Number(b.id));
    expect(rows).toHaveLength(60000);
    expect(rows[59999]).toMatchObject({ id: 59999n, label: `event number 59999${'x'.repeat(59999 % 50)}`, v: 14999.75, big: BigInt(59999 % 9) * 9007199254740993n });

    const file = files[1] as string;
    expect(blockCount(file)).toBeGreaterThan(2);
    corruptCrc(file, 2);
    const err = await verifyBackfill(job).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`${file}: corrupt Avro file: snappy block 2 fails its CRC32 check`);
  });

  it('loads a snappy file avsc wrote as a source, and refuses one whose block fails its CRC32, naming the file and block', async () => {
    const dir = tempDir('avro-snappy-source');
    const schema = { type: 'record', name: 'Click', fields: [{ name: 'id', type: 'long' }, { name: 'ts', type: { type: 'long', logicalType: 'timestamp-micros' } }, { name: 'page', type: 'string' }] };
    const start = Date.UTC(2024, 0, 1) * 1000;
    const records = Array.from({ length: 5000 }, (_, i) => ({ id: i, ts: start + i * 60_000_000, page: `/page/${i % 37}` }));
    const path = join(dir, 'clicks.avro');
    // Small blocks: several in the file.
    await writeAvscFile(path, schema, records, { codec: 'snappy', blockSize: 16 * 1024 });
    expect(blockCount(path)).toBeGreaterThan(2);

    const job = (file: string): Job => defineJob(
      {
        name: 'snappy-source', source: { type: 'avro', path: file },
        target: { type: 'duckdb', database: 'out.duckdb', table: 'clicks' }, chunk: { column: 'ts', every: '1 day' }, write: { mode: 'replace' },
      },
      { baseDir: dir },
    );
    expect(await runBackfill(job('clicks.avro'))).toMatchObject({ status: 'done', failed: 0, rowsWritten: 5000 });
    expect((await verifyBackfill(job('clicks.avro'))).ok).toBe(true);
    const [stats] = await query<{ n: string; pages: string; last: string }>(
      `ATTACH '${join(dir, 'out.duckdb')}' AS t (READ_ONLY); SELECT count(*)::VARCHAR AS n, count(DISTINCT page)::VARCHAR AS pages, CAST(max(ts) AS VARCHAR) AS last FROM t.clicks`,
    ).then((rows) => rows.filter((r) => 'n' in r));
    expect(stats).toEqual({ n: '5000', pages: '37', last: '2024-01-04 11:19:00+00' });

    copyFileSync(path, join(dir, 'bad.avro'));
    corruptCrc(join(dir, 'bad.avro'), 2);
    const err = await runBackfill(job('bad.avro')).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/bad\.avro: corrupt Avro file: snappy block 2 fails its CRC32 check \(stored [0-9a-f]{8}, the uncompressed data's [0-9a-f]{8}\)/);
  });

  it('computes the CRC32 of its table fallback as zlib does', () => {
    for (const size of [0, 1, 7, 4096, 100_003]) {
      const data = randomBytes(size);
      expect(tableCrc32(data)).toBe(crc32(data));
    }
    expect(tableCrc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
});
