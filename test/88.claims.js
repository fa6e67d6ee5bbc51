'use strict';
// What README.md and docs/api.md say that no other suite checks: the
// kernel's GSO segment limit per send, inline sends yielding to the event
// loop every 4,096 sends, the Sender's own socket dropping what arrives at
// its port, the default bind without IPv6, SENDGROUP_NO_DEFER_TASKRUN, the
// sending threads' name and priority, and small calls sent without them.
const { test } = require('uvu');
const assert = require('uvu/assert');
const dgram = require('node:dgram');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const { Group, Sender, probe } = require('..');
const { launcher, openReceivers, testUnless } = require('./_helpers');
const { udpSockets } = require('./_proc');

const { gso, reasons } = probe();
const blocked = process.env.SENDGROUP_TEST_PASS === 'blocked';

testUnless(test, !gso && `UDP_SEGMENT refused (${reasons.gso})`, '88.claims GSO')('GSO: 64 segments go out; past the kernel\'s limit (64, or 128 since 2024) the member fails with EINVAL', async () => {
  const rx = await openReceivers(2);
  const sender = new Sender();
  try {
    const within = await sender.sendGroup(rx.targets, Buffer.alloc(64 * 100, 7), { segmentSize: 100 });
    assert.equal([within.sent, within.failed, within.bytes], [2, 0, 2 * 6400]);
    await rx.waitFor(2 * 64);
    for (const got of rx.messages) assert.ok(got.length === 64 && got.every((d) => d.equals(Buffer.alloc(100, 7))));
    const beyond = await sender.sendGroup(rx.targets, Buffer.alloc(129 * 100, 8), { segmentSize: 100 });
    assert.equal([beyond.sent, beyond.failed, beyond.bytes], [0, 2, 0]);
    assert.equal(beyond.errors.map((e) => [e.code, e.errno]), [['EINVAL', -22], ['EINVAL', -22]]);
    // Nothing of it arrives: what follows is the next call's datagram.
    await sender.sendGroup(rx.targets, 'after');
    await rx.waitFor(2 * 65);
    for (const got of rx.messages) assert.is(String(got[64]), 'after');
  } finally {
    await sender.close();
    rx.close();
  }
});

test('sending inline, a call hands at most 4,096 sends to the kernel per turn of the event loop', async () => {
  const rx = await openReceivers(1);
  const sender = new Sender({ threads: 0 });
  try {
    // 20,000 members (one receiver, many times over: its drops are its own)
    // take 5 rounds: the first inside the call, each of the others in a turn
    // of its own, with a check phase (setImmediate) between turns.
    const members = new Group(Array(20000).fill(rx.targets[0]));
    let settled = false;
    let turns = 0;
    const spin = () => { if (!settled) { turns++; setImmediate(spin); } };
    setImmediate(spin);
    const report = await sender.sendGroup(members, 'x');
    settled = true;
    assert.is(report.sent, 20000);
    assert.ok(turns >= 3, `the loop turned ${turns} times while 20,000 sends went out`);
  } finally {
    await sender.close();
    rx.close();
  }
});

/** The UDP sockets on this port (127.0.0.1: no other socket shares it). */
const socketsOn = (port) => udpSockets().filter((socket) => socket.port === port);

test('a Sender\'s own socket drops the datagrams that arrive at its port', async () => {
  const sender = new Sender({ bind: { address: '127.0.0.1' } });
  const client = dgram.createSocket('udp4');
  try {
    const { port } = sender.address();
    const before = socketsOn(port).reduce((sum, s) => sum + s.drops, 0);
    for (let i = 0; i < 10; i++) await new Promise((resolve, reject) => client.send('hello', port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    const after = socketsOn(port);
    assert.ok(after.length >= 1, `no socket on 127.0.0.1:${port}`);
    assert.is(after.reduce((sum, s) => sum + s.rx, 0), 0, 'nothing queued for reading');
    assert.is(after.reduce((sum, s) => sum + s.drops, 0) - before, 10, 'every datagram dropped');
  } finally {
    client.close();
    await sender.close();
  }
});

/** `script` run by node in a child; its last line of output parsed as JSON. */
function child(script, env = {}, wrapper = []) {
  const [command, ...args] = [...wrapper, process.execPath, '-e', `const sendgroup = require(${JSON.stringify(require.resolve('..'))});\n${script}`];
  // A child that hangs fails the test instead of holding the suite.
  const out = execFileSync(command, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30000 });
  return JSON.parse(out.trim().split('\n').pop());
}

testUnless(test, (blocked || !probe().deferTaskrun) && 'needs io_uring with DEFER_TASKRUN', '88.claims NO_DEFER_TASKRUN')('SENDGROUP_NO_DEFER_TASKRUN=1 sets rings up without DEFER_TASKRUN, and they send and relay', async () => {
  const rx = await openReceivers(1);
  try {
    const script = `const sender = new sendgroup.Sender();
      sender.sendGroup(${JSON.stringify(rx.targets)}, 'no defer').then(async (report) => {
        console.log(JSON.stringify({ sent: report.sent, deferTaskrun: sender.features.deferTaskrun, backend: sender.backend }));
        await sender.close();
      });`;
    const run = (env) => child(script, env);
    assert.equal(run({ SENDGROUP_NO_DEFER_TASKRUN: '1' }), { sent: 1, deferTaskrun: false, backend: 'io_uring' });
    assert.equal(run({ SENDGROUP_NO_DEFER_TASKRUN: '' }), { sent: 1, deferTaskrun: true, backend: 'io_uring' });
    await rx.waitFor(2);
    assert.equal(rx.messages[0].map(String), ['no defer', 'no defer']);
    // A relay's receive ring without DEFER_TASKRUN: its datagrams are
    // received by task work the kernel runs itself, and still forwarded.
    const relayed = child(`const relay = new sendgroup.Relay({ listen: '127.0.0.1:0', allow: ['127.0.0.1'], group: new sendgroup.Group(${JSON.stringify(rx.targets)}) });
      const source = require('node:dgram').createSocket('udp4');
      let sent = 0;
      (function next() {
        if (relay.stats().forwarded === sent && sent < 3) source.send('relayed ' + sent++, relay.address().port, '127.0.0.1');
        if (relay.stats().sends < 3) return setTimeout(next, 1);
        source.close();
        relay.close().then(() => console.log(JSON.stringify({ backend: relay.stats().backend, sends: relay.stats().sends })));
      })();`, { SENDGROUP_NO_DEFER_TASKRUN: '1' });
    assert.equal(relayed, { backend: 'io_uring', sends: 3 });
    await rx.waitFor(5);
    assert.equal(rx.messages[0].slice(2).map(String), ['relayed 0', 'relayed 1', 'relayed 2']);
  } finally {
    rx.close();
  }
});

test('without IPv6 the default bind falls back to 0.0.0.0: IPv4 members are sent, IPv6 members fail with EAFNOSUPPORT', async () => {
  const rx = await openReceivers(1);
  try {
    const result = child(`const sender = new sendgroup.Sender();
      sender.sendGroup([${JSON.stringify(rx.targets[0])}, '[::1]:9'], 'v4 only').then(async (report) => {
        console.log(JSON.stringify({ local: sender.address(), sent: report.sent, codes: report.errors.map((e) => e.code) }));
        await sender.close();
      });`, {}, [launcher('deny'), 'ipv6']);
    assert.is(result.local.address, '0.0.0.0');
    assert.is(result.local.family, 'IPv4');
    assert.equal([result.sent, result.codes], [1, ['EAFNOSUPPORT']]);
    await rx.waitFor(1);
    assert.is(String(rx.messages[0][0]), 'v4 only');
  } finally {
    rx.close();
  }
});

/** This process's threads: { tid, name, state, nice, wakeups }, from /proc/self/task (wakeups: voluntary context switches). */
function threads() {
  return fs.readdirSync('/proc/self/task').map((tid) => {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const wakeups = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))[1]);
    return { tid, name: fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(), state: fields[0], nice: Number(fields[16]), wakeups };
  });
}

/** The sending threads started since `before` (a set of tids), once all of them sleep: how often each has slept so far. */
async function asleep(before) {
  for (;;) {
    const ours = threads().filter((t) => t.name === 'sendgroup-send' && !before.has(t.tid));
    if (ours.every((t) => t.state === 'S')) return new Map(ours.map((t) => [t.tid, t.wakeups]));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Sends `calls` calls (awaited one by one) to `to`, call c carrying `${tag} ${c}`; true when none woke a sending thread (made since `before`). */
async function sentWithoutWaking(sender, to, tag, calls, before) {
  const slept = await asleep(before);
  for (let c = 0; c < calls; c++) assert.is((await sender.sendGroup(to, `${tag} ${c}`)).failed, 0);
  const now = await asleep(before);
  return [...slept].every(([tid, wakeups]) => now.get(tid) === wakeups);
}

test('threads: a call to fewer than inlineBelow members goes out without waking the threads (own or adopted socket); a larger one, and any with inlineBelow: 0, wake them', async () => {
  const rx = await openReceivers(4);
  const before = new Set(threads().map((t) => t.tid));
  const socket = dgram.createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const senders = [
    new Sender({ threads: 2, inlineBelow: 5 }),
    new Sender({ threads: 2, inlineBelow: 0 }),
    new Sender({ threads: 2, inlineBelow: 5, socket }),
  ];
  try {
    const [small, noInline, adopted] = senders;
    assert.ok(await sentWithoutWaking(small, rx.targets, 'small', 20, before), '4 members, inlineBelow: 5: a thread woke');
    assert.not.ok(await sentWithoutWaking(small, [...rx.targets, ...rx.targets], 'large', 1, before), '8 members: no thread woke');
    assert.not.ok(await sentWithoutWaking(noInline, rx.targets, 'inlineBelow 0', 1, before), 'inlineBelow: 0: no thread woke');
    assert.ok(await sentWithoutWaking(adopted, rx.targets, 'adopted', 1, before), 'adopted socket, 4 members: a thread woke');
    // Every member got every call; the small ones (one socket) in order.
    // Loopback hands datagrams from different threads' sockets to different
    // CPUs' backlogs, so across sockets arrival order is not send order.
    await rx.waitFor(4 * (20 + 2 + 2));
    for (const got of rx.messages.map((messages) => messages.map(String))) {
      assert.equal(got.filter((m) => m.startsWith('small')), Array.from({ length: 20 }, (_, c) => `small ${c}`));
      assert.equal(got.filter((m) => !m.startsWith('small')).sort(), ['adopted 0', 'inlineBelow 0 0', 'large 0', 'large 0']);
    }
  } finally {
    for (const sender of senders) await sender.close();
    socket.close();
    rx.close();
  }
});

test('threads: K sending threads, named sendgroup-send, 10 nice steps below the JavaScript thread; gone after close()', async () => {
  const rx = await openReceivers(4);
  const own = threads().find((t) => t.tid === String(process.pid)).nice;
  // Other Senders of this process (the suite's threads: 2 pass) have theirs.
  const before = new Set(threads().map((t) => t.tid));
  const ours = () => threads().filter((t) => t.name === 'sendgroup-send' && !before.has(t.tid));
  const sender = new Sender({ threads: 3 });
  try {
    const senders = ours();
    assert.is(senders.length, 3, JSON.stringify(threads()));
    for (const t of senders) assert.is(t.nice, Math.min(19, own + 10), `thread ${t.tid}`);
    const report = await sender.sendGroup(rx.targets, 'nice');
    assert.is(report.sent, 4);
    await rx.waitFor(4);
    for (const got of rx.messages) assert.equal(got.map(String), ['nice']);
  } finally {
    await sender.close();
    rx.close();
  }
  // close() has joined them; the kernel lists an exited thread in /proc a
  // moment longer (it unhashes the task after waking the joiner), so a
  // loaded machine may still show it: wait for that, bounded.
  for (const deadline = Date.now() + 5000; ours().length && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.is(ours().length, 0, 'threads left after close()');
});

test.run();
