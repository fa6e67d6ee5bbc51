'use strict';
// Relay on loopback, real sockets: a sequence-numbered stream to 50
// receivers (every datagram, in order, byte for byte; a second source not
// allowed is counted and never forwarded), members added and removed while
// it runs (each change from the next datagram on), the forms of `allow`
// (and an IPv4 source written v4-mapped: refused, or matching), the
// arguments refused before anything is bound, a dgram socket adopted,
// datagrams longer than maxDatagram, and 'unreachable' events. Waits are for
// counts the relay or the receivers reach; the deadline only turns a hang
// into a failure. The relay's threads are the default (SENDGROUP_THREADS);
// with io_uring and threads: 0 it forwards while this thread is blocked.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { execFileSync, spawn } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const path = require('node:path');
const { Group, Relay, probe } = require('..');
const { onLines, openReceivers, privateNetwork, shuffle, testUnless } = require('./_helpers');
const { build, check } = require('./fixtures/link-datagram');

const DEADLINE_MS = 20000;
const EXPECTED_BACKEND = process.env.SENDGROUP_TEST_PASS === 'blocked' || !probe().ioUring ? 'sendmmsg' : 'io_uring';
let rx;
const open = [];

test.before(async () => { rx = await openReceivers(50); });
test.after(async () => {
  rx.close();
  for (const thing of open) {
    try { await thing.close(); } catch { /* closed by its test already */ }
  }
});
test.before.each(() => rx.reset());

/** Resolves once condition() holds (checked every 2 ms); fails with what(), never a hang. */
async function until(condition, what) {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > DEADLINE_MS) assert.unreachable(`waited ${DEADLINE_MS} ms: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Datagram `seq` of the link tests' format (member index 0), `size` bytes. */
function datagram(seq, size = 12 + ((seq * 37) % 1300)) {
  const { payload, options } = build(seq, 1, size);
  return Buffer.concat([options.prefix.data, payload, options.suffix.data]);
}

async function source(host = '127.0.0.1', port = 0) {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, resolve);
  });
  open.push(socket);
  const { address, family } = socket.address();
  socket.port = socket.address().port;
  socket.target = family === 'IPv6' ? `[${address}]:${socket.port}` : `${address}:${socket.port}`;
  socket.sendTo = (relay, bytes) => new Promise((resolve, reject) => {
    const to = relay.address();
    // A dual-stack relay ([::]) is reached over the source's own family.
    const host = to.address === '::' ? (family === 'IPv6' ? '::1' : '127.0.0.1') : to.address;
    socket.send(bytes, to.port, host, (error) => (error ? reject(error) : resolve()));
  });
  return socket;
}

function relayOf(options) {
  const relay = new Relay(options);
  open.push(relay);
  return relay;
}

/** Sequence numbers a receiver got, each checked byte for byte. */
function seqs(messages) {
  return messages.map((message) => {
    const { seq, ok } = check(message);
    assert.ok(ok, `datagram ${seq} (${message.length} bytes) is not what was sent`);
    return seq;
  });
}

const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i);

test('a sequence-numbered stream to 50 receivers: every datagram, in order; a source not allowed is counted, never forwarded', async () => {
  const allowed = await source();
  const stranger = await source(); // same address, another port: not 'address:port' of allow
  const relay = relayOf({ listen: '127.0.0.1:0', allow: [allowed.target], group: new Group(rx.targets) });
  assert.is(relay.stats().backend, EXPECTED_BACKEND);
  const WINDOW = 50;
  const COUNT = 400;
  let bytes = 0;
  for (let from = 0; from < COUNT; from += WINDOW) {
    for (const seq of range(from, from + WINDOW)) {
      const bytesOut = datagram(seq);
      bytes += bytesOut.length;
      await allowed.sendTo(relay, bytesOut);
      await stranger.sendTo(relay, datagram(COUNT + seq, 40));
    }
    await until(() => relay.stats().received === 2 * (from + WINDOW), () => JSON.stringify(relay.stats()));
    await rx.waitFor((from + WINDOW) * 50);
  }
  rx.messages.forEach((messages, i) => assert.equal(seqs(messages), range(0, COUNT), `receiver ${i}`));
  // With threads the sends' results reach the relay's counters after the datagrams reach the receivers.
  await until(() => relay.stats().sends === 50 * COUNT, () => JSON.stringify(relay.stats()));
  const stats = relay.stats();
  assert.equal(stats, {
    backend: EXPECTED_BACKEND, received: 2 * COUNT, forwarded: COUNT, pending: 0, sends: 50 * COUNT, bytes: 50 * bytes, failures: {},
    dropped: { notAllowed: COUNT, noBuffer: 0, truncated: 0, noMembers: 0, looped: 0 }, members: 50, unreachable: 0, staleRetries: 0,
  });
  await relay.close();
});

test('members added and removed while it runs: each change takes effect for the next datagram', async () => {
  const from = await source();
  const group = new Group(rx.targets.slice(0, 30));
  const ids = new Map([...group].map((member, i) => [i, member.id]));
  const relay = relayOf({ listen: '127.0.0.1:0', allow: [from.target], group });
  const add = (i) => ids.set(i, group.add(rx.targets[i]));
  const remove = (i) => { assert.ok(group.remove(ids.get(i)), `receiver ${i} is a member`); ids.delete(i); };
  // Before datagram k: what changes.
  const changes = {
    3: () => range(30, 40).forEach(add),
    6: () => range(0, 10).forEach(remove),
    7: () => { remove(35); add(0); add(45); },
    10: () => { group.clear(); ids.clear(); },
    12: () => [20, 49, 3].forEach(add),
    13: () => remove(49),
    15: () => range(40, 50).forEach(add),
  };
  const COUNT = 20;
  const expected = rx.targets.map(() => []);
  let total = 0;
  for (let k = 0; k < COUNT; k++) {
    changes[k]?.();
    for (const i of ids.keys()) expected[i].push(k);
    total += ids.size;
    await from.sendTo(relay, datagram(k));
    // Datagram k reached the relay (its members fixed) before the next change.
    await until(() => relay.stats().received === k + 1, () => `datagram ${k}: ${JSON.stringify(relay.stats())}`);
    assert.is(relay.stats().members, group.size, `members after datagram ${k}`);
  }
  await rx.waitFor(total);
  // A last datagram to everyone who was ever a member: anything sent too many arrived before it.
  for (const i of range(0, 50)) if (!ids.has(i)) add(i);
  await from.sendTo(relay, datagram(COUNT));
  await rx.waitFor(total + 50);
  rx.messages.forEach((messages, i) => assert.equal(seqs(messages), [...expected[i], COUNT], `receiver ${i}`));
  await until(() => relay.stats().sends === total + 50, () => `sends: ${JSON.stringify(relay.stats())}, expected ${total + 50}`);
  // Datagrams 10 and 11 came while the group was empty: counted, not forwarded.
  assert.equal(relay.stats().dropped, { notAllowed: 0, noBuffer: 0, truncated: 0, noMembers: 2, looped: 0 });
  assert.is(relay.stats().forwarded, COUNT + 1 - 2);
  await relay.close();
});

test('most members removed at once in shuffled order, some just added, then only additions: the next datagram reaches exactly the group', async () => {
  const from = await source();
  const group = new Group([...rx.targets, ...rx.targets]);
  const relay = relayOf({ listen: '127.0.0.1:0', allow: [from.target], group });
  let model = [...group].map((member, i) => ({ id: member.id, receiver: i % rx.targets.length }));
  const expected = rx.targets.map(() => []);
  const send = async (seq) => {
    assert.is(relay.stats().members, group.size, `members before datagram ${seq}`);
    for (const { receiver } of model) expected[receiver].push(seq);
    await from.sendTo(relay, datagram(seq));
    await until(() => relay.stats().received === seq + 1, () => JSON.stringify(relay.stats()));
  };
  const add = (receiver) => model.push({ id: group.add(rx.targets[receiver]), receiver });
  const remove = (picked) => {
    for (const { id } of picked) assert.ok(group.remove(id));
    model = model.filter((m) => !picked.includes(m));
  };
  await send(0);
  // Shuffled ids, both copies of some receivers; then members added and three of them removed before a datagram.
  remove(shuffle(model.slice(), 5).slice(0, 70));
  range(0, 10).forEach(add);
  remove(model.slice(-10).filter((_, i) => i % 3 === 0));
  await send(1);
  range(20, 25).forEach(add);
  await send(2);
  await rx.waitFor(expected.flat().length);
  rx.messages.forEach((messages, i) => assert.equal(seqs(messages).sort(), expected[i].sort(), `receiver ${i}`));
  await relay.close();
});

// Before, such a member (with its own address allowed) made the relay
// forward every datagram to itself forever (48,903 a second from one).
test('a member that is the relay itself (its port, and its address, 0.0.0.0 or, listening on a wildcard, any of this host\'s) is never sent to: ELOOP for it, every datagram once to the others', async () => {
  for (const listen of ['127.0.0.1:0', '0.0.0.0:0', '[::]:0']) {
    rx.reset();
    const from = await source();
    const group = new Group([rx.targets[0]]);
    const relay = relayOf({ listen, allow: 'any', group });
    const { port } = relay.address();
    const wildcard = !listen.startsWith('127.');
    group.add(`127.0.0.1:${port}`);
    // 127.0.0.2 is this host's too (lo holds 127.0.0.0/8): the relay itself only when listening on a wildcard.
    group.add(`127.0.0.2:${port}`);
    // The kernel delivers a datagram to 0.0.0.0 to this host: the relay itself, however it listens.
    group.add(`0.0.0.0:${port}`);
    if (listen === '[::]:0') group.add(`[::1]:${port}`);
    group.add(rx.targets[1]);  // added after it started: checked as it is added
    const itself = wildcard ? group.size - 2 : 2;
    for (const seq of range(0, 3)) await from.sendTo(relay, datagram(seq));
    await rx.waitFor(6);
    await until(() => relay.stats().failures.ELOOP === 3 * itself, () => `${listen}: ${JSON.stringify(relay.stats())}`);
    const stats = relay.stats();
    assert.is(stats.received, 3, `${listen}: nothing came back`);
    assert.is(stats.sends, 3 * (group.size - itself), listen);
    assert.equal(rx.messages.slice(0, 2).map(seqs), [[0, 1, 2], [0, 1, 2]], listen);
    await relay.close();
  }
});

// Removed members wait to be dropped in one pass (in the Group until a send
// or iteration, in the relay until a datagram): a group only a relay follows,
// with no traffic, must still not keep them. Without the Group's bound the
// heap grew 68 MB here, without the relay's RSS 41 MB.
const ASAN = /asan/.test(process.env.LD_PRELOAD ?? '');
test('a group only a relay follows, no datagram coming: 500,000 members added and removed one by one keep nothing', () => {
  const out = execFileSync(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'group-churn.js')], { encoding: 'utf8', timeout: 120000 });
  const { start, churned, size, members } = JSON.parse(out);
  assert.is(size, 10);
  assert.is(members, 10);
  assert.ok(churned.heap - start.heap < 5, `heap ${start.heap.toFixed(1)} -> ${churned.heap.toFixed(1)} MB`);
  // ASan's quarantine keeps freed memory: RSS says nothing there.
  if (!ASAN) assert.ok(churned.rss - start.rss < 25, `RSS ${start.rss.toFixed(1)} -> ${churned.rss.toFixed(1)} MB`);
});

// threads: 2 with inlineBelow: 100 (set here: npm test's threads passes send
// every call to the threads): 50 members go out inline, 150 on the threads,
// 50 inline again; datagrams come in bursts without waiting, so the switches
// happen while sends are in flight.
test('threads: 2, a group growing past inlineBelow and shrinking back: every receiver gets its datagrams in order', async () => {
  const more = await openReceivers(100);
  open.push(more);
  const from = await source();
  const group = new Group(rx.targets);
  const relay = relayOf({ listen: '127.0.0.1:0', allow: [from.target], group, threads: 2, inlineBelow: 100 });
  const PHASE = 100;
  const BURST = 10;
  let ids = [];
  const phases = [() => {}, () => { ids = more.targets.map((t) => group.add(t)); }, () => ids.forEach((id) => group.remove(id))];
  for (const [p, change] of phases.entries()) {
    change();
    for (let k = p * PHASE; k < (p + 1) * PHASE; k += BURST) {
      for (const seq of range(k, k + BURST)) await from.sendTo(relay, datagram(seq));
      await until(() => relay.stats().received === k + BURST, () => JSON.stringify(relay.stats()));
    }
  }
  await rx.waitFor(50 * 3 * PHASE);
  await more.waitFor(100 * PHASE);
  rx.messages.forEach((messages, i) => assert.equal(seqs(messages), range(0, 3 * PHASE), `receiver ${i}`));
  more.messages.forEach((messages, i) => assert.equal(seqs(messages), range(PHASE, 2 * PHASE), `added receiver ${i}`));
  await until(() => relay.stats().sends === (50 * 3 + 100) * PHASE, () => JSON.stringify(relay.stats()));
  assert.equal(relay.stats().failures, {});
  await relay.close();
});

/** Sends one datagram from each source (in order), then `last` from `finisher`; checks which arrived at rx's first `members` receivers. */
async function forwardedFrom(relay, sources, finisher, members) {
  const before = relay.stats();
  let seq = 1000;
  const sent = [];
  for (const s of sources) {
    sent.push(seq);
    await s.sendTo(relay, datagram(seq++, 100));
  }
  await finisher.sendTo(relay, datagram(9999, 20));
  await until(() => relay.stats().received === before.received + sources.length + 1, () => JSON.stringify(relay.stats()));
  // Per member, datagrams leave in arrival order: once the last is there, nothing else is coming.
  await until(() => rx.messages.slice(0, members).every((m) => m.length && check(m[m.length - 1]).seq === 9999), () => 'the last datagram');
  const got = seqs(rx.messages[0]).filter((s) => s !== 9999);
  for (let i = 1; i < members; i++) assert.equal(seqs(rx.messages[i]).filter((s) => s !== 9999), got, `receiver ${i}`);
  rx.reset();
  return { forwarded: sources.map((s, i) => got.includes(sent[i])), stats: relay.stats(), before };
}

test('allow: \'address\' takes any port of it, \'address:port\' only that port, IPv6 \'[::1]:port\', \'any\' everything', async () => {
  const [a1, a2, b1] = [await source('127.0.0.1'), await source('127.0.0.1'), await source('127.0.0.2')];
  const b2 = await source('127.0.0.2', a1.port); // a1's port, another address
  const members = rx.targets.slice(0, 3);

  let relay = relayOf({ listen: '127.0.0.1:0', allow: ['127.0.0.1'], group: new Group(members) });
  let result = await forwardedFrom(relay, [a1, a2, b1, b2], a1, 3);
  assert.equal(result.forwarded, [true, true, false, false], 'address only');
  assert.is(result.stats.dropped.notAllowed, 2);
  await relay.close();

  relay = relayOf({ listen: '127.0.0.1:0', allow: [a1.target, '127.0.0.3'], group: new Group(members) });
  result = await forwardedFrom(relay, [a1, a2, b1, b2], a1, 3);
  assert.equal(result.forwarded, [true, false, false, false], 'address:port');
  assert.is(result.stats.dropped.notAllowed, 3);
  await relay.close();

  relay = relayOf({ listen: '127.0.0.1:0', allow: 'any', group: new Group(members) });
  result = await forwardedFrom(relay, [a1, a2, b1, b2], a1, 3);
  assert.equal(result.forwarded, [true, true, true, true], '\'any\'');
  assert.is(result.stats.dropped.notAllowed, 0);
  await relay.close();

  // IPv6 only, receivers on ::1.
  const rx6 = await openReceivers(2, '::1');
  open.push(rx6);
  const [c1, c2] = [await source('::1'), await source('::1')];
  for (const [allow, expected] of [[[c1.target], [true, false]], [['::1'], [true, true]], [['[::2]:1', '127.0.0.1'], [false, false]]]) {
    relay = relayOf({ listen: '[::1]:0', allow, group: new Group(rx6.targets) });
    const before = relay.stats();
    await c1.sendTo(relay, datagram(1, 50));
    await c2.sendTo(relay, datagram(2, 50));
    await until(() => relay.stats().received === 2, () => JSON.stringify(relay.stats()));
    const n = expected.filter(Boolean).length;
    assert.is(relay.stats().forwarded - before.forwarded, n, `IPv6 allow ${JSON.stringify(allow)}`);
    await rx6.waitFor(2 * n);
    rx6.messages.forEach((m) => assert.equal(seqs(m), [1, 2].filter((_, i) => expected[i]), JSON.stringify(allow)));
    rx6.reset();
    await relay.close();
  }

  // Dual-stack: IPv4 sources arrive v4-mapped and still match their IPv4 entry.
  relay = relayOf({ listen: '[::]:0', allow: ['127.0.0.1', c1.target], group: new Group(members) });
  result = await forwardedFrom(relay, [a1, b1, c1, c2], a1, 3);
  assert.equal(result.forwarded, [true, false, true, false], 'dual-stack socket');
  await relay.close();
});

test('allow: an IPv4 source written v4-mapped (\'::ffff:127.0.0.1\', as a dual-stack dgram socket names it) is refused or matches', async () => {
  const from = await source('127.0.0.1');
  for (const entry of ['::ffff:127.0.0.1', `[::ffff:127.0.0.1]:${from.port}`]) {
    let relay;
    try {
      relay = relayOf({ listen: '[::]:0', allow: [entry], group: new Group(rx.targets.slice(0, 1)) });
    } catch (error) {
      assert.instance(error, TypeError);
      assert.ok(error.code, 'a code');
      continue;
    }
    await from.sendTo(relay, datagram(1, 50));
    await until(() => relay.stats().received === 1, () => JSON.stringify(relay.stats()));
    const { forwarded, dropped } = relay.stats();
    assert.is(forwarded, 1, `allow ['${entry}'] was accepted, but the source it names is dropped as not allowed (${JSON.stringify(dropped)})`);
    await rx.waitFor(1);
    rx.reset();
    await relay.close();
  }
});

test('allow missing or malformed, listen and socket both or neither: TypeError with a code, nothing bound', async () => {
  const probeSocket = await source();
  const port = probeSocket.port;
  probeSocket.close();
  const group = new Group(rx.targets.slice(0, 1));
  const listen = `127.0.0.1:${port}`;
  const fds = fs.readdirSync('/proc/self/fd').length;
  const bound = await source();
  const cases = [
    [{ listen, group }, 'ERR_INVALID_ARG_TYPE', /allow is required/],
    [{ listen, group, allow: null }, 'ERR_INVALID_ARG_TYPE', /array of sources .* received null/],
    [{ listen, group, allow: 'ANY' }, 'ERR_INVALID_ARG_TYPE', /received the string 'ANY' \(did you mean 'any'\?\)/],
    [{ listen, group, allow: '127.0.0.1' }, 'ERR_INVALID_ARG_TYPE', /did you mean \['127\.0\.0\.1'\]\?/],
    [{ listen, group, allow: 'localhost' }, 'ERR_INVALID_ARG_TYPE', /did you mean an array of '10\.0\.0\.1'/],
    [{ listen, group, allow: { 0: '127.0.0.1', length: 1 } }, 'ERR_INVALID_ARG_TYPE', /received an object/],
    [{ listen, group, allow: [] }, 'ERR_INVALID_ARG_VALUE', /empty/],
    [{ listen, group, allow: ['any'] }, 'ERR_INVALID_ARG_VALUE', /allow: 'any' itself/],
    [{ listen, group, allow: ['localhost'] }, 'ERR_INVALID_ARG_VALUE', /such as '10\.0\.0\.1'/],
    [{ listen, group, allow: ['127.0.0.1/8'] }, 'ERR_INVALID_ARG_VALUE'],
    [{ listen, group, allow: ['[::1]'] }, 'ERR_INVALID_ARG_VALUE'],
    [{ listen, group, allow: ['127.0.0.1:'] }, 'ERR_INVALID_ARG_VALUE'],
    [{ listen, group, allow: ['127.0.0.1', 5] }, 'ERR_INVALID_ARG_TYPE'],
    [{ listen, group, allow: [null] }, 'ERR_INVALID_ARG_TYPE'],
    [{ listen, allow: 'any' }, 'ERR_INVALID_ARG_TYPE', /group/],
    [{ allow: 'any', group }, 'ERR_INVALID_ARG_VALUE', /listen or options.socket/],
    [{ listen, socket: bound, allow: 'any', group }, 'ERR_INVALID_ARG_VALUE', /listen or options.socket/],
    [{ listen: port, allow: 'any', group }, 'ERR_INVALID_ARG_TYPE'],
    [{ socket: {}, allow: 'any', group }, 'ERR_INVALID_ARG_TYPE'],
    [{ listen, allow: 'any', group, bind: { port } }, 'ERR_INVALID_ARG_VALUE'],
    [{ listen, allow: 'any', group, slots: 4 }, 'ERR_INVALID_ARG_VALUE', /slots/],
  ];
  for (const [options, code, message] of cases) {
    const what = JSON.stringify({ ...options, group: options.group && 'Group', socket: options.socket && 'Socket' });
    assert.throws(() => new Relay(options), (error) => error instanceof TypeError && error.code === code && (!message || message.test(error.message)), what);
  }
  // A port out of range is a RangeError, as everywhere in the library.
  assert.throws(() => new Relay({ listen, group, allow: ['127.0.0.1:65536'] }), (e) => e instanceof RangeError && e.code === 'ERR_OUT_OF_RANGE');
  bound.close();
  assert.is(fs.readdirSync('/proc/self/fd').length, fds, 'descriptors before and after');
  // The port is free: nothing was bound to it.
  const again = await source('127.0.0.1', port);
  again.close();
});

test('socket: a bound dgram.Socket is adopted: the relay reads it (its \'message\' listener no longer fires), sends from it, leaves it open and reading again', async () => {
  const from = await source();
  const socket = await source();
  let heard = 0;
  socket.on('message', () => heard++);
  const relay = relayOf({ socket, allow: [from.target], group: new Group(rx.targets.slice(0, 5)) });
  assert.equal(relay.address(), socket.address());
  for (const seq of range(0, 30)) await from.sendTo(relay, datagram(seq));
  await rx.waitFor(150);
  rx.messages.slice(0, 5).forEach((messages, i) => {
    assert.equal(seqs(messages), range(0, 30), `receiver ${i}`);
    assert.is(messages.rinfo.port, socket.port, 'sent from the adopted socket\'s port');
  });
  assert.is(heard, 0, 'the user\'s \'message\' listener fired');
  assert.is(relay.stats().forwarded, 30);
  await relay.close();
  // Still open and usable after the relay closed.
  assert.is(socket.address().port, socket.port);
  rx.reset();
  await new Promise((resolve, reject) => socket.send('after', rx.sockets[0].address().port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  await rx.waitFor(1);
  assert.is(String(rx.messages[0][0]), 'after');
  // An ICMP error for what it sends now is not dgram's 'error' event (the
  // relay turned IP_RECVERR on to read its own, and turns it off again): a
  // user without an 'error' listener would have lost the process.
  const errors = [];
  socket.on('error', (error) => errors.push(error.code));
  const closed = dgram.createSocket('udp4');
  await new Promise((resolve) => closed.bind(0, '127.0.0.1', resolve));
  const closedPort = closed.address().port;
  await new Promise((resolve) => closed.close(resolve));
  await new Promise((resolve, reject) => socket.send('to nobody', closedPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  // And it receives again, as before the relay.
  const heardAgain = new Promise((resolve) => socket.once('message', resolve));
  from.send(datagram(99), socket.port, '127.0.0.1');
  assert.is(seqs([await heardAgain])[0], 99);
  await new Promise(setImmediate);
  assert.equal(errors, [], 'dgram \'error\' events after the relay closed');
  assert.throws(() => relay.address(), /Relay is closed/);
});

test('maxDatagram: a datagram of exactly maxDatagram bytes is forwarded, any longer one dropped and counted as truncated', async () => {
  const from = await source();
  const relay = relayOf({ listen: '127.0.0.1:0', allow: [from.target], group: new Group(rx.targets.slice(0, 2)), maxDatagram: 1000 });
  // io_uring's receive buffer keeps 256 bytes of room in front of the datagram (of which its
  // header, the source address and the control message take 168), recvmmsg's none: a relay
  // that forwards what fits in the buffer forwards up to 88 or 256 bytes too many.
  const sizes = [1000, 1001, 1050, 1088, 1089, 1200, 1256, 1257, 9000, 20, 999];
  for (const [i, size] of sizes.entries()) await from.sendTo(relay, datagram(i, size));
  await until(() => relay.stats().received === sizes.length, () => JSON.stringify(relay.stats()));
  await until(() => rx.messages[0].some((m) => check(m).seq === 10) && rx.messages[1].some((m) => check(m).seq === 10), () => 'the last datagram');
  const lengths = rx.messages[0].map((m) => m.length);
  assert.equal(lengths, [1000, 20, 999], `forwarded lengths (${relay.stats().backend})`);
  assert.equal(relay.stats().dropped, { notAllowed: 0, noBuffer: 0, truncated: 8, noMembers: 0, looped: 0 });
  assert.is(relay.stats().forwarded, 3);
  // A stranger's datagram is not allowed, whatever its length: counted as
  // truncated, it would read as a --max-datagram to raise.
  const stranger = await source('127.0.0.2');
  for (const size of [1001, 9000, 20]) await stranger.sendTo(relay, datagram(0, size));
  await until(() => relay.stats().received === sizes.length + 3, () => JSON.stringify(relay.stats()));
  assert.equal(relay.stats().dropped, { notAllowed: 3, noBuffer: 0, truncated: 8, noMembers: 0, looped: 0 });
  await relay.close();
});

for (const backend of EXPECTED_BACKEND === 'io_uring' ? ['io_uring', 'sendmmsg'] : ['sendmmsg']) test(`threads: 0, ${backend}: the relay forwards on a thread of its own, also while JavaScript is blocked`, async () => {
  // A free port for the member, which a child binds: this thread is blocked while it runs.
  const probeSocket = await source();
  const memberPort = probeSocket.port;
  probeSocket.close();
  const relay = relayOf({ listen: '127.0.0.1:0', allow: ['127.0.0.1'], group: new Group([`127.0.0.1:${memberPort}`]), threads: 0, backend });
  assert.is(relay.stats().backend, backend);
  const COUNT = 200;
  const out = execFileSync(process.execPath, ['-e', `
    const { build } = require(${JSON.stringify(require.resolve('./fixtures/link-datagram'))});
    const dgram = require('dgram');
    const member = dgram.createSocket('udp4');
    const got = [];
    const done = (code) => { process.stdout.write(JSON.stringify(got)); process.exit(code); };
    setTimeout(() => done(1), ${DEADLINE_MS / 2}).unref();
    const from = dgram.createSocket('udp4');
    const next = () => {
      const { payload, options } = build(got.length, 1, 300);
      from.send([options.prefix.data, payload, options.suffix.data], ${relay.address().port}, '127.0.0.1');
    };
    // One at a time: the next goes once the relay forwarded this one.
    member.on('message', (m) => {
      got.push(m.readUInt32LE(0));
      if (got.length === ${COUNT}) done(0);
      else next();
    });
    member.bind(${memberPort}, '127.0.0.1', next);`], { encoding: 'utf8', timeout: DEADLINE_MS }).trim();
  assert.equal(JSON.parse(out), range(0, COUNT));
  assert.is(relay.stats().forwarded, COUNT);
  await relay.close();
});

// Before, with io_uring and threads: 0, polls the relay's thread left armed
// held the socket until the kernel's exit work cancelled them: 9 to 16 of
// 200 relays made again at once on the same port failed EADDRINUSE.
test('close() gives the port back: a relay made again on it at once binds, 100 times, with datagrams arriving', async () => {
  const probeSocket = await source();
  const port = probeSocket.port;
  probeSocket.close();
  const from = await source();
  const traffic = setInterval(() => from.send(datagram(0, 100), port, '127.0.0.1'), 0);
  try {
    for (let i = 0; i < 100; i++) {
      const relay = new Relay({ listen: `127.0.0.1:${port}`, allow: [from.target], group: new Group([rx.targets[0]]) });
      await relay.close();
    }
  } finally {
    clearInterval(traffic);
  }
});

// close() receives what the socket already holds, then stops: with threads
// the receive runs on this thread's loop, which the awaited sends below do
// not let reach it (before, close() discarded them all with the socket:
// received 0; without DEFER_TASKRUN they had been taken into buffers and
// were lost uncounted).
// 100: more than one run of io_uring's multishot receive takes (32).
test('close() right after datagrams arrived forwards every one of them, in order, with threads 0, 1 and 2', async () => {
  const from = await source();
  const COUNT = 100;
  for (const threads of [0, 1, 2]) {
    rx.reset();
    const relay = relayOf({ listen: '127.0.0.1:0', allow: [from.target], group: new Group([rx.targets[0], rx.targets[1]]), threads });
    for (let seq = 0; seq < COUNT; seq++) await from.sendTo(relay, datagram(seq));
    await relay.close();
    const stats = relay.stats();
    assert.equal([stats.received, stats.forwarded, stats.pending, stats.sends], [COUNT, COUNT, 0, 2 * COUNT], `threads: ${threads}`);
    await rx.waitFor(2 * COUNT);
    assert.equal(seqs(rx.messages[0]), range(0, COUNT), `threads: ${threads}`);
    assert.equal(seqs(rx.messages[1]), range(0, COUNT), `threads: ${threads}`);
  }
});

// In a tree of relays on one port number each datagram comes from the
// relay's own port: another address's is forwarded, not taken for its own.
test('a source on another address using the relay\'s own port number is forwarded, every datagram, none counted as looped', async () => {
  const probeSocket = await source();
  const port = probeSocket.port;
  probeSocket.close();
  const relay = relayOf({ listen: `127.0.0.1:${port}`, allow: ['127.0.0.2'], group: new Group([rx.targets[0]]) });
  const upstream = await source('127.0.0.2', port);
  for (let seq = 0; seq < 50; seq++) await upstream.sendTo(relay, datagram(seq));
  await until(() => rx.messages[0].length === 50, () => JSON.stringify(relay.stats()));
  assert.equal(rx.messages[0].map((m) => check(m).seq), range(0, 50));
  assert.is(relay.stats().dropped.looped, 0);
  await relay.close();
});

// A wildcard-bound relay takes a datagram from any of this host's
// addresses on its own port for its own come back (looped); from a source
// not allowed it is not allowed first, as docs/api.md orders the counts.
test('a datagram both from a stranger and from this host on the relay\'s port counts as notAllowed; allowed, as looped; none forwarded', async () => {
  const probeSocket = await source();
  const port = probeSocket.port;
  probeSocket.close();
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise((resolve) => socket.bind(port, '0.0.0.0', resolve));
  open.push(socket);
  const neighbour = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise((resolve) => neighbour.bind(port, '127.0.0.2', resolve));
  open.push(neighbour);
  const send = (count) => Promise.all(Array.from({ length: count }, (_, seq) => new Promise((resolve, reject) => {
    neighbour.send(datagram(seq), port, '127.0.0.1', (error) => (error ? reject(error) : resolve()));
  })));
  for (const [allow, counted] of [[['10.9.9.9'], 'notAllowed'], [['127.0.0.2'], 'looped']]) {
    const relay = relayOf({ socket, allow, group: new Group([rx.targets[0]]) });
    await send(5);
    await until(() => relay.stats().received === 5, () => JSON.stringify(relay.stats()));
    const { dropped, forwarded } = relay.stats();
    assert.is(forwarded, 0);
    assert.equal(dropped, { notAllowed: 0, noBuffer: 0, truncated: 0, noMembers: 0, looped: 0, [counted]: 5 }, allow[0]);
    await relay.close();
  }
  assert.is(rx.messages[0].length, 0);
});

// In a namespace of its own: 10.9.9.9/24 on its loopback, with a broadcast
// address and a route for multicast.
const looping = privateNetwork(['ip link set lo up', 'ip addr add 10.9.9.9/24 brd + dev lo', 'ip link set lo multicast on',
  'ip route add 239.0.0.0/8 dev lo'].join(' && '));
testUnless(test, looping.missing, '66.relay looped')('a broadcast or multicast member on the relay\'s own port: sent to once per datagram; the copy that comes back is counted as looped, never forwarded', () => {
  const result = looping.run(path.join(__dirname, 'fixtures', 'relay-looped.js'));
  // Before, one datagram went round some 120,000 times a second until close().
  for (const kind of ['broadcast', 'multicast']) {
    assert.equal(result[kind], { seen: [true, true], received: 4, forwarded: 2, sends: 2, looped: 2, notAllowed: 0 }, kind);
  }
});

// Link-local addresses are unique per link only: the relay's host has
// fe80::1 on another link than the upstream's fe80::1. Before, every
// datagram of that upstream was taken for the relay's own (looped).
const linkLocalMissing = process.getuid() !== 0 ? 'not root' : undefined;
testUnless(test, linkLocalMissing, '66.relay link-local')('an upstream whose link-local address this host also has, on another link, is forwarded: every datagram, none looped', async () => {
  const [r, u] = [`sgtest-llr-${process.pid}`, `sgtest-llu-${process.pid}`];
  const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const fixture = path.join(__dirname, 'fixtures', 'relay-link-local.js');
  ip('netns', 'add', r);
  ip('netns', 'add', u);
  try {
    ip('link', 'add', 'vr', 'netns', r, 'type', 'veth', 'peer', 'name', 'vu', 'netns', u);
    ip('link', 'add', 'x0', 'netns', r, 'type', 'veth', 'peer', 'name', 'x1', 'netns', r);
    for (const [ns, dev, addresses] of [[r, 'x0', ['fe80::1/64']], [r, 'x1', []], [r, 'vr', ['fe80::2/64', 'fd00::2/64']], [u, 'vu', ['fe80::1/64', 'fd00::1/64']]]) {
      for (const address of addresses) ip('-n', ns, 'addr', 'add', address, 'dev', dev, 'nodad');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    ip('-n', r, 'link', 'set', 'lo', 'up');
    ip('-n', u, 'link', 'set', 'lo', 'up');
    const relay = spawn('ip', ['netns', 'exec', r, process.execPath, fixture, 'relay'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = [];
    onLines(relay.stdout, (line) => lines.push(line));
    const ended = new Promise((resolve) => relay.on('exit', resolve));
    await until(() => lines.length > 0, () => 'the relay never said ready');
    const upstream = JSON.parse(execFileSync('ip', ['netns', 'exec', u, process.execPath, fixture, 'upstream'], { encoding: 'utf8', timeout: DEADLINE_MS }).trim());
    await ended;
    assert.equal(JSON.parse(lines[1]), { received: 20, forwarded: 20, sends: 20, looped: 0, notAllowed: 0 });
    assert.is(upstream.got, 20);
  } finally {
    for (const ns of [r, u]) execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
});

test('\'unreachable\': members on closed ports are named ({ address, port, family, code, errno }); live members get everything', async () => {
  const from = await source();
  const dead = [];
  for (let i = 0; i < 3; i++) {
    const s = await source(i === 2 ? '::1' : '127.0.0.1');
    dead.push({ address: s.address().address, port: s.port, family: s.address().family });
    s.close();
  }
  const group = new Group([rx.targets[0], ...dead.map((d) => ({ address: d.address, port: d.port })), rx.targets[1]]);
  const relay = relayOf({ listen: '[::]:0', allow: [from.target], group });
  const events = [];
  relay.on('unreachable', (event) => events.push(event));
  const COUNT = 5;
  for (const seq of range(0, COUNT)) {
    await from.sendTo(relay, datagram(seq));
    await until(() => relay.stats().received === seq + 1, () => JSON.stringify(relay.stats()));
  }
  const named = () => dead.every((d) => events.some((e) => e.port === d.port));
  await until(named, () => `events ${JSON.stringify(events)} for ${JSON.stringify(dead)}`);
  for (const d of dead) {
    const event = events.find((e) => e.port === d.port);
    assert.equal({ ...event }, { address: d.address, port: d.port, family: d.family, code: 'ECONNREFUSED', errno: -111 });
  }
  assert.ok(events.every((e) => dead.some((d) => d.port === e.port)), `events for live members: ${JSON.stringify(events)}`);
  await rx.waitFor(2 * COUNT);
  assert.equal(seqs(rx.messages[0]), range(0, COUNT));
  assert.equal(seqs(rx.messages[1]), range(0, COUNT));
  const settled = (s) => s.sends + Object.values(s.failures).reduce((a, b) => a + b, 0);
  await until(() => settled(relay.stats()) === COUNT * 5, () => `every member send settled: ${JSON.stringify(relay.stats())}`);
  assert.is(relay.stats().unreachable, events.length);
  await relay.close();
});

test.run();
