// Phase 3 of the soak (scripts/soak.js): Relays forwarding on loopback, one
// after another, each for GENERATION datagrams: on io_uring copying and
// zero-copy, and on sendmmsg (each relay on a thread of its own). A source
// here sends sequence-numbered datagrams of mixed sizes; the relay's group
// churns (a member removed and another added every
// CHURN datagrams), a quarter of its members are on closed ports (ICMP port
// unreachable comes back), and the readers check what they get. Verdicts:
// RSS, heap and descriptors flat; per relay, every datagram sent to it was
// received or counted dropped (received + noBuffer = sent), every one
// received was forwarded, sends failed only with ECONNREFUSED, and 'close()'
// settled; the readers got each relay's datagrams in order, whole.
'use strict';
const dgram = require('node:dgram');
const { newState, sleep } = require('./calls');
const { flatness, sample, summaryLine } = require('./measure');
const { udpSockets } = require('../../test/_proc');

const READERS = 6;
const GONE = 2;
const GENERATION = 64 * 150; // datagrams a relay forwards (whole windows)
const CHURN = 500;
const WINDOW = 64;
const SETTLE_MS = 10000;
const KINDS = [{ backend: 'io_uring' }, { backend: 'io_uring', zeroCopy: true }, { backend: 'sendmmsg' }];

const sizeOf = (seq) => 64 + ((seq * 37) % 1300);
const fillOf = (seq, generation) => (seq * 31 + generation) & 0xff;

/** Datagram seq of relay `generation`: [0, 4) seq, [4, 8) generation, then its fill byte. */
function datagram(seq, generation) {
  const bytes = Buffer.alloc(sizeOf(seq), fillOf(seq, generation));
  bytes.writeUInt32LE(seq, 0);
  bytes.writeUInt32LE(generation, 4);
  return bytes;
}

async function bound(recvBufferSize) {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize });
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

/** Readers that check each relay's datagrams arrive in order and whole; problems are listed in `problems`. */
async function openReaders(problems) {
  const readers = [];
  for (let i = 0; i < READERS; i++) {
    const socket = await bound(1 << 20);
    const last = new Map(); // generation -> last seq
    socket.on('message', (m) => {
      const seq = m.readUInt32LE(0);
      const generation = m.readUInt32LE(4);
      const fill = fillOf(seq, generation);
      if (m.length !== sizeOf(seq) || m[8] !== fill || m[m.length - 1] !== fill) problems.push(`reader ${i}: datagram ${seq} of relay ${generation} is not what was sent`);
      if (last.has(generation) && seq <= last.get(generation)) problems.push(`reader ${i}: relay ${generation} sent ${seq} after ${last.get(generation)}`);
      last.set(generation, seq);
    });
    readers.push({ socket, target: `127.0.0.1:${socket.address().port}` });
  }
  return readers;
}

/** Ports nobody listens on (bound, then closed). */
async function gonePorts() {
  const targets = [];
  for (let i = 0; i < GONE; i++) {
    const socket = await bound();
    targets.push(`127.0.0.1:${socket.address().port}`);
    socket.close();
  }
  return targets;
}

/** Resolves once condition() holds (every 5 ms), or with false after SETTLE_MS. */
async function until(condition) {
  for (const deadline = Date.now() + SETTLE_MS; Date.now() < deadline;) {
    if (condition()) return true;
    await sleep(5);
  }
  return condition();
}

class RelaySoak {
  constructor(lib, state, readers, gone, problems, source) {
    Object.assign(this, { lib, state, readers, gone, problems, source, failures: new Map() });
    this.members = [...readers.map((r) => r.target), ...gone];
  }

  /** One relay's life: GENERATION datagrams through it while its group churns, then its accounting. */
  async generation(generation) {
    const kind = KINDS[generation % KINDS.length];
    const group = new this.lib.Group(this.members);
    const relay = new this.lib.Relay({ listen: '127.0.0.1:0', allow: ['127.0.0.1'], group, ...kind });
    const { port } = relay.address();
    const what = `relay ${generation} (${relay.stats().backend}${kind.zeroCopy ? ', zero-copy' : ''})`;
    for (let sent = 0; sent < GENERATION;) {
      const window = [];
      for (let i = 0; i < WINDOW; i++, sent++) window.push(new Promise((resolve) => this.source.send(datagram(sent, generation), port, '127.0.0.1', resolve)));
      await Promise.all(window);
      this.state.calls += WINDOW;
      if (sent % CHURN === 0) this.churn(group);
    }
    const handled = () => { const s = relay.stats(); return s.received + s.dropped.noBuffer === GENERATION; };
    const drained = () => udpSockets().every((s) => s.port !== port || s.rx === 0);
    if (!(await until(() => drained() && handled()))) this.problems.push(`${what}: ${JSON.stringify(relay.stats())} for ${GENERATION} sent`);
    await relay.close();
    this.account(what, relay.stats());
  }

  /** The first member out, the next one not in the group (a reader or a gone port, in turn) in. */
  churn(group) {
    const [first] = group;
    group.remove(first.id);
    const inGroup = new Set([...group].map((m) => `${m.address}:${m.port}`));
    do this.churned = ((this.churned ?? 0) + 1) % this.members.length;
    while (inGroup.has(this.members[this.churned]));
    const [address, port] = this.members[this.churned].split(':');
    group.add(address, Number(port));
  }

  account(what, stats) {
    const { dropped } = stats;
    if (stats.forwarded !== stats.received || dropped.notAllowed || dropped.truncated || dropped.noMembers) {
      this.problems.push(`${what}: received ${stats.received}, forwarded ${stats.forwarded}, dropped ${JSON.stringify(dropped)}`);
    }
    for (const [code, n] of Object.entries(stats.failures)) {
      this.failures.set(code, (this.failures.get(code) ?? 0) + n);
      if (code !== 'ECONNREFUSED') this.problems.push(`${what}: ${n} sends failed with ${code}`);
    }
    if (!stats.sends) this.problems.push(`${what}: sent nothing`);
  }
}

/** Phase 3; returns its verdicts, each marked 'relay: '. */
async function relayPhase(seconds) {
  const lib = require('../..');
  const state = newState('soak:relay');
  const problems = [];
  const readers = await openReaders(problems);
  const soak = new RelaySoak(lib, state, readers, await gonePorts(), problems, await bound());
  const deadline = Date.now() + seconds * 1000;
  let generation = 0;
  // Relays for a third of the phase (whole rounds of KINDS) before the start
  // sample: threads, rings and pools have been made, and resident memory is
  // back at the relays' plateau. After the pushing-back phase it climbs to it
  // over the first tens of relays: measured from one relay of each kind on,
  // +3 to +10 MB in a 10-s phase, where 216 relays from a warm start grew 1.5.
  const warmUntil = Date.now() + (seconds * 1000) / 3;
  while (Date.now() < warmUntil || generation % KINDS.length || generation === 0) await soak.generation(generation++);
  const start = sample('start', state);
  while (Date.now() < deadline || generation % KINDS.length) await soak.generation(generation++);
  const end = sample('end', state);
  soak.source.close();
  for (const r of readers) r.socket.close();
  state.failures = soak.failures;
  console.log(`[soak] relay: ${generation} relays; ${summaryLine(state, start, end)}`);
  const verdicts = flatness(start, end);
  if (problems.length) verdicts.push(`${problems.length} problems: ${problems.slice(0, 5).join('; ')}`);
  return verdicts.map((v) => `relay: ${v}`);
}

module.exports = { relayPhase };
