// Text shared by the terminal tables (run.js) and the Markdown (markdown.js).
'use strict';

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

/**
 * Notes of a method's row: zero-copy outcome, member failures, failed and
 * noisy runs, the link sink's drops; with perCall (the threads scenarios)
 * the wall time per call and the event loop's delay.
 */
function rowNotes(row, { errors = (r) => `${r.errors} errors (${r.firstError})`, zeroCopy = 'zc:', perCall = false } = {}) {
  const notes = [];
  if (perCall && Number.isFinite(row.wallVsInline?.median)) notes.push(`wall ${fmt(row.wallVsInline.median)}x ${row.wallVsInline.ref}`);
  if (perCall && Number.isFinite(row.callWallUs?.median)) notes.push(`${fmt(row.callWallUs.median, 1)} us/call`);
  if (Number.isFinite(row.loopDelayP99Ms?.median)) notes.push(`loop delay p99 ${fmt(row.loopDelayP99Ms.median)} ms`);
  if (perCall && Number.isFinite(row.jsThreadCpuUs?.median)) {
    notes.push(`JS thread ${fmt(row.jsThreadCpuUs.median, 1)} us CPU + ${fmt(row.jsThreadWaitUs.median, 1)} us waiting per call`);
  }
  if (row.split) notes.push(`split ${row.split}`);
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
