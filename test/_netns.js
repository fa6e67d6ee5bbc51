// A private two-namespace network for tests that need a real transmit path:
// the sender lives in namespace A behind a veth whose egress qdisc the test
// chooses; the peer sits in namespace B with no address, so every packet
// that leaves the qdisc is dropped there. 198.18.0.0/15 is used only inside
// these namespaces; nothing can reach any other network.
'use strict';
const { execFileSync } = require('node:child_process');
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
 * Makes device `dev` of namespace `ns` receive on one CPU (RPS), as a wire
 * delivers: in the order frames left the sender. A veth hands each frame to
 * the backlog of the CPU that transmitted it, and a qdisc is drained from
 * whichever CPU gets to it (a sending thread, or the tbf's timer), so two
 * frames of one flow could be received out of order: measured with two
 * plain dgram senders on two CPUs through a tbf, 2 runs of 4 reordered a
 * datagram; none with this.
 */
function receiveOnOneCpu(ns, dev) {
  execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', `echo 1 > /sys/class/net/${dev}/queues/rx-0/rps_cpus`]);
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

module.exports = { available, createNetwork, receiveOnOneCpu };
