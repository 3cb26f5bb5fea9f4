// Preloaded into a Node process (`--import`), samples where its memory is while it runs and, at exit,
// prints to stderr the peak, what is still live after a full collection (with --expose-gc), and about
// 20 samples across the run: V8's heap, its external memory (buffers), and the process's anonymous
// memory less both (native memory outside V8, from /proc/self/status: Linux only).
//
//   SAMPLE_MS=200 NODE_OPTIONS="--expose-gc --import ./scripts/memory-sampler.mjs" node scripts/bench-avro.mjs --rows 100000000 --reps 1 --only engine-avro
//
// (NODE_OPTIONS reaches the benchmark's child processes; each prints its own lines.)
//
// SAMPLE_MAPS=1 adds, every 10 s, where the anonymous memory lies by mapping (/proc/self/smaps):
// `brk` glibc's main arena (the main thread's malloc), `arenas` glibc's per-thread arenas (the
// 64 MiB-aligned heaps other threads malloc from: libuv's pool, DuckDB's threads; their count in
// brackets), `other` the rest (V8's heap, large mmapped allocations, thread stacks, DuckDB's own
// allocator), and `file` the mapped files (code).

import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';

const every = Number(process.env.SAMPLE_MS ?? 200);
const MiB = (b) => Math.round(b / 2 ** 20);
const anon = () => {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('RssAnon:'));
  return line === undefined ? NaN : Math.round(parseInt(line.split(':')[1], 10) / 1024);
};
const samples = [];
let fullGcs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.detail?.kind === 2 || e.detail?.kind === 4) fullGcs++;
}).observe({ entryTypes: ['gc'] });
const t0 = Date.now();
setInterval(() => {
  const m = process.memoryUsage();
  const a = anon();
  samples.push({ t: Math.round((Date.now() - t0) / 1000), rss: MiB(m.rss), heap: MiB(m.heapTotal), external: MiB(m.external), native: a - MiB(m.heapTotal) - MiB(m.external) });
}, every).unref();
const HEAP_MAX = 64n * 1024n * 1024n;
const maps = [];
const mapSample = () => {
  const sums = { brk: 0, arenas: 0, count: 0, other: 0, file: 0 };
  let at = null;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (m !== null) {
      at = { start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), perm: m[3], inode: m[4], name: m[5] };
    } else if (at !== null && line.startsWith('Rss:')) {
      const kb = parseInt(line.slice(4), 10);
      if (at.name === '[heap]') sums.brk += kb;
      else if (at.inode !== '0') sums.file += kb;
      else if (at.start % HEAP_MAX === 0n && at.end - at.start <= HEAP_MAX && at.perm.startsWith('rw')) {
        sums.arenas += kb;
        if (kb > 0) sums.count++;
      } else sums.other += kb;
    }
  }
  const m = (kb) => Math.round(kb / 1024);
  maps.push(`${Math.round((Date.now() - t0) / 1000)}s brk ${m(sums.brk)} arenas ${m(sums.arenas)} (${sums.count}) other ${m(sums.other)} file ${m(sums.file)}`);
};
if (process.env.SAMPLE_MAPS === '1') setInterval(mapSample, 10_000).unref();
process.on('exit', () => {
  let live;
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    const m = process.memoryUsage();
    live = { heapUsed: MiB(m.heapUsed), external: MiB(m.external), rss: MiB(m.rss) };
  }
  const peakMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  const step = Math.max(1, Math.floor(samples.length / 20));
  process.stderr.write(`memory pid ${process.pid}: peak ${peakMiB} MiB, ${fullGcs} full collections, live after one ${JSON.stringify(live ?? 'unknown (no --expose-gc)')}\n`);
  if (maps.length > 0) process.stderr.write(`maps: ${maps.join(' | ')}\n`);
  process.stderr.write(`${samples.filter((_, i) => i % step === 0).map((s) => `${s.t}s rss ${s.rss} heap ${s.heap} external ${s.external} native ${s.native}`).join(' | ')}\n`);
});
