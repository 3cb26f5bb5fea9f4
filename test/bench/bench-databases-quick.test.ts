// Smoke test of the database benchmark script: a tiny run against the real servers must load every
// path, check its row counts, and print its tables.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { ensureMariadb, ensurePostgres } from '../helpers/services.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'bench-databases.mjs');

beforeAll(async () => {
  await ensurePostgres();
  await ensureMariadb();
});

it('runs the quick database benchmark: every path loads every row and reports a throughput', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'backfill-bench-db-test-'));
  try {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done, reject) => {
      const child = spawn(process.execPath, [SCRIPT, '--quick', '--dir', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (c) => done({ code: c, stdout: out, stderr: err }));
    });
    expect(code, stderr).toBe(0);
    const rows = new Map(
      stdout
        .split('\n')
        .filter((l) => l.startsWith('| ') && !l.startsWith('| run') && !l.startsWith('| goal'))
        .map((l) => l.split('|').map((c) => c.trim()))
        .filter((cells) => cells.length === 6)
        .map((cells) => [cells[1] as string, { rows: Number((cells[2] ?? '').replaceAll(',', '')), rate: Number((cells[4] ?? '').replaceAll(',', '')) }]),
    );
    for (const label of [
      'psql \\copy (CSV → indexed table)',
      'engine CSV → PostgreSQL, append',
      'engine CSV → PostgreSQL, merge',
      'engine CSV → PostgreSQL, merge over all keys present (10% changed)',
      'one INSERT per row (node pg, first 2,000 rows)',
      'multi-row INSERT, 1,000 rows per statement (node pg, first 20,000 rows)',
      'engine PostgreSQL → PostgreSQL (other database, COPY stream)',
      'engine CSV → MySQL, append',
    ]) {
      const row = rows.get(label);
      expect(row, `${label} in\n${stdout}`).toBeDefined();
      expect(row?.rate).toBeGreaterThan(0);
    }
    expect(rows.get('engine CSV → PostgreSQL, append')?.rows).toBe(20_000);
    expect(stdout).toMatch(/\| file → PostgreSQL append vs psql \\copy \| \d+\.\d\d× \| ≥ 0\.8× \| (yes|\*\*no\*\*) \|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 240_000);
