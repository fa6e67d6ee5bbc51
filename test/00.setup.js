'use strict';
const { test } = require('uvu');
const assert = require('uvu/assert');
const sendgroup = require('..');

test('the package exposes its API from the CommonJS entry', () => {
  for (const name of ['Group', 'Sender', 'sendGroup', 'probe']) assert.type(sendgroup[name], 'function', name);
});

test('the ESM entry exports the same objects', async () => {
  const esm = await import('sendgroup');
  assert.is(esm.Sender, sendgroup.Sender);
  assert.is(esm.sendGroup, sendgroup.sendGroup);
});

test('probe() reports what this kernel allows, with a reason for each refusal', () => {
  const result = sendgroup.probe();
  for (const key of ['ioUring', 'deferTaskrun', 'submitAll', 'sendWithAddr', 'sendZc', 'sendmsgZc', 'reportUsage', 'sendmsgZcFixed', 'fixedBuffers', 'gso', 'sendmmsg']) {
    assert.type(result[key], 'boolean', key);
  }
  for (const key of ['ioUring', 'fixedBuffers', 'gso', 'sendmmsg']) {
    if (!result[key]) assert.type(result.reasons[key], 'string', `reason for ${key}`);
  }
  const missing = Object.entries(result).filter(([, value]) => value === false).map(([key]) => key);
  if (missing.length) console.warn(`\n  sendgroup probe: lacking ${missing.join(', ')} (${JSON.stringify(result.reasons)}); tests needing them skip`);
  assert.ok(result.ioUring || result.sendmmsg, 'no backend can send here');
  assert.is(result.cpus, require('os').availableParallelism());
});

test('probe() returns a fresh copy each time', () => {
  const first = sendgroup.probe();
  first.ioUring = 'changed';
  first.reasons.ioUring = 'changed';
  assert.is.not(sendgroup.probe().ioUring, 'changed');
  assert.is.not(sendgroup.probe().reasons.ioUring, 'changed');
});

test('a Sender binds a dual-stack socket and describes its backend', async () => {
  const sender = new sendgroup.Sender();
  const address = sender.address();
  assert.is(address.family, 'IPv6');
  assert.is(address.address, '::');
  assert.ok(address.port > 0);
  const expected = sendgroup.probe().ioUring ? 'io_uring' : 'sendmmsg';
  assert.is(sender.backend, expected);
  assert.is(sender.features.backend, expected);
  await sender.close();
});

test('a Sender bound to an IPv4 address uses an IPv4 socket', async () => {
  const sender = new sendgroup.Sender({ bind: { address: '127.0.0.1' } });
  assert.equal(sender.address().family, 'IPv4');
  assert.equal(sender.address().address, '127.0.0.1');
  await sender.close();
});

test('a failed bind throws a Node-style system error', async () => {
  const first = new sendgroup.Sender({ bind: { address: '127.0.0.1' } });
  const { port } = first.address();
  try {
    assert.throws(() => new sendgroup.Sender({ bind: { address: '127.0.0.1', port } }),
      (error) => error.code === 'EADDRINUSE' && error.syscall === 'bind' && error.errno === -98);
  } finally {
    await first.close();
  }
});

test.run();
