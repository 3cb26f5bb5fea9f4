// Smoke test of the benchmark script: a tiny run must finish, verify its lakes and print its tables.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { it, expect } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'bench.mjs');
const HEADER = '| run | layout | rows | seconds (median) | rows/s | peak RSS (MiB) |';

function run(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

it('runs the quick benchmark and reports a positive engine throughput', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'backfill-bench-test-'));
  try {
    const { code, stdout, stderr } = await run(['--quick', '--dir', dir]);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain(HEADER);
    // Columns: run | layout | rows | seconds | rows/s | …
    const engineRows = stdout
      .split('\n')
      .filter((line) => line.startsWith('| engine |'))
      .map((line) => line.split('|').map((cell) => cell.trim()));
    expect(engineRows.length).toBeGreaterThan(0);
    for (const cells of engineRows) {
      const rowsPerSec = Number((cells[5] ?? '').replaceAll(',', ''));
      expect(rowsPerSec).toBeGreaterThan(0);
    }
    // --quick writes no report.
    expect(existsSync(join(dir, 'benchmarks.md'))).toBe(false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
