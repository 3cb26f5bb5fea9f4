// The layout rules of docs/architecture.md, checked on the source tree: a newcomer can rely on them.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONNECTORS, SOURCE_TYPES, TARGET_TYPES } from '../../src/connectors/registry.js';

const SRC = join(import.meta.dirname, '..', '..', 'src');
const MAX_LINES = 400;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const files = walk(SRC).map((path) => ({ path: relative(SRC, path).split(sep).join('/'), text: readFileSync(path, 'utf8') }));
const importsOf = (text: string): string[] => [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1] as string);
const under = (folder: string) => files.filter((f) => f.path.startsWith(`${folder}/`));

describe('source layout', () => {
  it('keeps every module under 400 lines', () => {
    const long = files.map((f) => ({ path: f.path, lines: f.text.split('\n').length })).filter((f) => f.lines > MAX_LINES);
    expect(long).toEqual([]);
  });

  it('asks which system a block is only inside connectors/', () => {
    const systems = [...new Set([...SOURCE_TYPES, ...TARGET_TYPES])].join('|');
    const asks = new RegExp(`\\btype\\s*[!=]==?\\s*'(${systems})'|case\\s+'(${systems})'\\s*:`);
    const found = files.filter((f) => !f.path.startsWith('connectors/') && asks.test(f.text)).map((f) => f.path);
    expect(found).toEqual([]);
  });

  it('keeps the engine, ledger, job, runtime, core, cli and dashboard off any one connector', () => {
    const offenders = ['engine', 'ledger', 'job', 'runtime', 'core', 'cli', 'dashboard']
      .flatMap(under)
      .flatMap((f) => importsOf(f.text).filter((spec) => /connectors\/[a-z]+\//.test(spec)).map((spec) => `${f.path} → ${spec}`));
    expect(offenders).toEqual([]);
  });

  it('keeps drivers out of core/, the engine and the dashboard', () => {
    // The queue's client (BullMQ, and ioredis under it) is a driver too: it belongs to fleet/, never to the engine.
    const drivers = /^(pg|pg-copy-streams|pg-logical-replication|mysql2|mysql2\/promise|@duckdb\/node-api|better-sqlite3|bullmq|ioredis)$/;
    const core = under('core').flatMap((f) => importsOf(f.text).filter((s) => drivers.test(s) || s.startsWith('../')).map((s) => `${f.path} → ${s}`));
    const engine = [...under('engine'), ...under('dashboard')].flatMap((f) => importsOf(f.text).filter((s) => drivers.test(s)).map((s) => `${f.path} → ${s}`));
    expect([...core, ...engine]).toEqual([]);
  });

  it('keeps the engine, ledger, job and core ignorant of the fleet', () => {
    const offenders = ['engine', 'ledger', 'job', 'runtime', 'core', 'connectors']
      .flatMap(under)
      .flatMap((f) => importsOf(f.text).filter((spec) => /(^|\/)fleet\//.test(spec) || /^(bullmq|ioredis)$/.test(spec)).map((spec) => `${f.path} → ${spec}`));
    expect(offenders).toEqual([]);
  });

  it('gives every connector folder its descriptor file, listed in the registry', () => {
    const folders = readdirSync(join(SRC, 'connectors')).filter((name) => statSync(join(SRC, 'connectors', name)).isDirectory() && name !== 'sql');
    for (const folder of folders) {
      expect(files.some((f) => f.path === `connectors/${folder}/${folder}-connector.ts`), folder).toBe(true);
    }
    const registry = files.find((f) => f.path === 'connectors/registry.ts')?.text ?? '';
    for (const folder of folders) expect(registry, folder).toContain(`./${folder}/${folder}-connector.js`);
    const types = CONNECTORS.map((c) => c.type);
    expect(new Set(types).size).toBe(types.length);
  });
});
