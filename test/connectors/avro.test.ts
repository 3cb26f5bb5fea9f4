// Avro in and out: every supported type through Parquet → Avro lake → DuckDB, checked by verify and
// by Apache's avro-js; files avro-js wrote read as a source; schema evolution; what is refused, and why.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineJob, JobSpecError, runBackfill, verifyBackfill, type Job } from '../../src/index.js';
import { runCli, tempDir, writeJob } from '../helpers/cli.js';
import type { BenchReport } from '../../src/engine/bench/bench-job.js';
import { query } from '../helpers/lake.js';
import { avroFiles, avroHeader, readAvroFile, writeAvroJsFile, writeAvscFile } from '../helpers/avro.js';

/** Every type the target maps, with NULLs, unicode and the extremes of each type. */
const ALL_TYPES = `
  SELECT * FROM (VALUES
    (1, TIMESTAMP '2024-01-01 10:00:00', true, (-128)::TINYINT, (-32768)::SMALLINT, (-2147483648)::INTEGER, (-9223372036854775808)::BIGINT,
     0::UTINYINT, 0::USMALLINT, 0::UINTEGER, (-3.4028235e38)::FLOAT, (-1.7976931348623157e308)::DOUBLE,
     '', ''::BLOB, DATE '0001-01-01', TIME '00:00:00', TIMESTAMP '0001-01-01 00:00:00', TIMESTAMPTZ '0001-01-01 00:00:00+00',
     '-99999999999999999999999999.999999999999'::DECIMAL(38,12), (-99.99)::DECIMAL(4,2), '00000000-0000-0000-0000-000000000000'::UUID),
    (2, TIMESTAMP '2024-01-02 10:00:00', false, 127::TINYINT, 32767::SMALLINT, 2147483647::INTEGER, 9223372036854775807::BIGINT,
     255::UTINYINT, 65535::USMALLINT, 4294967295::UINTEGER, 'inf'::FLOAT, 'nan'::DOUBLE,
     'héllo wörld — 日本語 🎉 "quotes" \\ back\nslash', '\\x00\\xFF\\x80'::BLOB, DATE '9999-12-31', TIME '23:59:59.999999',
     TIMESTAMP '9999-12-31 23:59:59.999999', TIMESTAMPTZ '9999-12-31 23:59:59.999999+00',
     '99999999999999999999999999.999999999999'::DECIMAL(38,12), 0.01::DECIMAL(4,2), 'ffffffff-ffff-ffff-ffff-ffffffffffff'::UUID),
    (3, TIMESTAMP '2024-01-03 10:00:00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (4, TIMESTAMP '2024-01-03 11:00:00', true, 0::TINYINT, 0::SMALLINT, 0::INTEGER, 9007199254740993::BIGINT, 1::UTINYINT, 1::USMALLINT, 1::UINTEGER,
     1.5::FLOAT, (-0.0)::DOUBLE, 'ü', '\\x7F'::BLOB, DATE '1969-12-31', TIME '12:00:00.000001', TIMESTAMP '1969-12-31 23:59:59.999999',
     TIMESTAMPTZ '2024-03-31 02:30:00+02', '-0.000000000001'::DECIMAL(38,12), (-0.01)::DECIMAL(4,2), '123e4567-e89b-12d3-a456-426614174000'::UUID)
  ) t(id, ts, b, t8, s16, i32, i64, u8, u16, u32, f, d, s, bl, dt, tm, tsl, tsz, dec38, dec4, u)`;

function lakeJob(dir: string, extra: Record<string, unknown> = {}): Job {
  return defineJob(
    {
      name: 'avro-types',
      source: { type: 'parquet', path: 'source.parquet' },
      target: { type: 'avro', path: 'lake', partitionBy: ['day'], recordName: 'Event', namespace: 'com.example.events', ...extra },
      chunk: { column: 'ts', every: '1 day' },
      transform: `select *, strftime(ts, '%Y-%m-%d') as day from source`,
      write: { mode: 'replace' },
      concurrency: 2,
      retries: { attempts: 1 },
    },
    { baseDir: dir },
  );
}

/** Each column of `relation` as text after casting to the source's own type, rows in id order. */
async function asText(relation: string, types: readonly { name: string; type: string }[], attach = ''): Promise<string[]> {
  const rows = await query<{ r: string }>(`${attach}SELECT ${types.map((c) => `coalesce(CAST(CAST("${c.name}" AS ${c.type}) AS VARCHAR), '∅')`).join(` || '|' || `)} AS r FROM ${relation} ORDER BY id`);
  return rows.filter((r) => 'r' in r).map((r) => r.r);
}

describe('avro lake target', () => {
  it('round-trips every supported type, NULLs, unicode and extremes: Parquet → Avro → DuckDB, verified', async () => {
    const dir = tempDir('avro-types');
    await query(`COPY (${ALL_TYPES}) TO '${join(dir, 'source.parquet')}' (FORMAT parquet)`);
    const job = lakeJob(dir);
    expect(await runBackfill(job)).toMatchObject({ status: 'done', failed: 0, rowsWritten: 4 });
    const files = avroFiles(join(dir, 'lake'));
    const rel = files.map((f) => f.slice(join(dir, 'lake').length + 1));
    expect(rel).toHaveLength(3);
    rel.forEach((f, i) => expect(f).toMatch(new RegExp(`^day=2024-01-0${i + 1}/part-[^/]+-0\\.avro$`)));

    // verify reads the files back (the engine's avsc reader) and compares every chunk with the source.
    const verified = await verifyBackfill(job);
    expect(verified.ok, JSON.stringify(verified.chunks)).toBe(true);
    expect(verified.counts).toEqual({ total: 3, matched: 3, mismatched: 0 });

    // The Avro files as a source, into DuckDB: the values come back exactly (after the same cast).
    const back = defineJob(
      {
        name: 'avro-back',
        source: { type: 'avro', path: 'lake/*/*.avro' },
        target: { type: 'duckdb', database: 'back.duckdb', table: 'events' },
        chunk: { column: 'ts', every: '1 day' },
        write: { mode: 'replace' },
      },
      { baseDir: dir },
    );
    expect(await runBackfill(back)).toMatchObject({ status: 'done', rowsWritten: 4 });
    expect((await verifyBackfill(back)).ok).toBe(true);
    const types = await query<{ name: string; type: string }>(`SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * FROM '${join(dir, 'source.parquet')}')`);
    const original = await asText(`'${join(dir, 'source.parquet')}'`, types);
    const loaded = await asText('t.events', types, `ATTACH '${join(dir, 'back.duckdb')}' AS t (READ_ONLY); `);
    expect(loaded).toEqual(original);
    // Types Avro holds as such come back as such; the small integers come back as Avro int (INTEGER).
    const loadedTypes = Object.fromEntries(
      (await query<{ name: string; type: string }>(`ATTACH '${join(dir, 'back.duckdb')}' AS t (READ_ONLY); SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_name = 'events'`))
        .filter((r) => 'name' in r).map((r) => [r.name, r.type]),
    );
    expect(loadedTypes).toMatchObject({
      t8: 'INTEGER', i64: 'BIGINT', u32: 'BIGINT', dt: 'DATE', tm: 'TIME', tsl: 'TIMESTAMP', tsz: 'TIMESTAMP WITH TIME ZONE', dec38: 'DECIMAL(38,12)', dec4: 'DECIMAL(4,2)', u: 'UUID', bl: 'BLOB',
    });
  });

  it('writes files an independent reader (Apache avro-js) reads: schema in every header, logical types, values', async () => {
    const dir = tempDir('avro-js-reads');
    await query(`COPY (${ALL_TYPES}) TO '${join(dir, 'source.parquet')}' (FORMAT parquet)`);
    await runBackfill(lakeJob(dir, { codec: 'null' }));
    const files = avroFiles(join(dir, 'lake'));
    expect(files).toHaveLength(3);
    for (const file of files) {
      const { schema, codec } = await avroHeader(file);
      expect(codec).toBe('null');
      expect(schema).toMatchObject({ type: 'record', name: 'Event', namespace: 'com.example.events' });
      const fields = Object.fromEntries((schema as { fields: { name: string; type: unknown }[] }).fields.map((f) => [f.name, f.type]));
      // The partition column lives in the folder name only, as in a hive layout.
      expect(fields.day).toBeUndefined();
      expect(fields).toMatchObject({
        i64: ['null', 'long'], t8: ['null', 'int'], s: ['null', 'string'], bl: ['null', 'bytes'],
        dt: ['null', { type: 'int', logicalType: 'date' }],
        tm: ['null', { type: 'long', logicalType: 'time-micros' }],
        tsl: ['null', { type: 'long', logicalType: 'local-timestamp-micros' }],
        tsz: ['null', { type: 'long', logicalType: 'timestamp-micros' }],
        dec38: ['null', { type: 'bytes', logicalType: 'decimal', precision: 38, scale: 12 }],
        u: ['null', { type: 'string', logicalType: 'uuid' }],
      });
    }
    const rows = (await Promise.all(files.map(readAvroFile))).flat().sort((a, b) => Number(a.id) - Number(b.id));
    expect(rows).toHaveLength(4);
    const [r1, r2, r3, r4] = rows as Record<string, unknown>[];
    expect(r1).toMatchObject({ i64: -9223372036854775808n, i32: -2147483648, dt: -719162, tsl: -62135596800000000n, s: '' });
    expect(r2).toMatchObject({ i64: 9223372036854775807n, u32: 4294967295n, s: 'héllo wörld — 日本語 🎉 "quotes" \\ back\nslash', tsz: 253402300799999999n, tm: 86399999999n });
    expect(Number.isNaN(r2?.d)).toBe(true);
    expect(r2?.f).toBe(Infinity);
    expect((r2?.bl as Buffer).equals(Buffer.from([0, 0xff, 0x80]))).toBe(true);
    expect((r2?.u as string)).toBe('ffffffff-ffff-ffff-ffff-ffffffffffff');
    // Decimals: big-endian two's complement of the unscaled value.
    expect((r4?.dec4 as Buffer).equals(Buffer.from([0xff]))).toBe(true);
    expect(Object.entries(r3 as object).filter(([k, v]) => !['id', 'ts'].includes(k) && v !== null)).toEqual([]);
    expect(r4).toMatchObject({ i64: 9007199254740993n, tsz: 1711845000000000n });
  });

  it('refuses, naming the column, an output column with no faithful Avro type; and ORC when the job loads', async () => {
    const dir = tempDir('avro-refusals');
    await query(`COPY (SELECT TIMESTAMP '2024-01-01' AS ts, 1 AS ok) TO '${join(dir, 'source.parquet')}' (FORMAT parquet)`);
    const job = defineJob(
      {
        name: 'avro-refused', source: { type: 'parquet', path: 'source.parquet' }, target: { type: 'avro', path: 'lake' },
        chunk: { column: 'ts', every: '1 day' }, write: { mode: 'replace' },
        transform: 'select ts, 1::HUGEINT as big, INTERVAL 1 DAY as gap, ok from source',
      },
      { baseDir: dir },
    );
    const err = await runBackfill(job).catch((e: Error) => e);
    expect(String((err as Error).message)).toMatch(/column "big" \(HUGEINT\): no faithful Avro type: Avro has no 128-bit integer/);
    expect(String((err as Error).message)).toMatch(/column "gap" \(INTERVAL\): no faithful Avro type/);
    expect(String((err as Error).message)).not.toMatch(/"ok"/);

    const base = { name: 'x', chunk: { column: 'ts', every: '1 day' }, write: { mode: 'replace' } };
    for (const side of ['source', 'target'] as const) {
      const orc = (() => {
        try {
          defineJob({ ...base, source: { type: 'parquet', path: 's.parquet' }, target: { type: 'parquet', path: 'lake' }, [side]: { type: 'orc', path: 'x' } });
        } catch (e) {
          return e as JobSpecError;
        }
      })();
      expect(orc).toBeInstanceOf(JobSpecError);
      expect(orc?.message).toMatch(new RegExp(`${side}\\.type.*"orc": ORC is not supported: no ORC writer or reader is in reach of this package.*use type: parquet`, 's'));
    }
  });
});

describe('avro lake in backfill bench', () => {
  it('compares the codecs on a scratch lake and leaves the real one untouched', async () => {
    const dir = tempDir('avro-bench');
    await query(`COPY (SELECT i AS id, TIMESTAMP '2024-01-01' + to_minutes(i) AS ts, 'row ' || i AS label FROM range(6000) t(i)) TO '${join(dir, 'source.parquet')}' (FORMAT parquet)`);
    const file = writeJob(dir, 'job.yaml', `
name: avro-bench
source: { type: parquet, path: source.parquet }
chunk: { column: ts, every: 1 day }
target: { type: avro, path: lake }
`);
    const res = await runCli(['bench', file, '--json', '--chunks', '1', '--only', 'compression']);
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as BenchReport;
    expect(report.rows.map((r) => r.label)).toEqual(['as written', 'codec snappy', 'codec null']);
    for (const r of report.rows) expect(r.status, r.error).toBe('ok');
    const [deflate, snappy, none] = report.rows;
    expect(snappy?.rowsWritten).toBe(deflate?.rowsWritten);
    expect(none?.rowsWritten).toBe(deflate?.rowsWritten);
    expect(none?.outputBytes).toBeGreaterThan(snappy?.outputBytes ?? Infinity);
    expect(snappy?.outputBytes).toBeGreaterThan(deflate?.outputBytes ?? Infinity);
    expect(avroFiles(join(dir, 'lake'))).toEqual([]);
  });
});

describe('avro lake partitions', () => {
  it('keeps NULL and awkward partition values apart in their folders, and verify reads them back; merge keeps other keys', async () => {
    const dir = tempDir('avro-partitions');
    await query(`COPY (SELECT i AS id, TIMESTAMP '2024-01-01' + to_hours(i) AS ts, CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN 'a/b=c' WHEN 2 THEN '' ELSE 'ü %2F' END AS region, i * 1.5 AS v
      FROM range(40) t(i)) TO '${join(dir, 'source.parquet')}' (FORMAT parquet)`);
    const job = (mode: 'replace' | 'merge'): Job => defineJob(
      {
        name: 'avro-parts', source: { type: 'parquet', path: 'source.parquet' }, target: { type: 'avro', path: 'lake', partitionBy: ['region'] },
        chunk: { column: 'ts', every: '1 day' }, write: mode === 'merge' ? { mode, key: ['id'] } : { mode },
      },
      { baseDir: dir },
    );
    expect(await runBackfill(job('replace'))).toMatchObject({ status: 'done', rowsWritten: 40 });
    const folders = [...new Set(avroFiles(join(dir, 'lake')).map((f) => f.slice(join(dir, 'lake').length + 1).split('/')[0]))].sort();
    expect(folders).toEqual(['region=', 'region=__HIVE_DEFAULT_PARTITION__', 'region=a%2Fb%3Dc', 'region=ü %252F']);
    const report = await verifyBackfill(job('replace'));
    expect(report.ok, JSON.stringify(report.chunks)).toBe(true);

    // Merge over the same lake: the day's rows come again, none is lost or doubled.
    expect(await runBackfill(job('merge'), { restate: true })).toMatchObject({ status: 'done', failed: 0 });
    const rows = (await Promise.all(avroFiles(join(dir, 'lake')).map(readAvroFile))).flat();
    expect(rows.map((r) => Number(r.id)).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect((await verifyBackfill(job('merge'))).ok).toBe(true);
  });
});

describe('avro source', () => {
  const V1 = { type: 'record', name: 'Click', fields: [{ name: 'id', type: 'long' }, { name: 'ts', type: { type: 'long', logicalType: 'timestamp-micros' } }, { name: 'page', type: 'string' }] };
  const day = (d: number, h = 0): bigint => BigInt(Date.UTC(2024, 0, d, h)) * 1000n;

  it('reads files avro-js wrote, resolves an evolved schema, prunes by file name, and refuses schemas that do not resolve, naming both files', async () => {
    const dir = tempDir('avro-source');
    await writeAvroJsFile(join(dir, 'clicks-2024-01-01.avro'), V1, [{ id: 1n, ts: day(1, 1), page: '/a' }, { id: 2n, ts: day(1, 2), page: '/ü' }]);
    // The newer schema adds a field with a default: the older file reads with it. (Written by avsc:
    // avro-js writes the canonical form of a schema into the header, which drops defaults.)
    const V2 = { ...V1, fields: [...V1.fields, { name: 'referrer', type: ['null', 'string'], default: null }] };
    await writeAvscFile(join(dir, 'clicks-2024-01-02.avro'), V2, [{ id: 3, ts: Number(day(2, 5)), page: '/b', referrer: 'search' }]);
    const job = defineJob(
      {
        name: 'clicks', source: { type: 'avro', path: 'clicks-*.avro', pruneBy: 'filename' },
        target: { type: 'duckdb', database: 'out.duckdb', table: 'clicks' }, chunk: { column: 'ts', every: '1 day' }, write: { mode: 'replace' },
      },
      { baseDir: dir },
    );
    expect(await runBackfill(job)).toMatchObject({ status: 'done', done: 2, rowsWritten: 3 });
    const rows = await query<{ id: string; ts: string; page: string; referrer: string | null }>(
      `ATTACH '${join(dir, 'out.duckdb')}' AS t (READ_ONLY); SELECT id, CAST(ts AS VARCHAR) AS ts, page, referrer FROM t.clicks ORDER BY id`,
    );
    expect(rows.filter((r) => 'id' in r)).toEqual([
      { id: '1', ts: '2024-01-01 01:00:00+00', page: '/a', referrer: null },
      { id: '2', ts: '2024-01-01 02:00:00+00', page: '/ü', referrer: null },
      { id: '3', ts: '2024-01-02 05:00:00+00', page: '/b', referrer: 'search' },
    ]);
    expect((await verifyBackfill(job)).ok).toBe(true);

    // A row outside its file's day fails its chunk, naming the Avro file (as for CSV files).
    await writeAvscFile(join(dir, 'clicks-2024-01-03.avro'), V2, [{ id: 4, ts: Number(day(9)), page: '/c', referrer: null }]);
    const outside = await runBackfill(job);
    expect(outside.failed).toBe(1);
    expect(outside.chunks.find((c) => c.outcome === 'failed')?.error).toMatch(/clicks-2024-01-03\.avro.*outside the period its file name gives/);

    // A file whose schema changes a field's type beyond Avro's promotions is refused with both names.
    await writeAvroJsFile(join(dir, 'clicks-2024-01-03.avro'), { ...V1, fields: [{ name: 'id', type: 'string' }, ...V1.fields.slice(1)] }, [{ id: 'x', ts: day(3), page: '/d' }]);
    const err = await runBackfill(job).catch((e: Error) => e);
    expect(String((err as Error).message)).toMatch(/clicks-2024-01-0[12]\.avro and .*clicks-2024-01-03\.avro have Avro schemas that do not resolve/);
  });

  it('refuses a truncated file, naming it, instead of losing its last block quietly', async () => {
    const dir = tempDir('avro-truncated');
    const rows = Array.from({ length: 3000 }, (_, i) => ({ id: BigInt(i), ts: day(1) + BigInt(i), page: `/p${i}`.padEnd(40, 'x') }));
    const whole = join(dir, 'whole.avro');
    await writeAvroJsFile(whole, V1, rows, 'null');
    const bytes = readFileSync(whole);
    writeFileSync(join(dir, 'cut.avro'), bytes.subarray(0, bytes.length - 100));
    const job = defineJob(
      { name: 'cut', source: { type: 'avro', path: 'cut.avro' }, target: { type: 'duckdb', database: 'out.duckdb', table: 't' }, chunk: { column: 'ts', every: '1 day' } },
      { baseDir: dir },
    );
    const err = await runBackfill(job).catch((e: Error) => e);
    expect(String((err as Error).message)).toMatch(/cut\.avro: truncated or corrupt Avro file/);
  });
});
