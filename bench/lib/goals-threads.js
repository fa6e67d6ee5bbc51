// The goals of threads: K (bench scenarios 'threads' and 'threads-n*', on the
// veth-silent sink): wall rate against inline and against the C program with
// the same threads, CPU per datagram against that C program, the event loop's
// delay, and what the thread hop costs a small call.
'use strict';
const { summary, pairRatios } = require('./stats');
const { fmt } = require('./format');
const { find, row, range, cpuRatio } = require('./results');

const SINK = 'veth-silent';
const INLINE = 'sg-copy';
const THREADED = 'sg-threads';
const C_INLINE = 'c-uring-send';
const C_THREADED = 'c-uring-threads';
// The N sweep: threads-n10 ... and, for 10,000, the 'threads' scenario itself.
const SWEEP = [['threads-n10', 10], ['threads-n100', 100], ['threads-n1000', 1000], ['threads-n3000', 3000], ['threads', 10000]];

/** Datagrams per wall-second of a over b, round by round. */
function wallRatio(a, b) {
  return summary(pairRatios(a.wallRounds, b.wallRounds));
}

/** a - b, round by round. */
function pairDiffs(a, b) {
  const out = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (Number.isFinite(a[i]) && Number.isFinite(b[i])) out.push(a[i] - b[i]);
  return summary(out);
}

/** N = 10,000: wall rate and CPU against inline and the C reference (rows without the loop-delay timer). */
function bigCallGoals(s, add) {
  const t = row(s, THREADED);
  const inline = row(s, INLINE);
  const c = row(s, C_THREADED);
  const cInline = row(s, C_INLINE);
  if (!t) return;
  const us = (r) => `${fmt(r.usPerDatagram)} us`;
  if (inline) {
    const w2 = row(s, 'sg-threads-w2');
    const more = w2 ? `; with 2 calls in flight ${fmt(wallRatio(w2, inline).median)}` : '';
    add('threads-wall-vs-inline', 'N=10000: threads: 2 sends >= 1.4x the datagrams per wall-second of threads: 0', SINK,
      wallRatio(t, inline).median >= 1.4, `${range(wallRatio(t, inline))} (CPU per datagram ${us(t)} vs ${us(inline)})${more}`);
  }
  if (c) {
    const kernel = cInline ? `; ${C_THREADED} itself ${fmt(wallRatio(c, cInline).median)}x ${C_INLINE}` : '';
    add('threads-wall-vs-c', `N=10000: threads: 2 >= 0.95x the wall rate of ${C_THREADED}`, SINK,
      wallRatio(t, c).median >= 0.95, `${range(wallRatio(t, c))}${kernel}`);
    add('threads-cpu-vs-c', `N=10000: CPU per datagram with threads: 2 <= 1.1x ${C_THREADED}'s`, SINK,
      cpuRatio(t, c).median <= 1.1, `${range(cpuRatio(t, c))} (${us(t)} vs ${us(c)})`);
  }
}

/** N = 10,000 back to back: the event loop's delay (the -loop rows), beside what C's main thread sees. */
function loopDelayGoal(s, add) {
  const t = row(s, `${THREADED}-loop`);
  if (!t?.loopDelayP99Ms) return;
  const also = [[`${INLINE}-loop`, 'threads: 0'], [`${C_THREADED}-loop`, C_THREADED], ['c-uring-threads-idle', 'C with SCHED_IDLE senders']]
    .filter(([name]) => row(s, name)?.loopDelayP99Ms).map(([name, what]) => `${what} ${fmt(row(s, name).loopDelayP99Ms.median)} ms`);
  add('threads-loop-delay', 'N=10000 back to back: p99 event-loop delay <= 2 ms with threads: 2', SINK, t.loopDelayP99Ms.median <= 2,
    `${range(t.loopDelayP99Ms)} ms (max ${fmt(t.loopDelayMaxMs.max)} ms)${also.length ? `; ${also.join(', ')}` : ''}`);
}

/** N = 10: the thread hop's cost per call over inline; and where threads start to pay. */
function smallCallGoals(results, add) {
  const s10 = find(results, SINK, 'threads-n10');
  const t = row(s10, THREADED);
  const inline = row(s10, INLINE);
  if (t && inline) {
    const wall = pairDiffs(t.callWallRounds, inline.callWallRounds);
    const cpu = pairDiffs(t.callCpuRounds, inline.callCpuRounds);
    const c = row(s10, C_THREADED) && row(s10, C_INLINE)
      ? `; C: ${fmt(pairDiffs(row(s10, C_THREADED).callWallRounds, row(s10, C_INLINE).callWallRounds).median)} us` : '';
    add('threads-hop-n10', 'N=10: the thread hop costs <= 2 us per call over inline (wall time per call)', SINK, wall.median <= 2,
      `+${range(wall)} us per call (${fmt(t.callWallUs.median)} vs ${fmt(inline.callWallUs.median)} us); CPU +${fmt(cpu.median)} us per call${c}`);
    const hop = row(s10, `${THREADED}-hop`);
    if (hop) {
      add('threads-hop-n10-itself', '(info) N=10: the hop itself (inlineBelow: 0, every call to the threads) over inline', SINK, null,
        `+${range(pairDiffs(hop.callWallRounds, inline.callWallRounds))} us per call (wall); CPU +${fmt(pairDiffs(hop.callCpuRounds, inline.callCpuRounds).median)} us`);
    }
    if (t.jsThreadCpuUs) {
      add('threads-hop-n10-js', '(info) N=10: the JavaScript thread per call, threads: 2 vs threads: 0 (CPU; waiting for a CPU)', SINK, null,
        `${fmt(t.jsThreadCpuUs.median)} vs ${fmt(inline.jsThreadCpuUs.median)} us CPU; ${fmt(t.jsThreadWaitUs.median)} vs ${fmt(inline.jsThreadWaitUs.median)} us waiting`);
    }
  }
  const points = SWEEP.map(([name, n]) => {
    const s = find(results, SINK, name);
    return row(s, THREADED) && row(s, INLINE) ? [n, wallRatio(row(s, THREADED), row(s, INLINE)).median] : null;
  }).filter(Boolean);
  if (points.length < 2) return;
  // The smallest N from which on threads: 2 has the higher wall rate.
  const from = points.findIndex((_, i) => points.slice(i).every(([, r]) => r >= 1));
  add('threads-crossover', '(info) crossover: the N from which threads: 2 sends faster (wall) than threads: 0', SINK, null,
    `${from >= 0 ? `N >= ${points[from][0]}` : 'none measured'}; threads/inline wall rate: ${points.map(([n, r]) => `N=${n} ${fmt(r)}`).join(', ')}`);
}

function threadsGoals(results, add) {
  const s = find(results, SINK, 'threads');
  if (s) {
    bigCallGoals(s, add);
    loopDelayGoal(s, add);
  }
  smallCallGoals(results, add);
}

module.exports = { threadsGoals, wallRatio, pairDiffs };
