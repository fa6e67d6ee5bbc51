'use strict';
const { test } = require('uvu');
const assert = require('uvu/assert');
const { Group, Sender, probe, AUTO_ZERO_COPY_MIN_BYTES } = require('..');
const { openReceivers, testUnless } = require('./_helpers');

const features = probe();
let rx;
let sender;

/** test, or test.skip where this kernel (or the sendmmsg backend) lacks one of the features. */
function withFeatures(...needed) {
  const lacking = needed.filter((feature) => !features[feature]);
  return testUnless(test, lacking.length ? `this kernel or backend lacks ${lacking.join(', ')}` : undefined, `40.zerocopy (${needed.join(', ')})`);
}

test.before(async () => {
  rx = await openReceivers(4);
  sender = new Sender();
});

test.after(async () => {
  await sender.close();
  rx.close();
});

test.before.each(() => rx.reset());

function pattern(length, seed) {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + seed) & 0xff;
  return bytes;
}

withFeatures('sendZc')('zeroCopy: true delivers exact bytes and says the loopback copied them', async () => {
  const payload = pattern(9000, 1);
  const report = await sender.sendGroup(new Group(rx.targets), payload, { zeroCopy: true });
  await rx.waitFor(4);
  assert.is(report.sent, 4);
  // Loopback has no DMA: the kernel always copies, and REPORT_USAGE says so.
  assert.is(report.zeroCopy, features.reportUsage ? 'copied' : 'zero-copied');
  for (const list of rx.messages) assert.ok(list[0].equals(payload));
});

withFeatures('sendmsgZc')('zero-copy with per-recipient bytes uses SENDMSG_ZC and frames each member', async () => {
  const payload = pattern(10000, 2);
  const prefix = rx.targets.map((_, i) => Buffer.from(`hdr${i}`));
  const suffix = { data: Buffer.from('ABCD'), stride: 1 };
  const report = await sender.sendGroup(new Group(rx.targets), payload, { zeroCopy: true, prefix, suffix });
  await rx.waitFor(4);
  assert.is(report.sent, 4);
  assert.is.not(report.zeroCopy, 'off');
  rx.messages.forEach((list, i) => {
    assert.ok(list[0].equals(Buffer.concat([prefix[i], payload, Buffer.from('ABCD'[i])])), `member ${i}`);
  });
});

withFeatures('sendmsgZc', 'gso')('zero-copy with GSO delivers every segment intact', async () => {
  const frame = pattern(24000, 3);
  const report = await sender.sendGroup(new Group(rx.targets), frame, { zeroCopy: true, segmentSize: 1200 });
  await rx.waitFor(4 * 20);
  assert.is(report.sent, 4);
  for (const list of rx.messages) assert.ok(Buffer.concat(list).equals(frame));
});

test('zeroCopy: false never uses zero-copy', async () => {
  const payload = pattern(20000, 4);
  const report = await sender.sendGroup(new Group(rx.targets), payload, { zeroCopy: false });
  await rx.waitFor(4);
  assert.is(report.zeroCopy, 'off');
  for (const list of rx.messages) assert.ok(list[0].equals(payload));
});

test('zeroCopy: \'auto\' (the default) copies small payloads and zero-copies large ones', async () => {
  const auto = new Sender();
  const small = await auto.sendGroup(new Group(rx.targets), pattern(AUTO_ZERO_COPY_MIN_BYTES - 1, 5));
  assert.is(small.zeroCopy, 'off');
  const large = await auto.sendGroup(new Group(rx.targets), pattern(AUTO_ZERO_COPY_MIN_BYTES, 6));
  assert.is(large.zeroCopy, features.sendZc ? (features.reportUsage ? 'copied' : 'zero-copied') : 'off');
  await rx.waitFor(8);
  await auto.close();
});

withFeatures('sendZc', 'reportUsage')('once the kernel copies an \'auto\' zero-copy send, \'auto\' copies for a while; true still zero-copies', async () => {
  const auto = new Sender();
  const group = new Group([rx.targets[0]]);
  const first = await auto.sendGroup(group, pattern(9000, 1));
  assert.is(first.zeroCopy, 'copied', 'loopback always copies');
  for (let i = 0; i < 3; i++) assert.is((await auto.sendGroup(group, pattern(9000, 2))).zeroCopy, 'off');
  assert.is((await auto.sendGroup(group, pattern(9000, 3), { zeroCopy: true })).zeroCopy, 'copied');
  await rx.waitFor(5);
  await auto.close();
});

withFeatures('sendZc', 'reportUsage')('an \'auto\' streamGroup the kernel copied pauses \'auto\' zero-copy as a sendGroup does', async () => {
  const auto = new Sender();
  const group = new Group([rx.targets[0]]);
  for await (const completion of auto.streamGroup(group, pattern(9000, 1))) assert.is(completion.ok, true);
  assert.equal(auto.stats().zeroCopy, { zeroCopied: 0, copied: 1 }, 'loopback always copies');
  for await (const completion of auto.streamGroup(group, pattern(9000, 2))) assert.is(completion.ok, true);
  assert.is((await auto.sendGroup(group, pattern(9000, 3))).zeroCopy, 'off');
  assert.equal(auto.stats().zeroCopy, { zeroCopied: 0, copied: 1 }, 'the later calls copied without asking');
  await rx.waitFor(3);
  await auto.close();
});

test('a sender-level zeroCopy default applies unless the call overrides it', async () => {
  const never = new Sender({ zeroCopy: false });
  assert.is((await never.sendGroup(new Group(rx.targets), pattern(20000, 7))).zeroCopy, 'off');
  if (features.sendZc) {
    assert.is.not((await never.sendGroup(new Group(rx.targets), 'tiny', { zeroCopy: true })).zeroCopy, 'off');
  }
  await rx.waitFor(features.sendZc ? 8 : 4);
  await never.close();
});

test('more concurrent zero-copy calls than payload slots all complete intact', async () => {
  const few = new Sender({ slots: 2, zeroCopy: true });
  const payloads = Array.from({ length: 40 }, (_, i) => pattern(12000, i));
  const reports = await Promise.all(payloads.map((payload) => few.sendGroup(new Group([rx.targets[0]]), payload)));
  await rx.waitFor(40);
  assert.ok(reports.every((report) => report.sent === 1));
  const digest = (bytes) => require('node:crypto').createHash('sha1').update(bytes).digest('hex');
  const got = rx.messages[0].map(digest).sort();
  assert.equal(got, payloads.map(digest).sort());
  await few.close();
});

test('without registered buffers sends still work and features say so', async () => {
  const plain = new Sender({ registerBuffers: false, zeroCopy: true });
  assert.is(plain.features.fixedBuffers, false);
  assert.is(plain.features.fixedBuffersErrno, 0, 'not asked for, so nothing was refused');
  const payload = pattern(9000, 8);
  const report = await plain.sendGroup(new Group(rx.targets), payload);
  await rx.waitFor(4);
  assert.is(report.sent, 4);
  for (const list of rx.messages) assert.ok(list[0].equals(payload));
  await plain.close();
});

withFeatures('sendZc')('a zero-copy member the kernel refuses with EINVAL is tried once by copy; a real EINVAL stays an error', async () => {
  const zc = new Sender({ zeroCopy: true });
  const report = await zc.sendGroup(new Group(['127.0.0.1:0', rx.targets[0]]), pattern(9000, 9));
  await rx.waitFor(1);
  assert.equal(report.errors.map((e) => [e.port, e.code]), [[0, 'EINVAL']]);
  assert.is(report.sent, 1);
  assert.is(zc.features.zeroCopyRefusedErrno, 0, 'zero-copy itself was not refused');
  await zc.close();
});

withFeatures('sendZc')('a zero-copy call whose every member failed reports zeroCopy \'off\': nothing was zero-copied', async () => {
  const zc = new Sender({ zeroCopy: true });
  const report = await zc.sendGroup(new Group(['255.255.255.255:9', '255.255.255.255:10']), pattern(9000, 3));
  assert.equal(report.errors.map((e) => e.code), ['EACCES', 'EACCES']);
  assert.is(report.zeroCopy, 'off');
  await zc.close();
});

withFeatures('sendmsgZc')('zero-copy with empty parts and with a datagram over many pages delivers intact', async () => {
  const zc = new Sender({ zeroCopy: true });
  const empty = await zc.sendGroup(new Group([rx.targets[0]]), Buffer.alloc(0), { prefix: [Buffer.alloc(0)] });
  const prefix = [pattern(21, 1)];
  const suffix = [pattern(62762, 2)];
  const payload = pattern(180, 3);
  const large = await zc.sendGroup(new Group([rx.targets[1]]), payload, { prefix, suffix });
  await rx.waitFor(2);
  assert.is(empty.sent, 1);
  assert.is(large.sent, 1, JSON.stringify(large.errors));
  assert.is(rx.messages[0][0].length, 0);
  assert.ok(rx.messages[1][0].equals(Buffer.concat([prefix[0], payload, suffix[0]])));
  await zc.close();
});

test.run();
