// The chunk map: time chunks on a calendar (one row per day, month or year, one cell per chunk), key and window chunks as strips.

import type { ChunkCell } from './view-types.js';
import { append, bytes, count, duration, h } from './page-dom.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Layout {
  readonly rowOf: (mid: number) => { key: string; label: string; start: number };
  readonly columns: number;
  readonly columnOf: (mid: number, rowStart: number) => number;
  readonly headers: readonly string[];
}

const MONTHS = ['J', 'F', 'M', 'A', 'M', 'J', 'J', 'A', 'S', 'O', 'N', 'D'];

/** Rows and columns from the chunks' usual width; the chunk's midpoint decides its row, so zone offsets never shift a chunk into the previous period. */
function layoutFor(widthMs: number): Layout {
  const day = (t: number): { key: string; label: string; start: number } => {
    const d = new Date(t);
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    const label = new Date(start).toISOString().slice(0, 10);
    return { key: label, label, start };
  };
  const month = (t: number): { key: string; label: string; start: number } => {
    const d = new Date(t);
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    const label = new Date(start).toISOString().slice(0, 7);
    return { key: label, label, start };
  };
  const year = (t: number): { key: string; label: string; start: number } => {
    const y = new Date(t).getUTCFullYear();
    return { key: String(y), label: String(y), start: Date.UTC(y, 0, 1) };
  };
  if (widthMs <= HOUR * 1.5) {
    const columns = Math.max(1, Math.round(DAY / widthMs));
    return { rowOf: day, columns, columnOf: (mid, s) => Math.floor((mid - s) / widthMs), headers: Array.from({ length: columns }, (_, i) => (columns === 24 && i % 3 === 0 ? String(i) : '')) };
  }
  if (widthMs <= DAY * 1.5) {
    return { rowOf: month, columns: 31, columnOf: (mid) => new Date(mid).getUTCDate() - 1, headers: Array.from({ length: 31 }, (_, i) => (i % 5 === 0 ? String(i + 1) : '')) };
  }
  if (widthMs <= DAY * 8) {
    return { rowOf: year, columns: 53, columnOf: (mid, s) => Math.floor((mid - s) / (7 * DAY)), headers: Array.from({ length: 53 }, (_, i) => (i % 4 === 0 ? `w${i + 1}` : '')) };
  }
  if (widthMs <= DAY * 32) {
    return { rowOf: year, columns: 12, columnOf: (mid) => new Date(mid).getUTCMonth(), headers: MONTHS };
  }
  return { rowOf: () => ({ key: 'all', label: '', start: 0 }), columns: 0, columnOf: () => -1, headers: [] };
}

export class ChunkMap {
  private readonly cells = new Map<string, HTMLElement>();
  private shape: string | undefined;
  private maxRows = 1;
  readonly element = h('div', { 'data-testid': 'heatmap' });

  constructor(private readonly tip: HTMLElement) {}

  /** Draw every chunk; redraws the layout only when the set of chunks changed. */
  render(all: readonly ChunkCell[]): void {
    const shape = all.map((c) => c.key).join('\n');
    this.maxRows = Math.max(1, ...all.map((c) => c.rowsRead ?? 0));
    if (shape !== this.shape) {
      this.shape = shape;
      this.build(all);
      return;
    }
    for (const c of all) this.update(c);
  }

  private build(all: readonly ChunkCell[]): void {
    this.cells.clear();
    this.element.replaceChildren();
    const time = all.filter((c) => c.kind === 'time' && !c.window);
    // Key ranges, value ranges (chunk.rows on text, UUID or composite keys) and a job's one whole-source chunk: a strip in ledger order.
    const keys = all.filter((c) => c.kind !== 'time' && !c.window);
    const windows = all.filter((c) => c.window);
    if (time.length > 0) this.element.append(this.calendar(time));
    if (keys.length > 0) this.element.append(h('div', { class: 'muted' }, keys[0]?.kind === 'all' ? 'one chunk: the whole source' : `${keys[0]?.kind === 'range' ? 'value' : 'key'} ranges ${keys[0]?.lo} … ${keys[keys.length - 1]?.hi}`), this.strip(keys));
    if (windows.length > 0) this.element.append(h('div', { class: 'muted' }, 'incremental windows'), this.strip(windows));
    if (all.length === 0) this.element.append(h('div', { class: 'empty' }, 'no chunks in the ledger yet'));
  }

  private calendar(time: readonly ChunkCell[]): HTMLElement {
    const widths = time.map((c) => Date.parse(c.hi) - Date.parse(c.lo)).sort((a, b) => a - b);
    const layout = layoutFor(widths[Math.floor(widths.length / 2)] ?? DAY);
    const rows = new Map<string, { label: string; cells: { col: number; cell: ChunkCell }[] }>();
    for (const c of time) {
      const mid = (Date.parse(c.lo) + Date.parse(c.hi)) / 2;
      const row = layout.rowOf(mid);
      const entry = rows.get(row.key) ?? { label: row.label, cells: [] };
      entry.cells.push({ col: layout.columnOf(mid, row.start), cell: c });
      rows.set(row.key, entry);
    }
    const columns = layout.columns > 0 ? layout.columns : Math.max(...[...rows.values()].map((r) => r.cells.length));
    const grid = h('div', { class: 'grid' });
    grid.style.gridTemplateColumns = `max-content repeat(${columns}, minmax(10px, 18px))`;
    if (layout.headers.length > 0) {
      grid.append(h('span', {}));
      for (const label of layout.headers) grid.append(h('span', { class: 'ch' }, label));
    }
    let line = layout.headers.length > 0 ? 2 : 1;
    for (const row of rows.values()) {
      const label = h('span', { class: 'rl' }, row.label);
      label.style.gridRow = String(line);
      label.style.gridColumn = '1';
      grid.append(label);
      const used = new Set<number>();
      row.cells.forEach(({ col, cell }, i) => {
        // A column outside the row, or taken twice (a DST day), falls back to the next free place.
        let at = col >= 0 && col < columns && !used.has(col) ? col : i;
        while (used.has(at) && at < columns - 1) at++;
        used.add(at);
        const el = this.cell(cell);
        el.style.gridRow = String(line);
        el.style.gridColumn = String(at + 2);
        grid.append(el);
      });
      line++;
    }
    return grid;
  }

  private strip(cells: readonly ChunkCell[]): HTMLElement {
    const strip = h('div', { class: 'strip' });
    for (const c of cells) strip.append(this.cell(c));
    return strip;
  }

  private cell(c: ChunkCell): HTMLElement {
    const el = h('span', { class: 'cell' });
    this.cells.set(c.key, el);
    el.addEventListener('mousemove', (e) => this.showTip(el, e));
    el.addEventListener('mouseleave', () => (this.tip.hidden = true));
    this.update(c, el);
    return el;
  }

  private update(c: ChunkCell, el = this.cells.get(c.key)): void {
    if (el === undefined) return;
    el.className = `cell s-${c.status}${(c.rowsRejected ?? 0) > 0 ? ' rej' : ''}`;
    el.dataset['key'] = c.key;
    el.dataset['status'] = c.status;
    el.style.setProperty('--shade', String(0.35 + 0.65 * ((c.rowsRead ?? 0) / this.maxRows)));
    (el as HTMLElement & { chunk?: ChunkCell }).chunk = c;
  }

  private showTip(el: HTMLElement, e: MouseEvent): void {
    const c = (el as HTMLElement & { chunk?: ChunkCell }).chunk;
    if (c === undefined) return;
    // A chunk keeps the figures of its last completion while it is redone or after it failed since.
    const figures = `${count(c.rowsRead)} read = ${count(c.rowsWritten)} written + ${count(c.rowsRejected)} rejected`;
    const rows = c.rowsRead === null ? 'no rows recorded yet' : c.status === 'done' ? figures : `when last done: ${figures}`;
    this.tip.replaceChildren();
    append(this.tip, [
      h('b', {}, `${c.lo} … ${c.hi}`),
      h('div', {}, `${c.status}, ${c.attempts} attempt${c.attempts === 1 ? '' : 's'}${c.durationMs === null ? '' : `, ${duration(c.durationMs)}`}`),
      h('div', {}, rows),
      c.owner === null ? null : h('div', {}, `on ${c.owner}`),
      c.bytes === null || c.status !== 'done' ? null : h('div', {}, bytes(c.bytes)),
      c.error === null ? null : h('div', { class: 'err' }, c.error),
    ]);
    this.tip.hidden = false;
    const x = Math.min(e.clientX + 14, window.innerWidth - this.tip.offsetWidth - 8);
    const y = e.clientY + 16 + this.tip.offsetHeight > window.innerHeight ? e.clientY - this.tip.offsetHeight - 10 : e.clientY + 16;
    this.tip.style.left = `${x}px`;
    this.tip.style.top = `${y}px`;
  }
}
