// A horizontal bar chart as a standalone SVG file, for the benchmark reports (no dependencies).

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * groups: [{ name, bars: [{ label, value }] }] — one block of bars per group (a data size, a path).
 * Values share one scale; each bar is labelled with its value formatted by `format`.
 */
export function barChart({ title, unit, groups, format = (v) => Math.round(v).toLocaleString('en-US') }) {
  const labelWidth = 330;
  const barMax = 420;
  const valueWidth = 120;
  const barHeight = 18;
  const gap = 6;
  const groupGap = 14;
  const width = labelWidth + barMax + valueWidth + 20;
  const max = Math.max(1, ...groups.flatMap((g) => g.bars.map((b) => b.value)));
  const palette = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];
  const colours = new Map();
  const colourOf = (label) => {
    if (!colours.has(label)) colours.set(label, palette[colours.size % palette.length]);
    return colours.get(label);
  };
  const parts = [];
  let y = 44;
  for (const group of groups) {
    parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${esc(group.name)}</text>`);
    y += 22;
    for (const bar of group.bars) {
      const w = Math.max(1, Math.round((bar.value / max) * barMax));
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 13}" text-anchor="end">${esc(bar.label)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${w}" height="${barHeight}" fill="${colourOf(bar.label)}"/>`,
        `<text x="${labelWidth + w + 6}" y="${y + 13}">${esc(format(bar.value))}</text>`,
      );
      y += barHeight + gap;
    }
    y += groupGap;
  }
  const height = y + 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>
<text x="${width - 10}" y="22" text-anchor="end" fill="#555">${esc(unit)}</text>
${parts.join('\n')}
</svg>
`;
}
