// Where the datagrams go. Two sinks here, both unable to let a packet leave
// (the link sink, which pushes back, builds on VethSink in link.js):
//
// loopback: one UDP socket per member on 127.0.0.1, held by a separate
//   process (sgref sink) that never reads and keeps a tiny receive buffer:
//   after the first datagram or two every send is dropped at the socket.
//
// veth: two network namespaces this process creates, a veth pair between
//   them, and the sender run inside the first (ip netns exec). The sender's
//   end has an egress tbf whose inner queue holds 1 byte, so every packet is
//   dropped in the qdisc after the whole IP/UDP transmit path (GSO frames are
//   segmented first, as for a NIC without UDP segmentation offload). Members
//   are in 198.19.0.0/16, routed via a static neighbour 198.18.0.254 (no
//   ARP). Nothing else is configured in those namespaces, so no route leads
//   anywhere else; the peer end has no address and its counters prove that
//   nothing arrived.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const LOOPBACK_NET = /^127\.\d+\.\d+\.\d+$/;
const VETH_NET = /^198\.(18|19)\.\d+\.\d+$/;

function checkTargets(lines, pattern, sink) {
  for (const line of lines) {
    const [address] = line.split(' ');
    if (!pattern.test(address)) throw new Error(`refusing to send to ${address} on the ${sink} sink`);
  }
}

class LoopbackSink {
  constructor(sgref, dir) {
    this.name = 'loopback';
    this.sgref = sgref;
    this.dir = dir;
    this.children = new Map(); // members -> { child, file }
  }

  /** The targets file for n members, starting their sink process when needed. */
  async targets(n) {
    const have = this.children.get(n);
    if (have && have.child.exitCode === null) return have.file;
    const file = path.join(this.dir, `loopback-${n}.txt`);
    const child = spawn(this.sgref, ['sink', '--count', String(n), '--out', file, '--rcvbuf', '0'],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += chunk;
        if (out.includes('ready')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`loopback sink for ${n} members exited (${code})`)));
      child.on('error', reject);
    });
    checkTargets(fs.readFileSync(file, 'utf8').trim().split('\n'), LOOPBACK_NET, this.name);
    this.children.set(n, { child, file });
    return file;
  }

  /** Throws when a sink process died (its ports would answer with ICMP errors). */
  check(n) {
    const have = this.children.get(n);
    if (!have || have.child.exitCode !== null) throw new Error(`loopback sink for ${n} members is gone`);
  }

  wrap(command, args) {
    return [command, args];
  }

  stats() {
    return {};
  }

  close() {
    for (const { child } of this.children.values()) {
      if (child.exitCode === null) {
        child.stdin.end();
        child.kill();
      }
    }
    this.children.clear();
  }
}

const NS_PREFIX = 'sgbench-';
// The transmit namespace's next hop for 198.19.0.0/16, a static neighbour:
// nobody (veth), or the receiving namespace's end of the link (link.js).
const NEXT_HOP = '198.18.0.254';
const NEXT_HOP_MAC = '02:00:00:5e:00:fe';

function ip(args, options = {}) {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** Namespaces left by an earlier bench run that was killed before it could clean up. */
function removeStaleNamespaces() {
  let list = '';
  try {
    list = ip(['netns', 'list']);
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const match = /^(sgbench-[a-z]*(?:tx|rx)-(\d+))\b/.exec(line.trim());
    if (match && !alive(Number(match[2]))) {
      try { ip(['netns', 'del', match[1]]); } catch { /* already gone */ }
    }
  }
}

class VethSink {
  /** tag tells this pair's namespaces and devices from another kind's (a few letters). */
  constructor(dir, { name = 'veth', mtu = 9000, drop = 'error', tag = '' } = {}) {
    this.drop = drop;
    this.name = name;
    this.dir = dir;
    this.mtu = mtu;
    this.tx = `${NS_PREFIX}${tag}tx-${process.pid}`;
    this.rx = `${NS_PREFIX}${tag}rx-${process.pid}`;
    this.txDev = `sgb${tag}${process.pid}t`;
    this.rxDev = `sgb${tag}${process.pid}r`;
    this.up = false;
  }

  static available() {
    if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'needs root';
    try {
      execFileSync('ip', ['-V'], { stdio: 'ignore' });
      execFileSync('tc', ['-V'], { stdio: 'ignore' });
    } catch {
      return 'needs ip and tc (iproute2)';
    }
    return '';
  }

  /** Both namespaces and the veth pair between them, still down; txArgs / rxArgs: more `ip link add` options per end. */
  createPair(txArgs = [], rxArgs = []) {
    removeStaleNamespaces();
    const { tx, rx, txDev, rxDev } = this;
    this.up = true; // from here on close() removes whatever exists
    ip(['netns', 'add', tx]);
    ip(['netns', 'add', rx]);
    for (const ns of [tx, rx]) {
      // No IPv6 (no router solicitations or DAD on the link).
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'],
        { stdio: 'ignore' });
    }
    // Both ends are created directly inside the namespaces: never in ours.
    ip(['link', 'add', 'name', txDev, 'netns', tx, 'mtu', String(this.mtu), ...txArgs, 'type', 'veth', 'peer', 'name', rxDev, 'netns', rx,
      'mtu', String(this.mtu), ...rxArgs]);
  }

  setup() {
    this.createPair();
    const { tx, rx, txDev, rxDev } = this;
    ip(['-n', tx, 'addr', 'add', '198.18.0.1/24', 'dev', txDev]);
    // The qdisc before the link comes up: no packet ever passes it.
    execFileSync('tc', ['-n', tx, 'qdisc', 'replace', 'dev', txDev, 'root', 'tbf', 'rate', '8kbit', 'burst', '1600', 'limit', '1'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    ip(['-n', tx, 'link', 'set', txDev, 'up']);
    ip(['-n', rx, 'link', 'set', rxDev, 'up']);
    this.route();
    if (this.drop === 'silent') {
      // Peer down: our end loses carrier and the kernel swaps in the noop
      // qdisc, which frees every packet and answers NET_XMIT_CN (success).
      ip(['-n', rx, 'link', 'set', rxDev, 'down']);
      // The swap happens in linkwatch, up to a second later: wait for it.
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        const link = JSON.parse(ip(['-n', tx, '-j', 'link', 'show', 'dev', txDev]))[0];
        if (link.operstate !== 'UP') break;
        execFileSync('sleep', ['0.1']);
      }
    }
  }

  /** 198.19.0.0/16 from the transmit namespace via the static next hop. */
  route() {
    const { tx, txDev } = this;
    ip(['-n', tx, 'neigh', 'replace', NEXT_HOP, 'lladdr', NEXT_HOP_MAC, 'dev', txDev, 'nud', 'permanent']);
    ip(['-n', tx, 'route', 'add', '198.19.0.0/16', 'via', NEXT_HOP, 'dev', txDev]);
  }

  /** What a scenario asks of the sink: the MTU (vethMtu, else the run's --veth-mtu). */
  configure(scenario, options) {
    this.setMtu(scenario.vethMtu ?? options.vethMtu);
  }

  /** The MTU of both ends (a scenario may want fragmentation, or not). */
  setMtu(mtu) {
    if (mtu === this.mtu) return;
    ip(['-n', this.tx, 'link', 'set', this.txDev, 'mtu', String(mtu)]);
    ip(['-n', this.rx, 'link', 'set', this.rxDev, 'mtu', String(mtu)]);
    this.mtu = mtu;
  }

  /**
   * n members spread over 198.19.0.0/16 (250 hosts per /24), port 5004 + i % 1000;
   * layout 'one-port': all on port 5004 (the threads scenarios: with the
   * address and port both going up by one, the library's destination hash
   * puts the first few hundred members on one thread, see docs/benchmarks.md).
   */
  async targets(n, layout) {
    const onePort = layout === 'one-port';
    const file = path.join(this.dir, `veth-${n}${onePort ? '-one-port' : ''}.txt`);
    if (!fs.existsSync(file)) {
      const lines = [];
      for (let i = 0; i < n; i++) lines.push(`198.19.${Math.floor(i / 250)}.${(i % 250) + 1} ${onePort ? 5004 : 5004 + (i % 1000)}`);
      checkTargets(lines, VETH_NET, this.name);
      fs.writeFileSync(file, `${lines.join('\n')}\n`);
    }
    return file;
  }

  check() {
    if (!this.up) throw new Error('veth sink is not set up');
  }

  /** Runs the sender inside the transmit namespace. */
  wrap(command, args) {
    return ['ip', ['netns', 'exec', this.tx, command, ...args]];
  }

  /** Qdisc drops and what reached the peer (must stay 0). */
  stats() {
    const out = { drop: this.drop };
    try {
      const q = JSON.parse(execFileSync('tc', ['-n', this.tx, '-s', '-j', 'qdisc', 'show', 'dev', this.txDev], { encoding: 'utf8' }));
      const root = q.find((x) => x.root) ?? q[0];
      out.qdisc = root.kind;
      out.qdiscSentPackets = root.packets;
      out.qdiscDrops = root.drops;
    } catch (error) {
      out.qdiscError = error.message;
    }
    try {
      const link = JSON.parse(ip(['-n', this.rx, '-s', '-j', 'link', 'show', 'dev', this.rxDev]))[0];
      out.peerRxPackets = link.stats64.rx.packets;
      const own = JSON.parse(ip(['-n', this.tx, '-s', '-j', 'link', 'show', 'dev', this.txDev]))[0];
      out.txDropped = own.stats64.tx.dropped;
    } catch (error) {
      out.peerError = error.message;
    }
    return out;
  }

  close() {
    if (!this.up) return;
    this.up = false;
    for (const ns of [this.tx, this.rx]) {
      // Deleting a namespace deletes its end of the veth, and so the pair.
      try { ip(['netns', 'del', ns]); } catch { /* never created */ }
    }
  }
}

module.exports = { LoopbackSink, VethSink, removeStaleNamespaces, alive, ip, NEXT_HOP, NEXT_HOP_MAC };
