// The goals block: each goal met, missed or information only, with what was
// measured (medians of the round-by-round ratios, and their ranges).
'use strict';
const { summary, pairRatios } = require('./stats');
const { fmt } = require('./format');
const { SINKS } = require('./options');
const { threadsGoals } = require('./goals-threads');
const { find, row, range, cpuRatio } = require('./results');

/** Copy mode against C and dgram at N=1000, GSO against dgram, zero-copy against copy at 8 KB. */
function copyGoals(results, sink, add) {
  const n1000 = find(results, sink, 'n1000');
  const copy = row(n1000, 'sg-copy');
  if (copy?.vsC) {
    // Against the fastest C row (strict); each C row is listed too.
    const each = ['c-sendmmsg', 'c-uring', 'c-uring-send'].filter((n) => row(n1000, n))
      .map((n) => `${n} ${fmt(summary(pairRatios(copy.dpcsRounds, row(n1000, n).dpcsRounds)).median)}`).join(', ');
    add('copy-vs-c', 'N=1000, 1200 B, copy: sendgroup >= 0.95x the C reference', sink, copy.vsC.median >= 0.95,
      `${range(copy.vsC)} vs the fastest, ${copy.vsC.ref} (per row: ${each})`);
  }
  if (copy?.vsDgram) add('copy-vs-dgram', 'N=1000, 1200 B, copy: sendgroup >= 1.8x dgram', sink, copy.vsDgram.median >= 1.8, range(copy.vsDgram));
  const gso = row(find(results, sink, 'burst'), 'sg-gso');
  if (gso?.vsDgram) add('gso-vs-dgram', 'burst with GSO: sendgroup >= 8x dgram', sink, gso.vsDgram.median >= 8, range(gso.vsDgram));
  const p8192 = find(results, sink, 'p8192');
  const zc = row(p8192, 'sg-zc');
  const copy8 = row(p8192, 'sg-copy');
  if (zc && copy8) {
    const r = summary(pairRatios(zc.dpcsRounds, copy8.dpcsRounds));
    if (sink !== 'loopback') add('zc-vs-copy-8192', '8192 B on veth: zero-copy >= 1.2x copy', sink, r.median >= 1.2, range(r));
    else add('zc-vs-copy-8192-loopback', '(info) 8192 B on loopback: zero-copy vs copy', sink, null, range(r));
  }
}

const AUTO_CASES = [['n1000', 'sg-zc', 'sg-copy', 1200], ['p2048', 'sg-zc', 'sg-copy', 2048],
  ['p4096', 'sg-zc', 'sg-copy', 4096], ['p8192', 'sg-zc', 'sg-copy', 8192],
  ['p8192-mtu1500', 'sg-zc', 'sg-copy', 8192], ['burst', 'sg-gso-zc', 'sg-gso', 48000]];

/** 'auto': for each payload size measured with both modes, did it pick the faster? */
function autoGoals(results, sink, autoMin, add) {
  for (const [scn, a, b, bytes] of AUTO_CASES) {
    const s = find(results, sink, scn);
    const zr = row(s, a);
    const cr = row(s, b);
    if (!zr || !cr) continue;
    const r = summary(pairRatios(zr.dpcsRounds, cr.dpcsRounds));
    const autoZc = bytes >= autoMin;
    // Within 5% either choice is as good as the other.
    const met = Math.abs(r.median - 1) <= 0.05 ? true : (r.median > 1) === autoZc;
    // The same ratio for the C reference: what the kernel itself gives.
    const cz = row(s, a.replace('sg-', 'c-uring-').replace('gso-zc', 'zc-gso'));
    const cc = row(s, 'c-uring-send') ?? row(s, b.replace('sg-', 'c-uring-'));
    const kernel = cz && cc ? `; C ${cz.name}/${cc.name} ${fmt(summary(pairRatios(cz.dpcsRounds, cc.dpcsRounds)).median)}` : '';
    add(`auto-${scn}`, `'auto' (zero-copy from ${autoMin} B) picks the faster mode at ${bytes} B${s.mtu ? ` (MTU ${s.mtu})` : ''}`, sink, met,
      `zc/copy ${range(r)}; auto picks ${autoZc ? 'zero-copy' : 'copy'}${kernel}`);
  }
}

// The link sink: sendgroup keeps the link full (>= 0.95 of its rate) with no
// more CPU per delivered datagram than dgram, and at most 1.1x the C
// reference's (the fastest paced C row of its kind). Zero-copy: info only.
function linkGoals(results, push) {
  for (const s of results.scenarios.filter((x) => x.linkRate)) {
    const dgram = row(s, 'dgram');
    for (const name of ['sg-copy', 'sg-mmsg', 'sg-zc']) {
      const r = row(s, name);
      if (!r) continue;
      const info = name === 'sg-zc';
      const add = (id, goal, met, measured) => push({ id: `link-${id}`, goal: `${s.name}: ${name} ${goal}`, sink: 'link', met: info ? null : met, measured });
      add('goodput', 'goodput >= 0.95 of the link rate', r.goodput.median >= 0.95, `${range(r.goodput)} (dgram ${fmt(dgram?.goodput.median)})`);
      if (dgram) {
        const vs = cpuRatio(r, dgram);
        add('cpu-vs-dgram', 'CPU per delivered datagram <= dgram\'s', vs.median <= 1,
          `${range(vs)} x dgram (${fmt(r.usPerDatagram)} vs ${fmt(dgram.usPerDatagram)} us)`);
      }
      const ref = r.vsC && row(s, r.vsC.ref);
      if (ref) {
        const vs = cpuRatio(r, ref);
        add('cpu-vs-c', 'CPU per delivered datagram <= 1.1x the C reference\'s', vs.median <= 1.1,
          `${range(vs)} x ${ref.name} (${fmt(r.usPerDatagram)} vs ${fmt(ref.usPerDatagram)} us)`);
      }
    }
  }
}

/** N=1 against dgram; N=10000 against N=1000 per datagram (with the C rows' own ratio beside it). */
function scaleGoals(results, add) {
  const n1 = find(results, 'loopback', 'n1');
  const one = row(n1, 'sg-copy');
  if (one?.vsDgram) add('n1-vs-dgram', 'N=1: one sendGroup costs no more CPU than one dgram.send', 'loopback', one.vsDgram.median >= 1, `${range(one.vsDgram)} x dgram (us/datagram: ${fmt(one.usPerDatagram)} vs ${fmt(row(n1, 'dgram').usPerDatagram)})`);
  for (const sink of SINKS) {
    const big = find(results, sink, 'n10000');
    const mid = find(results, sink, 'n1000');
    const sgBig = row(big, 'sg-copy');
    const sgMid = row(mid, 'sg-copy');
    if (!sgBig || !sgMid) continue;
    const r = sgBig.usPerDatagram / sgMid.usPerDatagram;
    // The same ratio for the kernel limit tells the sink's scaling from ours.
    const cr = ['c-sendmmsg', 'c-uring'].map((n) => `${n} ${fmt(row(big, n)?.usPerDatagram / row(mid, n)?.usPerDatagram)}x`).join(', ');
    add('n10000-vs-n1000', 'N=10000 costs no more per datagram than N=1000 (within 10%)', sink, r <= 1.1,
      `${fmt(sgBig.usPerDatagram)} vs ${fmt(sgMid.usPerDatagram)} us/datagram (${fmt(r)}x; same ratio for ${cr})`);
  }
}

/** Every goal the results allow, in the order the terminal and docs list them. */
function goals(results, autoMin) {
  const out = [];
  const push = (goal) => out.push(goal);
  const add = (id, goal, sink, met, measured) => push({ id, goal, sink, met, measured });
  for (const sink of SINKS) {
    copyGoals(results, sink, add);
    autoGoals(results, sink, autoMin, add);
  }
  linkGoals(results, push);
  scaleGoals(results, add);
  threadsGoals(results, add);
  return out;
}

module.exports = { goals };
