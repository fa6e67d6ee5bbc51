// One measurement: the source sends to one relay at a fixed rate; the
// relay's CPU time and counters are read before and after (once it has
// finished forwarding), and the namespace's UDP counter tells how many
// datagrams the kernel really took from it.
'use strict';
const { execFileSync } = require('node:child_process');
const { setTimeout: sleep } = require('node:timers/promises');
const { runSource } = require('./procs');

const SETTLE_MS = 50;
// A relay with a deep receive queue (the native Relay's is 8 MB) may have
// seconds of work queued when a saturating source stops.
const SETTLE_LIMIT_MS = 30000;
const QUIET_POLL_MS = 5000;
const OTHER_BENCH = 'bench/run.js';

function otherBenchRunning() {
  try {
    return execFileSync('pgrep', ['-f', OTHER_BENCH], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
}

/** Resolves once no other benchmark (bench/run.js) is running. */
async function waitForQuiet(log) {
  let told = false;
  while (otherBenchRunning()) {
    if (!told) log(`waiting: another benchmark (${OTHER_BENCH}) is running`);
    told = true;
    await sleep(QUIET_POLL_MS);
  }
}

const same = (a, b) => a.received === b.received && a.forwarded === b.forwarded && a.sends + a.failed === b.sends + b.failed
  && a.udpSent === b.udpSent;
// Marks in a row that must find nothing moving. One was not enough: a
// native relay took what its receive buffers hold (256) in one wake-up and
// reported their sends once it had sent them all, at 1,000 members half a
// second with no counter moving (a relay now collects every 4,096 sends;
// with threads: K its workers still report per wake-up); what it sent after
// a premature mark went to the next variant's kernel count.
const QUIET_MARKS = 3;

/**
 * Marks the relay until neither its counters nor the namespace's count of
 * sent datagrams (every relay's and the source's) move (it has forwarded
 * all it took); resolves with the last mark and when they had stopped.
 */
async function settledMark(relay, network) {
  const markNow = async () => ({ ...(await relay.mark()), udpSent: network.udpSent() });
  let last = await markNow();
  let lastAt = performance.now();
  let quiet = 0;
  for (const deadline = lastAt + SETTLE_LIMIT_MS; performance.now() < deadline;) {
    await sleep(SETTLE_MS);
    const now = await markNow();
    quiet = same(last, now) ? quiet + 1 : 0;
    if (quiet === QUIET_MARKS) return { mark: now, settledAt: lastAt };
    if (!quiet) lastAt = performance.now();
    last = now;
  }
  throw new Error(`${relay.variant} still forwarding ${SETTLE_LIMIT_MS} ms after the source stopped`);
}

function delta(before, after, key) {
  return after[key] - before[key];
}

/**
 * Sends `rate` datagrams a second for `seconds` to the relay; returns what
 * the relay did with them, what it cost, and over how long (wallSeconds:
 * from the source's start until the relay had forwarded everything).
 */
async function measure({ network, binaries, relay, port, members, rate, seconds, size }) {
  const before = await relay.mark();
  const udpBefore = network.udpSent();
  const start = performance.now();
  const source = await runSource(network, binaries, { port, rate, seconds, size });
  const { mark: after, settledAt } = await settledMark(relay, network);
  const udpSent = network.udpSent() - udpBefore;
  const sends = delta(before, after, 'sends');
  return {
    variant: relay.variant,
    members,
    backend: after.backend ?? 'c',
    cpuUs: delta(before, after, 'cpuUs'),
    received: delta(before, after, 'received'),
    forwarded: delta(before, after, 'forwarded'),
    sends,
    failed: delta(before, after, 'failed'),
    noBuffer: after.noBuffer === undefined ? undefined : delta(before, after, 'noBuffer'),
    kernelSends: udpSent - source.sent,
    source,
    wallSeconds: (settledAt - start) / 1000,
    nsPerSend: sends ? (delta(before, after, 'cpuUs') * 1000) / sends : NaN,
  };
}

module.exports = { measure, waitForQuiet };
