// Throughput over time with uPlot: rows written per second per interval, and chunks finished.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Throughput } from './view-types.js';
import { h } from './page-dom.js';

export class ThroughputChart {
  readonly element = h('div', { class: 'chart', 'data-testid': 'throughput' });
  private plot: uPlot | undefined;

  render(t: Throughput): void {
    const data: uPlot.AlignedData = [[...t.at], [...t.rowsPerSecond], [...t.chunksDone]];
    if (t.at.length === 0) {
      this.plot?.destroy();
      this.plot = undefined;
      this.element.replaceChildren(h('div', { class: 'empty' }, 'no chunk done yet'));
      return;
    }
    if (this.plot !== undefined) {
      this.plot.setData(data);
      return;
    }
    this.element.replaceChildren();
    const width = Math.max(320, this.element.clientWidth || 600);
    this.plot = new uPlot({
      width, height: 200,
      series: [
        {},
        { label: 'rows/s', stroke: '#2f9e5b', fill: 'rgba(47,158,91,.15)', width: 2, value: (_u, v) => (v === null ? '–' : v.toLocaleString('en-US')) },
        { label: 'chunks done', stroke: '#2f6fdb', scale: 'chunks', width: 1, paths: uPlot.paths.bars?.({ size: [0.6, 12] }) },
      ],
      axes: [{}, { label: 'rows/s', size: 70 }, { side: 1, scale: 'chunks', grid: { show: false }, label: 'chunks' }],
      // One bucket alone would stretch the time axis over years: give it a few seconds either side.
      scales: { x: { time: true, range: (_u, min, max) => (max - min < 2 ? [min - 5, max + 5] : [min, max]) }, chunks: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    }, data, this.element);
    new ResizeObserver(() => this.plot?.setSize({ width: Math.max(320, this.element.clientWidth), height: 200 })).observe(this.element);
  }
}
