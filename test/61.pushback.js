'use strict';
// A link that pushes back (test/_link.js): a tbf of 20 Mbit/s to 1 Gbit/s on
// the sender's egress, send buffers from 4 KiB to the default, copy and
// zero-copy. No send may stall: every member is sent, every receiver gets
// its bytes, and a call settles within 1.5 x the link time of its bytes on
// the wire + 100 ms (the tbf's 128 KiB bucket and the send buffer only make
// it sooner). Abort and close() with sends waiting for buffer room settle
// promptly; a process with nothing in flight exits by itself.
const { test } = require('uvu');
const assert = require('uvu/assert');
const path = require('node:path');
const { linkMs, linkSuite, senderFailure, wireBytes } = require('./_link');
const { privateNetwork, testUnless } = require('./_helpers');

const PORTS = 50;
const BASE = 20000;
// The sender's own deadline: these sends take well under a second; past it
// the child reports {stalled: true} and how far it got.
const DEADLINE_MS = 10000;

const { netTest, env } = linkSuite(test, '61.pushback', { ports: Array.from({ length: PORTS }, (_, i) => BASE + i) });

/** count members over the PORTS receivers, member i on port BASE + i % PORTS. */
function spread(count) {
  return [{ address: env.link.addresses.b4, port: BASE, ports: PORTS, count }];
}

/** A fresh qdisc at this rate (anything queued from before is dropped) and empty receivers. */
async function prepare(rate) {
  env.link.setRate(rate);
  await env.rx.reset();
}

/** Runs a sender scenario and fails clearly when it stalled, crashed or never ended. */
async function run(scenario, args, options) {
  const child = await env.link.sender(scenario, { deadlineMs: DEADLINE_MS, ...args }, options);
  const why = senderFailure(scenario, child);
  if (why) {
    const stats = await env.rx.stats();
    assert.unreachable(`${why}; receivers got ${stats.total} datagrams (${stats.drops} dropped by their sockets)`);
  }
  return child;
}

/** Waits until `total` datagrams arrived; checks every byte, no duplicate, `perPort(j)` on port j. */
async function expectDelivered(total, perPort) {
  const stats = await env.rx.waitFor(total);
  assert.not.ok(stats.timedOut, `only ${stats.total} of ${total} datagrams arrived (${stats.drops} dropped by the receivers' sockets)`);
  assert.is(stats.total, total);
  assert.is(stats.bad, 0, `${stats.bad} datagrams with wrong bytes: ${JSON.stringify(Object.values(stats.ports).find((p) => p.bad)?.firstBad)}`);
  for (let j = 0; j < PORTS; j++) {
    const port = stats.ports[`IPv4:${BASE + j}`] ?? { count: 0, duplicates: 0 };
    assert.is(port.duplicates, 0, `port ${BASE + j}: a member got the same datagram twice`);
    assert.is(port.count, perPort(j), `port ${BASE + j}`);
  }
  return stats;
}

const evenly = (count) => (j) => Math.floor(count / PORTS) + (j < count % PORTS ? 1 : 0);

const BLASTS = [
  { title: '2,000 x 900 B at 50 Mbit/s, default send buffer', rate: '50mbit', count: 2000, size: 900 },
  { title: '400 x 1,000 B at 20 Mbit/s, 16 KiB send buffer', rate: '20mbit', count: 400, size: 1000, sendBufferSize: 16384 },
  { title: '500 x 1,200 B at 20 Mbit/s, 4 KiB send buffer', rate: '20mbit', count: 500, size: 1200, sendBufferSize: 4096 },
  { title: '5,000 x 1,200 B at 100 Mbit/s, default send buffer', rate: '100mbit', count: 5000, size: 1200 },
  // Jumbo frames (MTU 9000): 15,000 datagrams a second, the link's pace and not the CPU's.
  { title: '1,500 x 8,000 B at 1 Gbit/s, default send buffer', rate: '1gbit', count: 1500, size: 8000 },
  { title: 'zero-copy, 1,000 x 1,400 B at 50 Mbit/s, 4 KiB send buffer', rate: '50mbit', count: 1000, size: 1400, sendBufferSize: 4096, zeroCopy: true },
  { title: 'zero-copy, 1,500 x 8,000 B at 1 Gbit/s, default send buffer', rate: '1gbit', count: 1500, size: 8000, zeroCopy: true },
];

for (const blast of BLASTS) {
  netTest(`no stall: ${blast.title}: all sent and received, settled within 1.5 x link time + 100 ms`, async () => {
    await prepare(blast.rate);
    const { count, size, sendBufferSize, zeroCopy } = blast;
    const { result } = await run('blast', { members: spread(count), size, sendBufferSize, zeroCopy });
    const { report } = result;
    assert.equal(report.codes, {}, `failures: ${JSON.stringify(report.codes)}`);
    assert.is(report.sent, count);
    assert.is(report.bytes, count * size);
    await expectDelivered(count, evenly(count));
    const bound = 1.5 * linkMs(wireBytes(count, size), blast.rate) + 100;
    assert.ok(result.settleMs <= bound, `settled after ${result.settleMs} ms on ${result.backend}; bound ${bound.toFixed(0)} ms`);
  });
}

// Aborting a send that waits for buffer room on a slow link (2,000 x 1,200 B
// at 20 Mbit/s: a second of link time), by hand or by AbortSignal.timeout(50),
// settles at once: the members not yet
// handed to the kernel are ECANCELED, and exactly those sent arrive. The
// bound allows for the link time of everything reported sent, which the
// kernel may still hold. With threads and a large inlineBelow, the call is
// sent inline beside the threads (its own socket and ring).
const BESIDE_THREADS = { threads: 2, inlineBelow: 1e6 };
const ABORTS = [{ api: 'stream' }, { api: 'send' }, { api: 'timeout' }, { api: 'send', ...BESIDE_THREADS }];
for (const { api, threads, inlineBelow } of ABORTS) {
  const tag = threads ? ', threads: 2 and inlineBelow: 1e6' : '';
  netTest(`abort (${api}Group${tag}) over a slow link: settles promptly, the rest ECANCELED, exactly the sent members received`, async () => {
    const rate = '20mbit';
    const count = 2000;
    const size = 1200;
    await prepare(rate);
    const { result } = await run('abort', { members: spread(count), size, api, abortAfter: 100, timeoutMs: 50, threads, inlineBelow });
    assert.is(result.sent + result.failed, count);
    assert.ok(result.sent >= (api === 'stream' ? 100 : 1), `only ${result.sent} sent before the abort`);
    assert.ok(result.failed >= count / 2, `only ${result.failed} of ${count} canceled: the abort came too late to test anything`);
    assert.equal(Object.keys(result.codes), ['ECANCELED']);
    const bound = 100 + 1.5 * linkMs(wireBytes(result.sent, size), rate);
    assert.ok(result.abortToSettleMs <= bound, `settled ${result.abortToSettleMs} ms after abort() on ${result.backend}; bound ${bound.toFixed(0)} ms`);
    const stats = await env.rx.waitFor(result.sent);
    assert.not.ok(stats.timedOut, `only ${stats.total} of ${result.sent} sent datagrams arrived`);
    assert.is(stats.bad, 0);
    const { indices } = await env.rx.seen(0);
    // A stream yields in completion order; with threads, workers interleave.
    assert.equal(indices, [...result.sentIndices].sort((a, b) => a - b), 'the members received are the members reported sent');
  });
}

// A zero-copy stream on two threads, aborted once every member has
// completed while the link still holds its datagrams (a zero-copy call ends
// at its last notification, which comes as the link drains): the abort
// cancels nothing, and the stream yields each member exactly once.
netTest('abort (streamGroup, zero-copy, threads: 2) after every member completed: nothing canceled, each member yielded once', async () => {
  const count = 500;
  await prepare('20mbit');
  const { result } = await run('abort', { members: spread(count), size: 1400, api: 'stream', abortAfter: count, zeroCopy: true, threads: 2, inlineBelow: 0 });
  assert.is(result.recipients, count, 'completions the stream yielded');
  assert.equal(result.codes, {});
  assert.equal([...result.sentIndices].sort((a, b) => a - b), Array.from({ length: count }, (_, i) => i));
  await expectDelivered(count, evenly(count));
});

// close() with three calls in flight (copy, zero-copy, stream) resolves
// within 100 ms + the link time of what the kernel already holds (the
// socket's sk_wmem_alloc when close() is called: truesize, more than the
// bytes on the wire).
for (const beside of [{}, BESIDE_THREADS]) {
  const tag = beside.threads ? ' (threads: 2 and inlineBelow: 1e6)' : '';
  netTest(`close()${tag} with calls waiting for buffer room resolves within 100 ms + link time of what the kernel holds`, async () => {
    const rate = '20mbit';
    await prepare(rate);
    const calls = [{ size: 1200 }, { size: 1400, zeroCopy: true }, { size: 1000, api: 'stream' }];
    const { result } = await run('close', { members: spread(500), calls, ...beside });
    assert.is(result.rejected, 'ERR_SOCKET_DGRAM_NOT_RUNNING');
    let sent = 0;
    for (const report of result.reports) {
      assert.is(report.sent + report.failed, report.recipients);
      sent += report.sent;
      for (const code of Object.keys(report.codes)) assert.is(code, 'ECANCELED');
    }
    assert.ok(sent < 1500, 'some members were still waiting when close() was called');
    const bound = 100 + 1.5 * linkMs(result.heldBytes, rate);
    assert.ok(result.closeMs <= bound, `close() took ${result.closeMs} ms on ${result.backend} holding ${result.heldBytes} bytes; bound ${bound.toFixed(0)} ms`);
    const stats = await env.rx.waitFor(sent);
    assert.not.ok(stats.timedOut, `only ${stats.total} of ${sent} sent datagrams arrived`);
    assert.is(stats.total, sent, 'datagrams received, and members reported sent');
    assert.is(stats.bad, 0);
  });
}

// A process whose last send (zero-copy, over a slow link, 4 KiB buffer) has
// settled must end by itself: no close(), no process.exit().
netTest('the process exits by itself once a send over a slow link has settled', async () => {
  await prepare('50mbit');
  const child = await run('exit', { members: spread(1000), size: 1400, sendBufferSize: 4096, zeroCopy: true }, { exitWithinMs: 5000 });
  assert.is(child.result.report.sent, 1000);
  await expectDelivered(1000, evenly(1000));
});

// Datagrams the kernel fragments, from a send buffer smaller than one of
// them: it allocates the later fragments without waiting for room and
// fails with ENOBUFS while earlier datagrams are still queued. That is a
// lack of room, not a drop: every live member must get every call, in
// order. A quarter of the members went away; ICMP for them is not rate
// limited in this namespace, so their errors come back while others wait.
const fragmenting = privateNetwork(['ip link set lo up', 'ip link set lo mtu 1500',
  'sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_msgs_per_sec=1000000 net.ipv4.icmp_msgs_burst=1000000',
  'tc qdisc add dev lo root tbf rate 30mbit burst 128kb limit 8mb'].join(' && '));
const fragmentTest = testUnless(test, fragmenting.missing, '61.pushback fragments');

for (const mode of ['copy', 'zero-copy']) {
  fragmentTest(`${mode}: 9,000-B datagrams in 7 fragments through a 4 KiB send buffer over 30 Mbit/s all reach the live members, in order; ICMP blames only the gone`, () => {
    const { backend, gonePorts, reports, unreachablePorts, received } = fragmenting.run(path.join(__dirname, 'fixtures', 'fragments.js'), [mode]);
    for (const report of reports) {
      assert.is(report.sent + report.failed, 16, backend);
      // A gone member may fail with its own ICMP error; nobody else fails.
      for (const [port, code] of report.failures) {
        assert.ok(gonePorts.includes(port) && code === 'ECONNREFUSED', `${backend}: port ${port} failed with ${code}`);
      }
    }
    assert.ok(unreachablePorts.length > 0, `${backend}: ICMP came back`);
    for (const port of unreachablePorts) assert.ok(gonePorts.includes(port), `${backend}: 'unreachable' for live port ${port}`);
    received.forEach((calls, id) => {
      if (calls !== null) assert.equal(calls, [0, 1, 2, 3, 4], `${backend}: member ${id}`);
    });
  });
}

// Fragmented datagrams the qdisc drops (a 60 KB queue, 65,507-B datagrams
// in 45 fragments). With the default buffer that ENOBUFS is surely a drop,
// reported at once; with a smaller one it may be a lack of room, and the
// member goes once more when the socket surely has that room: two trains
// at most. Sent again and again while the socket had data queued (as
// bug 14's lack of room was), each member cost hundreds of partial trains
// (12,434 fragments for 80 sends at the default buffer, 173,395 at 32 KiB),
// the reassembly memory filled, and datagrams reported sent were lost.
const dropping = privateNetwork(['ip link set lo up', 'ip link set lo mtu 1500',
  'tc qdisc add dev lo root tbf rate 50mbit burst 128kb limit 60kb'].join(' && '));
const dropTest = testUnless(test, dropping.missing, '61.pushback dropped fragments');

for (const [threads, sendBufferSize] of [[0, 0], [2, 0], [0, 65536], [0, 32768]]) {
  const buffer = sendBufferSize ? `sendBufferSize ${sendBufferSize}` : 'default buffer';
  dropTest(`threads ${threads}, ${buffer}: fragments the qdisc drops are reported ENOBUFS after two trains at most; every datagram reported sent arrives whole, in order`, () => {
    const { reports, sentTo, received, fragments } = dropping.run(path.join(__dirname, 'fixtures', 'fragments-dropped.js'), [String(threads), String(sendBufferSize)]);
    for (const report of reports) {
      assert.is(report.sent + report.failed, 20);
      assert.ok(report.codes.every((code) => code === 'ENOBUFS'), JSON.stringify(report.codes));
    }
    assert.ok(reports.some((report) => report.failed > 0), 'the queue dropped some');
    if (sendBufferSize) {
      // A small buffer paces the sends, so the queue has room for part of
      // each train (a dgram sender's too): the leftovers can fill the
      // receivers' reassembly memory, where a datagram sent whole is lost
      // as on any network. Nothing reported failed arrives, nothing twice.
      received.forEach((calls, id) => {
        assert.equal(calls, sentTo[id].filter((call) => calls.includes(call)), `member ${id}: ${JSON.stringify(calls)} of ${JSON.stringify(sentTo[id])}`);
      });
    } else {
      assert.equal(received, sentTo, 'each member got exactly the calls reported sent to it');
    }
    const trains = sendBufferSize ? 2 : 1;
    assert.ok(fragments <= trains * 20 * 4 * 45, `${trains} train(s) of 45 fragments per member and call at most, made ${fragments}`);
  });
}

test.run();
