'use strict';
const { test } = require('uvu');
const assert = require('uvu/assert');
const diagnosticsChannel = require('node:diagnostics_channel');
const { Group, Sender } = require('..');
const { openReceivers, shuffle, testUnless } = require('./_helpers');

const SOCKETS = 50;
let rx;
let sender;

test.before(async () => {
  rx = await openReceivers(SOCKETS);
  sender = new Sender();
});

test.after(async () => {
  await sender.close();
  rx.close();
});

test.before.each(() => rx.reset());

/** A group of `count` members spread over the receiver sockets, member i on socket i % SOCKETS. */
function spread(count) {
  const group = new Group();
  for (let i = 0; i < count; i++) group.add(rx.targets[i % SOCKETS]);
  return group;
}

/** Every datagram a socket got, as text, sorted (members sharing a socket may interleave). */
function received(socket) {
  return rx.messages[socket].map(String).sort();
}

function expectEveryMember(count, bytesOf) {
  for (let socket = 0; socket < SOCKETS; socket++) {
    const expected = [];
    for (let i = socket; i < count; i += SOCKETS) expected.push(bytesOf(i));
    assert.equal(received(socket), expected.sort(), `socket ${socket}`);
  }
}

test('5,000 members with { data, stride } prefixes each get prefix_i + payload', async () => {
  const count = 5000;
  const stride = 6;
  const prefix = Buffer.alloc(count * stride);
  for (let i = 0; i < count; i++) prefix.write(`m${String(i).padStart(4, '0')}|`, i * stride);
  const report = await sender.sendGroup(spread(count), 'frame-1', { prefix: { data: prefix, stride } });
  await rx.waitFor(count);
  assert.equal(report, { recipients: count, sent: count, failed: 0, bytes: count * 13, zeroCopy: 'off', errors: [] });
  expectEveryMember(count, (i) => `m${String(i).padStart(4, '0')}|frame-1`);
});

test('array prefixes and suffixes of different lengths frame each member\'s datagram', async () => {
  const count = 120;
  const prefix = Array.from({ length: count }, (_, i) => Buffer.from(`<${i}>`));
  const suffix = Array.from({ length: count }, (_, i) => Buffer.from(i % 3 === 0 ? '' : `#${'!'.repeat(i % 7)}`));
  const report = await sender.sendGroup(spread(count), 'BODY', { prefix, suffix });
  await rx.waitFor(count);
  assert.is(report.sent, count);
  expectEveryMember(count, (i) => `<${i}>BODY${i % 3 === 0 ? '' : `#${'!'.repeat(i % 7)}`}`);
});

test('prefix and suffix buffers may be overwritten as soon as the call returns', async () => {
  const prefix = [Buffer.from('AA'), Buffer.from('BB')];
  const suffix = { data: Buffer.from('yz'), stride: 1 };
  const pending = sender.sendGroup(spread(2), '-', { prefix, suffix });
  prefix[0].fill(0);
  suffix.data.fill(0);
  await pending;
  await rx.waitFor(2);
  assert.equal(received(0), ['AA-y']);
  assert.equal(received(1), ['BB-z']);
});

test('a prefix count that does not match the group is a RangeError before anything is sent', async () => {
  for (const prefix of [[Buffer.from('a')], { data: Buffer.alloc(5), stride: 2 }]) {
    const error = await sender.sendGroup(spread(3), 'x', { prefix }).catch((e) => e);
    assert.instance(error, RangeError);
    assert.is(error.code, 'ERR_OUT_OF_RANGE');
  }
  const typeError = await sender.sendGroup(spread(1), 'x', { suffix: ['not bytes'] }).catch((e) => e);
  assert.is(typeError.code, 'ERR_INVALID_ARG_TYPE');
  assert.is(rx.total, 0);
});

const { gso, reasons } = require('..').probe();

testUnless(test, !gso && `UDP_SEGMENT refused (${reasons.gso})`, '30.fanout GSO')('segmentSize cuts each member\'s payload into datagrams of that size', async () => {
  const frame = Buffer.alloc(48000);
  for (let i = 0; i < frame.length; i++) frame[i] = i % 251;
  const count = 20;
  const report = await sender.sendGroup(spread(count), frame, { segmentSize: 1200 });
  await rx.waitFor(count * 40);
  assert.is(report.sent, count);
  assert.is(report.bytes, count * 48000);
  for (let socket = 0; socket < count; socket++) {
    const datagrams = rx.messages[socket];
    assert.is(datagrams.length, 40);
    assert.ok(datagrams.every((d) => d.length === 1200));
    assert.ok(Buffer.concat(datagrams).equals(frame), 'in order and intact');
  }
});

test('segmentSize with a prefix and a short last segment', async () => {
  const report = await sender.sendGroup(spread(2), Buffer.from('0123456789'), {
    segmentSize: 4,
    prefix: [Buffer.from('ab'), Buffer.from('cd')],
  });
  await rx.waitFor(6);
  assert.is(report.sent, 2);
  assert.equal(rx.messages[0].map(String), ['ab01', '2345', '6789']);
  assert.equal(rx.messages[1].map(String), ['cd01', '2345', '6789']);
});

test('a group much larger than the ring is sent in several submissions', async () => {
  const small = new Sender({ queueDepth: 4 });
  const count = 1000;
  const report = await small.sendGroup(spread(count), 'tiny ring');
  await rx.waitFor(count);
  assert.is(report.sent, count);
  expectEveryMember(count, () => 'tiny ring');
  await small.close();
});

test('200 concurrent calls on one sender all complete with the right bytes', async () => {
  const calls = [];
  for (let c = 0; c < 200; c++) calls.push(sender.sendGroup(spread(10), `call ${c}`));
  const reports = await Promise.all(calls);
  await rx.waitFor(2000);
  assert.ok(reports.every((report) => report.sent === 10 && report.failed === 0));
  for (let socket = 0; socket < 10; socket++) {
    assert.equal(received(socket), Array.from({ length: 200 }, (_, c) => `call ${c}`).sort());
  }
});

test('streamGroup yields one completion per member, failures included', async () => {
  const group = spread(30);
  group.add('255.255.255.255', 9);
  const completions = [];
  for await (const completion of sender.streamGroup(group, 'streamed')) completions.push(completion);
  await rx.waitFor(30);
  assert.is(completions.length, 31);
  const ids = [...group].map((member) => member.id);
  assert.equal(completions.map((c) => c.id).sort((a, b) => a - b), ids);
  const failed = completions.filter((c) => !c.ok);
  assert.is(failed.length, 1);
  assert.equal(failed[0].error, { code: 'EACCES', errno: -13, message: 'permission denied' });
  assert.ok(completions.filter((c) => c.ok).every((c) => c.bytes === 8));
});

test('streamGroup can be left early; the send still completes', async () => {
  let seen = 0;
  for await (const completion of sender.streamGroup(spread(10), 'partial')) {
    assert.ok(completion.ok);
    if (++seen === 2) break;
  }
  await rx.waitFor(10);
  assert.is(seen, 2);
  assert.is(rx.total, 10);
});

test('streamGroup answers pulls asked for all at once: each settles with a completion of its own, every member once, then done', async () => {
  // On a thread of its own the completions come after streamGroup()
  // returns, while the pulls wait.
  const threaded = new Sender({ threads: 1, inlineBelow: 0 });
  try {
    const group = spread(40);
    const stream = threaded.streamGroup(group, 'pulled');
    const pulls = Promise.all(Array.from({ length: 42 }, () => stream.next()));
    let timer;
    const stuck = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('pulls still waiting after 20 s')), 20000); });
    const results = await Promise.race([pulls, stuck]).finally(() => clearTimeout(timer));
    assert.equal(results.map((r) => r.done), [...Array(40).fill(false), true, true]);
    assert.equal(results.slice(0, 40).map((r) => r.value.id).sort((a, b) => a - b), [...group].map((m) => m.id));
    assert.ok(results.slice(0, 40).every((r) => r.value.ok && r.value.bytes === 6));
    await rx.waitFor(40);
    expectEveryMember(40, () => 'pulled');
  } finally {
    await threaded.close();
  }
});

test('streamGroup throws synchronously for bad arguments', () => {
  assert.throws(() => sender.streamGroup(spread(1), null), (error) => error.code === 'ERR_INVALID_ARG_TYPE');
});

test('removing members during a send affects neither that send nor its report', async () => {
  const group = spread(5);
  group.add('255.255.255.255', 9);
  const pending = sender.sendGroup(group, 'snapshot');
  const members = [...group];
  for (const member of members) group.remove(member.id);
  const report = await pending;
  await rx.waitFor(5);
  assert.is(report.recipients, 6);
  assert.is(report.errors[0].id, members[5].id);
  assert.is(group.size, 0);
});

test('most members removed at once in shuffled order, with additions between: each call reaches exactly the group it was made with', async () => {
  const group = new Group(rx.targets);
  const model = [...group].map((member, socket) => ({ id: member.id, socket }));
  const calls = [];
  const send = (text) => calls.push({ text, sockets: model.map((m) => m.socket), pending: sender.sendGroup(group, text) });
  const checkAgainstModel = () => {
    assert.is(group.size, model.length);
    assert.equal([...group].map((member) => member.id), model.map((m) => m.id));
  };
  send('A');
  const shuffled = shuffle(model.slice(), 7);
  for (const { id } of shuffled.slice(0, 35)) {
    assert.ok(group.remove(id));
    assert.not.ok(group.has(id));
    assert.not.ok(group.remove(id), 'a removed id is gone');
    model.splice(model.findIndex((m) => m.id === id), 1);
  }
  for (const { socket } of shuffled.slice(0, 5)) model.push({ id: group.add(rx.targets[socket]), socket });
  assert.ok(model.every((m) => group.has(m.id)));
  send('B');
  const removeSome = (seed) => {
    for (const { id } of shuffle(model.slice(), seed).slice(0, 4)) {
      group.remove(id);
      model.splice(model.findIndex((m) => m.id === id), 1);
    }
  };
  // Removals while a call may read the table (compacted into a new one), then while none can (in place).
  removeSome(11);
  checkAgainstModel();
  removeSome(13);
  model.push({ id: group.add(rx.targets[shuffled[0].socket]), socket: shuffled[0].socket });
  send('C');
  checkAgainstModel();
  const reports = await Promise.all(calls.map((call) => call.pending));
  assert.equal(reports.map((r) => r.sent), calls.map((call) => call.sockets.length));
  await rx.waitFor(calls.reduce((sum, call) => sum + call.sockets.length, 0));
  for (let socket = 0; socket < SOCKETS; socket++) {
    const expected = calls.flatMap((call) => call.sockets.filter((s) => s === socket).map(() => call.text));
    assert.equal(received(socket), expected.sort(), `socket ${socket}`);
  }
});

// Last in this file: its datagrams overflow the receivers, so it checks the
// reports only (loopback drops at a full receive queue are the receiver's).
test('a Group sent to again and again follows every change (its table is parsed once per sender and version), across a failed call, an abort and a second sender of another family', async () => {
  const group = new Group(rx.targets.slice(0, 3));
  const v4 = new Sender({ bind: { address: '127.0.0.1' } });
  const sends = [
    () => sender.sendGroup(group, 'a'),
    () => v4.sendGroup(group, 'b'),
    () => { group.add(rx.targets[3]); return sender.sendGroup(group, 'c'); },
    () => v4.sendGroup(group, 'd'),
    () => sender.sendGroup(group, 'x', { prefix: [Buffer.from('1')] }).catch((e) => e.code),
    () => { group.remove([...group][0].id); return sender.sendGroup(group, 'e'); },
    () => sender.sendGroup(group, 'aborted', { signal: AbortSignal.abort() }).catch((e) => e.code),
    () => { group.clear(); group.add(rx.targets[4]); return sender.sendGroup(group, 'f'); },
    () => v4.sendGroup(group, 'g'),
  ];
  const results = [];
  for (const send of sends) results.push(await send());
  await v4.close();
  assert.equal(results.map((r) => (typeof r === 'string' ? r : r.sent)), [3, 3, 4, 4, 'ERR_OUT_OF_RANGE', 3, 'ABORT_ERR', 1, 1]);
  await rx.waitFor(3 + 3 + 4 + 4 + 3 + 1 + 1);
  const got = rx.messages.slice(0, 5).map((list) => list.map(String));
  assert.equal(got, [['a', 'b', 'c', 'd'], ['a', 'b', 'c', 'd', 'e'], ['a', 'b', 'c', 'd', 'e'], ['c', 'd', 'e'], ['f', 'g']]);
});

test('sends refused midway (EACCES: a broadcast address) fail on their own members, call after call, and every other member gets every call in order', async () => {
  // Live members and refused ones (no SO_BROADCAST) interleaved: enough
  // failures to move the calls from sendmmsg to the ring and, 64 calls
  // later, back; every other call with per-member prefixes.
  const members = [];
  for (let i = 0; i < 8; i++) members.push(rx.targets[i], '255.255.255.255:9');
  const group = new Group(members);
  const refused = [...group].filter((m) => m.address === '255.255.255.255').map((m) => m.id);
  const calls = 80;
  for (let call = 0; call < calls; call++) {
    const options = call % 2 ? { prefix: members.map((_, i) => Buffer.from(`${i}:`)) } : {};
    const report = await sender.sendGroup(group, `c${call}`, options);
    assert.equal(report.errors.map((e) => [e.id, e.code]), refused.map((id) => [id, 'EACCES']), `call ${call}`);
    assert.is(report.sent, 8);
  }
  await rx.waitFor(8 * calls);
  for (let i = 0; i < 8; i++) {
    const expected = Array.from({ length: calls }, (_, call) => (call % 2 ? `${2 * i}:c${call}` : `c${call}`));
    assert.equal(rx.messages[i].map(String), expected, `receiver ${i}`);
  }
});

test('a group changed while a call reads its options (a getter) or publishes its start (a subscriber) is sent as it was when called', async () => {
  const group = new Group(rx.targets.slice(0, 3));
  const [first] = group;
  const one = await sender.sendGroup(group, 'one', { get zeroCopy() { group.remove(first.id); return false; } });
  const replace = () => { group.clear(); group.add(rx.targets[4]); };
  diagnosticsChannel.subscribe('sendgroup:send:start', replace);
  let two;
  try {
    two = await sender.sendGroup(group, 'two');
  } finally {
    diagnosticsChannel.unsubscribe('sendgroup:send:start', replace);
  }
  const three = await sender.sendGroup(group, 'three');
  assert.equal([one.sent, two.sent, three.sent], [3, 2, 1]);
  await rx.waitFor(3 + 2 + 1);
  assert.equal(rx.messages.slice(0, 5).map((list) => list.map(String)), [['one'], ['one', 'two'], ['one', 'two'], [], ['three']]);
});

test('1,000 concurrent calls and a 100,000-member group all complete', async () => {
  const small = new Sender({ queueDepth: 64, slots: 4 });
  const big = spread(100000);
  const calls = [small.sendGroup(big, 'x')];
  for (let c = 0; c < 1000; c++) calls.push(small.sendGroup(spread(5), `c${c}`, { zeroCopy: c % 2 === 0 }));
  const reports = await Promise.all(calls);
  assert.is(reports[0].sent, 100000);
  assert.ok(reports.slice(1).every((report) => report.sent === 5));
  await small.close();
});

test.run();
