// `backfill profile <job>`: prints what the job's source holds — figures with where each came from, rows per chunk as bars, problems with their fixes.

import type { Command } from 'commander';
import { loadJobFile } from '../job/job-loader.js';
import { profileJob, type ProfileReport } from '../engine/profile/profile-job.js';
import { formatBytes, formatCount, formatDuration } from './format.js';

/** Bars at most this wide, and at most this many lines of them (chunks are grouped beyond). */
const BAR_WIDTH = 40;
const MAX_BAR_LINES = 36;

export function addProfileCommand(program: Command, print: (line: string) => void): void {
  program
    .command('profile')
    .description('understand the data before a backfill: rows, bytes, rows per chunk, skew, NULLs, key uniqueness, missing indexes, an estimated duration, the chunking to use (changes nothing)')
    .argument('<job>', 'job file (YAML)')
    .option('--exact', 'count rows per chunk with one aggregate query instead of reading statistics')
    .option('--no-estimate', 'skip timing a sampled chunk into a scratch target')
    .option('--json', 'print the profile as JSON')
    .action(async (file: string, flags: { exact?: boolean; estimate: boolean; json?: boolean }) => {
      const report = await profileJob(loadJobFile(file), { exact: flags.exact === true, estimate: flags.estimate });
      if (flags.json === true) print(JSON.stringify(report, null, 2));
      else printProfile(report, print);
    });
}

export function printProfile(r: ProfileReport, print: (line: string) => void): void {
  const figure = (f: { value: number; source: string } | undefined, format: (n: number) => string = formatCount): string =>
    f === undefined ? 'unknown' : `${format(f.value)}  (${f.source})`;
  print(`${r.job}: ${r.source}`);
  print(`  rows       ${figure(r.rows)}`);
  print(`  bytes      ${figure(r.bytes, formatBytes)}`);
  print(`  ${r.column}  ${r.min ?? '–'} … ${r.max ?? '–'}`);
  print(`  NULL ${r.column}: ${figure(r.nullRows)}${(r.nullRows?.value ?? 0) > 0 ? ' — rejected by a run' : ''}`);
  if (r.duplicates !== undefined) {
    const eg = r.duplicates.examples.map((e) => `${e.key} ×${e.rows}`).join(', ');
    print(`  duplicate merge keys: ${figure(r.duplicates)}${eg === '' ? '' : `, e.g. ${eg}`}`);
  }
  print('');
  // `1 month`, `1000000 keys` read as steps; a one-chunk or rows-cut job says what it is.
  print(`rows per chunk (${/^\d/.test(r.chunking) ? `every ${r.chunking}` : r.chunking}; ${r.perChunk.source}):`);
  for (const line of bars(r.perChunk.chunks)) print(`  ${line}`);
  const s = r.skew;
  print('');
  print(`skew: largest ${formatCount(s.largest?.rows ?? 0)} rows, median ${formatCount(Math.round(s.median))}${s.ratio > 0 ? ` (${s.ratio.toFixed(1)}×)` : ''}; ${s.empty} empty chunk(s)`);
  for (const c of s.heaviest) print(`  ${c.lo} … ${c.hi}  ${formatCount(c.rows)}`);
  print('');
  if (r.estimate.seconds !== undefined) print(`estimated duration: ${formatDuration(Math.round(r.estimate.seconds * 1000))}  (${r.estimate.source})`);
  else print(`estimated duration: ${r.estimate.source}`);
  if (r.recommended !== undefined) print(`recommended: ${r.recommended.setting}, concurrency: ${r.recommended.concurrency}  (${r.recommended.reason})`);
  if (r.problems.length > 0) {
    print('');
    print(`problems (${r.problems.length}):`);
    for (const p of r.problems) {
      print(`  ✗ ${p.message}`);
      print(`    fix: ${p.fix}`);
    }
  }
  print('');
  print(`profiled in ${formatDuration(Math.round(r.profileSeconds * 1000))}`);
}

/** One bar per chunk, or per group of consecutive chunks when there are many (the group's total). */
export function bars(chunks: readonly { lo: string; hi: string; rows: number }[]): string[] {
  const per = Math.max(1, Math.ceil(chunks.length / MAX_BAR_LINES));
  const groups: { lo: string; hi: string; rows: number }[] = [];
  for (let i = 0; i < chunks.length; i += per) {
    const part = chunks.slice(i, i + per);
    groups.push({ lo: part[0]?.lo ?? '', hi: part[part.length - 1]?.hi ?? '', rows: part.reduce((a, c) => a + c.rows, 0) });
  }
  const most = Math.max(1, ...groups.map((g) => g.rows));
  const label = (g: { lo: string; hi: string }): string => (per === 1 ? g.lo : `${g.lo} … ${g.hi}`);
  const width = Math.max(0, ...groups.map((g) => label(g).length));
  return groups.map((g) => {
    const n = Math.round((g.rows / most) * BAR_WIDTH);
    return `${label(g).padEnd(width)}  ${'#'.repeat(n === 0 && g.rows > 0 ? 1 : n).padEnd(BAR_WIDTH)}  ${formatCount(g.rows)}`;
  });
}
