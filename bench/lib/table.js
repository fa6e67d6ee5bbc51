// The terminal output of a run: one table per sink and scenario, the goals,
// the noise and the sinks' counters.
'use strict';
const { si } = require('./svg');
const { fmt, rowNotes } = require('./format');
const { range } = require('./results');
const { NOISY_CORES } = require('./noise');

function pad(text, width, right = false) {
  const s = String(text);
  return right ? s.padStart(width) : s.padEnd(width);
}

/** The lines of one scenario's table. */
function scenarioLines(s) {
  const link = Boolean(s.linkRate);
  const lines = [''];
  lines.push(`== ${s.sink}${s.mtu ? ` (MTU ${s.mtu})` : ''}${link ? ` at ${s.linkRate}` : ''} / ${s.name}: ${s.members} member(s), `
    + `${s.payload} B${s.segment ? ` cut into ${s.segment} B` : ''} (${s.datagramsPerCall} datagrams per call)`);
  const w = link ? 40 : 32;
  // 15 wide, or wider for the threads scenarios' long names.
  const nameW = Math.max(15, ...s.methods.map((r) => r.name.length + 1));
  lines.push(`${pad('method', nameW)}${pad(`${link ? 'delivered ' : ''}dgram/CPU-s median [min-max]`, w)}${pad('us/dgram', 9, true)}  `
    + `${pad(link ? 'goodput [min-max]' : 'wall dgram/s', link ? 20 : 12, !link)}  ${pad('x dgram [min-max]', 20)}${pad('x C [min-max] (ref)', 36)}notes`);
  for (const r of s.methods) {
    lines.push(`${pad(r.name, nameW)}${pad(`${si(r.dpcs.median)} [${si(r.dpcs.min)}-${si(r.dpcs.max)}]`, w)}`
      + `${pad(fmt(r.usPerDatagram), 9, true)}  ${link ? pad(range(r.goodput), 20) : pad(si(r.wall.median), 12, true)}  `
      + `${pad(r.name === 'dgram' ? '1' : range(r.vsDgram), 20)}`
      + `${pad(r.vsC ? `${range(r.vsC)} (${r.vsC.ref})` : '', 36)}${rowNotes(r, { perCall: s.perCall }).join('; ')}`);
  }
  return lines;
}

function printTable(results) {
  const lines = results.scenarios.flatMap(scenarioLines);
  lines.push('');
  lines.push('== goals');
  for (const g of results.goals) {
    const mark = g.met === null ? 'info' : g.met ? 'MET ' : 'MISS';
    lines.push(`${mark}  [${g.sink}] ${g.goal}: ${g.measured}`);
  }
  lines.push(`noise: waited ${results.noise.waitedSeconds} s for a quiet machine, repeated ${results.noise.repeatedRuns} noisy runs, `
    + `${results.noise.noisyRunsKept} runs still noisy (others > ${NOISY_CORES} cores)`);
  for (const [name, st] of Object.entries(results.sinkStats)) if (Object.keys(st).length) lines.push(`${name} sink: ${JSON.stringify(st)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

module.exports = { printTable };
