'use strict';
const { test } = require('uvu');
const assert = require('uvu/assert');
const os = require('node:os');
const sendgroup = require('..');
const { testUnless } = require('./_helpers');

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

// The SQE probes (a flag on fd -1 answers EBADF when the kernel knows it)
// must read their own answer: one that did not turned REPORT_USAGE off
// without a word. Every kernel from 6.2 has it.
const [major, minor] = os.release().split('.').map(Number);
const reportUsageSkip = !sendgroup.probe().sendZc ? 'no SEND_ZC here (io_uring blocked or too old)'
  : major < 6 || (major === 6 && minor < 2) ? `Linux ${os.release()} predates REPORT_USAGE (6.2)` : undefined;
testUnless(test, reportUsageSkip, 'REPORT_USAGE probe')('probe() finds REPORT_USAGE on a kernel that has it (6.2 and later)', () => {
  assert.ok(sendgroup.probe().reportUsage);
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
