// Text shared by the terminal tables (run.js) and the Markdown (markdown.js).
'use strict';

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

/** Notes of a method's row: zero-copy outcome, member failures, failed and noisy runs, the link sink's drops. */
function rowNotes(row, { errors = (r) => `${r.errors} errors (${r.firstError})`, zeroCopy = 'zc:' } = {}) {
  const notes = [];
  if (row.zeroCopy.some((z) => z !== 'off')) notes.push(`${zeroCopy}${row.zeroCopy.join('/')}`);
  if (row.errors) notes.push(errors(row));
  if (row.drops?.receivers) notes.push(`receivers dropped ${row.drops.receivers}`);
  if (row.drops?.qdisc) notes.push(`qdisc dropped ${row.drops.qdisc}`);
  if (Number.isFinite(row.cpuBusyUsPerDatagram?.median)) notes.push(`sender's CPU ${fmt(row.cpuBusyUsPerDatagram.median)} us/dgram`);
  if (Number.isFinite(row.bounces?.median)) notes.push(`EAGAIN ${fmt(row.bounces.median)}/dgram`);
  if (Number.isFinite(row.waits?.median)) notes.push(`${fmt(row.waits.median, 1)} polls/call`);
  if (row.failedRuns) notes.push(`${row.failedRuns} failed runs`);
  if (row.noisyRuns) notes.push(`${row.noisyRuns} noisy runs`);
  return notes;
}

module.exports = { fmt, rowNotes };
