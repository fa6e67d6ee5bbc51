// The chart: one panel per sink and scenario, one horizontal bar per method
// (median datagrams per CPU-second, whisker = min..max over the rounds).
// Plain SVG, no script, readable in any browser.
'use strict';

const COLORS = {
  dgram: '#8c8c8c',
  'sg-copy': '#1f5fbf',
  'sg-zc': '#4f9be8',
  'sg-auto': '#0a9396',
  'sg-mmsg': '#7b4fbf',
  'sg-gso': '#1f5fbf',
  'sg-gso-zc': '#4f9be8',
  'sg-threads': '#c2185b',
  'sg-threads1': '#e06c9f',
  'sg-threads-q256': '#e06c9f',
  'sg-mmsg-threads': '#7b4fbf',
};
const C_COLOR = '#d9822b';

function esc(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function si(value) {
  if (!Number.isFinite(value)) return 'n/a';
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(0)}k`;
  return value.toFixed(0);
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(value));
  for (const f of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (f * p >= value) return f * p;
  return 10 * p;
}

const LAYOUT = { width: 980, labelW: 120, valueW: 200, rowH: 18 };
const BAR_W = LAYOUT.width - LAYOUT.labelW - LAYOUT.valueW - 30;

/** The title, the machine line and the legend. */
function header(results) {
  const { labelW } = LAYOUT;
  const parts = [];
  const title = 'sendgroup benchmark: datagrams per CPU-second of the sending process (higher is better)';
  parts.push(`<text x="10" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`);
  const m = results.machine || {};
  parts.push(`<text x="10" y="40" font-size="11" fill="#555">${esc(`${m.cpu || ''}, ${m.cores || '?'} cores, Linux ${m.kernel || '?'}, Node ${m.node || '?'}; `
    + `${results.options?.rounds ?? '?'} rounds of ${results.options?.duration ?? '?'} s per method; bar = median, whisker = min..max; `
    + 'label: median, x dgram, x C reference')}</text>`);
  parts.push('<g font-size="11">');
  const legend = [['dgram (baseline)', COLORS.dgram, 10], ['sendgroup copy', COLORS['sg-copy'], 134], ['sendgroup zero-copy', COLORS['sg-zc'], 254],
    ['sendgroup auto', COLORS['sg-auto'], 394], ['sendgroup threads', COLORS['sg-threads'], 504], ['C reference (kernel limit)', C_COLOR, 634]];
  for (const [text, color, x] of legend) {
    parts.push(`<rect x="${labelW + x}" y="48" width="10" height="10" fill="${color}"/><text x="${labelW + x + 14}" y="57">${esc(text)}</text>`);
  }
  parts.push('</g>');
  return parts;
}

/** One bar with its whisker and label, at y. */
function bar(row, max, y, perCall) {
  const { labelW, rowH } = LAYOUT;
  const parts = [];
  const color = row.name.startsWith('c-') ? C_COLOR : COLORS[row.name] || '#1f5fbf';
  const w = Math.max(1, (BAR_W * row.dpcs.median) / max);
  const x0 = labelW + 10;
  parts.push(`<text x="${labelW + 4}" y="${y + 12}" font-size="11" text-anchor="end">${esc(row.name)}</text>`);
  parts.push(`<rect x="${x0}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${color}"/>`);
  const a = x0 + (BAR_W * row.dpcs.min) / max;
  const b = x0 + (BAR_W * row.dpcs.max) / max;
  parts.push(`<line x1="${a.toFixed(1)}" y1="${y + rowH / 2}" x2="${b.toFixed(1)}" y2="${y + rowH / 2}" stroke="#222"/>`);
  parts.push(`<line x1="${a.toFixed(1)}" y1="${y + 5}" x2="${a.toFixed(1)}" y2="${y + rowH - 5}" stroke="#222"/>`);
  parts.push(`<line x1="${b.toFixed(1)}" y1="${y + 5}" x2="${b.toFixed(1)}" y2="${y + rowH - 5}" stroke="#222"/>`);
  const vs = [];
  if (Number.isFinite(row.vsDgram?.median) && row.name !== 'dgram') vs.push(`${row.vsDgram.median.toFixed(2)}x dgram`);
  if (Number.isFinite(row.vsC?.median) && !row.name.startsWith('c-')) vs.push(`${row.vsC.median.toFixed(2)}x C`);
  // threads: what they are for is the wall rate.
  if (perCall) vs.push(`wall ${si(row.wall.median)}/s`);
  parts.push(`<text x="${x0 + BAR_W + 8}" y="${y + 12}" font-size="11">${esc(`${si(row.dpcs.median)}  ${vs.join('  ')}`)}</text>`);
  return parts;
}

/** One scenario's panel from y; returns its parts and the y after it. */
function panel(scenario, y) {
  const { labelW, rowH } = LAYOUT;
  const rows = scenario.methods.filter((x) => Number.isFinite(x.dpcs.median));
  if (!rows.length) return { parts: [], y };
  const parts = [];
  const max = niceMax(Math.max(...rows.map((r) => r.dpcs.max)));
  const head = `${scenario.sink}${scenario.mtu ? ` (MTU ${scenario.mtu})` : ''} / ${scenario.name}: ${scenario.members} member${scenario.members === 1 ? '' : 's'}, `
    + `${scenario.payload} B${scenario.segment ? ` cut into ${scenario.segment} B` : ''}`;
  parts.push(`<text x="10" y="${y + 14}" font-size="13" font-weight="bold">${esc(head)}</text>`);
  const top = y + 22;
  for (let i = 0; i <= 4; i++) {
    const x = labelW + 10 + (BAR_W * i) / 4;
    parts.push(`<line x1="${x}" y1="${top - 2}" x2="${x}" y2="${top + rows.length * rowH}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${x}" y="${top + rows.length * rowH + 11}" font-size="9" fill="#777" text-anchor="middle">${si((max * i) / 4)}</text>`);
  }
  rows.forEach((row, i) => parts.push(...bar(row, max, top + i * rowH, scenario.perCall)));
  return { parts, y: top + rows.length * rowH + 24 };
}

/** results: the object written to latest.json. */
function renderSvg(results) {
  const { width } = LAYOUT;
  const parts = header(results);
  let y = 72;
  for (const scenario of results.scenarios) {
    const drawn = panel(scenario, y);
    parts.push(...drawn.parts);
    y = drawn.y;
  }
  const height = y + 10;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" `
    + `viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">\n`
    + `<rect width="${width}" height="${height}" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
}

module.exports = { renderSvg, si };
