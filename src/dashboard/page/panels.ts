// The panels around the chunk map: totals, the run's progress, failures with their retry commands, rejects, backups, incremental, throttle, workers.

import type { ChunkCell, JobSummary } from './view-types.js';
import { ago, bytes, commandBox, count, duration, h, pill, when } from './page-dom.js';

type Counts = { total: number; done?: number; pending?: number; running?: number; failed?: number };

export function cards(s: JobSummary, now: number): HTMLElement {
  const st = s.status as { counts: Counts; rows?: { read: number; written: number; rejected: number }; bytes?: number | null; bytesUnknown?: number };
  const c = st.counts;
  const pct = (n: number | undefined): string => `${c.total === 0 ? 0 : ((n ?? 0) * 100) / c.total}%`;
  const bar = h('div', { class: 'bar' });
  for (const [k, n] of [['done', c.done], ['running', c.running], ['failed', c.failed]] as const) {
    const seg = h('span', {});
    seg.style.width = pct(n);
    seg.style.background = `var(--${k})`;
    bar.append(seg);
  }
  const rows = st.rows;
  const est = s.throughput.estimatedRows;
  const p = s.progress;
  const rate = p?.rowsPerSecond ?? null;
  const runCard = p === null
    ? card('current run', 'none yet', `start one: ${s.commands.run}`)
    : card(
        p.status === 'running' ? 'current run' : 'last run',
        `${count(p.chunksDone)} / ${count(p.chunksTotal)}`,
        `${p.status}${p.chunksFailed > 0 ? `, ${p.chunksFailed} failed` : ''}, started ${ago(p.startedAt, now)}` +
          (p.status === 'running' ? (p.etaMs === null ? '; ETA after the first chunk' : `; ETA ${duration(p.etaMs)}`) : ''),
        'run',
      );
  return h(
    'div', { class: 'cards' },
    h('div', { class: 'card', 'data-testid': 'card-chunks' },
      h('div', { class: 'k' }, 'chunks done'),
      h('div', { class: 'v' }, `${count(c.done ?? 0)} / ${count(c.total)}`),
      h('div', { class: 'd' }, `${count(c.running ?? 0)} running, ${count(c.pending ?? 0)} pending, `, h('span', { 'data-testid': 'failed-count', style: (c.failed ?? 0) > 0 ? 'color: var(--failed); font-weight: 600' : undefined }, `${count(c.failed ?? 0)} failed`)),
      bar),
    card('rows read', count(rows?.read ?? 0), rows === undefined ? 'no runs yet' : `${count(rows.written)} written + ${count(rows.rejected)} rejected${est === null ? '' : `; ~${count(est)} estimated in all`}`, 'rows'),
    card('throughput', rate === null ? '–' : `${count(rate)} rows/s`, p === null ? '' : `${count(p.rowsWritten)} rows written by ${p.status === 'running' ? 'this' : 'the last'} run; ${bytes(st.bytes ?? null)} loaded`, 'rate'),
    runCard,
  );
}

function card(k: string, v: string, d: string, id?: string): HTMLElement {
  return h('div', { class: 'card', 'data-testid': id === undefined ? undefined : `card-${id}` }, h('div', { class: 'k' }, k), h('div', { class: 'v' }, v), h('div', { class: 'd' }, d));
}

export function failures(s: JobSummary, cells: readonly ChunkCell[]): HTMLElement {
  const failed = cells.filter((c) => c.status === 'failed');
  const body = failed.length === 0
    ? h('div', { class: 'empty' }, 'no failed chunks')
    : h('table', {},
        h('tr', {}, h('th', {}, 'chunk'), h('th', { class: 'num' }, 'attempts'), h('th', {}, 'error'), h('th', { class: 'wide' }, 'to retry it')),
        ...failed.map((c) => h('tr', { 'data-testid': 'failed-row', 'data-key': c.key },
          h('td', { class: 'nowrap' }, c.lo, h('br', {}), c.hi), h('td', { class: 'num' }, c.attempts), h('td', { class: 'err', 'data-testid': 'failed-error' }, c.error ?? ''),
          h('td', {}, c.retry === null ? '' : commandBox(c.retry, 'retry-cmd', c.key)))));
  return h('section', { 'data-testid': 'failed' }, h('h2', {}, `Failed chunks (${failed.length})`),
    s.commands.retryFailed === null ? null : h('p', {}, 'all of them: ', commandBox(s.commands.retryFailed, 'retry-all')), body);
}

export function rejects(s: JobSummary): HTMLElement {
  const r = (s.status as { rejects?: { dir: string; chunks: { key: string; rejected: number | null; file: string }[] } }).rejects;
  const list = r?.chunks ?? [];
  return h('section', { 'data-testid': 'rejects' }, h('h2', {}, `Rejected rows (${list.length} chunk${list.length === 1 ? '' : 's'})`),
    r === undefined ? null : h('p', { class: 'muted' }, 'kept in ', h('code', { class: 'cmd' }, s.rejectsDir)),
    list.length === 0 ? h('div', { class: 'empty' }, 'no rows rejected') : h('table', {},
      h('tr', {}, h('th', {}, 'chunk'), h('th', { class: 'num' }, 'rows'), h('th', {}, 'file')),
      ...list.slice(0, 200).map((x) => h('tr', {}, h('td', {}, x.key), h('td', { class: 'num' }, x.rejected === null ? 'failed' : count(x.rejected)), h('td', {}, h('code', { class: 'cmd' }, x.file))))));
}

export function backups(s: JobSummary): HTMLElement {
  return h('section', { 'data-testid': 'backups' }, h('h2', {}, `Backups (${s.backups.length} run${s.backups.length === 1 ? '' : 's'})`),
    s.backups.length === 0 ? h('div', { class: 'empty' }, 'no backups: runs that replace or merge back up what they change first') : h('table', {},
      h('tr', {}, h('th', {}, 'run'), h('th', {}, 'taken'), h('th', { class: 'num' }, 'chunks'), h('th', { class: 'num' }, 'rows'), h('th', { class: 'num' }, 'size'), h('th', { class: 'wide' }, 'to undo the run')),
      ...s.backups.map((b) => h('tr', {}, h('td', { class: 'nowrap' }, b.runId), h('td', { class: 'nowrap' }, when(b.createdAt)), h('td', { class: 'num' }, count(b.chunks)), h('td', { class: 'num' }, count(b.rows)), h('td', { class: 'num nowrap' }, bytes(b.bytes)),
        h('td', {}, b.restoredAt === null ? commandBox(b.rollback, 'rollback-cmd') : `restored ${when(b.restoredAt)}`)))));
}

/** Incremental watermark and lag, the throttle and the gaps, when the status document holds them. */
export function state(s: JobSummary, now: number): HTMLElement | null {
  const st = s.status as Record<string, unknown>;
  const items: HTMLElement[] = [];
  const inc = st['incremental'] as { cursor: string; phase: string; watermark: string; behindMs?: number; window?: { lo: string; hi: string }; windowChunks: Counts } | undefined;
  if (inc !== undefined && inc !== null) {
    items.push(h('section', { 'data-testid': 'incremental' }, h('h2', {}, 'Incremental'), h('dl', { class: 'kv' },
      h('dt', {}, 'cursor'), h('dd', {}, inc.cursor),
      h('dt', {}, 'phase'), h('dd', {}, inc.phase === 'history' ? 'first full backfill not complete' : 'windows past the watermark'),
      h('dt', {}, 'watermark'), h('dd', {}, inc.watermark),
      h('dt', {}, 'lag'), h('dd', {}, inc.behindMs === undefined ? '–' : `${duration(inc.behindMs)} behind now`),
      h('dt', {}, 'last window'), h('dd', {}, inc.window === undefined ? '–' : `${inc.window.lo} … ${inc.window.hi}`))));
  }
  const throttle = st['throttle'];
  if (throttle !== undefined && throttle !== null) items.push(h('section', { 'data-testid': 'throttle' }, h('h2', {}, 'Throttle'), generic(throttle)));
  const gaps = (st['gaps'] as { lo: string; hi: string; chunks: number }[] | undefined) ?? [];
  if (gaps.length > 0) {
    items.push(h('section', { 'data-testid': 'gaps' }, h('h2', {}, `Gaps in history (${gaps.length})`), h('table', {},
      h('tr', {}, h('th', {}, 'from'), h('th', {}, 'to'), h('th', { class: 'num' }, 'chunks not done')),
      ...gaps.slice(0, 50).map((g) => h('tr', {}, h('td', {}, g.lo), h('td', {}, g.hi), h('td', { class: 'num' }, g.chunks))))));
  }
  void now;
  return items.length === 0 ? null : h('div', { class: 'two' }, ...items);
}

/** Any document as a table: `name`, `value`, `threshold`, `reason` … shown as they come, nested ones as rows of their own. */
function generic(value: unknown): HTMLElement {
  if (Array.isArray(value)) {
    const keys = [...new Set(value.flatMap((v) => (v !== null && typeof v === 'object' ? Object.keys(v) : [])))];
    return h('table', {}, h('tr', {}, ...keys.map((k) => h('th', {}, k))),
      ...value.map((v) => h('tr', {}, ...keys.map((k) => h('td', {}, text((v as Record<string, unknown>)[k]))))));
  }
  if (value !== null && typeof value === 'object') {
    return h('dl', { class: 'kv' }, ...Object.entries(value).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v !== null && typeof v === 'object' ? generic(v) : text(v))]));
  }
  return h('div', {}, text(value));
}

function text(v: unknown): string {
  return v === undefined || v === null ? '–' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export function workers(s: JobSummary, now: number): HTMLElement {
  return h('section', { 'data-testid': 'workers' }, h('h2', {}, 'Runs and workers'),
    s.workers.length === 0 ? h('div', { class: 'empty' }, 'no runs yet') : h('table', {},
      h('tr', {}, h('th', {}, 'run'), h('th', {}, 'host'), h('th', { class: 'num' }, 'pid'), h('th', {}, 'status'), h('th', {}, 'heartbeat'), h('th', {}, 'started'), h('th', {}, 'took')),
      ...s.workers.map((w) => h('tr', {}, h('td', {}, w.runId), h('td', {}, w.host), h('td', { class: 'num' }, w.pid),
        h('td', {}, w.status === 'running' ? pill(w.alive ? 'running, alive' : 'running, process gone', w.alive ? 'alive' : 'gone') : pill(w.status, w.status)),
        h('td', {}, w.status === 'running' ? ago(w.heartbeatAt, now) : '–'), h('td', {}, when(w.startedAt)),
        h('td', {}, w.finishedAt === null ? (w.status === 'running' ? duration(now - w.startedAt) : '–') : duration(w.finishedAt - w.startedAt))))));
}
