'use strict';
// Order on a link that pushes back (test/_link.js): a live stream sends
// packet after packet to the same members without awaiting in between, so
// many calls are in flight while sends wait for send-buffer room. The
// datagrams to one member must leave in the order the calls were made: each
// receiver (one member per port) sees call sequence numbers 0, 1, 2, ...
// strictly increasing, none missing, every byte intact. With threads, calls
// too small for the hop are sent inline (inlineBelow) while the threads are
// idle: calls of two sizes, in bursts, make the Sender switch between the
// two ways while calls are in flight on either.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { linkSuite, senderFailure } = require('./_link');

const PORTS = 200;
const BASE = 20000;
const DEADLINE_MS = 10000;

const { netTest, env } = linkSuite(test, '62.order', { ports: Array.from({ length: PORTS }, (_, i) => BASE + i) });

// Link time of each case (wire bytes x 8 / rate) is 150-200 ms.
const CASES = [
  { title: '50 sendGroup() calls x 100 members x 200 B, 50 Mbit/s, default send buffer', rate: '50mbit', api: 'send', calls: 50, members: 100, size: 200 },
  { title: '50 sendGroup() calls x 100 members x 200 B, 50 Mbit/s, 4 KiB send buffer', rate: '50mbit', api: 'send', calls: 50, members: 100, size: 200, sendBufferSize: 4096 },
  { title: '20 sendGroup() calls x 200 members x 500 B, 100 Mbit/s, 16 KiB send buffer', rate: '100mbit', api: 'send', calls: 20, members: 200, size: 500, sendBufferSize: 16384 },
  { title: '50 streamGroup() calls x 100 members x 200 B, 50 Mbit/s, default send buffer', rate: '50mbit', api: 'stream', calls: 50, members: 100, size: 200 },
  { title: '50 streamGroup() calls x 100 members x 200 B, 50 Mbit/s, 4 KiB send buffer', rate: '50mbit', api: 'stream', calls: 50, members: 100, size: 200, sendBufferSize: 4096 },
  { title: 'zero-copy: 20 sendGroup() calls x 100 members x 1,000 B, 100 Mbit/s, default send buffer', rate: '100mbit', api: 'send', calls: 20, members: 100, size: 1000, zeroCopy: true },
  { title: 'zero-copy: 20 sendGroup() calls x 100 members x 1,000 B, 100 Mbit/s, 4 KiB send buffer', rate: '100mbit', api: 'send', calls: 20, members: 100, size: 1000, zeroCopy: true, sendBufferSize: 4096 },
  { title: 'zero-copy: 20 streamGroup() calls x 100 members x 1,000 B, 100 Mbit/s, 16 KiB send buffer', rate: '100mbit', api: 'stream', calls: 20, members: 100, size: 1000, zeroCopy: true, sendBufferSize: 16384 },
  { title: 'threads: 2, inlineBelow: 50: 60 sendGroup() calls alternating 100 and 10 members x 300 B, in bursts of 3, 50 Mbit/s, 4 KiB send buffer', rate: '50mbit', api: 'send', calls: 60, members: 100, small: 10, burst: 3, size: 300, sendBufferSize: 4096, threads: 2, inlineBelow: 50 },
  { title: 'threads: 2, inlineBelow: 50, zero-copy: 40 streamGroup() calls alternating 100 and 10 members x 1,000 B, in bursts of 2, 100 Mbit/s, default send buffer', rate: '100mbit', api: 'stream', calls: 40, members: 100, small: 10, burst: 2, size: 1000, zeroCopy: true, threads: 2, inlineBelow: 50 },
];

/** The calls member j gets: every call, or with c.small only the even ones past the first c.small members. */
function callsOf(c, j) {
  return Array.from({ length: c.calls }, (_, seq) => seq).filter((seq) => seq % 2 === 0 || !c.small || j < c.small);
}

for (const c of CASES) {
  netTest(`in call order per member: ${c.title}`, async () => {
    env.link.setRate(c.rate);
    await env.rx.reset();
    const { api, calls, size, sendBufferSize, zeroCopy, small, burst, threads, inlineBelow } = c;
    const members = [{ address: env.link.addresses.b4, port: BASE, ports: c.members, count: c.members }];
    const args = { deadlineMs: DEADLINE_MS, members, calls, size, api, sendBufferSize, zeroCopy, small, burst, threads, inlineBelow };
    const child = await env.link.sender('stream', args);
    const total = Array.from({ length: c.members }, (_, j) => callsOf(c, j).length).reduce((sum, n) => sum + n, 0);
    const { result } = child;
    const why = senderFailure('stream', child);
    if (why) assert.unreachable(`${why}; receivers got ${(await env.rx.stats()).total} datagrams`);
    assert.is(result.calls, calls);
    assert.equal(result.codes, {}, `failures: ${JSON.stringify(result.codes)}`);
    assert.is(result.sent, total);
    const stats = await env.rx.waitFor(total);
    assert.not.ok(stats.timedOut, `only ${stats.total} of ${total} datagrams arrived (${stats.drops} dropped by the receivers' sockets)`);
    assert.is(stats.total, total);
    assert.is(stats.bad, 0, `${stats.bad} datagrams with wrong bytes`);
    for (let j = 0; j < c.members; j++) {
      const port = stats.ports[`IPv4:${BASE + j}`];
      const where = `member ${j} (port ${BASE + j})`;
      assert.ok(port, `${where} got nothing`);
      const order = port.memberOutOfOrder;
      assert.is(order, null, order && `${where}: call ${order.next} arrived after call ${order.previous}`);
      assert.is(port.duplicates, 0, `${where}: a datagram twice`);
      const expected = callsOf(c, j);
      assert.is(port.count, expected.length, `${where}: ${port.count} of ${expected.length} calls`);
      // Strictly increasing, as many as expected, from the first to the last: all there, in order.
      assert.is(port.firstSeq, expected[0], where);
      assert.is(port.lastSeq, expected.at(-1), where);
    }
  });
}

test.run();
