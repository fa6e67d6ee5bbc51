'use strict';
// Faults that need a real transmit path: run inside a private network
// namespace pair (test/_netns.js), as root.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { available, createNetwork } = require('./_netns');
const { openReceivers, privateNetwork, testUnless } = require('./_helpers');
const { probe } = require('..');

const missing = available();
const netTest = testUnless(test, missing && `needs network namespaces (${missing})`, '60.faults');
let net;

test.before(() => {
  if (!missing) net = createNetwork();
});
test.after(() => net?.close());

const SLOW = ['tbf', 'rate', '8kbit', 'burst', '1600', 'limit', '10000000'];

netTest('datagrams the qdisc drops are reported per member as ENOBUFS, never as sent', () => {
  const result = net.run('drops', ['pfifo', 'limit', '0']);
  assert.equal(result, { recipients: 50, sent: 0, failed: 50, bytes: 0, codes: { ENOBUFS: 50 } });
});

// Loopback whose qdisc drops every datagram to an odd port (ENOBUFS) and
// passes the rest: sends that fail and sends that go, interleaved.
const ODD_PORTS_DROP = ['ip link set lo up',
  'tc qdisc add dev lo root handle 1: htb default 20 r2q 100000',
  'tc class add dev lo parent 1: classid 1:10 htb rate 10gbit',
  'tc class add dev lo parent 1: classid 1:20 htb rate 10gbit burst 16mb cburst 16mb',
  'tc qdisc add dev lo parent 1:10 pfifo limit 0',
  'tc qdisc add dev lo parent 1:20 pfifo limit 100000',
  'tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip protocol 17 0xff match ip dport 1 0x0001 flowid 1:10'].join(' && ');
const oddDrop = privateNetwork(ODD_PORTS_DROP);
const oddDropTest = testUnless(test, oddDrop.missing, '60.faults drop storm');

oddDropTest('a drop storm among sends: each dropped member is ENOBUFS, each other gets every call, in order, also across an abort and a close', () => {
  const { odd, received, outcomes } = oddDrop.run(path.join(__dirname, 'fixtures', 'drop-storm.js'));
  const even = received.map((_, id) => id).filter((id) => !odd.includes(id));
  assert.ok(odd.length > 0 && even.length > 0, 'ports of both kinds');
  const [call0, call1, call2, aborted, closing] = outcomes;
  for (const calls of [call0, call1, call2]) assert.equal(calls, { sent: even, ENOBUFS: odd });
  for (const call of [aborted, closing]) {
    assert.ok((call.ENOBUFS ?? []).every((id) => odd.includes(id)), 'only odd ports dropped');
    assert.ok(call.sent.every((id) => !odd.includes(id)), 'no odd port sent');
    assert.equal(Object.keys(call).filter((code) => !['sent', 'ENOBUFS', 'ECANCELED'].includes(code)), []);
  }
  for (const id of odd) assert.equal(received[id], []);
  for (const id of even) {
    const expected = ['call-0', 'call-1', 'call-2'];
    if (aborted.sent.includes(id)) expected.push('aborted');
    if (closing.sent.includes(id)) expected.push('closing');
    assert.equal(received[id], expected, `member ${id}`);
  }
});

netTest('a send buffer far smaller than 10,000 members: every member is sent, the loop keeps turning', () => {
  const result = net.run('tinySendBuffer', ['tbf', 'rate', '1gbit', 'burst', '100000', 'limit', '10000000']);
  assert.equal(result.copy, { recipients: 10000, sent: 10000, failed: 0, bytes: 10000 * 1200, codes: {} });
  assert.ok(result.turns > 0, 'timers ran while the group waited for buffer room');
  assert.is(result.zeroCopy.sent, 500);
  assert.is(result.zeroCopy.bytes, 500 * 1400);
});

netTest('aborting cancels the members still in flight and reports them as ECANCELED', () => {
  const result = net.run('abortInFlight', SLOW);
  assert.is(result.sent + result.failed, 200);
  assert.ok(result.sent >= 1, 'the first datagrams fit the send buffer');
  assert.ok(result.failed >= 100, `only ${result.failed} canceled`);
  assert.equal(Object.keys(result.codes), ['ECANCELED']);
});

netTest('close() with members in flight settles every call and stream', () => {
  const result = net.run('closeInFlight', SLOW);
  for (const report of result.reports) {
    assert.is(report.sent + report.failed, report.recipients);
    assert.ok(report.failed > 0);
    assert.equal(Object.keys(report.codes), ['ECANCELED']);
  }
  assert.is(result.streamed, 50);
  assert.ok(result.streamCanceled > 0);
  assert.is(result.rejected, 'ERR_SOCKET_DGRAM_NOT_RUNNING');
});

netTest('SIGINT with sends in flight ends the process by the signal, not a crash', () => {
  const [file, args] = net.command('sigintInFlight', SLOW);
  const child = spawnSync(file, args, { encoding: 'utf8', timeout: 60000 });
  assert.is(child.signal, 'SIGINT', child.stderr);
});

netTest('a worker terminated with zero-copy sends the link cannot carry waits for the kernel once, bounded (about 2 s)', () => {
  const result = net.run('terminateWorker', SLOW);
  // The bound is 40 waits of 50 ms; draining twice took 3.9 s.
  if (result.backend === 'io_uring') assert.ok(result.ms > 1500 && result.ms < 3000, `terminate took ${result.ms} ms`);
  else assert.ok(result.ms < 1000, `terminate took ${result.ms} ms with nothing left in the kernel`);
});

netTest('process.exit() with zero-copy sends in flight exits cleanly', () => {
  assert.equal(net.run('exitInFlight', SLOW), { exiting: true });
});

// As an unprivileged user under a 64 KiB RLIMIT_MEMLOCK (common in
// containers): the ring shrinks, buffer registration is refused, zero-copy
// sends are refused (pinning counts against the limit) and the sender
// degrades to copies. Every byte must still arrive.
const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];

function nobodyMissing() {
  try {
    execFileSync('setpriv', [...asNobody, process.execPath, '-e', `require(${JSON.stringify(path.join(__dirname, '..'))})`], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'needs root, setpriv and a checkout the nobody user can read';
  }
}

/** Runs a fixture as nobody under the given RLIMIT_MEMLOCK; its last line, parsed. */
function runAsNobody(memlock, fixture, args) {
  // As nobody the child cannot write c8's files, and Node passes
  // NODE_V8_COVERAGE on to children even when env leaves it out: give it a
  // throwaway directory it can write.
  const env = { ...process.env, NODE_V8_COVERAGE: fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cov-')) };
  try {
    fs.chmodSync(env.NODE_V8_COVERAGE, 0o777);
    const out = execFileSync('prlimit', [`--memlock=${memlock}:${memlock}`, 'setpriv', ...asNobody, process.execPath,
      path.join(__dirname, 'fixtures', fixture), ...args], { encoding: 'utf8', timeout: 30000, env });
    return JSON.parse(out.trim().split('\n').pop());
  } finally {
    fs.rmSync(env.NODE_V8_COVERAGE, { recursive: true, force: true });
  }
}

const asNobodyMissing = nobodyMissing();
const memlockTest = testUnless(test, asNobodyMissing, '60.faults memlock');

memlockTest('under a tiny RLIMIT_MEMLOCK the sender degrades feature by feature and delivers', async () => {
  const rx = await openReceivers(3);
  try {
    const { report, features } = runAsNobody(65536, 'memlock-child.js', rx.targets);
    await rx.waitFor(3);
    assert.is(report.sent, 3, JSON.stringify(report.errors));
    assert.is(features.fixedBuffers, false);
    if (features.backend === 'io_uring') {
      assert.is(features.fixedBuffersErrno, -12);
      assert.ok(features.queueDepth < 1024, `ring of ${features.queueDepth} entries`);
      if (features.zeroCopyRefusedErrno) assert.is(report.zeroCopy, 'copied');
    }
    for (const list of rx.messages) assert.ok(list.length === 1 && list[0].equals(Buffer.alloc(9000, 0x5a)));
  } finally {
    rx.close();
  }
});

// The kernel gives a ring's registered buffers back to the user's limit
// only in its exit work, some time after the ring is closed: close() and
// probe() give them back first (before, under 8 MiB the third and fourth
// of six Senders made in a row, and the Sender made right after a probe(),
// were refused theirs).
const fixedBuffersMissing = asNobodyMissing ?? (probe().fixedBuffers ? undefined : 'this kernel registers no buffers');

testUnless(test, fixedBuffersMissing, '60.faults memlock')('Senders made one after another, and after a probe(), each get the fixed buffers a close() gave back', () => {
  assert.equal(runAsNobody(8 << 20, 'memlock-cycle.js', ['cycle']), { fixed: [true, true, true, true, true, true], afterProbe: true });
});

// Where the workers' rings are refused (the probe's small ring is not),
// 'auto' sends with sendmmsg, as a Sender without threads does (before, the
// constructor threw io_uring_setup ENOMEM).
memlockTest('with threads, a Sender whose rings the memlock limit refuses sends with sendmmsg instead of throwing', async () => {
  const rx = await openReceivers(2);
  try {
    const made = runAsNobody(65536, 'memlock-cycle.js', ['threads', ...rx.targets]);
    assert.equal(made.map((m) => m.threw ?? m.sent), [2, 2, 2, 2, 2, 2]);
    // Else the limit refused no worker's ring here, and the fallback went untried.
    assert.ok(made.some((m) => m.backend === 'sendmmsg'), JSON.stringify(made));
    await rx.waitFor(12);
    for (const list of rx.messages) assert.equal(list.map(String), [0, 1, 2, 3, 4, 5].map((i) => `sender ${i}`));
  } finally {
    rx.close();
  }
});

test.run();
