'use strict';
// Any sender method may be called from inside any callback or continuation
// while results are being delivered, and a callback that throws strands
// nothing. Results must come from the event loop while sends still wait for
// room, so each scenario runs in a child (fixtures/reentry.js) inside a
// private network namespace with a slow loopback.
const { test } = require('uvu');
const assert = require('uvu/assert');
const path = require('node:path');
const { privateNetwork, testUnless } = require('./_helpers');

const FIXTURE = path.join(__dirname, 'fixtures', 'reentry.js');
const SETUP = [
  'ip link set lo up',
  // Closed ports answer every datagram (the kernel rate-limits ICMP otherwise).
  'sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_msgs_per_sec=100000 net.ipv4.icmp_msgs_burst=100000',
  'tc qdisc add dev lo root tbf rate 50mbit burst 20000 limit 10000000',
].join(' && ');

const network = privateNetwork(SETUP);
const run = (scenario) => network.run(FIXTURE, [scenario]);

const reentryTest = testUnless(test, network.missing, '52.reentry');

reentryTest('a stream consumer aborts, sends and closes from its loop: every call settles, receivers got what was reported', () => {
  const result = run('stream');
  assert.ok(result.seen >= 15, `saw ${result.seen} completions`);
  assert.is(result.corrupt, 0);
  assert.equal(result.perCall, result.sent, 'datagrams per call at the receivers = reported sent');
  assert.ok(result.codes.every((code) => code === 'ECANCELED'), result.codes.join());
});

reentryTest('a continuation sends and closes while other calls wait for room: they settle, canceled', () => {
  const result = run('then');
  assert.is(result.settled, 3);
  assert.is(result.total, 150 + 150 + 20, 'every member sent or failed');
  assert.is(result.corrupt, 0);
  assert.equal(result.perCall, result.sent);
  assert.is(result.sent[1], 150);
  assert.equal(result.codes, ['ECANCELED'], 'what still waited at close() was canceled');
});

reentryTest('a throwing stream consumer and a throwing \'unreachable\' listener strand no other call', () => {
  const result = run('throwing');
  assert.is(result.consumerError, 'consumer');
  assert.equal(result.sent, [101, 101], 'the departed receiver\'s datagrams were handed to the kernel too');
  assert.equal(result.failed, [0, 0]);
  assert.equal(result.uncaught, ['listener']);
});

reentryTest('an AbortSignal\'s own removeEventListener is never called by the sender', () => {
  const result = run('signal');
  assert.equal(result, { sent: [100, 10], overridden: 0 });
});

test.run();
