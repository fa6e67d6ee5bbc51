#!/usr/bin/env node
// npm run soak [-- --calls N] [-- --seconds S] [--members M] [--window W] [--every S]
//
// Soak test of the library itself: 10^6 sendGroup/streamGroup calls (by
// default) mixing payload sizes, zero-copy on/off/'auto', per-recipient
// prefixes and suffixes, GSO, aborts, group changes, array targets, both
// backends and Senders closed and replaced now and then, with up to W calls
// in flight, against local receivers. Prints RSS, V8 heap, open descriptors
// (/proc/self/fd) and calls in flight at the start (after a warm-up), every
// S seconds and at the end. Exit status 1 when RSS grew by 10 MB or more,
// when descriptors grew, when a member failed, or when a periodic delivery
// check (exact bytes at reading receivers) failed.
//
//   --calls N     calls to make (default 1,000,000; with --seconds alone: no limit)
//   --seconds S   stop after S seconds (default: no limit)
//   --members M   receivers in the group (default 8)
//   --window W    calls in flight at most (default 32)
//   --every S     seconds between progress lines (default 10)
//   --churn N     calls between replacing the Senders (default 50,000)
//   --smaps       at the end, print which mappings hold resident memory
//   --v8-defaults do not pin V8's young generation (see FLAGS below)
//   --kinds LIST  only these kinds of call (indexes into `kinds`, e.g. 0,3)
//
// The receivers sit in a child process whose event loop is blocked: their
// sockets exist (no ICMP errors) but are never read, so the kernel drops what
// does not fit and the sender never waits on them. Only loopback is used.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');

// RSS is measured after full collections, so the collector is exposed. V8
// grows its young generation from 1 MB to 2 x 16 MB under a high allocation
// rate (+25 MB of RSS within the first 200,000 calls here, heap used stays at
// 4 MB); pinning it at 1 MB makes RSS measure the library, not V8's sizing.
// --v8-defaults leaves V8 as it is.
const FLAGS = ['--expose-gc', ...(process.argv.includes('--v8-defaults') ? [] : ['--max-semi-space-size=1'])];
if (typeof gc !== 'function' || !FLAGS.every((flag) => process.execArgv.includes(flag))) {
  const child = spawnSync(process.execPath, [...FLAGS, __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}

const { Group, Sender } = require('..');
const { fill, openReceivers } = require('../test/_helpers');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`soak: ${name} needs a positive number`);
    process.exit(2);
  }
  return value;
}
const SECONDS = option('--seconds', Infinity);
const CALLS = option('--calls', SECONDS === Infinity ? 1e6 : Infinity);
const MEMBERS = option('--members', 8);
const WINDOW = option('--window', 32);
const EVERY = option('--every', 10);
const RSS_LIMIT_MB = 10;
const CHURN_EVERY = option('--churn', 50000); // calls between replacing the Senders
const CHECK_EVERY = 25000; // calls between delivery checks

const MB = 1048576;
const mb = (bytes) => (bytes / MB).toFixed(1);

/** The sink: a child that binds sockets, prints their addresses and blocks forever. */
function startSink(count) {
  const code = `
    const dgram = require('node:dgram');
    const sockets = [];
    let bound = 0;
    const hosts = ['127.0.0.1', '::1'];
    for (let i = 0; i < ${count}; i++) {
      const host = hosts[i % 2];
      const s = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 65536 });
      s.on('error', (e) => {
        if (host === '::1') { s.close(); sockets[i] = null; done(); } else throw e;
      });
      s.bind(0, host, () => { sockets[i] = s; done(); });
    }
    function done() {
      if (++bound < ${count}) return;
      const list = sockets.filter(Boolean).map((s) => { const a = s.address(); return a.family === 'IPv6' ? '[' + a.address + ']:' + a.port : a.address + ':' + a.port; });
      process.stdout.write(JSON.stringify(list) + '\\n', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0));
    }
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) resolve({ child, targets: JSON.parse(text.split('\n')[0]) });
    });
    child.on('exit', (code) => reject(new Error(`soak: the sink exited (${code})`)));
  });
}

function openFds() {
  return fs.readdirSync('/proc/self/fd').length;
}

/** RSS split as the kernel counts it: anonymous, file-backed, shared memory (kB). */
function rssParts() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (key) => Number((new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status) || [])[1] || 0);
  return { anon: kb('RssAnon') * 1024, file: kb('RssFile') * 1024, shmem: kb('RssShmem') * 1024 };
}

function sample(label, state) {
  gc();
  gc();
  const usage = process.memoryUsage();
  const parts = rssParts();
  const s = {
    label,
    calls: state.calls,
    seconds: (Date.now() - state.started) / 1000,
    rss: usage.rss,
    heap: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
    fds: openFds(),
    inflight: state.inflight,
    ...parts,
  };
  const rate = s.seconds > 0 ? Math.round(state.calls / s.seconds) : 0;
  console.log(`[soak] ${label.padEnd(8)} calls ${String(s.calls).padStart(8)}  ${s.seconds.toFixed(1).padStart(6)} s  ${String(rate).padStart(6)} calls/s  ` +
    `rss ${mb(s.rss).padStart(6)} MB (anon ${mb(s.anon)}, file ${mb(s.file)}, shmem ${mb(s.shmem)})  heap ${mb(s.heap).padStart(5)} of ${mb(s.heapTotal).padStart(5)} MB  external ${mb(s.external).padStart(5)} MB  fds ${s.fds}  in flight ${s.inflight}`);
  return s;
}

/** --smaps: the largest resident anonymous mappings, to see what holds memory. */
function printSmaps() {
  const regions = [];
  let current = null;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      current = { range: `${head[1]}-${head[2]}`, size: (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024, name: head[3] || '[anon]', rss: 0 };
      regions.push(current);
    } else if (current && line.startsWith('Rss:')) {
      current.rss = Number(line.split(/\s+/)[1]);
    }
  }
  const byName = new Map();
  for (const r of regions) {
    const entry = byName.get(r.name) ?? { rss: 0, count: 0 };
    entry.rss += r.rss;
    entry.count++;
    byName.set(r.name, entry);
  }
  console.log('[soak] resident memory by mapping (kB):');
  [...byName].sort((a, b) => b[1].rss - a[1].rss).slice(0, 8).forEach(([name, e]) => console.log(`  ${String(e.rss).padStart(8)}  ${e.count} x ${name}`));
  console.log('[soak] largest anonymous regions (kB):');
  regions.filter((r) => r.name === '[anon]' || r.name === '[heap]').sort((a, b) => b.rss - a.rss).slice(0, 8)
    .forEach((r) => console.log(`  ${String(r.rss).padStart(8)} of ${String(r.size).padStart(8)}  ${r.range} ${r.name}`));
}


async function main() {
  const sink = await startSink(MEMBERS);
  process.on('exit', () => sink.child.kill());
  for (const target of sink.targets) {
    if (!/^(127\.|\[::1\])/.test(target)) throw new Error(`soak: refusing to send to ${target}`);
  }
  const checkers = await openReceivers(2, '127.0.0.1');
  const targets = sink.targets;
  const members = targets.length;

  // Buffers reused across calls (the library copies them inside the call).
  const small = fill(Buffer.alloc(200), 1);
  const medium = fill(Buffer.alloc(1400), 2);
  const large = fill(Buffer.alloc(9000), 3);
  const frame = fill(Buffer.alloc(4800), 4);
  const prefix = targets.map((_, i) => Buffer.from(`member-${i}:`));
  const suffix = { data: fill(Buffer.alloc(4 * members), 5), stride: 4 };
  const group = new Group(targets);

  let senders;
  const newSenders = () => ({ uring: new Sender(), mmsg: new Sender({ backend: 'sendmmsg' }), tight: new Sender({ sendBufferSize: 8192, slots: 2 }) });
  senders = newSenders();

  const kinds = [
    (s) => s.uring.sendGroup(group, small, { zeroCopy: false }),
    (s) => s.uring.sendGroup(group, small, { zeroCopy: true }),
    (s) => s.uring.sendGroup(group, large), // 'auto': zero-copy above its threshold
    (s) => s.uring.sendGroup(group, medium, { prefix, suffix }),
    (s) => s.uring.sendGroup(group, large, { prefix, zeroCopy: true }),
    (s) => s.uring.sendGroup(group, frame, { segmentSize: 1200 }),
    (s) => s.uring.sendGroup(group, frame, { segmentSize: 1200, zeroCopy: true, suffix }),
    (s) => s.tight.sendGroup(targets, medium, { zeroCopy: 'auto' }),
    (s) => s.mmsg.sendGroup(group, small, { prefix }),
    (s) => s.mmsg.sendGroup(group, frame, { segmentSize: 1200 }),
    (s) => {
      const controller = new AbortController();
      const p = s.uring.sendGroup(group, large, { zeroCopy: true, signal: controller.signal });
      controller.abort();
      return p;
    },
    async (s) => {
      let n = 0;
      let failed = 0;
      const errors = [];
      for await (const c of s.uring.streamGroup(group, medium, { prefix })) {
        n++;
        if (!c.ok) { failed++; errors.push({ code: c.error.code }); }
      }
      return { recipients: members, sent: n - failed, failed, errors };
    },
    (s) => {
      // Change the group while the call is in flight.
      const id = group.add(targets[0]);
      const p = s.uring.sendGroup(group, small);
      group.remove(id);
      return p;
    },
  ];

  // --kinds 0,3,5 narrows the mix (for finding what grows).
  const only = process.argv.includes('--kinds') ? process.argv[process.argv.indexOf('--kinds') + 1].split(',').map(Number) : null;
  const mix = only ? only.map((k) => kinds[k]) : kinds;
  const state = { calls: 0, inflight: 0, started: Date.now(), failures: new Map(), unexpected: 0, checks: 0, badChecks: 0 };
  const deadline = state.started + SECONDS * 1000;
  const window = [];

  const settle = (promise) => promise.then((report) => {
    state.inflight--;
    for (const e of report.errors) {
      state.failures.set(e.code, (state.failures.get(e.code) ?? 0) + 1);
      if (e.code !== 'ECANCELED') state.unexpected++;
    }
    if (report.sent + report.failed !== report.recipients) state.unexpected++;
  }, (error) => {
    state.inflight--;
    state.unexpected++;
    state.failures.set(`rejected ${error.code}`, (state.failures.get(`rejected ${error.code}`) ?? 0) + 1);
  });

  async function run(count) {
    for (let i = 0; i < count && Date.now() < deadline; i++) {
      state.inflight++;
      window.push(settle(mix[state.calls % mix.length](senders)));
      state.calls++;
      if (window.length >= WINDOW) {
        await window.shift();
        if (state.calls % WINDOW === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      if (state.calls % CHURN_EVERY === 0) {
        await Promise.all(window.splice(0));
        const old = senders;
        senders = newSenders();
        await Promise.all(Object.values(old).map((s) => s.close()));
      }
      if (state.calls % CHECK_EVERY === 0) await check();
      if (Date.now() >= nextReport) {
        sample('progress', state);
        nextReport = Date.now() + EVERY * 1000;
      }
    }
    await Promise.all(window.splice(0));
  }

  // Exact bytes at reading receivers, through the soaking Senders.
  async function check() {
    state.checks++;
    checkers.reset();
    const payload = fill(Buffer.alloc(3000), state.calls);
    const extra = checkers.targets.map((_, i) => Buffer.from(`check-${state.calls}-${i}:`));
    const reports = await Promise.all([
      senders.uring.sendGroup(checkers.targets, payload, { prefix: extra, zeroCopy: true }),
      senders.mmsg.sendGroup(checkers.targets, payload, { prefix: extra }),
    ]);
    let ok = reports.every((r) => r.sent === 2);
    try {
      await checkers.waitFor(4);
    } catch {
      ok = false;
    }
    checkers.messages.forEach((list, i) => {
      const want = Buffer.concat([extra[i], payload]);
      if (list.length !== 2 || !list.every((m) => m.equals(want))) ok = false;
    });
    if (!ok) state.badChecks++;
  }

  let nextReport = Infinity;
  console.log(`[soak] ${Number.isFinite(CALLS) ? CALLS : 'unlimited'} calls${Number.isFinite(SECONDS) ? `, at most ${SECONDS} s` : ''}, ` +
    `${members} receivers (${targets.join(' ')}), up to ${WINDOW} calls in flight, Senders replaced every ${CHURN_EVERY} calls`);
  const warmup = Math.min(20000, Number.isFinite(CALLS) ? Math.floor(CALLS / 10) : 20000);
  await run(warmup);
  const start = sample('start', state);
  nextReport = Date.now() + EVERY * 1000;
  await run(CALLS - warmup);
  const end = sample('end', state);
  await Promise.all(Object.values(senders).map((s) => s.close()));
  checkers.close();

  if (process.argv.includes('--smaps')) printSmaps();
  const growth = end.rss - start.rss;
  const verdicts = [];
  if (growth >= RSS_LIMIT_MB * MB) verdicts.push(`RSS grew ${mb(growth)} MB (limit ${RSS_LIMIT_MB} MB)`);
  if (end.fds > start.fds) verdicts.push(`open descriptors grew from ${start.fds} to ${end.fds}`);
  if (state.unexpected) verdicts.push(`${state.unexpected} unexpected failures`);
  if (state.badChecks) verdicts.push(`${state.badChecks} of ${state.checks} delivery checks failed`);
  const codes = [...state.failures].map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
  console.log(`[soak] ${state.calls} calls in ${end.seconds.toFixed(1)} s; RSS ${mb(start.rss)} -> ${mb(end.rss)} MB (${growth >= 0 ? '+' : ''}${mb(growth)} MB), ` +
    `heap ${mb(start.heap)} -> ${mb(end.heap)} MB, fds ${start.fds} -> ${end.fds}, in flight at end ${end.inflight}; ` +
    `member failures: ${codes}; delivery checks ${state.checks - state.badChecks}/${state.checks} ok`);
  console.log(verdicts.length ? `[soak] FAIL: ${verdicts.join('; ')}` : '[soak] PASS');
  sink.child.kill();
  process.exitCode = verdicts.length ? 1 : 0;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
