// The dashboard page: one Server-Sent Events stream of every job's ledger changes, drawn without reloading.

import type { ChunkCell, JobView, ViewUpdate } from './view-types.js';
import { ChunkMap } from './heatmap.js';
import { backups, cards, failures, rejects, state, workers } from './panels.js';
import { ThroughputChart } from './throughput-chart.js';
import { append, h } from './page-dom.js';
import './style.css';

interface JobState {
  view: JobView;
  cells: Map<string, ChunkCell>;
}

const jobs = new Map<string, JobState>();
const tip = document.getElementById('tip') as HTMLElement;
const tabs = document.getElementById('tabs') as HTMLElement;
const main = document.getElementById('job') as HTMLElement;
const live = document.getElementById('live') as HTMLElement;
let selected = decodeURIComponent(location.hash.replace(/^#job=/, ''));
let map = new ChunkMap(tip);
let chart = new ThroughputChart();
let drawnJob = '';
let lastUpdate = 0;

// The token, when the address carried one, is now a cookie: keep it out of the address bar and history.
if (new URLSearchParams(location.search).has('token')) history.replaceState(null, '', location.pathname + location.hash);

function apply(update: ViewUpdate): void {
  if (update.type === 'snapshot') {
    jobs.set(update.job, { view: update.view, cells: new Map(update.view.cells.map((c) => [c.key, c])) });
  } else {
    const job = jobs.get(update.job);
    if (job === undefined) return;
    for (const key of update.removed) job.cells.delete(key);
    for (const c of update.changed) job.cells.set(c.key, c);
    const cells = [...job.cells.values()];
    // New keys arrive at the end of the map: keep the ledger's order (kind, then bounds).
    if (update.changed.some((c) => !job.view.cells.some((old) => old.key === c.key))) cells.sort(order);
    job.view = { summary: update.summary, cells };
  }
  lastUpdate = Date.now();
  if (selected === '' || !jobs.has(selected)) selected = [...jobs.keys()][0] ?? '';
  draw();
}

function order(a: ChunkCell, b: ChunkCell): number {
  if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
  if (a.kind === 'key') return Number(BigInt(a.lo) - BigInt(b.lo) > 0n) - Number(BigInt(a.lo) - BigInt(b.lo) < 0n);
  return a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0;
}

function draw(): void {
  tabs.replaceChildren(...[...jobs.values()].map(({ view }) => {
    const c = view.summary.status.counts as { total: number; done?: number; failed?: number };
    const b = h('button', { type: 'button', class: view.summary.job === selected ? 'on' : '', 'data-job': view.summary.job },
      view.summary.job, h('span', { class: 'badge' }, `${c.done ?? 0}/${c.total}`), (c.failed ?? 0) > 0 ? h('span', { class: 'badge bad' }, `${c.failed} failed`) : null);
    b.addEventListener('click', () => {
      selected = view.summary.job;
      location.hash = `job=${encodeURIComponent(selected)}`;
      draw();
    });
    return b;
  }));
  const job = jobs.get(selected);
  if (job === undefined) return;
  if (drawnJob !== selected) {
    map = new ChunkMap(tip);
    chart = new ThroughputChart();
    drawnJob = selected;
  }
  const { summary, cells } = job.view;
  const now = summary.readAt;
  map.render(cells);
  const legend = h('div', { class: 'legend' }, ...(['done', 'running', 'failed', 'pending'] as const).map((s) => h('span', {}, h('i', { style: `background: var(--${s})` }), s)),
    h('span', {}, h('i', { style: 'background: #fff; box-shadow: inset 0 0 0 2px var(--warn)' }), 'has rejected rows'), h('span', {}, 'darker: more rows'));
  const panels = state(summary, now);
  main.replaceChildren();
  append(main, [
    h('h1', { 'data-testid': 'job-name' }, summary.job),
    h('div', { class: 'sub' }, `${summary.file} · ${summary.source} → ${summary.target} · ledger ${summary.ledger}`),
    cards(summary, now),
    h('section', {}, h('h2', {}, `Chunks (${cells.length})`), legend, map.element),
    failures(summary, cells),
    h('div', { class: 'two' }, h('section', {}, h('h2', {}, 'Throughput'), chart.element), rejects(summary)),
    h('div', { style: 'height: 14px' }),
    panels,
    panels === null ? null : h('div', { style: 'height: 14px' }),
    backups(summary),
    workers(summary, now),
  ]);
  chart.render(summary.throughput);
}

function connect(): void {
  const events = new EventSource('/api/events');
  const on = (e: MessageEvent<string>): void => apply(JSON.parse(e.data) as ViewUpdate);
  events.addEventListener('snapshot', on);
  events.addEventListener('delta', on);
  events.addEventListener('open', () => {
    live.className = 'live on';
    live.textContent = 'live';
  });
  events.addEventListener('error', () => {
    live.className = 'live off';
    live.textContent = 'reconnecting…';
  });
}

setInterval(() => {
  if (live.className === 'live on' && lastUpdate > 0) live.textContent = `live · updated ${Math.round((Date.now() - lastUpdate) / 1000)} s ago`;
}, 1000);
connect();
