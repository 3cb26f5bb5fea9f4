// parseJobText / loadJobFile: YAML → validated Job, defaults, path resolution, errors naming fields, ${VAR} interpolation.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadJobFile, parseJobText } from '../../src/job/job-loader.js';
import { BackfillError, JobSpecError, type JobIssue } from '../../src/core/errors.js';
import type { Job } from '../../src/job/job.js';

const BASE = path.resolve(os.tmpdir(), 'backfill-job-loader-test');

const VALID = `
name: events
source:
  type: csv
  path: data/events-*.csv
target:
  type: parquet
  path: out/events
chunk:
  column: ts
  every: 1 day
`;

/** The valid job with one block replaced or appended. */
function job(overrides: Record<string, string>): string {
  const blocks: Record<string, string> = {
    name: 'name: events',
    source: 'source:\n  type: csv\n  path: data/events-*.csv',
    target: 'target:\n  type: parquet\n  path: out/events',
    chunk: 'chunk:\n  column: ts\n  every: 1 day',
    ...overrides,
  };
  return Object.values(blocks).filter((b) => b !== '').join('\n') + '\n';
}

function specError(text: string, env: Record<string, string | undefined> = {}): JobSpecError {
  try {
    parseJobText(text, { baseDir: BASE, env });
  } catch (err) {
    expect(err).toBeInstanceOf(JobSpecError);
    expect((err as JobSpecError).code).toBe('JOB_SPEC');
    return err as JobSpecError;
  }
  throw new Error('expected a JobSpecError');
}

function issue(err: JobSpecError, path: string): JobIssue | undefined {
  return err.issues.find((i) => i.path === path);
}

function parse(text: string, env: Record<string, string | undefined> = {}): Job {
  return parseJobText(text, { baseDir: BASE, env });
}

describe('parseJobText: a valid job', () => {
  it('resolves relative paths against baseDir and fills the defaults', () => {
    const j = parse(VALID);
    expect(j.name).toBe('events');
    expect(j.baseDir).toBe(BASE);
    expect(j.file).toBeUndefined();
    expect(j.source.type).toBe('csv');
    expect(j.source.type === 'csv' ? j.source.path : undefined).toBe(path.join(BASE, 'data/events-*.csv'));
    expect(j.target.type === 'parquet' ? j.target.path : undefined).toBe(path.join(BASE, 'out/events'));
    expect(j.target.type === 'parquet' ? j.target.compression : undefined).toBe('zstd');
    expect(j.write).toEqual({ mode: 'replace', key: [] });
    expect(j.retries).toEqual({ attempts: 3, backoffMs: 1000, maxBackoffMs: 30_000 });
    expect(j.timeoutMs).toBe(3_600_000);
    expect(j.chunking).toMatchObject({ kind: 'time', column: 'ts', timezone: 'UTC', step: { n: 1, unit: 'day' } });
    expect(j.chunking.from).toBeUndefined();
    expect(j.stateDir).toBe(path.join(BASE, '.backfill'));
    expect(j.ledgerPath).toBe(path.join(BASE, '.backfill', 'events.ledger.sqlite'));
    expect(j.concurrency).toBeGreaterThanOrEqual(2);
    expect(j.transform).toBeUndefined();
  });

  it('keeps absolute paths and resolves path lists, ledger and duckdb.tempDirectory', () => {
    const abs = path.resolve(os.tmpdir(), 'elsewhere', 'out');
    const j = parse(
      job({
        source: 'source:\n  type: csv\n  path: [a.csv, sub/b.csv]',
        target: `target:\n  type: parquet\n  path: ${JSON.stringify(abs)}\n  compression: snappy`,
        extra: 'ledger: state/l.sqlite\nduckdb:\n  tempDirectory: tmp/spill\n  threads: 2',
      }),
    );
    expect(j.source.type === 'csv' ? j.source.path : undefined).toEqual([path.join(BASE, 'a.csv'), path.join(BASE, 'sub/b.csv')]);
    expect(j.target.type === 'parquet' ? j.target.path : undefined).toBe(abs);
    expect(j.target.type === 'parquet' ? j.target.compression : undefined).toBe('snappy');
    expect(j.ledgerPath).toBe(path.join(BASE, 'state/l.sqlite'));
    expect(j.duckdb.tempDirectory).toBe(path.join(BASE, 'tmp/spill'));
    expect(j.duckdb.threads).toBe(2);
  });

  it('parses time zone, from/to, merge keys, retries and the transform', () => {
    const j = parse(
      job({
        chunk: 'chunk:\n  column: ts\n  every: 3 months\n  timezone: Europe/Berlin\n  from: "2021-03-01"\n  to: "2022-03-01T00:00:00Z"',
        extra: 'write:\n  mode: merge\n  key: [id]\nretries:\n  attempts: 5\n  backoff: 2s\ntransform: |\n  SELECT * FROM source;\n',
      }),
    );
    expect(j.chunking).toMatchObject({ kind: 'time', timezone: 'Europe/Berlin', step: { n: 3, unit: 'month' } });
    expect(j.chunking.from).toBe(Date.UTC(2021, 1, 28, 23));
    expect(j.chunking.to).toBe(Date.UTC(2022, 2, 1));
    expect(j.write).toEqual({ mode: 'merge', key: ['id'] });
    expect(j.retries).toEqual({ attempts: 5, backoffMs: 2000, maxBackoffMs: 30_000 });
    expect(j.transform).toBe('SELECT * FROM source');
  });

  it('key chunking with size and integer bounds', () => {
    const j = parse(job({ chunk: 'chunk:\n  column: id\n  size: 1000\n  from: -5000\n  to: "99999999999999999999"' }));
    expect(j.chunking).toEqual({ kind: 'key', column: 'id', size: 1000n, from: -5000n, to: 99999999999999999999n });
  });
});

describe('the README', () => {
  it('shows a job file that is valid as written, every field of it', () => {
    const readme = fs.readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'README.md'), 'utf8');
    const block = readme.split('```yaml\n')[1]?.split('```')[0] ?? '';
    expect(block).toContain('name: events-history');
    const parsed = parse(block);
    expect(parsed.write.mode).toBe('merge');
    expect(parsed.duckdb.settings).toEqual({ allocator_bulk_deallocation_flush_threshold: '16MiB' });
  });
});

describe('parseJobText: errors name the field', () => {
  it('unknown top-level key', () => {
    const err = specError(job({ source: 'sourcee:\n  type: csv\n  path: x.csv' }));
    expect(err.message).toContain('sourcee');
    expect(err.message).toContain('unknown field');
    expect(issue(err, 'sourcee')?.message).toBe('unknown field');
    // the real field is now missing
    expect(issue(err, 'source')?.message).toBe('required');
  });

  it('duckdb.settings: a setting the engine manages, and a name that is not one', () => {
    const err = specError(job({ duckdb: 'duckdb:\n  settings:\n    threads: 8\n    Memory_Limit: 1GB\n    "bad name": 1\n    allocator_flush_threshold: 64MB' }));
    expect(issue(err, 'duckdb.settings.threads')?.message).toBe('set with duckdb.threads');
    expect(issue(err, 'duckdb.settings.Memory_Limit')?.message).toBe('set with duckdb.memoryLimit');
    expect(issue(err, 'duckdb.settings.bad name')?.message).toBe('not a DuckDB setting name (letters, digits and _)');
    expect(issue(err, 'duckdb.settings.allocator_flush_threshold')).toBeUndefined();
    const ok = parse(job({ duckdb: 'duckdb:\n  settings: { allocator_flush_threshold: 64MB, enable_progress_bar: false }' }));
    expect(ok.duckdb.settings).toEqual({ allocator_flush_threshold: '64MB', enable_progress_bar: false });
  });

  it('unknown nested key chunk.evry', () => {
    const err = specError(job({ chunk: 'chunk:\n  column: ts\n  every: 1 day\n  evry: 1 day' }));
    expect(err.message).toContain('chunk.evry');
    expect(issue(err, 'chunk.evry')?.message).toBe('unknown field');
  });

  it('chunk.every with an unknown unit', () => {
    const err = specError(job({ chunk: 'chunk:\n  column: ts\n  every: 3 fortnights' }));
    expect(err.message).toContain('chunk.every');
    expect(err.message).toContain('unknown unit');
    expect(issue(err, 'chunk.every')?.message).toMatch(/unknown unit "fortnights"/);
  });

  it('both every and size', () => {
    const err = specError(job({ chunk: 'chunk:\n  column: ts\n  every: 1 day\n  size: 100' }));
    expect(err.message).toMatch(/exactly one of every .*, size .* or rows/);
    expect(err.issues.some((i) => i.path.startsWith('chunk') && /exactly one of every/.test(i.message))).toBe(true);
  });

  it('neither every nor size', () => {
    const err = specError(job({ chunk: 'chunk:\n  column: ts' }));
    expect(err.message).toMatch(/exactly one of every/);
  });

  it('unknown source type', () => {
    const err = specError(job({ source: 'source:\n  type: excel\n  path: x.xlsx' }));
    expect(err.message).toContain('source.type');
    expect(err.message).toContain('unknown type "excel"');
    expect(issue(err, 'source.type')?.message).toMatch(/^unknown type "excel"; one of csv, jsonl, parquet, duckdb, postgres, mysql, avro$/);
  });

  it('missing source type and unknown target type', () => {
    const err = specError(job({ source: 'source:\n  path: x.csv', target: 'target:\n  type: s3\n  path: x' }));
    expect(issue(err, 'source.type')?.message).toMatch(/^missing; one of csv/);
    expect(issue(err, 'target.type')?.message).toMatch(/unknown type "s3"; one of parquet, duckdb/);
  });

  it('merge without key names write.key', () => {
    const err = specError(job({ extra: 'write:\n  mode: merge' }));
    expect(err.message).toContain('write.key');
    expect(issue(err, 'write.key')?.message).toMatch(/merge mode needs the key/);
  });

  it('bad time zone names chunk.timezone', () => {
    const err = specError(job({ chunk: 'chunk:\n  column: ts\n  every: 1 day\n  timezone: Mars/Olympus' }));
    expect(err.message).toContain('chunk.timezone');
    expect(issue(err, 'chunk.timezone')?.message).toMatch(/unknown time zone "Mars\/Olympus"/);
  });

  it('bad from/to name chunk.from / chunk.to', () => {
    const err = specError(job({ chunk: 'chunk:\n  column: ts\n  every: 1 day\n  from: "not a date"' }));
    expect(issue(err, 'chunk.from')?.message).toMatch(/not an ISO date/);
    const err2 = specError(job({ chunk: 'chunk:\n  column: ts\n  every: 1 day\n  from: "2021-03-02"\n  to: "2021-03-01"' }));
    expect(issue(err2, 'chunk.to')?.message).toMatch(/must be after chunk.from/);
    const err3 = specError(job({ chunk: 'chunk:\n  column: id\n  size: 10\n  from: "abc"' }));
    expect(issue(err3, 'chunk.from')?.message).toMatch(/not an integer key/);
  });

  it('reports every bad field at once', () => {
    const err = specError(job({ name: 'name: "bad name!"', extra: 'concurrency: 0\nretries:\n  attempts: 0' }));
    const paths = err.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['name', 'concurrency', 'retries.attempts']));
  });

  it('a YAML syntax error names the line', () => {
    const err = specError('name: events\nsource:\n  type: csv\n  path: [a.csv\nchunk: {');
    expect(err.message).toContain('line');
    expect(err.issues.length).toBeGreaterThan(0);
    expect(err.issues[0]!.path).toMatch(/^line \d+, column \d+$/);
  });

  it('a duplicate key is a YAML error', () => {
    const err = specError(VALID + 'name: again\n');
    expect(err.issues[0]!.path).toMatch(/^line \d+/);
  });

  it('a document that is not a mapping', () => {
    expect(specError('- a\n- b\n').issues).toEqual([{ path: '', message: expect.stringMatching(/YAML mapping/) }]);
    expect(specError('').message).toMatch(/YAML mapping/);
  });

  it('names the file in the message when given', () => {
    try {
      parseJobText('sourcee: 1', { file: 'jobs/x.yaml', baseDir: BASE, env: {} });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(JobSpecError);
      expect((err as JobSpecError).file).toBe('jobs/x.yaml');
      expect((err as Error).message).toMatch(/^invalid job jobs\/x\.yaml:/);
    }
  });
});

describe('parseJobText: ${VAR} interpolation', () => {
  const withOptions = (value: string): string => job({ source: `source:\n  type: csv\n  path: data/x.csv\n  options:\n    password: ${value}` });
  const options = (j: Job): Record<string, unknown> | undefined => (j.source.type === 'csv' ? (j.source.options as Record<string, unknown>) : undefined);

  it('substitutes variables from the env option', () => {
    const j = parse(withOptions('"${DB_PASSWORD}"'), { DB_PASSWORD: 's3cret' });
    expect(options(j)?.password).toBe('s3cret');
  });

  it('substitutes inside a longer string and in paths', () => {
    const j = parse(job({ source: 'source:\n  type: csv\n  path: "${DATA}/events-${KIND}.csv"' }), { DATA: 'raw', KIND: 'click' });
    expect(j.source.type === 'csv' ? j.source.path : undefined).toBe(path.join(BASE, 'raw/events-click.csv'));
  });

  it('a missing variable names the field path and the variable', () => {
    const err = specError(withOptions('"${DB_PASSWORD}"'), {});
    expect(err.issues).toEqual([{ path: 'source.options.password', message: 'environment variable DB_PASSWORD is not set' }]);
    expect(err.message).toContain('source.options.password');
    expect(err.message).toContain('DB_PASSWORD');
  });

  it('a missing variable inside a list names the index', () => {
    const err = specError(job({ source: 'source:\n  type: csv\n  path: [a.csv, "${MISSING_DIR}/b.csv"]' }), {});
    expect(issue(err, 'source.path.1')?.message).toBe('environment variable MISSING_DIR is not set');
  });

  it('${X:-fallback} uses the fallback when X is unset or empty, X otherwise', () => {
    expect(options(parse(withOptions('"${X:-fallback}"'), {}))?.password).toBe('fallback');
    expect(options(parse(withOptions('"${X:-fallback}"'), { X: '' }))?.password).toBe('fallback');
    expect(options(parse(withOptions('"${X:-fallback}"'), { X: 'set' }))?.password).toBe('set');
    expect(options(parse(withOptions('"pre${X:-}post"'), {}))?.password).toBe('prepost');
  });

  it('$$ is a literal $', () => {
    expect(options(parse(withOptions('"cost$$5"'), {}))?.password).toBe('cost$5');
    expect(options(parse(withOptions('"$${HOME}"'), {}))?.password).toBe('${HOME}');
  });

  it('a value containing YAML syntax stays a plain string', () => {
    const nasty = 'a: b\nc: [';
    const j = parse(withOptions('"${NASTY}"'), { NASTY: nasty });
    expect(options(j)?.password).toBe(nasty);
    const t = parse(job({ extra: 'transform: "${Q}"' }), { Q: 'SELECT 1 AS x FROM source\nwrite: {mode: merge}' });
    expect(t.transform).toBe('SELECT 1 AS x FROM source\nwrite: {mode: merge}');
    expect(t.write.mode).toBe('replace');
  });

  it('uses process.env when no env is given', () => {
    const name = 'BACKFILL_JOB_LOADER_TEST_VAR';
    process.env[name] = 'from-process';
    try {
      const j = parseJobText(job({ extra: `transform: "SELECT '\${${name}}' AS v FROM source"` }), { baseDir: BASE });
      expect(j.transform).toBe("SELECT 'from-process' AS v FROM source");
    } finally {
      delete process.env[name];
    }
  });
});

describe('loadJobFile', () => {
  it('resolves relative paths against the job file folder', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backfill-job-'));
    try {
      const file = path.join(dir, 'events.yaml');
      fs.writeFileSync(file, VALID);
      const j = loadJobFile(file, { env: {} });
      expect(j.baseDir).toBe(dir);
      expect(j.file).toBe(file);
      expect(j.source.type === 'csv' ? j.source.path : undefined).toBe(path.join(dir, 'data/events-*.csv'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing file is a JOB_FILE error', () => {
    const missing = path.join(os.tmpdir(), 'backfill-no-such-dir', 'nope.yaml');
    expect(() => loadJobFile(missing)).toThrow(BackfillError);
    expect(() => loadJobFile(missing)).toThrow(/no such file/);
    try {
      loadJobFile(missing);
    } catch (err) {
      expect((err as BackfillError).code).toBe('JOB_FILE');
    }
  });
});
