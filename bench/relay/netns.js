// The relay benchmark's private network: one namespace this process creates
// and deletes, holding the source, the relays and a veth pair whose peer end
// stays down. The source sends to the relays on the namespace's own
// loopback; members are in 198.19.0.0/16, routed via a static next hop (no
// ARP) out of the veth end that is up. With its peer down that end has no
// carrier, so the kernel gives it the noop qdisc, which frees every packet
// and answers success: a send costs the whole IP/UDP transmit path up to the
// qdisc, and no receive work anywhere is charged to the relay. The
// namespace's UDP OutDatagrams counter proves how many datagrams were sent.
// Nothing else is configured in the namespace, so no route leads anywhere
// else.
'use strict';
const { execFileSync } = require('node:child_process');
const { alive } = require('../lib/sinks');

const PREFIX = 'sgrelay-';
const DEVICE = 'sgrelay0';
const PEER = 'sgrelay1';
const LOCAL = '198.18.0.1/24';
const NEXT_HOP = '198.18.0.254';
const NEXT_HOP_MAC = '02:00:00:5e:00:fe';
const MEMBER_NET = '198.19.0.0/16';
const MEMBER_ADDRESS = /^198\.19\.\d+\.\d+$/;

function ip(args) {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Deletes namespaces left by an earlier run that was killed before it could clean up. */
function removeStale() {
  for (const line of ip(['netns', 'list']).split('\n')) {
    const match = new RegExp(`^(${PREFIX}(\\d+))\\b`).exec(line.trim());
    if (match && !alive(Number(match[2]))) ip(['netns', 'del', match[1]]);
  }
}

/** Why the namespace cannot be made here, or '' when it can. */
function unavailable() {
  if (process.getuid() !== 0) return 'needs root (network namespaces)';
  try {
    ip(['-V']);
  } catch {
    return 'needs ip (iproute2)';
  }
  return '';
}

function checkNoCarrier(name) {
  const [link] = JSON.parse(ip(['-n', name, '-j', 'link', 'show', 'dev', DEVICE]));
  if (!link.flags.includes('NO-CARRIER')) throw new Error(`${DEVICE} has carrier: its packets would reach ${PEER}`);
}

function udpOutDatagrams(name) {
  const lines = execFileSync('ip', ['netns', 'exec', name, 'cat', '/proc/net/snmp'], { encoding: 'utf8' })
    .split('\n').filter((l) => l.startsWith('Udp:'));
  const [keys, values] = lines.map((l) => l.split(/\s+/));
  return Number(values[keys.indexOf('OutDatagrams')]);
}

/** Creates the namespace; returns { name, wrap(command, args), udpSent(), close() }. */
function createNetwork() {
  removeStale();
  const name = `${PREFIX}${process.pid}`;
  ip(['netns', 'add', name]);
  const close = () => {
    try { ip(['netns', 'del', name]); } catch { /* already gone */ }
  };
  try {
    execFileSync('ip', ['netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'],
      { stdio: 'ignore' });
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
    // Both ends made inside the namespace, never in ours; the peer is never
    // brought up, so our end comes up without carrier and keeps the noop qdisc.
    ip(['link', 'add', 'name', DEVICE, 'netns', name, 'type', 'veth', 'peer', 'name', PEER, 'netns', name]);
    ip(['-n', name, 'addr', 'add', LOCAL, 'dev', DEVICE]);
    ip(['-n', name, 'link', 'set', DEVICE, 'up']);
    ip(['-n', name, 'neigh', 'replace', NEXT_HOP, 'lladdr', NEXT_HOP_MAC, 'dev', DEVICE, 'nud', 'permanent']);
    ip(['-n', name, 'route', 'add', MEMBER_NET, 'via', NEXT_HOP, 'dev', DEVICE]);
    checkNoCarrier(name);
  } catch (error) {
    close();
    throw error;
  }
  return {
    name,
    /** [file, args] running command inside the namespace (ip netns exec execs it: same pid). */
    wrap: (command, args) => ['ip', ['netns', 'exec', name, command, ...args]],
    /** UDP datagrams sent in the namespace so far (the source's and the relays'). */
    udpSent: () => udpOutDatagrams(name),
    close,
  };
}

/** "address port" lines for n members, 250 hosts per /24, ports 5004 and up. */
function memberLines(n) {
  const lines = [];
  for (let i = 0; i < n; i++) lines.push(`198.19.${Math.floor(i / 250)}.${(i % 250) + 1} ${5004 + (i % 1000)}`);
  for (const line of lines) {
    if (!MEMBER_ADDRESS.test(line.split(' ')[0])) throw new Error(`refusing member ${line}: not in ${MEMBER_NET}`);
  }
  return lines;
}

module.exports = { createNetwork, memberLines, unavailable };
