'use strict';
// What a server exports: sender.stats() counts what happened, diagnostics
// channels publish each call's start and finish, and a Sender disposes of
// itself with Symbol.asyncDispose (await using).
const { test } = require('uvu');
const assert = require('uvu/assert');
const diagnosticsChannel = require('node:diagnostics_channel');
const path = require('node:path');
const { Group, Sender, probe } = require('..');
const { openReceivers, privateNetwork, testUnless } = require('./_helpers');

// ICMP errors come back only as the namespace's rate limits allow: a
// private one, its limits raised, so the count does not depend on other tests.
const ICMP_SETUP = 'ip link set lo up && sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_msgs_per_sec=100000 net.ipv4.icmp_msgs_burst=100000';
const ICMP_FIXTURE = path.join(__dirname, 'fixtures', 'stats-icmp.js');

const network = privateNetwork(ICMP_SETUP);
const netTest = testUnless(test, network.missing, '55.stats ICMP');

let rx;
test.before(async () => { rx = await openReceivers(4); });
test.after(() => rx.close());
test.before.each(() => rx.reset());

test('stats() counts calls, sends, datagrams, bytes, failures by code, zero-copy outcomes and in-flight calls', async () => {
  const sender = new Sender();
  assert.equal(sender.stats().inFlight, { calls: 0, members: 0 });
  await sender.sendGroup(new Group(rx.targets), 'abcd');
  await sender.sendGroup(new Group([rx.targets[0], '255.255.255.255:9']), 'ef');
  const gso = probe().gso;
  if (gso) await sender.sendGroup(new Group(rx.targets.slice(0, 2)), Buffer.alloc(2500), { segmentSize: 1000, prefix: [Buffer.alloc(500), Buffer.alloc(0)] });
  const zeroCopy = sender.features.sendZc ? await sender.sendGroup(new Group(rx.targets.slice(0, 1)), Buffer.alloc(9000), { zeroCopy: true }) : undefined;
  const stats = sender.stats();
  assert.is(stats.backend, sender.backend);
  assert.is(stats.calls, 2 + (gso ? 1 : 0) + (zeroCopy ? 1 : 0));
  assert.is(stats.sends, 5 + (gso ? 2 : 0) + (zeroCopy ? 1 : 0));
  // GSO: 3,000 bytes in 3 datagrams, and 2,500 in 3.
  assert.is(stats.datagrams, 5 + (gso ? 6 : 0) + (zeroCopy ? 1 : 0));
  assert.is(stats.bytes, 4 * 4 + 2 + (gso ? 5500 : 0) + (zeroCopy ? 9000 : 0));
  assert.equal(stats.failures, { EACCES: 1 });
  assert.equal(stats.zeroCopy, zeroCopy ? { zeroCopied: 0, copied: 1 } : { zeroCopied: 0, copied: 0 }, 'loopback copies');
  assert.equal(stats.inFlight, { calls: 0, members: 0 });
  await sender.close();
  assert.is(sender.stats().calls, stats.calls, 'readable after close()');
});

netTest('stats() counts \'unreachable\' events and sends retried after another member\'s ICMP error', () => {
  const { backend, staleRetries, ...result } = network.run(ICMP_FIXTURE);
  assert.equal(result, { sent: 2, code: 'ECONNREFUSED', unreachable: 1, failures: {}, sends: 2 });
  // io_uring inline issues both (zero-copy) sends in one submission, and the
  // loopback answers the first inside it: the second picks up its error.
  // sendmmsg may return before the answer, and threads may use two sockets.
  if (backend === 'io_uring' && !(process.env.SENDGROUP_THREADS > 0)) assert.is(staleRetries, 1);
  else assert.ok(staleRetries <= 1, `${staleRetries} stale retries`);
});

test('diagnostics channels publish each call\'s start and, on a later tick, its finish with the report', async () => {
  const starts = [];
  const finishes = [];
  const onStart = (message) => starts.push(message);
  const onFinish = (message) => finishes.push(message);
  diagnosticsChannel.subscribe('sendgroup:send:start', onStart);
  diagnosticsChannel.subscribe('sendgroup:send:finish', onFinish);
  const sender = new Sender();
  try {
    const report = await sender.sendGroup(new Group(rx.targets.slice(0, 2)), 'traced');
    for await (const completion of sender.streamGroup(new Group(rx.targets.slice(0, 1)), 'streamed')) assert.ok(completion.ok);
    await new Promise(setImmediate);
    assert.is(starts.length, 2);
    assert.is(finishes.length, 2);
    assert.is(starts[0].sender, sender);
    assert.equal(starts[0].call, { recipients: 2, payloadBytes: 6, zeroCopy: false, segmentSize: 0, stream: false });
    assert.is(finishes[0].call, starts[0].call, 'the same call object');
    assert.equal(finishes[0].report, report);
    assert.is(starts[1].call.stream, true);
    assert.is(finishes[1].report.sent, 1);
  } finally {
    diagnosticsChannel.unsubscribe('sendgroup:send:start', onStart);
    diagnosticsChannel.unsubscribe('sendgroup:send:finish', onFinish);
    await sender.close();
  }
});

test('Symbol.asyncDispose closes the sender; backend and features stay readable after close()', async () => {
  const sender = new Sender();
  const { backend, features } = sender;
  await sender[Symbol.asyncDispose]();
  await assert.is(await sender.sendGroup(new Group(rx.targets), 'late').catch((error) => error.code), 'ERR_SOCKET_DGRAM_NOT_RUNNING');
  assert.is(sender.backend, backend);
  assert.equal(sender.features, features);
});

test.run();
