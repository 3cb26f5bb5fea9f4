// Preloaded into a Node process (`--import`), samples where its memory is while it runs and, at exit,
// prints to stderr the peak, what is still live after a full collection (with --expose-gc), and about
// 20 samples across the run: V8's heap, its external memory (buffers), and the process's anonymous
// memory less both (native memory outside V8, from /proc/self/status: Linux only).
//
//   SAMPLE_MS=200 NODE_OPTIONS="--expose-gc --import ./scripts/memory-sampler.mjs" node scripts/bench-avro.mjs --rows 100000000 --reps 1 --only engine-avro
//
// (NODE_OPTIONS reaches the benchmark's child processes; each prints its own lines.)

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
  process.stderr.write(`${samples.filter((_, i) => i % step === 0).map((s) => `${s.t}s rss ${s.rss} heap ${s.heap} external ${s.external} native ${s.native}`).join(' | ')}\n`);
});
