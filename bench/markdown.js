#!/usr/bin/env node
// node bench/markdown.js [bench/results/latest.json]
// Prints a results JSON as the Markdown tables docs/benchmarks.md records.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { si } = require('./lib/svg');
const { fmt, rowNotes } = require('./lib/format');

const file = process.argv[2] ?? path.join(__dirname, 'results', 'latest.json');
const r = JSON.parse(fs.readFileSync(file, 'utf8'));
const range = (s) => (s && Number.isFinite(s.median) ? `${fmt(s.median)} (${fmt(s.min)}-${fmt(s.max)})` : '');

const out = [];
const m = r.machine;
out.push(`Run of ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${r.seconds} s: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, `
  + `Linux ${m.kernel}, Node ${m.node}, liburing ${m.liburing}; sendgroup at ${m.commit}`
  + `${m.uncommittedLibraryChanges ? ` plus uncommitted changes to ${m.uncommittedLibraryChanges}` : ''}, `
  + `addon ${r.library?.addon} sha256 ${r.library?.addonSha256}… built ${r.library?.addonBuiltAt?.slice(0, 16)}. `
  + `${r.options.rounds} rounds of ${r.options.duration} s (+${r.options.warmup} s warm-up) per method.`);
out.push('');
for (const s of r.scenarios) {
  const link = Boolean(s.linkRate);
  out.push(`**${s.sink}${s.mtu ? ` (MTU ${s.mtu})` : ''}${link ? ` at ${s.linkRate}` : ''} / ${s.name}**: ${s.members} member${s.members === 1 ? '' : 's'}, `
    + `${s.payload} B${s.segment ? ` cut into ${s.segment} B (${s.datagramsPerCall / s.members} datagrams per member)` : ''}`
    + `${link ? `, ${s.duration} s per run` : ''}`);
  out.push('');
  out.push(`| method | ${link ? 'delivered ' : ''}datagrams / CPU-s, median (min-max) | µs CPU / datagram | ${link ? 'goodput (min-max)' : 'wall datagrams/s'} `
    + '| × dgram | × C (ref) | notes |');
  out.push('| --- | --- | ---: | ---: | --- | --- | --- |');
  for (const row of s.methods) {
    const notes = rowNotes(row, { errors: (x) => `${x.firstError} ×${x.errors}`, zeroCopy: 'zero-copy: ', perCall: s.perCall });
    out.push(`| ${row.name} | ${si(row.dpcs.median)} (${si(row.dpcs.min)}-${si(row.dpcs.max)}) | ${fmt(row.usPerDatagram)} `
      + `| ${link ? range(row.goodput) : si(row.wall.median)} `
      + `| ${row.name === 'dgram' ? '1' : range(row.vsDgram)} | ${row.vsC ? `${range(row.vsC)} ${row.vsC.ref}` : ''} | ${notes.join('; ')} |`);
  }
  out.push('');
}
out.push('| goal | sink | met | measured |');
out.push('| --- | --- | --- | --- |');
for (const g of r.goals) out.push(`| ${g.goal} | ${g.sink} | ${g.met === null ? 'info' : g.met ? '**met**' : '**missed**'} | ${g.measured} |`);
out.push('');
if (r.noise) out.push(`Noise: waited ${r.noise.waitedSeconds} s for a quiet machine, repeated ${r.noise.repeatedRuns} noisy runs, ${r.noise.noisyRunsKept} runs kept although noisy.  `);
for (const [name, st] of Object.entries(r.sinkStats ?? {})) if (Object.keys(st).length) out.push(`${name} sink counters: \`${JSON.stringify(st)}\`  `);
process.stdout.write(`${out.join('\n')}\n`);
