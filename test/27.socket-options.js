'use strict';
// The socket options dgram.Socket has (TTL, TOS, broadcast, multicast TTL,
// interface and loopback), proved on the wire: receivers report the TTL and
// TOS each datagram arrived with. In a private network namespace, so
// broadcast and multicast stay in it.
const { test } = require('uvu');
const assert = require('uvu/assert');
const path = require('node:path');
const { Sender } = require('..');
const { privateNetwork, testUnless } = require('./_helpers');

const FIXTURE = path.join(__dirname, 'fixtures', 'socket-options.js');
// lo, and a veth pair whose second end joins no group (multicast leaving
// the first reaches local receivers only through the loopback copy).
const SETUP = [
  'ip link set lo up',
  'ip link add sgd0 type veth peer name sgd1',
  'sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0',
  'ip link set sgd1 up',
  'ip link set sgd0 multicast on up',
  'ip addr add 198.18.5.1/24 dev sgd0',
  'export SG_DUMMY_ADDRESS=198.18.5.1 SG_DUMMY_INDEX=$(ip -o link show sgd0 | cut -d: -f1)',
].join(' && ');

// python3 runs the receivers.
const network = privateNetwork(`${SETUP} && python3 -c 1`);
const netTest = testUnless(test, network.missing, '27.socket-options');
let arrived;

function run() {
  arrived ??= network.run(FIXTURE);
  return arrived;
}

const one = (data, ttl, tos) => ({ sent: 1, datagrams: [{ data, ttl, tos }] });

netTest('ttl and tos mark IPv4 and IPv6 datagrams (a dual-stack socket and an IPv4 one); defaults are the kernel\'s', () => {
  const r = run();
  assert.equal(r.defaults4, one('to 127.0.0.1', 64, 0));
  assert.equal(r.marked4, one('to 127.0.0.1', 7, 184), 'TTL 7, DSCP EF');
  assert.equal(r.marked6, one('to ::1', 7, 184), 'hop limit 7, traffic class EF');
  assert.equal(r.markedIpv4Only, one('to 127.0.0.1', 7, 184));
});

netTest('broadcast: without it a broadcast address is EACCES for that member; with it the datagram arrives', () => {
  const r = run();
  assert.equal(r.noBroadcast, { sent: 0, code: 'EACCES', datagrams: [] });
  assert.equal(r.broadcast, one('to 127.255.255.255', 64, 0));
});

netTest('multicast: the TTL, the interface, and the loopback copy, over IPv4 and IPv6', () => {
  const r = run();
  assert.equal(r.multicast4, one('to 239.1.2.3', 5, 0));
  assert.equal(r.noLoop4, { sent: 1, datagrams: [] }, 'multicastLoopback: false: no copy for this host');
  assert.equal(r.multicast6, one('to ff15::1234', 5, 0));
  assert.equal(r.noLoop6, { sent: 1, datagrams: [] });
});

test('socket options are checked like the others', () => {
  const bad = [
    [{ ttl: 0 }, 'ERR_OUT_OF_RANGE'], [{ ttl: 256 }, 'ERR_OUT_OF_RANGE'], [{ tos: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ multicastTtl: 1.5 }, 'ERR_OUT_OF_RANGE'], [{ broadcast: 1 }, 'ERR_INVALID_ARG_TYPE'],
    [{ multicastLoopback: 'yes' }, 'ERR_INVALID_ARG_TYPE'], [{ multicastInterface: '::1' }, 'ERR_INVALID_ARG_VALUE'],
    [{ multicastInterface: 'eth0' }, 'ERR_INVALID_ARG_VALUE'], [{ ttl: '64' }, 'ERR_INVALID_ARG_TYPE'],
  ];
  for (const [options, code] of bad) {
    assert.throws(() => new Sender(options), (error) => error.code === code, JSON.stringify(options));
  }
  for (const multicastInterface of ['::%', '::%x', '::%4294967296']) {
    assert.throws(() => new Sender({ multicastInterface }), (error) => error.code === 'ERR_INVALID_ARG_VALUE' && error.message.startsWith('options.multicastInterface'), multicastInterface);
  }
});

// Before, the options stayed on the user's socket after close(): its own
// datagrams went out with TTL 7 and DSCP EF, its send buffer stayed shrunk.
netTest('socket: a lent dgram socket marks only the Sender\'s or Relay\'s datagrams, and close() gives it back with its ttl, tos and send buffer as they were', () => {
  const r = run();
  for (const name of ['lentToSender', 'lentToRelay']) {
    const { datagrams, sendBuffer } = r[name];
    assert.equal(datagrams, [{ data: 'user before', ttl: 64, tos: 0 }, { data: 'lender', ttl: 7, tos: 184 }, { data: 'user after', ttl: 64, tos: 0 }], name);
    assert.is(sendBuffer[1], 200000, `${name}: the kernel doubles what was asked`);
    assert.is(sendBuffer[2], sendBuffer[0], `${name}: send buffer`);
  }
});

test.run();
