// Read an Avro lake with Apache's own JavaScript reader (avro-js), independent of the avsc-based writer under test.

import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const require = createRequire(import.meta.url);
const avroJs = require('avro-js') as {
  createFileDecoder(path: string): NodeJS.ReadableStream & AsyncIterable<Record<string, unknown>>;
};

/** Every `.avro` file under `dir` (outside the temporary folder), sorted. */
export function avroFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === '.backfill-tmp') continue;
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.avro')) out.push(join(d, e.name));
    }
  };
  walk(dir);
  return out.sort();
}

/** The records of one file, as avro-js decodes them (longs as numbers: fine below 2^53; unions unwrapped from `{ long: 5 }` to 5). */
export async function readAvroFile(file: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const rec of avroJs.createFileDecoder(file)) {
    rows.push(Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, unwrap(v)])));
  }
  return rows;
}

function unwrap(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  const entries = Object.entries(v);
  return entries.length === 1 ? entries[0]?.[1] : v;
}

/** The header of one file as avro-js reads it: the writer's schema and codec. */
export async function avroHeader(file: string): Promise<{ schema: unknown; codec: string }> {
  const decoder = avroJs.createFileDecoder(file) as unknown as NodeJS.EventEmitter & NodeJS.ReadableStream;
  return new Promise((resolve, reject) => {
    decoder.on('metadata', (_type: unknown, codec: string, header: { meta: Record<string, Buffer> }) => {
      resolve({ schema: JSON.parse(String(header.meta['avro.schema'])), codec });
      decoder.removeAllListeners('data');
    });
    decoder.on('error', reject);
    decoder.resume();
  });
}

/** Every row of a lake, with its hive folder values (`day=2024-01-01/`) as fields. */
export async function readAvroLake(dir: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const file of avroFiles(dir)) {
    const hive = Object.fromEntries(
      relative(dir, file).split(sep).slice(0, -1).map((p) => p.split('=') as [string, string]),
    );
    for (const rec of await readAvroFile(file)) rows.push({ ...rec, ...hive });
  }
  return rows;
}
