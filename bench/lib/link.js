// The link sink: a link that pushes back like a real NIC.
//
// Two network namespaces this process creates (VethSink's), joined by a veth
// pair with MTU 1,500. The sender runs in the first (ip netns exec); its end
// of the pair has a tbf with a real queue (rate R, burst 128 KiB, limit
// 8 MiB), so the link, not a drop, limits the rate: the qdisc holds what the
// sender's socket buffer lets through and the socket fills up, as it does in
// front of a NIC. The second namespace owns the next hop (198.18.0.254) and,
// through a local route, all of 198.19.0.0/16, where the members are; one
// process there (sgref recv) reads one UDP socket per port, with a receive
// buffer large enough never to drop, and counts what arrives and when.
//
// The two namespaces stand for two machines, so they get a CPU each: the
// sender runs on CPU 0 (taskset), the receivers on CPU 1, and receive
// packet steering (RPS) on the receiving end of the pair hands every packet
// to CPU 1's backlog. veth delivers in the transmitting context otherwise,
// and the sender would be charged for the receivers' IP/UDP input as well,
// more or less of it depending on when its sends meet the tbf's timer.
// What stays with the sender is what a NIC leaves with it: the transmit
// path, the qdisc and the driver's transmit (veth_xmit).
//
// A run's measured window (t0Ns..t1Ns, CLOCK_MONOTONIC, from the worker or
// sgref send) is matched with what the receivers got in it: goodput is those
// bytes on the wire (payload + UDP 8 + IPv4 20 + Ethernet 14, what tbf
// counts) per second over the tbf rate. Nothing else is configured in the
// namespaces and neither has a default route: nothing can leave them.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const { VethSink, ip, NEXT_HOP, NEXT_HOP_MAC } = require('./sinks');

const TX_ADDRESS = '198.18.0.1';
const TX_MAC = '02:00:00:5e:00:01';
/** Bytes tbf counts per datagram beyond its payload: UDP, IPv4 and Ethernet headers. */
const HEADER_BYTES = 8 + 20 + 14;
const FIRST_PORT = 5004; // VethSink.targets: member i on port 5004 + i % 1000
const SENDER_CPU = '0';
const RECEIVER_CPU = '1';
// In the receiving namespace: every datagram to a closed port is answered
// (the soak's dying receivers), never rate-limited.
const RX_SYSCTLS = {
  'net.ipv4.icmp_ratelimit': '0',
  'net.ipv4.icmp_ratemask': '0',
  'net.ipv4.icmp_msgs_per_sec': '1000000',
  'net.ipv4.icmp_msgs_burst': '1000000',
};

/** '100mbit', '1gbit', '30mbit' in bits per second (tc's units: SI). */
function rateBits(rate) {
  const match = /^(\d+(?:\.\d+)?)(k|m|g)?bit$/.exec(rate);
  if (!match) throw new Error(`rate ${rate}: use Nkbit, Nmbit or Ngbit`);
  return Number(match[1]) * { undefined: 1, k: 1e3, m: 1e6, g: 1e9 }[match[2]];
}

function hasTaskset() {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Sets the tbf of namespace ns's device dev ('replace' starts empty; 'change' keeps what is queued). */
function setTbf({ ns, dev, rate, limit = '8mb', verb = 'replace' }) {
  rateBits(rate);
  execFileSync('tc', ['-n', ns, 'qdisc', verb, 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', '128kb', 'limit', limit],
    { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Sets each sysctl inside namespace ns; returns what each reads back (the value, or why not). */
function setSysctls(ns, values) {
  const out = {};
  for (const [name, value] of Object.entries(values)) {
    try {
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `${name}=${value}`], { stdio: 'ignore' });
    } catch { /* read back below */ }
    let now;
    try {
      now = ip(['netns', 'exec', ns, 'sysctl', '-n', name]).trim();
    } catch {
      now = 'missing';
    }
    out[name] = now === value ? now : `${now} (wanted ${value})`;
  }
  return out;
}

/** Namespace ns's (default: ours) /proc/net/snmp as { Udp: { InDatagrams, NoPorts, ... }, Icmp: { InDestUnreachs, ... }, ... }. */
function snmp(ns) {
  const text = ns ? ip(['netns', 'exec', ns, 'cat', '/proc/net/snmp']) : fs.readFileSync('/proc/net/snmp', 'utf8');
  const lines = text.trim().split('\n');
  const out = {};
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i].split(/\s+/);
    const values = lines[i + 1].split(/\s+/);
    out[names[0].replace(':', '')] = Object.fromEntries(names.slice(1).map((name, k) => [name, Number(values[k + 1])]));
  }
  return out;
}

/** The receivers (sgref recv in namespace ns): one JSON line answers each command line, in order. */
class Receiver {
  constructor(sgref, ns, { port, count, cpu }) {
    const pin = cpu === undefined ? [] : ['taskset', '-c', cpu];
    this.child = spawn('ip', ['netns', 'exec', ns, ...pin, sgref, 'recv', '--port', String(port), '--count', String(count)],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    this.waiting = [];
    this.buffered = '';
    this.ready = new Promise((resolve, reject) => {
      this.child.on('exit', (code, signal) => {
        const error = new Error(`link receivers exited (${code ?? signal})`);
        reject(error);
        for (const { reject: fail } of this.waiting.splice(0)) fail(error);
      });
      this.child.on('error', reject);
      this.onReady = resolve;
    });
    this.child.stdout.setEncoding('utf8').on('data', (chunk) => this.read(chunk));
  }

  read(chunk) {
    this.buffered += chunk;
    let newline;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      if (line === 'ready') this.onReady();
      else this.waiting.shift()?.resolve(JSON.parse(line));
    }
  }

  /** Sends one command line ('report T0 T1', 'close I J', 'open I J'); resolves with its answer. */
  request(line) {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        reject(new Error('link receivers are gone'));
        return;
      }
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${line}\n`);
    });
  }

  alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  close() {
    if (this.alive()) this.child.kill('SIGKILL');
  }
}

class LinkSink extends VethSink {
  /** rate: the tbf rate until configure() sets a scenario's; ports: receivers on 5004 and up. */
  constructor(sgref, dir, { rate = '1gbit', ports = 1000 } = {}) {
    super(dir, { name: 'link', mtu: 1500, drop: 'none', tag: 'l' });
    this.sgref = sgref;
    this.rate = rate;
    this.ports = ports;
    this.pace = 'poll'; // the C reference waits in poll(POLLOUT) on a full buffer
    this.receiver = null;
    this.sysctls = {};
    this.pinned = os.cpus().length >= 2 && hasTaskset(); // one CPU per namespace (see the top)
    this.last = { udp: null, qdisc: null, txUdp: null };
    this.totals = { runs: 0, rcvbufErrors: 0, inErrors: 0, qdiscDrops: 0 };
  }

  setup() {
    this.createPair(['address', TX_MAC], ['address', NEXT_HOP_MAC]);
    const { tx, rx, txDev, rxDev } = this;
    ip(['-n', tx, 'addr', 'add', `${TX_ADDRESS}/24`, 'dev', txDev]);
    ip(['-n', rx, 'addr', 'add', `${NEXT_HOP}/24`, 'dev', rxDev]);
    ip(['-n', rx, 'link', 'set', 'lo', 'up']);
    // Every address of 198.19.0.0/16 is local in rx: the members.
    ip(['-n', rx, 'route', 'add', 'local', '198.19.0.0/16', 'dev', 'lo']);
    this.sysctls = setSysctls(rx, RX_SYSCTLS);
    setTbf({ ns: tx, dev: txDev, rate: this.rate });
    ip(['-n', tx, 'link', 'set', txDev, 'up']);
    ip(['-n', rx, 'link', 'set', rxDev, 'up']);
    ip(['-n', rx, 'neigh', 'replace', TX_ADDRESS, 'lladdr', TX_MAC, 'dev', rxDev, 'nud', 'permanent']);
    this.route();
    if (this.pinned) {
      // Inside rx, /sys is its own: the receiving end's steering mask.
      execFileSync('ip', ['netns', 'exec', rx, 'tee', `/sys/class/net/${rxDev}/queues/rx-0/rps_cpus`],
        { input: (1 << Number(RECEIVER_CPU)).toString(16), stdio: ['pipe', 'ignore', 'pipe'] });
    }
  }

  /** Runs the sender inside the transmit namespace, on its CPU. */
  wrap(command, args) {
    return super.wrap(...(this.pinned ? ['taskset', ['-c', SENDER_CPU, command, ...args]] : [command, args]));
  }

  /** A scenario's rate (linkRate); the MTU stays 1,500. A fresh qdisc: nothing queued from before. */
  configure(scenario) {
    if (scenario.linkRate) this.setRate(scenario.linkRate);
  }

  setRate(rate) {
    setTbf({ ns: this.tx, dev: this.txDev, rate });
    this.rate = rate;
    this.last.qdisc = this.qdisc();
  }

  /** The targets (VethSink's: 198.19.x.y, port 5004 + i % 1000), with the receivers listening. */
  async targets(n) {
    if (!this.receiver?.alive()) {
      this.receiver = new Receiver(this.sgref, this.rx, { port: FIRST_PORT, count: this.ports, cpu: this.pinned ? RECEIVER_CPU : undefined });
      await this.receiver.ready;
      this.last.udp = (await this.receiver.request('report 0 0')).udp; // and forget the start
      this.last.txUdp = snmp(this.tx).Udp;
    }
    return super.targets(n);
  }

  check() {
    super.check();
    if (!this.receiver?.alive()) throw new Error('link receivers are gone');
  }

  /** The tbf's counters: bytes and packets it sent, drops, overlimits. */
  qdisc() {
    const q = JSON.parse(execFileSync('tc', ['-n', this.tx, '-s', '-j', 'qdisc', 'show', 'dev', this.txDev], { encoding: 'utf8' }));
    const root = q.find((x) => x.root) ?? q[0];
    return { kind: root.kind, bytes: root.bytes, packets: root.packets, drops: root.drops, overlimits: root.overlimits };
  }

  /**
   * What arrived in a run's measured window: result.link gets the goodput
   * (fraction of the rate), the datagrams delivered in the window, the
   * receivers' CPU in it and the drops since the last run (receiving
   * sockets: Udp RcvbufErrors/InErrors; the qdisc). otherCores (noise)
   * becomes what else ran on the sender's CPU (pinned), or else leaves out
   * the receivers' own CPU: the link needs them, they are not noise.
   */
  async measure(result) {
    const answer = await this.receiver.request(`report ${result.t0Ns} ${result.t1Ns}`);
    const seconds = (result.t1Ns - result.t0Ns) / 1e9;
    const { window, since, udp } = answer;
    const wireBytes = window.bytes + window.datagrams * HEADER_BYTES;
    const qdisc = this.qdisc();
    const txUdp = snmp(this.tx).Udp;
    const delta = (now, before, key) => (before ? now[key] - before[key] : 0);
    // Sends that found the buffer full (udp_sendmsg counts EAGAIN as
    // SndbufErrors): the whole run's, warm-up included, per datagram sent.
    const sent = result.datagrams * (1 + result.warmupCalls / result.calls);
    const receiverCores = window.cpuUs / 1e6 / seconds;
    result.link = {
      rate: this.rate,
      goodput: (wireBytes * 8) / seconds / rateBits(this.rate),
      datagrams: window.datagrams,
      bytes: window.bytes,
      receiverCores: Math.round(receiverCores * 100) / 100,
      deliveredSinceLast: since.datagrams,
      portsSeen: since.portsSeen,
      rcvbufErrors: delta(udp, this.last.udp, 'RcvbufErrors'),
      inErrors: delta(udp, this.last.udp, 'InErrors'),
      qdiscDrops: delta(qdisc, this.last.qdisc, 'drops'),
      bouncesPerDatagram: delta(txUdp, this.last.txUdp, 'SndbufErrors') / sent,
      // All the sender's CPU did in the window (pinned): its process and the
      // link's timer-driven work (tbf dequeue, veth transmit) that landed
      // while it slept, which no process is charged for.
      cpuBusyUs: this.pinned ? result.cpuBusy[Number(SENDER_CPU)] * result.wallUs : undefined,
    };
    this.last = { udp, qdisc, txUdp };
    this.totals.runs++;
    for (const key of ['rcvbufErrors', 'inErrors', 'qdiscDrops']) this.totals[key] += result.link[key];
    result.otherCoresAll = result.otherCores;
    const senderCores = result.cpuUs / result.wallUs;
    const others = this.pinned ? result.cpuBusy[Number(SENDER_CPU)] - senderCores : result.otherCores - receiverCores;
    result.otherCores = Math.round(others * 100) / 100;
    return result;
  }

  stats() {
    const out = { mtu: this.mtu, pinned: this.pinned, ...this.totals, lastRate: this.rate, sysctls: this.sysctls };
    try {
      out.lastQdisc = this.qdisc();
    } catch (error) {
      out.qdiscError = error.message;
    }
    try {
      out.receiverUdp = snmp(this.rx).Udp;
    } catch (error) {
      out.receiverUdpError = error.message;
    }
    return out;
  }

  close() {
    this.receiver?.close();
    this.receiver = null;
    super.close();
  }
}

module.exports = { LinkSink, Receiver, setTbf, snmp, rateBits, HEADER_BYTES };
