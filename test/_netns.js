// A private two-namespace network for tests that need a real transmit path:
// the sender lives in namespace A behind a veth whose egress qdisc the test
// chooses; the peer sits in namespace B with no address, so every packet
// that leaves the qdisc is dropped there. 198.18.0.0/15 is used only inside
// these namespaces; nothing can reach any other network.
'use strict';
const { execFileSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const PEER = '198.18.0.2';

function available() {
  if (process.getuid() !== 0) return 'not root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    execFileSync('tc', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'ip or tc (iproute2) missing';
  }
  return undefined;
}

function ip(...args) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Makes device `dev` of namespace `ns` deliver each flow in the order its
 * frames left the sender, as a wire does. A veth hands each frame to the
 * backlog of the CPU that transmitted it, and a qdisc is drained from
 * whichever CPU gets to it (a sending thread, or the tbf's timer), so two
 * frames of one flow could be received out of order: measured with two
 * plain dgram senders on two CPUs through a tbf, 2 runs of 4 reordered a
 * datagram. RPS over every CPU steers each flow (by its hash) to one CPU's
 * backlog: none of 3 runs did. (Steering everything to one CPU kept order
 * too, 0 of 4, but then one CPU answered every closed port, and in CI,
 * under load, 9 of 5,000 ICMP replies never left namespace B.)
 */
function receiveInFlowOrder(ns, dev) {
  execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', `echo ${everyCpuMask()} > /sys/class/net/${dev}/queues/rx-0/rps_cpus`]);
}

/** A CPU mask of every CPU, as sysfs reads it: hex, in comma-separated groups of 32 bits. */
function everyCpuMask() {
  const hex = ((1n << BigInt(os.cpus().length)) - 1n).toString(16);
  const groups = [];
  for (let end = hex.length; end > 0; end -= 8) groups.unshift(hex.slice(Math.max(0, end - 8), end));
  return groups.join(',');
}

/** Creates the namespaces; returns { run(scenario, qdisc), close() }. */
function createNetwork() {
  const a = `sgtest-a-${process.pid}`;
  const b = `sgtest-b-${process.pid}`;
  const dev = `sgt${process.pid % 100000}`;
  ip('netns', 'add', a);
  ip('netns', 'add', b);
  const close = () => {
    for (const ns of [a, b]) {
      try { ip('netns', 'del', ns); } catch { /* already gone */ }
    }
  };
  try {
    ip('link', 'add', dev, 'netns', a, 'type', 'veth', 'peer', 'name', `${dev}p`, 'netns', b);
    ip('-n', a, 'addr', 'add', '198.18.0.1/30', 'dev', dev);
    ip('-n', a, 'link', 'set', 'lo', 'up');
    ip('-n', a, 'link', 'set', dev, 'up');
    ip('-n', b, 'link', 'set', `${dev}p`, 'up');
    // A static neighbour: no ARP, so the first datagram goes straight to the qdisc.
    ip('-n', a, 'neigh', 'add', PEER, 'lladdr', '02:00:00:00:00:02', 'dev', dev, 'nud', 'permanent');
  } catch (error) {
    close();
    throw error;
  }
  return {
    /** Replaces the qdisc (e.g. ['pfifo', 'limit', '0']) and runs a fixture scenario inside namespace A. */
    run(scenario, qdisc) {
      const out = execFileSync(...this.command(scenario, qdisc), { encoding: 'utf8', timeout: 60000 });
      return JSON.parse(out.trim().split('\n').pop());
    },
    /** [file, args] that run a scenario inside namespace A, for spawning it by hand. */
    command(scenario, qdisc) {
      execFileSync('tc', ['-n', a, 'qdisc', 'replace', 'dev', dev, 'root', ...qdisc]);
      return ['ip', ['netns', 'exec', a, process.execPath, path.join(__dirname, 'fixtures', 'netns-child.js'), scenario, PEER]];
    },
    close,
  };
}

module.exports = { available, createNetwork, receiveInFlowOrder };
