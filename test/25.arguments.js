'use strict';
// Arguments are read once, and the addon only ever sees fresh values lib/
// checked: getters, Proxies, subclasses, resizable and transferable buffers
// can change the world between two reads, never crash the process or make it
// read memory the caller no longer owns.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { Group, Relay, Sender } = require('..');
const { openReceivers, rejectsWith } = require('./_helpers');

let rx;
let sender;

test.before(async () => { rx = await openReceivers(3); });
test.after(() => rx.close());
test.before.each(() => {
  rx.reset();
  sender = new Sender();
});
test.after.each(() => sender.close());

const group = () => new Group(rx.targets.slice(0, 2));

test('a Proxy of prefixes is read once per entry, and the datagrams are what it returned', async () => {
  const reads = {};
  const parts = [Buffer.from('a:'), Buffer.from('b:')];
  const prefix = new Proxy(parts, {
    get(target, key) {
      reads[key] = (reads[key] ?? 0) + 1;
      return target[key];
    },
  });
  const report = await sender.sendGroup(group(), 'x', { prefix });
  await rx.waitFor(2);
  assert.is(report.sent, 2);
  assert.equal({ 0: reads[0], 1: reads[1], length: reads.length }, { 0: 1, 1: 1, length: 1 });
  assert.equal(rx.messages.slice(0, 2).map((list) => String(list[0])), ['a:x', 'b:x']);
});

test('options are read once each', async () => {
  const reads = {};
  const options = {};
  for (const key of ['prefix', 'suffix', 'zeroCopy', 'segmentSize', 'signal']) {
    Object.defineProperty(options, key, { enumerable: true, get() { reads[key] = (reads[key] ?? 0) + 1; } });
  }
  await sender.sendGroup(group(), 'x', options);
  await rx.waitFor(2);
  assert.equal(reads, { prefix: 1, suffix: 1, zeroCopy: 1, segmentSize: 1, signal: 1 });
});

test('a getter that closes the sender makes the call reject as closed, and nothing is sent', async () => {
  const prefix = [Buffer.from('a')];
  Object.defineProperty(prefix, 1, { enumerable: true, get: () => { sender.close(); return Buffer.from('b'); } });
  await rejectsWith(() => sender.sendGroup(group(), 'x', { prefix }), Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', assert);
  const options = { get zeroCopy() { sender.close(); return false; } };
  await rejectsWith(() => sender.sendGroup(group(), 'x', options), Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', assert);
  assert.is(rx.total, 0);
});

test('a getter that shrinks the payload\'s resizable buffer: the datagram is what the view holds then', async () => {
  const buffer = new ArrayBuffer(60000, { maxByteLength: 60000 });
  new Uint8Array(buffer).fill(7);
  const payload = new Uint8Array(buffer);
  const options = { get zeroCopy() { buffer.resize(10); return false; } };
  const report = await sender.sendGroup(group(), payload, options).catch((error) => error);
  if (report instanceof Error) {
    assert.is(report.code, 'ERR_INVALID_ARG_VALUE', report.message);
  } else {
    await rx.waitFor(2);
    assert.ok(rx.messages[0][0].length <= 10, `${rx.messages[0][0].length} bytes sent from a 10-byte buffer`);
    assert.ok(rx.messages[0][0].every((byte) => byte === 7));
  }
});

test('a getter that transfers the payload\'s buffer away: the call fails as an argument error', async () => {
  const payload = new Uint8Array(60000).fill(1);
  const options = { get zeroCopy() { structuredClone(payload.buffer, { transfer: [payload.buffer] }); return false; } };
  await rejectsWith(() => sender.sendGroup(group(), payload, options), TypeError, 'ERR_INVALID_ARG_VALUE', assert);
  const prefix = [Buffer.from('a'), new Uint8Array(8)];
  const detaching = { prefix, get zeroCopy() { structuredClone(prefix[1].buffer, { transfer: [prefix[1].buffer] }); return false; } };
  await rejectsWith(() => sender.sendGroup(group(), 'x', detaching), TypeError, 'ERR_INVALID_ARG_VALUE', assert);
  assert.is(rx.total, 0);
});

test('user code run after the payload was checked (an iterator, an array element getter) transfers it away: an argument error, nothing sent', async () => {
  const transfer = (view) => structuredClone(view.buffer, { transfer: [view.buffer] });
  const payload = new Uint8Array(100).fill(1);
  const members = { *[Symbol.iterator]() { transfer(payload); yield* rx.targets; } };
  const first = await sender.sendGroup(members, payload).catch((e) => e);
  assert.instance(first, TypeError);
  assert.is(first.code, 'ERR_INVALID_ARG_VALUE');
  assert.match(first.message, /^payload was detached or resized/, 'the error names the buffer');
  const second = new Uint8Array(100).fill(2);
  const prefix = [Buffer.from('a')];
  Object.defineProperty(prefix, 1, { get() { transfer(second); return Buffer.from('b'); }, enumerable: true });
  await rejectsWith(() => sender.sendGroup(group(), second, { prefix }), TypeError, 'ERR_INVALID_ARG_VALUE', assert);
  const parts = [new Uint8Array(4), Buffer.from('b')];
  const later = [parts[0]];
  Object.defineProperty(later, 1, { get() { transfer(parts[0]); return parts[1]; }, enumerable: true });
  const error = await sender.sendGroup(group(), 'x', { suffix: later }).catch((e) => e);
  assert.instance(error, TypeError);
  assert.is(error.code, 'ERR_INVALID_ARG_VALUE');
  assert.match(error.message, /^options\.suffix\[0\] was detached or resized/, 'the error names the buffer');
  assert.is(rx.total, 0);
});

test('a getter that shrinks { data, stride } data after it was checked: a RangeError, nothing sent', async () => {
  const buffer = new ArrayBuffer(8, { maxByteLength: 8 });
  const data = new Uint8Array(buffer);
  const options = { prefix: { data, stride: 4 }, get zeroCopy() { buffer.resize(4); return false; } };
  const error = await sender.sendGroup(group(), 'x', options).catch((e) => e);
  assert.instance(error, RangeError);
  assert.is(rx.total, 0);
});

test('a Uint8Array subclass that lies about its length is sent as the bytes it really has', async () => {
  class Liar extends Uint8Array {
    get byteLength() { return 60000; }
    get buffer() { throw new Error('not read'); }
  }
  const report = await sender.sendGroup(group(), Liar.from([1, 2, 3]));
  await rx.waitFor(2);
  assert.is(report.bytes, 6);
  assert.equal([...rx.messages[0][0]], [1, 2, 3]);
});

// Pollution of Object.prototype (a dependency's bug) must not become an
// option nobody gave: least of all allow, which would open a relay to anyone.
test('options inherited from Object.prototype are not options: no relay opened, no send changed', async () => {
  // fd: the addon would adopt that socket; broadcast: SO_BROADCAST nobody asked for.
  const probe = require('node:dgram').createSocket('udp4');
  await new Promise((resolve) => probe.bind(0, '127.0.0.1', resolve));
  const polluted = { allow: 'any', zeroCopy: 'never', segmentSize: 100, fd: probe._handle.fd, broadcast: true, ttl: 7 };
  for (const [key, value] of Object.entries(polluted)) Object.defineProperty(Object.prototype, key, { value, configurable: true, writable: true });
  try {
    assert.throws(() => new Relay({ listen: '127.0.0.1:0', group: new Group([]) }), (e) => e.code === 'ERR_INVALID_ARG_TYPE' && /options\.allow is required/.test(e.message));
    const payload = Buffer.alloc(300, 7);
    const reports = [await sender.sendGroup(group(), payload), await sender.sendGroup(group(), payload, {})];
    await rx.waitFor(4);
    assert.equal(reports.map((report) => report.sent), [2, 2]);
    assert.equal(rx.messages.slice(0, 2).map((list) => list.map((datagram) => datagram.length)), [[300, 300], [300, 300]]);
    const own = new Sender();
    assert.is.not(own.address().port, probe.address().port, 'a socket of its own, not the one fd names');
    await own.close();
  } finally {
    for (const key of Object.keys(polluted)) delete Object.prototype[key];
    probe.close();
  }
});

// A target's address and port are the object's or its class's, never
// Object.prototype's: a polluted port must not pick where datagrams go.
test('a target\'s address and port inherited from Object.prototype are not given: ERR_INVALID_ARG_TYPE, nothing sent', async () => {
  const port = rx.sockets[0].address().port;
  class Target { get address() { return '127.0.0.1'; } get port() { return port; } }
  for (const [key, value, missing] of [['port', port, { address: '127.0.0.1' }], ['address', '127.0.0.1', { port }]]) {
    Object.defineProperty(Object.prototype, key, { value, configurable: true, writable: true });
    try {
      assert.throws(() => new Group([missing]), (e) => e.code === 'ERR_INVALID_ARG_TYPE' && e.message === `targets[0].${key} must be a ${typeof value}, received undefined`);
      assert.throws(() => new Group([]).add(missing), (e) => e.code === 'ERR_INVALID_ARG_TYPE' && e.message.startsWith(`target.${key} must be`));
      await rejectsWith(() => sender.sendGroup([missing], 'x'), TypeError, 'ERR_INVALID_ARG_TYPE', assert);
    } finally {
      delete Object.prototype[key];
    }
  }
  assert.throws(() => new Group([['127.0.0.1', port]]), (e) => e.code === 'ERR_INVALID_ARG_TYPE' && /^targets\[0\] must be .* received an array$/.test(e.message));
  assert.is(rx.total, 0);
  const report = await sender.sendGroup([new Target()], 'from a class');
  assert.is(report.sent, 1);
  await rx.waitFor(1);
  assert.is(rx.messages[0][0].toString(), 'from a class');
});

test('an argument error quotes at most 60 characters of what it received, control characters escaped, and says what kind of object it got', () => {
  const long = `${'a'.repeat(100)}\u0000\u001b[2J:5`;
  assert.throws(() => new Group([long]), (e) => e.message === `targets[0] must look like '1.2.3.4:5004' or '[::1]:5004', received '${'a'.repeat(60)}…'`);
  assert.throws(() => new Group(['1.2.3.4\u001b[2J:5']), (e) => e.message.endsWith("received '1.2.3.4\\u001b[2J:5'"));
  assert.throws(() => new Sender({ ttl: [64] }), (e) => e.message === 'options.ttl must be a number, received an array');
  assert.throws(() => new Sender({ zeroCopy: Symbol('x') }), (e) => e.message === "options.zeroCopy must be true, false or 'auto', received a symbol");
  assert.throws(() => new Sender({ zeroCopy: { toString() { throw new Error('user code ran'); } } }), (e) => e.code === 'ERR_INVALID_ARG_VALUE' && e.message.endsWith('received an object'));
});

test('exotic arguments: a revoked Proxy is described, not touched (a coded error); a Proxy whose prototype chain is a cycle ends; a get-only Proxy is a target', async () => {
  const { proxy: revoked, revoke } = Proxy.revocable({}, {});
  revoke();
  for (const make of [() => new Group([{ address: '127.0.0.1', port: revoked }]), () => new Group().has(revoked), () => new Sender({ ttl: revoked }), () => new Sender({ zeroCopy: revoked })]) {
    assert.throws(make, (e) => /^ERR_/.test(e.code) && e.message.endsWith('received a revoked Proxy'));
  }
  // As a whole argument, where an object is read.
  const made = [() => new Sender(revoked), () => new Group().add(revoked), () => new Group(revoked), () => new Relay(revoked)];
  for (const make of made) assert.throws(make, (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE', String(make));
  const calls = [() => sender.sendGroup(revoked, 'x'), () => sender.sendGroup(rx.targets, 'x', revoked),
    () => sender.sendGroup(rx.targets, 'x', { prefix: revoked }), async () => { for await (const _ of sender.streamGroup(rx.targets, 'x', revoked)); }];
  for (const call of calls) await rejectsWith(call, TypeError, 'ERR_INVALID_ARG_TYPE', assert);
  const read = (t, key) => ({ address: '127.0.0.1', port: rx.sockets[0].address().port })[key];
  const cycle = new Proxy({}, { get: read, getPrototypeOf: () => cycle });
  assert.is(new Group([cycle]).size, 1, 'read as given: the walk stops, and Object.prototype has neither key');
  assert.is(new Group([new Proxy({}, { get: read })]).size, 1);
});

test('an options class with a getter of an unknown name is refused; its methods are passed over', async () => {
  class Typo { get ttl() { return 7; } get tll() { return 9; } }
  assert.throws(() => new Sender(new Typo()), (e) => e.code === 'ERR_INVALID_ARG_VALUE' && /options\.tll is not an option/.test(e.message));
  class Base { get zeroCopy() { return false; } get segmentsize() { return 1; } }
  class Call extends Base { describe() { return 'call'; } }
  await rejectsWith(() => sender.sendGroup(rx.targets, 'x', new Call()), TypeError, 'ERR_INVALID_ARG_VALUE', assert);
  // Another realm's Object.prototype is no class of the user's.
  const foreign = require('node:vm').runInNewContext('({ zeroCopy: false })');
  assert.is((await sender.sendGroup(rx.targets, 'x', foreign)).sent, 3);
  await rx.waitFor(3);
  rx.reset();
  class Fine { get segmentSize() { return 1; } describe() { return 'call'; } }
  const report = await sender.sendGroup(rx.targets, 'ab', new Fine());
  assert.is(report.sent, 3);
  await rx.waitFor(6);
  assert.equal(rx.messages.map((list) => list.map(String)), [['a', 'b'], ['a', 'b'], ['a', 'b']], 'its segmentSize getter was read');
});

test('a resizable payload grown by a getter after it was checked: the datagram is the bytes checked', async () => {
  const buffer = new ArrayBuffer(100, { maxByteLength: 200000 });
  new Uint8Array(buffer).fill(3);
  const report = await sender.sendGroup(group(), buffer, { get zeroCopy() { buffer.resize(150000); return false; } });
  assert.is(report.bytes, 200);
  await rx.waitFor(2);
  assert.equal(rx.messages[0].map((m) => m.length), [100]);
});

test('of a call\'s views, the one detached is named, not an empty one over a resizable buffer before it', async () => {
  const empty = new Uint8Array(new ArrayBuffer(8, { maxByteLength: 16 }), 0, 0);
  const suffix = [new Uint8Array(4), new Uint8Array(4)];
  const later = [suffix[0]];
  Object.defineProperty(later, 1, { get() { structuredClone(suffix[0].buffer, { transfer: [suffix[0].buffer] }); return suffix[1]; }, enumerable: true });
  const error = await sender.sendGroup(group(), empty, { suffix: later }).catch((e) => e);
  assert.is(error.code, 'ERR_INVALID_ARG_VALUE');
  assert.match(error.message, /^options\.suffix\[0\] was detached/);
  assert.is(rx.total, 0);
});

test('an object made from a buffer\'s prototype is no buffer: ERR_INVALID_ARG_TYPE, nothing sent', async () => {
  await rejectsWith(() => sender.sendGroup(group(), Object.create(ArrayBuffer.prototype)), TypeError, 'ERR_INVALID_ARG_TYPE', assert);
  await rejectsWith(() => sender.sendGroup(group(), 'x', { prefix: [Object.create(Uint8Array.prototype), Buffer.from('b')] }), TypeError, 'ERR_INVALID_ARG_TYPE', assert);
  assert.is(rx.total, 0);
});

// A relay follows its group from the moment it copies it: user code after
// the copy (a getter of allow) could edit the group unseen.
test('a relay\'s allow list is read once, by index, before the group is copied', () => {
  const members = new Group(rx.targets.slice(0, 2));
  const reads = {};
  const list = ['127.0.0.1'];
  list[Symbol.iterator] = function* nothing() {};
  const allow = new Proxy(list, {
    get(target, key) {
      reads[String(key)] = (reads[String(key)] ?? 0) + 1;
      if (key === '0') members.clear();
      return target[key];
    },
  });
  const relay = new Relay({ listen: '127.0.0.1:0', allow, group: members });
  try {
    assert.equal({ length: reads.length, 0: reads[0] }, { length: 1, 0: 1 });
    assert.is(relay.stats().members, 0, 'the relay has the members the group has');
  } finally {
    relay.close();
  }
  const endless = new Proxy(['127.0.0.1'], { get: (target, key) => (key === 'length' ? 2 ** 32 - 1 : target[key]) });
  assert.throws(() => new Relay({ listen: '127.0.0.1:0', allow: endless, group: members }), (e) => e instanceof RangeError && e.code === 'ERR_OUT_OF_RANGE');
});

// A user's subclass may have methods of any name: none is taken for the
// library's own (a snapshot() of its own was called by sendGroup before).
test('a Group subclass with methods of its own (snapshot, members) is sent to like a Group', async () => {
  class Room extends Group {
    snapshot() { return 'mine'; }
    members() { return 'mine'; }
  }
  const room = new Room(rx.targets.slice(0, 2));
  const report = await sender.sendGroup(room, 'to the room');
  assert.is(report.sent, 2);
  await rx.waitFor(2);
  assert.equal(rx.messages.slice(0, 2).map((list) => list.map(String)), [['to the room'], ['to the room']]);
  assert.is(new Room(room).size, 2);
});

// Made from a prototype, not by the constructor: no Group, no AbortSignal.
test('a Group or AbortSignal made from its prototype is refused as the wrong type; a signal\'s own aborted does not count', async () => {
  const fake = Object.create(Group.prototype);
  await rejectsWith(() => sender.sendGroup(fake, 'x'), TypeError, 'ERR_INVALID_ARG_TYPE', assert);
  assert.throws(() => new Group(fake), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE', 'copied as targets');
  assert.throws(() => new Relay({ listen: '127.0.0.1:0', allow: 'any', group: fake }), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE');
  await rejectsWith(() => sender.sendGroup(group(), 'x', { signal: Object.create(AbortSignal.prototype) }), TypeError, 'ERR_INVALID_ARG_TYPE', assert);
  const aborted = AbortSignal.abort(new Error('stop'));
  Object.defineProperty(aborted, 'aborted', { value: false });
  const error = await rejectsWith(() => sender.sendGroup(group(), 'x', { signal: aborted }), Error, 'ABORT_ERR', assert);
  assert.is(error.cause.message, 'stop');
  assert.is(rx.total, 0);
});

test.run();
