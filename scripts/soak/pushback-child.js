// Phase 2 of the soak, the sending side (run by pushback.js as
// `soak.js --pushback-child JOB` inside the link's first namespace): the
// calls below from Senders with a 4 KiB, a 16 KiB and the default send
// buffer, replaced with calls waiting; the small queue for the last quarter;
// then the checks of what the calls leave behind. Prints `RESULT {json}`.
'use strict';
const { udpSockets } = require('../../test/_proc');
const { newState, settle, sleep, streamReport, unexpectedVerdict } = require('./calls');
const { flatness, sample, summaryLine } = require('./measure');
const { PUSHBACK } = require('./pushback');

/** A socket's queues by local port (/proc/net/udp6 and udp of this namespace): tx_queue, rx_queue in bytes. */
function socketQueues() {
  return new Map(udpSockets().map(({ port, tx, rx }) => [port, { tx, rx }]));
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
    // The default buffer: through a 4 KiB one a 9,000-B datagram (7 IP
    // fragments) fits only a nearly empty queue and waits for room a
    // bounded number of times (Backend::RoomMayCure; test/61.pushback),
    // which the other senders' traffic on this shared link could exhaust.
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
    const { Group, Sender } = require('../..');
    this.job = job;
    this.Sender = Sender;
    this.state = { ...newState('soak:pushback'), unreachable: 0, unreachableCodes: new Map(), maxRxQueue: 0, closedWithCalls: 0 };
    this.kinds = linkKinds(new Group(job.targets), job.targets.length, require('../../test/_helpers'));
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
      require('../../bench/lib/link').setTbf({ ns, dev, rate, limit: PUSHBACK.smallLimit, verb: 'change' });
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
    m.inDestUnreachs = require('../../bench/lib/link').snmp().Icmp.InDestUnreachs;
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

module.exports = { pushbackChild };
