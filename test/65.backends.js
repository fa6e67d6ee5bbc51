'use strict';
const { test } = require('uvu');
const assert = require('uvu/assert');
const dgram = require('node:dgram');
const { Group, Sender, probe } = require('..');
const { openReceivers } = require('./_helpers');

let rx;

test.before(async () => { rx = await openReceivers(20); });
test.after(() => rx.close());
test.before.each(() => rx.reset());

test('backend: \'sendmmsg\' keeps the whole API: per-recipient bytes, errors, reports', async () => {
  const sender = new Sender({ backend: 'sendmmsg' });
  assert.is(sender.backend, 'sendmmsg');
  const group = new Group([...rx.targets.slice(0, 3), '255.255.255.255:9', rx.targets[3]]);
  const prefix = [0, 1, 2, 3, 4].map((i) => Buffer.from(`[${i}]`));
  const report = await sender.sendGroup(group, 'mmsg', { prefix, suffix: { data: Buffer.from('abcde'), stride: 1 }, zeroCopy: true });
  await rx.waitFor(4);
  assert.is(report.sent, 4);
  assert.is(report.zeroCopy, 'off', 'no zero-copy on this backend');
  assert.equal(report.errors.map((e) => [e.address, e.code]), [['255.255.255.255', 'EACCES']]);
  assert.equal(rx.messages.slice(0, 4).map((list) => list.map(String)), [['[0]mmsga'], ['[1]mmsgb'], ['[2]mmsgc'], ['[4]mmsge']]);
  await sender.close();
});

test('sendmmsg sends groups larger than one call (1,024 messages) and GSO bursts', async () => {
  const sender = new Sender({ backend: 'sendmmsg' });
  const group = new Group();
  for (let i = 0; i < 3000; i++) group.add(rx.targets[i % 20]);
  const report = await sender.sendGroup(group, 'many');
  await rx.waitFor(3000);
  assert.is(report.sent, 3000);
  assert.ok(rx.messages.every((list) => list.length === 150));
  rx.reset();
  if (probe().gso) {
    const frame = Buffer.alloc(6000, 7);
    const burst = await sender.sendGroup(new Group(rx.targets.slice(0, 2)), frame, { segmentSize: 1500 });
    await rx.waitFor(8);
    assert.is(burst.bytes, 12000);
    assert.ok(rx.messages[0].length === 4 && rx.messages[0].every((d) => d.length === 1500));
  }
  await sender.close();
});

test('sendmmsg streams completions and honours an already-aborted signal', async () => {
  const sender = new Sender({ backend: 'sendmmsg' });
  const seen = [];
  for await (const completion of sender.streamGroup(new Group(rx.targets.slice(0, 5)), 'streamed')) seen.push(completion.ok);
  assert.equal(seen, [true, true, true, true, true]);
  const aborted = await sender.sendGroup(new Group(rx.targets), 'x', { signal: AbortSignal.abort() }).catch((e) => e);
  assert.is(aborted.name, 'AbortError');
  await rx.waitFor(5);
  await sender.close();
});

test('backend: \'io_uring\' uses io_uring, or throws the setup error where it is blocked', async () => {
  const { ioUring, reasons } = probe();
  if (ioUring) {
    const sender = new Sender({ backend: 'io_uring' });
    assert.is(sender.backend, 'io_uring');
    await sender.close();
  } else {
    assert.throws(() => new Sender({ backend: 'io_uring' }), (e) => e.syscall === 'io_uring_setup' && e.code === reasons.ioUring);
    const fallback = new Sender();
    assert.is(fallback.backend, 'sendmmsg');
    assert.is(fallback.features.ioUringErrno < 0, true, 'auto says why it fell back');
    await fallback.close();
  }
});

test('bad backend and socket options are argument errors', () => {
  assert.throws(() => new Sender({ backend: 'epoll' }), (e) => e.code === 'ERR_INVALID_ARG_VALUE');
  assert.throws(() => new Sender({ socket: {} }), (e) => e.code === 'ERR_INVALID_ARG_TYPE');
  const unbound = dgram.createSocket('udp4');
  assert.throws(() => new Sender({ socket: unbound }), (e) => e.code === 'ERR_INVALID_ARG_VALUE' && /bound/.test(e.message));
  unbound.close();
});

async function bound(type, address) {
  const socket = dgram.createSocket(type);
  await new Promise((resolve) => socket.bind(0, address, resolve));
  return socket;
}

for (const backend of ['auto', 'sendmmsg']) {
  test(`a server answers its clients from its own dgram socket (${backend})`, async () => {
    const server = await bound('udp4', '127.0.0.1');
    const clients = await Promise.all([1, 2, 3].map(() => bound('udp4', '127.0.0.1')));
    const group = new Group();
    const joined = new Promise((resolve) => {
      server.on('message', (message, from) => {
        if (String(message) === 'join') group.add(from.address, from.port);
        if (group.size === clients.length) resolve();
      });
    });
    const { port } = server.address();
    clients.forEach((client) => client.send('join', port, '127.0.0.1'));
    await joined;

    const answers = clients.map((client) => new Promise((resolve) => client.once('message', (message, from) => resolve([String(message), from.port]))));
    assert.throws(() => new Sender({ socket: server, bind: { port: 1 } }), (e) => e.code === 'ERR_INVALID_ARG_VALUE');
    const sender = new Sender({ socket: server, backend });
    assert.is(sender.address().port, port);
    const report = await sender.sendGroup(group, 'welcome');
    assert.is(report.sent, 3);
    assert.equal(await Promise.all(answers), [['welcome', port], ['welcome', port], ['welcome', port]]);
    await sender.close();

    // Closing the Sender leaves the user's socket open and receiving.
    const later = new Promise((resolve) => server.once('message', (message) => resolve(String(message))));
    clients[0].send('still there?', port, '127.0.0.1');
    assert.is(await later, 'still there?');
    server.close();
    clients.forEach((client) => client.close());
  });
}

test.run();
