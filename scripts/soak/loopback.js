// Phase 1 of the soak (scripts/soak.js): sendGroup/streamGroup calls of
// every kind in the mix below, up to W in flight, against local receivers
// that never read (the sink: a child process); the Senders replaced every N
// calls, and every CHECK_EVERY calls a delivery check at receivers that read.
'use strict';
const { spawn } = require('node:child_process');
const { fill, openReceivers } = require('../../test/_helpers');
const { newState, settle, streamReport, unexpectedVerdict } = require('./calls');
const { flatness, printSmaps, sample, summaryLine } = require('./measure');

const CHECK_EVERY = 25000; // calls between delivery checks

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

/** The calls of the mix, each given the Senders ({ uring, mmsg, tight }); --kinds picks from this list by index. */
function loopbackKinds(group, targets, AUTO_ZERO_COPY_MIN_BYTES) {
  const members = targets.length;
  // Buffers reused across calls (the library copies them inside the call).
  const small = fill(Buffer.alloc(200), 1);
  const medium = fill(Buffer.alloc(1400), 2);
  // Above the 'auto' threshold, whatever it is.
  const large = fill(Buffer.alloc(Math.max(9000, AUTO_ZERO_COPY_MIN_BYTES + 192)), 3);
  const frame = fill(Buffer.alloc(4800), 4);
  const prefix = targets.map((_, i) => Buffer.from(`member-${i}:`));
  const suffix = { data: fill(Buffer.alloc(4 * members), 5), stride: 4 };
  return [
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
}

const onlyCanceled = (code) => code === 'ECANCELED';

/** The calls of phase 1 and the Senders that make them. */
class LoopbackSoak {
  /** lib: the library; targets: the sink's; checkers: receivers that read (test/_helpers openReceivers). */
  constructor(lib, options, { state, deadline, targets, checkers }) {
    this.Sender = lib.Sender;
    this.state = state;
    this.deadline = deadline;
    this.targets = targets;
    this.checkers = checkers;
    this.window = options.window ?? 32;
    this.every = options.every ?? 10;
    this.churnEvery = options.churn ?? 50000; // calls between replacing the Senders
    const kinds = loopbackKinds(new lib.Group(targets), targets, lib.AUTO_ZERO_COPY_MIN_BYTES);
    // --kinds 0,3,5 narrows the mix (for finding what grows).
    this.mix = options.kinds ? options.kinds.split(',').map((k) => kinds[Number(k)]) : kinds;
    this.senders = this.newSenders();
    this.inFlight = [];
    this.nextReport = Infinity;
  }

  newSenders() {
    const { Sender } = this;
    return { uring: new Sender(), mmsg: new Sender({ backend: 'sendmmsg' }), tight: new Sender({ sendBufferSize: 8192, slots: 2 }) };
  }

  announce(calls) {
    const { deadline, targets } = this;
    console.log(`[soak] loopback phase: ${Number.isFinite(calls) ? calls : 'unlimited'} calls${Number.isFinite(deadline) ? `, at most ${((deadline - Date.now()) / 1000).toFixed(0)} s` : ''}, ` +
      `${targets.length} receivers (${targets.join(' ')}), up to ${this.window} calls in flight, Senders replaced every ${this.churnEvery} calls`);
  }

  /** A warm-up, then the rest of the calls between the start and end samples. */
  async measure(calls) {
    const warmup = Math.min(20000, Number.isFinite(calls) ? Math.floor(calls / 10) : 20000);
    await this.run(warmup);
    const start = sample('start', this.state);
    this.nextReport = Date.now() + this.every * 1000;
    await this.run(calls - warmup);
    return { start, end: sample('end', this.state) };
  }

  /** count calls (fewer once the deadline has passed), with what is due between them. */
  async run(count) {
    const { state } = this;
    for (let i = 0; i < count && Date.now() < this.deadline; i++) {
      await this.call();
      if (state.calls % this.churnEvery === 0) await this.replaceSenders();
      if (state.calls % CHECK_EVERY === 0) await this.check();
      if (Date.now() >= this.nextReport) {
        sample('progress', state);
        this.nextReport = Date.now() + this.every * 1000;
      }
    }
    await Promise.all(this.inFlight.splice(0));
  }

  /** The next call of the mix; waits for the oldest once the window is full. */
  async call() {
    const { state, inFlight } = this;
    inFlight.push(settle(state, this.mix[state.calls % this.mix.length](this.senders), onlyCanceled));
    state.calls++;
    if (inFlight.length >= this.window) {
      await inFlight.shift();
      if (state.calls % this.window === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async replaceSenders() {
    await Promise.all(this.inFlight.splice(0));
    const old = this.senders;
    this.senders = this.newSenders();
    await Promise.all(Object.values(old).map((s) => s.close()));
  }

  /** Exact bytes at reading receivers, through the soaking Senders. */
  async check() {
    const { state, checkers, senders } = this;
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

  async close() {
    await Promise.all(Object.values(this.senders).map((s) => s.close()));
    this.checkers.close();
  }
}

/** The sink, refusing addresses other than loopback; killed when this process exits. */
async function loopbackSink(members) {
  const sink = await startSink(members);
  process.on('exit', () => sink.child.kill());
  for (const target of sink.targets) {
    if (!/^(127\.|\[::1\])/.test(target)) throw new Error(`soak: refusing to send to ${target}`);
  }
  return sink;
}

/** Phase 1; returns its verdicts. deadline: ms timestamp or Infinity. */
async function loopbackPhase(options, calls, deadline) {
  const lib = require('../..');
  const state = newState('soak');
  sample('launch', state);
  const sink = await loopbackSink(options.members ?? 8);
  const checkers = await openReceivers(2, '127.0.0.1');
  const soak = new LoopbackSoak(lib, options, { state, deadline, targets: sink.targets, checkers });
  soak.announce(calls);
  const { start, end } = await soak.measure(calls);
  await soak.close();
  sink.child.kill();
  if (options.smaps) printSmaps();
  return verdicts(state, calls, start, end);
}

/** Phase 1's verdicts, each marked 'loopback: '; prints its summary line. */
function verdicts(state, calls, start, end) {
  const found = flatness(start, end);
  found.push(...unexpectedVerdict(state));
  if (state.badChecks) found.push(`${state.badChecks} of ${state.checks} delivery checks failed`);
  const stopped = state.calls < calls ? ` (stopped by the time limit after ${state.calls} of ${calls} calls)` : '';
  console.log(`[soak] ${summaryLine(state, start, end)}; ${((end.seconds * 1e6) / Math.max(1, state.calls)).toFixed(1)} us per call; ` +
    `delivery checks ${state.checks - state.badChecks}/${state.checks} ok${stopped}`);
  return found.map((v) => `loopback: ${v}`);
}

module.exports = { loopbackPhase };
