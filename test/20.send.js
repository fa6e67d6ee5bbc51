'use strict';
const { test } = require('uvu');
const assert = require('uvu/assert');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { Group, Sender, sendGroup } = require('..');
const { openReceivers, rejectsWith } = require('./_helpers');

let sender;
let v4;
let v6;

test.before(async () => {
  sender = new Sender();
  v4 = await openReceivers(3, '127.0.0.1');
  v6 = await openReceivers(2, '::1');
});

test.after(async () => {
  await sender.close();
  v4.close();
  v6.close();
});

test.before.each(() => {
  v4.reset();
  v6.reset();
});

test('one member receives exactly the payload, from the sender\'s port', async () => {
  const report = await sender.sendGroup(new Group([v4.targets[0]]), Buffer.from('hello, group'));
  await v4.waitFor(1);
  assert.equal(report, { recipients: 1, sent: 1, failed: 0, bytes: 12, zeroCopy: 'off', errors: [] });
  assert.is(v4.messages[0][0].toString(), 'hello, group');
  assert.is(v4.messages[0].rinfo.port, sender.address().port);
});

test('a group mixing IPv4 and IPv6 members reaches all of them with default options', async () => {
  const group = new Group([...v4.targets, ...v6.targets]);
  const report = await sender.sendGroup(group, 'dual stack');
  await Promise.all([v4.waitFor(3), v6.waitFor(2)]);
  assert.is(report.sent, 5);
  for (const list of [...v4.messages, ...v6.messages]) assert.equal(list.map(String), ['dual stack']);
  assert.is(v4.messages[0].rinfo.address, '127.0.0.1', 'IPv4 members see an IPv4 source');
});

test('every payload type is sent as its bytes', async () => {
  const bytes = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const payloads = [
    ['string', 'héllo', Buffer.from('héllo')],
    ['Buffer', Buffer.from([9, 8, 7]), Buffer.from([9, 8, 7])],
    ['Uint8Array view with offset', bytes.subarray(2, 5), Buffer.from([3, 4, 5])],
    ['Uint16Array', Uint16Array.of(0x0102), Buffer.from(Uint16Array.of(0x0102).buffer)],
    ['DataView', new DataView(bytes.buffer, 6, 2), Buffer.from([7, 8])],
    ['ArrayBuffer', bytes.buffer, Buffer.from(bytes)],
    ['SharedArrayBuffer', new SharedArrayBuffer(3), Buffer.alloc(3)],
    ['empty', Buffer.alloc(0), Buffer.alloc(0)],
  ];
  const group = new Group([v4.targets[0]]);
  for (const [, payload] of payloads) await sender.sendGroup(group, payload);
  await v4.waitFor(payloads.length);
  assert.equal(v4.messages[0].map((m) => [...m]), payloads.map(([, , expected]) => [...expected]));
});

test('the payload is copied inside the call: the caller may overwrite it at once', async () => {
  const payload = Buffer.from('original');
  const pending = sender.sendGroup(new Group(v4.targets), payload);
  payload.fill(0x58);
  await pending;
  await v4.waitFor(3);
  for (const list of v4.messages) assert.is(list[0].toString(), 'original');
});

test('a failing member is reported and never stops the others', async () => {
  const group = new Group([v4.targets[0], '255.255.255.255:9', v4.targets[1], '127.0.0.1:0', v4.targets[2]]);
  const report = await sender.sendGroup(group, 'some fail');
  await v4.waitFor(3);
  assert.is(report.recipients, 5);
  assert.is(report.sent, 3);
  assert.is(report.failed, 2);
  assert.is(report.bytes, 27);
  const [broadcast, portZero] = report.errors;
  const members = [...group];
  assert.equal(broadcast, { id: members[1].id, address: '255.255.255.255', port: 9, code: 'EACCES', errno: -13, message: 'permission denied' });
  assert.is(portZero.id, members[3].id);
  assert.is(portZero.code, 'EINVAL');
  for (const list of v4.messages) assert.equal(list.map(String), ['some fail']);
});

test('a receiver that went away does not poison later sends to the others', async () => {
  const gone = await openReceivers(1);
  const goneTarget = gone.targets[0];
  gone.close();
  // On loopback the ICMP port-unreachable comes back inside this send and
  // leaves its error on the socket for whatever is sent next.
  const first = await sender.sendGroup(new Group([goneTarget]), 'to nobody');
  assert.is(first.sent, 1, 'the kernel did send it; the ICMP comes later');
  const report = await sender.sendGroup(new Group(v4.targets), 'after ICMP');
  await v4.waitFor(3);
  assert.equal(report.errors, []);
  for (const list of v4.messages) assert.equal(list.map(String), ['after ICMP']);
});

test('receivers that went away amid live ones: every live member is sent', async () => {
  const gone = await openReceivers(6);
  const goneTargets = gone.targets;
  gone.close();
  const mixed = new Group();
  goneTargets.forEach((target, i) => {
    mixed.add(target);
    if (i < 3) mixed.add(v4.targets[i]);
  });
  const report = await sender.sendGroup(mixed, 'mixed');
  await v4.waitFor(3);
  const again = await sender.sendGroup(new Group(v4.targets), 'again');
  await v4.waitFor(6);
  assert.equal(report.errors, []);
  assert.equal(again.errors, []);
});

test('a payload on a detached ArrayBuffer is an argument error, not an empty datagram', async () => {
  const buffer = new ArrayBuffer(8);
  const view = new Uint8Array(buffer);
  structuredClone(buffer, { transfer: [buffer] });
  await rejectsWith(() => sender.sendGroup(new Group(v4.targets), view), TypeError, 'ERR_INVALID_ARG_VALUE', assert);
  await rejectsWith(() => sender.sendGroup(new Group(v4.targets), buffer), TypeError, 'ERR_INVALID_ARG_VALUE', assert);
  assert.is(v4.total, 0);
});

test('an oversize datagram fails with EMSGSIZE per member', async () => {
  const group = new Group([v4.targets[0], v6.targets[0]]);
  const report = await sender.sendGroup(group, Buffer.alloc(65530));
  assert.is(report.failed + report.sent, 2);
  const v4Failure = report.errors.find((failure) => failure.address === '127.0.0.1');
  assert.is(v4Failure.code, 'EMSGSIZE', 'IPv4 carries at most 65507 bytes of UDP payload');
});

test('an empty group resolves with an empty report', async () => {
  const report = await sender.sendGroup(new Group(), 'nobody');
  assert.equal(report, { recipients: 0, sent: 0, failed: 0, bytes: 0, zeroCopy: 'off', errors: [] });
});

test('targets may be an iterable instead of a Group', async () => {
  const report = await sender.sendGroup(new Set(v4.targets), 'from a set');
  await v4.waitFor(3);
  assert.is(report.sent, 3);
});

test('sendGroup() shares one lazily created sender', async () => {
  const report = await sendGroup([v4.targets[0], { address: '::1', port: v6.sockets[0].address().port }], 'shared');
  await Promise.all([v4.waitFor(1), v6.waitFor(1)]);
  assert.is(report.sent, 2);
  assert.is(v4.messages[0][0].toString(), 'shared');
  assert.is(v6.messages[0][0].toString(), 'shared');
});

test('a sender bound to IPv4 reports IPv6 members as EAFNOSUPPORT and sends the rest, an IPv4-mapped member as the IPv4 address it is', async () => {
  const ipv4Only = new Sender({ bind: { address: '127.0.0.1' } });
  const mapped = { address: '::ffff:127.0.0.1', port: v4.sockets[1].address().port };
  const report = await ipv4Only.sendGroup(new Group([v6.targets[0], v4.targets[0], mapped]), 'v4 only');
  await v4.waitFor(2);
  assert.is(report.sent, 2);
  assert.equal(report.errors.map((e) => [e.address, e.code]), [['::1', 'EAFNOSUPPORT']]);
  assert.is(v4.messages[0][0].toString(), 'v4 only');
  assert.is(v4.messages[1][0].toString(), 'v4 only');
  await ipv4Only.close();
});

const badCalls = [
  ['group is not an object', () => sender.sendGroup(42, 'x'), TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['group has a bad target', () => sender.sendGroup(['nope'], 'x'), TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['payload is null', () => sender.sendGroup(new Group(), null), TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['payload is a number', () => sender.sendGroup(new Group(), 5), TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['payload is over 65535 bytes', () => sender.sendGroup(new Group(), Buffer.alloc(65536)), RangeError, 'ERR_OUT_OF_RANGE'],
  ['options is not an object', () => sender.sendGroup(new Group(), 'x', 'fast'), TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['options has an unknown key', () => sender.sendGroup(new Group(), 'x', { zerocopy: true }), TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['zeroCopy is not a mode', () => sender.sendGroup(new Group(), 'x', { zeroCopy: 'yes' }), TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['segmentSize is 0', () => sender.sendGroup(new Group(), 'x', { segmentSize: 0 }), RangeError, 'ERR_OUT_OF_RANGE'],
  ['segmentSize is a string', () => sender.sendGroup(new Group(), 'x', { segmentSize: '1200' }), TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['signal is not an AbortSignal', () => sender.sendGroup(new Group(), 'x', { signal: {} }), TypeError, 'ERR_INVALID_ARG_TYPE'],
];
for (const [what, call, ErrorClass, code] of badCalls) {
  test(`rejects when ${what}`, async () => {
    const result = call();
    assert.instance(result, Promise, 'sendGroup reports bad arguments by rejecting');
    await rejectsWith(() => result, ErrorClass, code, assert);
  });
}

test('bad Sender options throw', () => {
  const cases = [
    [{ queueDepth: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ queueDepth: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ slots: 5000 }, 'ERR_OUT_OF_RANGE'],
    [{ zeroCopy: 1 }, 'ERR_INVALID_ARG_VALUE'],
    [{ registerBuffers: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
    [{ bind: { address: 'localhost' } }, 'ERR_INVALID_ARG_VALUE'],
    [{ bind: { host: '::' } }, 'ERR_INVALID_ARG_VALUE'],
    [{ sendBufferSize: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ queueDepth: 8, speed: 'max' }, 'ERR_INVALID_ARG_VALUE'],
    [{ threads: 65 }, 'ERR_OUT_OF_RANGE'],
    [{ threads: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ threads: '2' }, 'ERR_INVALID_ARG_TYPE'],
    [{ inlineBelow: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ inlineBelow: 2 ** 32 }, 'ERR_OUT_OF_RANGE'],
    [{ inlineBelow: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ inlineBelow: '100' }, 'ERR_INVALID_ARG_TYPE'],
    ['fast', 'ERR_INVALID_ARG_TYPE'],
  ];
  for (const [options, code] of cases) {
    assert.throws(() => new Sender(options), (error) => error.code === code, JSON.stringify(options));
  }
});

// [variable, value, the Sender's options, the error's code, or null: none (not read)]
const BAD_ENVIRONMENT = [
  ['SENDGROUP_THREADS', 'x', {}, 'ERR_INVALID_ARG_VALUE'], ['SENDGROUP_THREADS', '1.5', {}, 'ERR_INVALID_ARG_VALUE'],
  ['SENDGROUP_THREADS', '65', {}, 'ERR_OUT_OF_RANGE'],
  ['SENDGROUP_INLINE_BELOW', '-1', { threads: 1 }, 'ERR_INVALID_ARG_VALUE'],
  ['SENDGROUP_INLINE_BELOW', '4294967296', { threads: 1 }, 'ERR_OUT_OF_RANGE'],
  ['SENDGROUP_INLINE_BELOW', 'x', { threads: 0 }, null],
];
test('SENDGROUP_THREADS (0 to 64) or SENDGROUP_INLINE_BELOW (0 to 2^32 - 1, read with threads) that is not such an integer is an error naming it and what it got', () => {
  for (const [variable, value, options, code] of BAD_ENVIRONMENT) {
    const child = spawnSync(process.execPath, ['-e', `
      try { new (require('.').Sender)(${JSON.stringify(options)}).close(); console.log('{}'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`],
    { cwd: path.join(__dirname, '..'), env: { ...process.env, [variable]: value }, encoding: 'utf8' });
    const { code: got, message } = JSON.parse(child.stdout);
    assert.is(got, code ?? undefined, `${variable}=${value}`);
    if (!code) continue;
    assert.match(message, variable);
    assert.match(message, value);
  }
});

test.run();
