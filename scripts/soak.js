#!/usr/bin/env node
// npm run soak [-- --calls N] [-- --seconds S] [--members M] [--window W] [--every S]
// (npm run bench:soak runs the same)
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
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const util = require('node:util');

// RSS is measured after full collections, so the collector is exposed. V8
// grows its young generation from 1 MB to 2 x 16 MB under a high allocation
// rate (+25 MB of RSS within the first 200,000 calls here, heap used stays at
// 4 MB); pinning it at 1 MB makes RSS measure the library, not V8's sizing.
// --v8-defaults leaves V8 as it is.
const FLAGS = ['--expose-gc', ...(process.argv.includes('--v8-defaults') ? [] : ['--max-semi-space-size=1'])];

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
  if (values['pushback-seconds'] !== undefined) values['pushback-seconds'] = Math.max(0, Number(values['pushback-seconds']) || 0);
  return values;
}

const RSS_LIMIT_MB = 10;
const HEAP_LIMIT_MB = 5;
const MB = 1048576;
const mb = (bytes) => (bytes / MB).toFixed(1);
/** unref: a timer that does not keep the process alive (a deadline in a race). */
const sleep = (ms, { unref = false } = {}) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  if (unref) timer.unref();
});

// ------------------------------------------------------------ measuring --

/** What each open descriptor is (socket:[inode], anon_inode:[io_uring], a path, ...). */
function openFds() {
  return fs.readdirSync('/proc/self/fd').map((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).replace(/:\[\d+\]$/, '');
    } catch {
      return 'gone';
    }
  });
}

/** The kinds of descriptor in after that are not in before, with how many more. */
function fdGrowth(before, after) {
  const count = (list) => list.reduce((map, kind) => map.set(kind, (map.get(kind) ?? 0) + 1), new Map());
  const b = count(before);
  return [...count(after)].filter(([kind, n]) => n > (b.get(kind) ?? 0)).map(([kind, n]) => `${kind} +${n - (b.get(kind) ?? 0)}`).join(', ');
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
    fdList: openFds(),
    inflight: state.inflight,
    ...parts,
  };
  s.fds = s.fdList.length;
  const rate = s.seconds > 0 ? Math.round(state.calls / s.seconds) : 0;
  console.log(`[${state.tag}] ${label.padEnd(8)} calls ${String(s.calls).padStart(8)}  ${s.seconds.toFixed(1).padStart(6)} s  ${String(rate).padStart(6)} calls/s  ` +
    `rss ${mb(s.rss).padStart(6)} MB (anon ${mb(s.anon)}, file ${mb(s.file)}, shmem ${mb(s.shmem)})  heap ${mb(s.heap).padStart(5)} of ${mb(s.heapTotal).padStart(5)} MB  external ${mb(s.external).padStart(5)} MB  fds ${s.fds}  in flight ${s.inflight}`);
  return s;
}

/** Verdicts on a phase's start and end samples: RSS, heap, descriptors, calls in flight. */
function flatness(start, end) {
  const verdicts = [];
  const growth = end.rss - start.rss;
  if (growth >= RSS_LIMIT_MB * MB) verdicts.push(`RSS grew ${mb(growth)} MB (limit ${RSS_LIMIT_MB} MB)`);
  if (end.heap - start.heap >= HEAP_LIMIT_MB * MB) verdicts.push(`heap grew ${mb(end.heap - start.heap)} MB (limit ${HEAP_LIMIT_MB} MB)`);
  if (end.fds > start.fds) verdicts.push(`open descriptors grew from ${start.fds} to ${end.fds} (${fdGrowth(start.fdList, end.fdList)})`);
  if (end.inflight > 0) verdicts.push(`${end.inflight} calls still in flight at the end`);
  return verdicts;
}

function summaryLine(state, start, end) {
  const growth = end.rss - start.rss;
  const codes = [...state.failures].map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
  return `${state.calls} calls in ${end.seconds.toFixed(1)} s; RSS ${mb(start.rss)} -> ${mb(end.rss)} MB (${growth >= 0 ? '+' : ''}${mb(growth)} MB), ` +
    `heap ${mb(start.heap)} -> ${mb(end.heap)} MB, fds ${start.fds} -> ${end.fds}, in flight at end ${end.inflight}; member failures: ${codes}`;
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

// -------------------------------------------------------------- calling --

function newState(tag) {
  return { tag, calls: 0, inflight: 0, started: Date.now(), failures: new Map(), unexpected: 0, unexpectedCodes: new Map(), checks: 0, badChecks: 0 };
}

function countFailure(state, code) {
  state.failures.set(code, (state.failures.get(code) ?? 0) + 1);
}

/**
 * Tracks one call until it settles. allowed(code) says which member failure
 * codes the scenario causes; any other failure, a rejection, or a report
 * whose sent + failed is not its recipients counts as unexpected (listed
 * with `label`, which call it was, when given).
 */
function settle(state, promise, allowed, label = '') {
  const what = (text) => (label ? `${text} (${label})` : text);
  state.inflight++;
  return promise.then((report) => {
    state.inflight--;
    for (const e of report.errors) {
      countFailure(state, e.code);
      if (!allowed(e.code)) unexpected(state, what(e.code));
    }
    if (report.sent + report.failed !== report.recipients) unexpected(state, what('sent + failed != recipients'));
  }, (error) => {
    state.inflight--;
    countFailure(state, `rejected ${error.code}`);
    unexpected(state, what(`rejected ${error.code}`));
  });
}

function unexpected(state, what) {
  state.unexpected++;
  state.unexpectedCodes.set(what, (state.unexpectedCodes.get(what) ?? 0) + 1);
}

/** The verdict on unexpected failures, with what they were. */
function unexpectedVerdict(state) {
  if (!state.unexpected) return [];
  return [`${state.unexpected} unexpected failures (${[...state.unexpectedCodes].map(([code, n]) => `${code} ${n}`).join(', ')})`];
}

/** Consumes a streamGroup: the same shape as a SendReport. */
async function streamReport(stream, recipients) {
  let n = 0;
  let failed = 0;
  const errors = [];
  for await (const c of stream) {
    n++;
    if (!c.ok) {
      failed++;
      errors.push({ code: c.error.code });
    }
  }
  return { recipients, sent: n - failed, failed, errors };
}

// ------------------------------------------------------------- loopback --

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

/** Phase 1; returns its verdicts. deadline: ms timestamp or Infinity. */
async function loopbackPhase(options, calls, deadline) {
  const { Group, Sender, AUTO_ZERO_COPY_MIN_BYTES } = require('..');
  const { fill, openReceivers } = require('../test/_helpers');
  const WINDOW = options.window ?? 32;
  const EVERY = options.every ?? 10;
  const CHURN_EVERY = options.churn ?? 50000; // calls between replacing the Senders
  const CHECK_EVERY = 25000; // calls between delivery checks
  const state = newState('soak');
  sample('launch', state);
  const sink = await startSink(options.members ?? 8);
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
  // Above the 'auto' threshold, whatever it is.
  const large = fill(Buffer.alloc(Math.max(9000, AUTO_ZERO_COPY_MIN_BYTES + 192)), 3);
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
    (s) => streamReport(s.uring.streamGroup(group, medium, { prefix }), members),
    (s) => {
      // Change the group while the call is in flight.
      const id = group.add(targets[0]);
      const p = s.uring.sendGroup(group, small);
      group.remove(id);
      return p;
    },
  ];

  // --kinds 0,3,5 narrows the mix (for finding what grows).
  const mix = options.kinds ? options.kinds.split(',').map((k) => kinds[Number(k)]) : kinds;
  const window = [];
  const onlyCanceled = (code) => code === 'ECANCELED';

  async function run(count) {
    for (let i = 0; i < count && Date.now() < deadline; i++) {
      window.push(settle(state, mix[state.calls % mix.length](senders), onlyCanceled));
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
  console.log(`[soak] loopback phase: ${Number.isFinite(calls) ? calls : 'unlimited'} calls${Number.isFinite(deadline) ? `, at most ${((deadline - Date.now()) / 1000).toFixed(0)} s` : ''}, ` +
    `${members} receivers (${targets.join(' ')}), up to ${WINDOW} calls in flight, Senders replaced every ${CHURN_EVERY} calls`);
  const warmup = Math.min(20000, Number.isFinite(calls) ? Math.floor(calls / 10) : 20000);
  await run(warmup);
  const start = sample('start', state);
  nextReport = Date.now() + EVERY * 1000;
  await run(calls - warmup);
  const end = sample('end', state);
  await Promise.all(Object.values(senders).map((s) => s.close()));
  checkers.close();
  sink.child.kill();

  if (options.smaps) printSmaps();
  const verdicts = flatness(start, end);
  verdicts.push(...unexpectedVerdict(state));
  if (state.badChecks) verdicts.push(`${state.badChecks} of ${state.checks} delivery checks failed`);
  const stopped = state.calls < calls ? ` (stopped by the time limit after ${state.calls} of ${calls} calls)` : '';
  console.log(`[soak] ${summaryLine(state, start, end)}; ${((end.seconds * 1e6) / Math.max(1, state.calls)).toFixed(1)} us per call; ` +
    `delivery checks ${state.checks - state.badChecks}/${state.checks} ok${stopped}`);
  return verdicts.map((v) => `loopback: ${v}`);
}

// --------------------------------------------------------- pushing back --

const PUSHBACK = {
  rate: '30mbit',
  smallLimit: '16kb', // the qdisc's queue in the last quarter: its drops are ENOBUFS
  ports: 16, // receivers (one member each)
  dying: 4, // receivers closed at each turn; the ones closed before reopen
  dyingEveryMs: 400,
  replaceEveryMs: 3000, // Senders closed with calls waiting, and replaced
  setupSeconds: 1.5, // namespaces, receivers, the child's start and its end
};

/** Why phase 2 cannot run here ('' when it can). */
function pushbackUnavailable() {
  const { VethSink } = require('../bench/lib/sinks');
  const why = VethSink.available();
  if (why) return why;
  try {
    require('../bench/lib/reference').buildReference({ quiet: true });
  } catch (error) {
    return `cannot build the receivers (bench/reference/sgref.c): ${error.message.split('\n')[0]}`;
  }
  return '';
}

/** Every turn: the receivers closed last turn come back, `dying` others close. */
function startDying(receiver) {
  let closed = [];
  let turns = 0;
  let running = true;
  const turn = async () => {
    for (const i of closed) await receiver.request(`open ${i} ${i + 1}`);
    const open = [...Array(PUSHBACK.ports).keys()].filter((i) => !closed.includes(i));
    closed = open.sort(() => Math.random() - 0.5).slice(0, PUSHBACK.dying);
    for (const i of closed) await receiver.request(`close ${i} ${i + 1}`);
    turns++;
  };
  const loop = (async () => {
    while (running) {
      await turn();
      await sleep(PUSHBACK.dyingEveryMs);
    }
    await receiver.request(`open 0 ${PUSHBACK.ports}`);
  })();
  return { stop: async () => { running = false; await loop; return turns; } };
}

/** Runs the sending side inside the link's first namespace; resolves with its result line. */
function runPushbackChild(link, job, timeoutMs) {
  const [command, args] = link.wrap(process.execPath, [...FLAGS, __filename, '--pushback-child', JSON.stringify(job)]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = () => child.kill('SIGKILL');
  process.on('exit', kill);
  return new Promise((resolve) => {
    let result = null;
    let buffered = '';
    const timer = setTimeout(kill, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7));
        else console.log(line);
      }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      process.off('exit', kill);
      resolve(result ?? { verdicts: [`the sending child ended without a result (${code ?? signal})`] });
    });
  });
}

/** Phase 2 (parent side); returns its verdicts, or { skipped: why }. */
async function pushbackPhase(options, seconds) {
  const why = pushbackUnavailable();
  if (why) {
    console.warn(`\n[soak] ********************************************************************\n` +
      `[soak] SKIPPED: the pushing-back phase needs network namespaces: ${why}\n` +
      `[soak] ********************************************************************\n`);
    return { skipped: why };
  }
  const { LinkSink, snmp } = require('../bench/lib/link');
  const { buildReference } = require('../bench/lib/reference');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgsoak-'));
  const link = new LinkSink(buildReference({ quiet: true }), dir, { rate: PUSHBACK.rate, ports: PUSHBACK.ports });
  const cleanup = () => {
    link.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  cleanups.push(cleanup);
  try {
    link.setup();
    const targets = fs.readFileSync(await link.targets(PUSHBACK.ports), 'utf8').trim().split('\n')
      .map((line) => ({ address: line.split(' ')[0], port: Number(line.split(' ')[1]) }));
    const childSeconds = Math.max(5, seconds - PUSHBACK.setupSeconds);
    console.log(`[soak] pushing-back phase: ${childSeconds.toFixed(0)} s through a ${PUSHBACK.rate} link (tbf, 128 KiB burst, 8 MiB queue; ` +
      `${PUSHBACK.smallLimit} for the last quarter), ${targets.length} receivers, ${PUSHBACK.dying} closed every ${PUSHBACK.dyingEveryMs} ms; ` +
      `ICMP sysctls in the receiving namespace: ${JSON.stringify(link.sysctls)}`);
    const dying = startDying(link.receiver);
    const result = await runPushbackChild(link, { targets, seconds: childSeconds, ns: link.tx, dev: link.txDev, rate: PUSHBACK.rate,
      window: options.window ?? 8, every: options.every ?? 10 }, (childSeconds + 60) * 1000);
    const turns = await dying.stop();
    const received = await link.receiver.request('report 0 0');
    const rx = snmp(link.rx);
    console.log(`[soak:pushback] receivers read ${received.since.datagrams} datagrams (${received.udp.RcvbufErrors} dropped by their buffers); ` +
      `${turns} turns of dying receivers: ${rx.Udp.NoPorts} datagrams to closed ports, ${rx.Icmp.OutDestUnreachs} ICMP unreachable sent back` +
      `${rx.Icmp.OutDestUnreachs < rx.Udp.NoPorts ? ' (fewer: rate-limited?)' : ''}`);
    return result.verdicts.map((v) => `pushing back: ${v}`);
  } finally {
    cleanup();
    cleanups.splice(cleanups.indexOf(cleanup), 1);
  }
}

/** A socket's queues by local port (/proc/net/udp6 and udp of this namespace): tx_queue, rx_queue in bytes. */
function socketQueues() {
  const out = new Map();
  for (const file of ['/proc/net/udp6', '/proc/net/udp']) {
    for (const line of fs.readFileSync(file, 'utf8').trim().split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [tx, rx] = fields[4].split(':').map((hex) => parseInt(hex, 16));
      out.set(parseInt(fields[1].split(':').pop(), 16), { tx, rx });
    }
  }
  return out;
}

/** The Senders of the pushing-back phase, each with an 'unreachable' listener. */
function linkSenders(Sender, state) {
  const senders = {
    small: new Sender({ sendBufferSize: 4096 }),
    mmsg: new Sender({ backend: 'sendmmsg', sendBufferSize: 16384 }),
    dflt: new Sender(),
  };
  for (const sender of Object.values(senders)) {
    sender.on('unreachable', (event) => {
      state.unreachable++;
      state.unreachableCodes.set(event.code, (state.unreachableCodes.get(event.code) ?? 0) + 1);
    });
  }
  return senders;
}

/** The calls of the pushing-back phase: which Sender (on), whether it aborts, the call. */
function linkKinds(group, members, { fill }) {
  const small = fill(Buffer.alloc(200), 11);
  const medium = fill(Buffer.alloc(1200), 12);
  const large = fill(Buffer.alloc(9000), 13); // 'auto' zero-copy; 6 IP fragments at MTU 1,500
  const frame = fill(Buffer.alloc(4800), 14);
  const prefix = Array.from({ length: members }, (_, i) => Buffer.from(`member-${i}:`));
  const suffix = { data: fill(Buffer.alloc(4 * members), 15), stride: 4 };
  const later = (signal) => setTimeout(() => signal.abort(), 2);
  return [
    { on: 'dflt', call: (s) => s.sendGroup(group, medium, { zeroCopy: false }) },
    { on: 'small', call: (s) => s.sendGroup(group, medium, { zeroCopy: true }) },
    { on: 'dflt', call: (s) => s.sendGroup(group, frame, { segmentSize: 1200 }) },
    { on: 'mmsg', call: (s) => s.sendGroup(group, medium, { prefix, suffix }) },
    // The default buffer: from a 4 KiB one, most 9,000-B datagrams (6 IP
    // fragments) fail with ENOBUFS on this link, where dgram sends them all
    // (a library issue, bench/results/link.md: fragments 2..6 are allocated
    // without waiting, up to 2 x sk_sndbuf).
    { on: 'dflt', call: (s) => s.sendGroup(group, large) },
    {
      on: 'dflt',
      aborts: true,
      call: (s) => {
        // Aborted while it waits for buffer room.
        const controller = new AbortController();
        later(controller);
        return s.sendGroup(group, medium, { signal: controller.signal });
      },
    },
    { on: 'mmsg', call: (s) => streamReport(s.streamGroup(group, medium, { prefix }), members) },
    { on: 'small', call: (s) => s.sendGroup([...group], small, { prefix }) },
  ];
}

/** Phase 2, sending side: runs inside the link's first namespace (see LinkSoak). */
async function pushbackChild(job) {
  const result = await new LinkSoak(job).run();
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

/** The calls of phase 2 and what they leave behind, checked at the end. */
class LinkSoak {
  constructor(job) {
    const { Group, Sender } = require('..');
    this.job = job;
    this.Sender = Sender;
    this.state = { ...newState('soak:pushback'), unreachable: 0, unreachableCodes: new Map(), maxRxQueue: 0, closedWithCalls: 0 };
    this.kinds = linkKinds(new Group(job.targets), job.targets.length, require('../test/_helpers'));
    this.senders = linkSenders(Sender, this.state);
    this.closing = new WeakSet(); // Senders closed while their calls may wait: ECANCELED is theirs
    this.enobufsFrom = Infinity; // the small queue: ENOBUFS from then on
    this.window = [];
    this.closes = [];
    this.start = null;
    const t0 = this.state.started;
    this.at = { end: t0 + job.seconds * 1000, warm: t0 + Math.min(3000, job.seconds * 150), small: t0 + job.seconds * 750,
      replace: t0 + PUSHBACK.replaceEveryMs, queues: t0, report: t0 + job.every * 1000 };
  }

  async run() {
    // The first line on stdout (a socket here) opens a descriptor Node keeps:
    // before the start sample, so it is there at both ends.
    console.log(`[soak:pushback] sending: ${Object.keys(this.senders).join(', ')} Senders, up to ${this.job.window} calls in flight`);
    while (Date.now() < this.at.end) {
      await this.duties(Date.now());
      await this.call();
    }
    return this.finish();
  }

  /** What is due: the start sample, the small queue, new Senders, a look at the queues, a progress line. */
  async duties(now) {
    const { at, state } = this;
    if (!this.start && now >= at.warm) {
      await Promise.all(this.window.splice(0));
      this.start = sample('start', state);
    }
    if (now >= at.small && this.enobufsFrom === Infinity) {
      const { ns, dev, rate } = this.job;
      require('../bench/lib/link').setTbf({ ns, dev, rate, limit: PUSHBACK.smallLimit, verb: 'change' });
      this.enobufsFrom = Date.now();
    }
    if (now >= at.replace) {
      this.replaceSenders();
      at.replace = now + PUSHBACK.replaceEveryMs;
    }
    if (now >= at.queues) {
      this.watchQueues();
      at.queues = now + 250;
    }
    if (now >= at.report) {
      sample('progress', state);
      at.report = now + this.job.every * 1000;
    }
  }

  /** Closes the Senders with their calls still waiting for room, and makes new ones. */
  replaceSenders() {
    this.state.closedWithCalls += this.state.inflight;
    const old = this.senders;
    this.senders = linkSenders(this.Sender, this.state);
    for (const sender of Object.values(old)) {
      this.closing.add(sender);
      this.closes.push(sender.close());
    }
  }

  /** The largest receive memory (error queue) of the current Senders' sockets so far. */
  watchQueues() {
    const rx = this.rxQueues();
    this.state.maxRxQueue = Math.max(this.state.maxRxQueue, ...rx);
    return rx;
  }

  rxQueues() {
    const queues = socketQueues();
    return Object.values(this.senders).map((s) => queues.get(s.address().port)?.rx ?? -1);
  }

  async call() {
    const { state, kinds } = this;
    const index = state.calls % kinds.length;
    const kind = kinds[index];
    const sender = this.senders[kind.on];
    const allowed = (code) => (code === 'ECANCELED' && (kind.aborts || this.closing.has(sender)))
      || (code === 'ENOBUFS' && Date.now() >= this.enobufsFrom);
    this.window.push(settle(state, kind.call(sender), allowed, `kind ${index} on ${kind.on}`));
    state.calls++;
    if (this.window.length >= this.job.window) await this.window.shift();
    // Calls that finish inside send() never yield: let the loop (timers, polls) run.
    if (state.calls % this.job.window === 0) await new Promise((resolve) => setImmediate(resolve));
  }

  /**
   * Every call settles (a stall shows as calls still in flight); 500 ms
   * later every ICMP error is in and must have been read, and nothing may
   * run meanwhile.
   */
  async finish() {
    const { state } = this;
    await Promise.race([Promise.all([...this.window, ...this.closes]), sleep(15000, { unref: true })]);
    const idle = process.cpuUsage();
    await sleep(500);
    const idleCpu = process.cpuUsage(idle);
    const m = { idleCores: (idleCpu.user + idleCpu.system) / 500e3, rxQueues: this.watchQueues(), end: sample('end', state) };
    m.start = this.start ?? m.end;
    m.inDestUnreachs = require('../bench/lib/link').snmp().Icmp.InDestUnreachs;
    await Promise.all(Object.values(this.senders).map((s) => s.close()));
    this.report(m);
    return { verdicts: this.verdicts(m), calls: state.calls, unreachable: state.unreachable, inDestUnreachs: m.inDestUnreachs };
  }

  verdicts({ start, end, rxQueues, idleCores, inDestUnreachs }) {
    const { state } = this;
    const verdicts = [...flatness(start, end), ...unexpectedVerdict(state)];
    if (rxQueues.some((rx) => rx !== 0)) verdicts.push(`a Sender's receive memory (error queue) did not return to zero: rx_queue ${rxQueues.join(', ')} bytes`);
    if (idleCores > 0.2) verdicts.push(`with nothing in flight the process used ${idleCores.toFixed(2)} cores for 500 ms (idle Senders must sleep)`);
    if (inDestUnreachs > 0 && state.unreachable === 0) verdicts.push(`${inDestUnreachs} ICMP unreachable errors came in and no 'unreachable' event was emitted`);
    if (inDestUnreachs === 0) verdicts.push('no ICMP unreachable error came back: the dying receivers were not exercised');
    return verdicts;
  }

  report({ start, end, rxQueues, idleCores, inDestUnreachs }) {
    const { state } = this;
    const codes = [...state.unreachableCodes].map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
    console.log(`[soak:pushback] ${summaryLine(state, start, end)}; 'unreachable' events ${state.unreachable} (${codes}) of ${inDestUnreachs} ICMP ` +
      `unreachable received; calls waiting when their Sender was closed ${state.closedWithCalls}; Senders' rx_queue at the end ${rxQueues.join(', ')} B ` +
      `(at most ${state.maxRxQueue} B seen); CPU while idle ${idleCores.toFixed(2)} cores`);
  }
}

// ----------------------------------------------------------------- main --

const cleanups = [];

async function main(options) {
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
  const started = Date.now();
  const seconds = options.seconds ?? Infinity;
  const pushbackSeconds = options['pushback-seconds'] ?? (Number.isFinite(seconds) ? seconds / 3 : 30);
  const calls = options.calls ?? (Number.isFinite(seconds) ? Infinity : 1e6);
  const verdicts = await loopbackPhase(options, calls, started + (seconds - (pushbackSeconds || 0)) * 1000);
  let skipped = 'off (--pushback-seconds 0)';
  if (pushbackSeconds > 0) {
    const pushback = await pushbackPhase(options, Math.min(pushbackSeconds, (started + seconds * 1000 - Date.now()) / 1000));
    if (Array.isArray(pushback)) {
      verdicts.push(...pushback);
      skipped = '';
    } else {
      skipped = `SKIPPED (${pushback.skipped})`;
    }
  }
  console.log(`[soak] whole soak: ${((Date.now() - started) / 1000).toFixed(1)} s${skipped ? `; pushing-back phase ${skipped}` : ''}`);
  console.log(verdicts.length ? `[soak] FAIL: ${verdicts.join('; ')}` : `[soak] PASS${skipped ? ' (loopback phase only)' : ''}`);
  process.exitCode = verdicts.length ? 1 : 0;
}

if (typeof gc !== 'function' || !FLAGS.every((flag) => process.execArgv.includes(flag))) {
  relaunch();
} else {
  const options = parseOptions();
  const run = options['pushback-child'] ? pushbackChild(JSON.parse(options['pushback-child'])) : main(options);
  run.catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
