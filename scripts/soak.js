#!/usr/bin/env node
// npm run soak [-- --calls N] [-- --seconds S] [--members M] [--window W] [--every S]
//
// Soak test of the library itself, in two phases.
//
// 1. Loopback: 10^6 sendGroup/streamGroup calls (by default) mixing payload
//    sizes, zero-copy on/off/'auto', per-recipient prefixes and suffixes,
//    GSO, aborts, group changes, array targets, both backends and Senders
//    closed and replaced now and then, with up to W calls in flight, against
//    local receivers that never read: the kernel drops what does not fit and
//    the sender never waits on them.
// 2. Pushing back (root, iproute2; skipped loudly otherwise): the same kind
//    of mix through a slow link, a tbf of 30 Mbit/s with a real queue
//    between two network namespaces (bench/lib/link.js), from Senders with a
//    4 KiB, a 16 KiB and the default send buffer, so calls wait for buffer
//    room; receivers that read, a quarter of them closed and others reopened
//    every 400 ms (ICMP port unreachable comes back, not rate-limited:
//    'unreachable' listeners count the events); Senders closed with calls
//    waiting; for the last quarter of the phase a 16 KiB queue, whose drops
//    come back as ENOBUFS. It runs in a child process inside the sending
//    namespace and checks the same flatness, that every call settles, that
//    each Sender's receive memory (its error queue: rx_queue in
//    /proc/net/udp6) returns to near zero, and that no member fails except
//    with ECANCELED (aborted or closed) or ENOBUFS (the small queue).
// 3. Relaying: Relays on loopback, one after another (io_uring copying and
//    zero-copy, and sendmmsg, each on a thread of its own), each forwarding
//    a source's datagrams while its group churns and some members' ports are
//    closed; every datagram is accounted for and the readers get them in
//    order (scripts/soak/relay.js).
//
// Each phase prints RSS, V8 heap, open descriptors (/proc/self/fd) and calls
// in flight at launch, at the start (after a warm-up), every S seconds and at
// the end. Exit status 1 when, in either phase, RSS grew by 10 MB or more,
// the heap by 5 MB or more, descriptors grew, calls were still in flight, a
// member failed unexpectedly, or a delivery check (exact bytes at reading
// receivers, loopback) failed.
//
//   --calls N            loopback calls (default 1,000,000; with --seconds alone: no limit)
//   --seconds S          the whole soak ends after about S seconds, the pushing-back phase included
//   --pushback-seconds P that phase's share (default: S / 3 with --seconds, else 30; 0 skips it)
//   --relay-seconds R    the relaying phase's share (default: S / 6 with --seconds, else 15; 0 skips it)
//   --members M          receivers in the loopback group (default 8)
//   --window W           calls in flight at most (default 32 on loopback, 8 on the link)
//   --every S            seconds between progress lines (default 10)
//   --churn N            loopback calls between replacing the Senders (default 50,000)
//   --smaps              at the end, print which mappings hold resident memory
//   --v8-defaults        do not pin V8's young generation (see FLAGS below)
//   --kinds LIST         only these kinds of loopback call (indexes into `kinds`, e.g. 0,3)
//
// Only loopback and addresses inside the namespaces the soak creates (and
// deletes, also on failure or Ctrl-C) are sent to.
//
// This file reads the options and runs the phases; scripts/soak/ holds them:
// loopback.js (phase 1), pushback.js (phase 2, the parent's side: the link,
// the dying receivers) and pushback-child.js (phase 2, the sending side),
// measure.js (samples, their lines, the flatness verdicts) and calls.js (a
// phase's calls: tracking them until they settle, unexpected failures).
'use strict';
const { spawn } = require('node:child_process');
const util = require('node:util');
const { FLAGS } = require('./soak/measure');

/** Runs this script again with FLAGS, passing on signals (the child cleans up). */
function relaunch() {
  const child = spawn(process.execPath, [...FLAGS, __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
}

function parseOptions() {
  const { values } = util.parseArgs({
    options: {
      calls: { type: 'string' },
      seconds: { type: 'string' },
      'pushback-seconds': { type: 'string' },
      'relay-seconds': { type: 'string' },
      members: { type: 'string' },
      window: { type: 'string' },
      every: { type: 'string' },
      churn: { type: 'string' },
      smaps: { type: 'boolean' },
      'v8-defaults': { type: 'boolean' },
      kinds: { type: 'string' },
      'pushback-child': { type: 'string' }, // internal: the sending side of phase 2
    },
  });
  for (const name of ['calls', 'seconds', 'members', 'window', 'every', 'churn']) {
    if (values[name] === undefined) continue;
    const value = Number(values[name]);
    if (!Number.isFinite(value) || value <= 0) {
      console.error(`soak: --${name} needs a positive number`);
      process.exit(2);
    }
    values[name] = value;
  }
  for (const name of ['pushback-seconds', 'relay-seconds']) {
    if (values[name] !== undefined) values[name] = Math.max(0, Number(values[name]) || 0);
  }
  return values;
}

/** Runs every cleanup left in `cleanups` when the process exits, also on a signal. */
function cleanUpOnExit(cleanups) {
  const exit = () => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  };
  process.on('exit', exit);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      console.error(`\n[soak] ${signal}: cleaning up`);
      exit();
      process.exit(130);
    });
  }
}

async function main(options) {
  const { loopbackPhase } = require('./soak/loopback');
  const { pushbackPhase } = require('./soak/pushback');
  const { relayPhase } = require('./soak/relay');
  const cleanups = [];
  cleanUpOnExit(cleanups);
  const started = Date.now();
  const seconds = options.seconds ?? Infinity;
  const pushbackSeconds = options['pushback-seconds'] ?? (Number.isFinite(seconds) ? seconds / 3 : 30);
  const relaySeconds = options['relay-seconds'] ?? (Number.isFinite(seconds) ? seconds / 6 : 15);
  const calls = options.calls ?? (Number.isFinite(seconds) ? Infinity : 1e6);
  const verdicts = await loopbackPhase(options, calls, started + (seconds - pushbackSeconds - relaySeconds) * 1000);
  let skipped = 'off (--pushback-seconds 0)';
  if (pushbackSeconds > 0) {
    const pushback = await pushbackPhase(options, Math.min(pushbackSeconds, (started + (seconds - relaySeconds) * 1000 - Date.now()) / 1000), cleanups);
    if (Array.isArray(pushback)) {
      verdicts.push(...pushback);
      skipped = '';
    } else {
      skipped = `SKIPPED (${pushback.skipped})`;
    }
  }
  if (relaySeconds > 0) verdicts.push(...await relayPhase(Math.min(relaySeconds, (started + seconds * 1000 - Date.now()) / 1000)));
  console.log(`[soak] whole soak: ${((Date.now() - started) / 1000).toFixed(1)} s${skipped ? `; pushing-back phase ${skipped}` : ''}`);
  console.log(verdicts.length ? `[soak] FAIL: ${verdicts.join('; ')}` : `[soak] PASS${skipped ? ' (loopback phase only)' : ''}`);
  process.exitCode = verdicts.length ? 1 : 0;
}

if (typeof gc !== 'function' || !FLAGS.every((flag) => process.execArgv.includes(flag))) {
  relaunch();
} else {
  const options = parseOptions();
  const run = options['pushback-child'] ? require('./soak/pushback-child').pushbackChild(JSON.parse(options['pushback-child'])) : main(options);
  run.catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
