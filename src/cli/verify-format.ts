// Human output of `verify` and `plan --diff`: short tables, mismatches first.

import type { DiffReport } from '../engine/safety/diff-chunks.js';
import type { VerifyReport } from '../engine/safety/verify-backfill.js';
import { formatCount } from './format.js';

export function printVerify(r: VerifyReport, print: (line: string) => void): void {
  print(`job ${r.job}: ${r.target}`);
  if (r.chunks.length === 0) {
    print(r.selection === 'done' ? 'no done chunks to verify (use --all for every planned chunk)' : 'no chunks to verify');
    return;
  }
  const bad = r.chunks.filter((c) => !c.match);
  if (bad.length > 0) {
    const width = Math.max(10, ...bad.map((c) => c.lo.length));
    print(`${'lo'.padEnd(width)}  ${'hi'.padEnd(width)}  ${'source rows'.padStart(12)}  ${'target rows'.padStart(12)}  checksums`);
    for (const c of bad) {
      const sums = c.source.checksum === c.target.checksum ? 'equal' : `${c.source.checksum} ≠ ${c.target.checksum}`;
      print(`${c.lo.padEnd(width)}  ${c.hi.padEnd(width)}  ${formatCount(c.source.rows).padStart(12)}  ${formatCount(c.target.rows).padStart(12)}  ${sums}`);
    }
    print('');
  }
  const rows = r.chunks.reduce((n, c) => n + c.target.rows, 0);
  print(`${r.counts.total} chunks verified (${formatCount(rows)} target rows): ${r.counts.matched} match, ${r.counts.mismatched} differ`);
}

export function printDiff(d: DiffReport, print: (line: string) => void): void {
  const by = d.matchBy === 'key' ? ` by key (${d.key.join(', ')})` : d.matchBy === 'row' ? ' by whole rows' : '';
  print(`job ${d.job}: ${d.mode} into ${d.target}${by}`);
  const width = Math.max(10, ...d.chunks.map((c) => c.lo.length));
  const head = ['rows', 'insert', 'update', 'delete', 'unchanged'].map((h) => h.padStart(10)).join('  ');
  print(`${'lo'.padEnd(width)}  ${'hi'.padEnd(width)}  ${head}`);
  for (const c of d.chunks) {
    const cells = [c.rows, c.inserted, c.updated, c.deleted, c.unchanged].map((n) => formatCount(n).padStart(10)).join('  ');
    print(`${c.lo.padEnd(width)}  ${c.hi.padEnd(width)}  ${cells}`);
  }
  const t = d.totals;
  print('');
  print(`${d.chunks.length} chunks: ${formatCount(t.inserted)} to insert, ${formatCount(t.updated)} to update, ${formatCount(t.deleted)} to delete, ${formatCount(t.unchanged)} unchanged`);
}
