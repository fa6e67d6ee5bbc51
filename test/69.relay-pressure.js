'use strict';
// A relay under pressure, and how it ends:
// - bursts bigger than the relay's socket can hold while the relay cannot
//   read (its process stopped, SIGSTOP): what the kernel dropped is counted
//   in dropped.noBuffer, exactly (received + noBuffer = sent), and the
//   relay reads on, in order;
// - buffers: 2 and members behind a slow link (test/_link.js, a tbf in
//   namespace A, the members in B), so both buffers wait on sends and the
//   socket overflows: every datagram is forwarded or counted, each member
//   gets all that were forwarded, in order, and the relay neither crashes
//   nor stalls;
// - close() with sends waiting on the slow link: it resolves once they are
//   done (all sent), and the process then exits by itself;
// - members gone behind the slow link (ICMP errors come back): the live
//   members get everything in order, only the gone ones fail and are named;
// - a process whose only handle is a relay keeps serving until the relay
//   is closed, then exits by itself.
// The relays on the link run in namespace A (test/fixtures/relay-node.js);
// waits are for counts, the deadlines only turn hangs into failures.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { execFileSync, spawn } = require('node:child_process');
const dgram = require('node:dgram');
const path = require('node:path');
const { onLines, openReceivers } = require('./_helpers');
const { linkSuite } = require('./_link');
const { startNode } = require('./fixtures/relay-control');

const PORTS = [20000, 20001, 20002, 20003];
const DEADLINE_MS = 30000;
const { netTest, env } = linkSuite(test, '69.relay-pressure', { ports: PORTS });

async function until(condition, what) {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > DEADLINE_MS) assert.unreachable(`waited ${DEADLINE_MS} ms: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sum = (record) => Object.values(record).reduce((a, b) => a + b, 0);

test('bursts bigger than the socket can hold while the relay\'s process is stopped: the drops are counted in noBuffer, exactly; it reads on', async () => {
  const node = await startNode(null, { deadlineMs: DEADLINE_MS });
  try {
    await node.request('receivers', { count: 1 });
    await node.request('source', { bind: '127.0.0.1:0' });
    const { address } = await node.request('relay', { options: { listen: '127.0.0.1:0', allow: ['127.0.0.1'] }, members: 'receivers' });
    const to = `127.0.0.1:${address.port}`;
    const COUNT = 3000; // 8,000 bytes each: 24 MB, three times what the relay's socket takes (SO_RCVBUF 8 MiB)
    let sent = 0;
    for (let burst = 0; burst < 3; burst++) {
      // The relay cannot read (neither its thread nor its loop runs) while a child sends the burst.
      process.kill(node.pid, 'SIGSTOP');
      try {
        execFileSync(process.execPath, ['-e', `
          const { build } = require(${JSON.stringify(path.join(__dirname, 'fixtures', 'link-datagram.js'))});
          const s = require('dgram').createSocket('udp4');
          let n = ${sent};
          (function go() {
            if (n === ${sent + COUNT}) return s.close();
            const { payload, options } = build(n++, 1, 8000);
            s.send([options.prefix.data, payload, options.suffix.data], ${address.port}, '127.0.0.1', go);
          })();`],
        { stdio: 'inherit', timeout: DEADLINE_MS });
      } finally {
        process.kill(node.pid, 'SIGCONT');
      }
      sent += COUNT;
      // Every datagram of the burst was taken from the socket or dropped by it, and has left the
      // relay and been read at the member, so one more fits everywhere (the drop count is read
      // with SO_MEMINFO, at once).
      await node.request('waitQueue');
      await node.request('waitSent');
      await node.request('send', { to, from: sent++, count: 1, size: 100 });
      const { stats } = await node.request('waitRelay', { handled: sent });
      assert.is(stats.received + stats.dropped.noBuffer, sent, JSON.stringify(stats));
      assert.ok(stats.dropped.noBuffer > 0, `the burst fitted the socket: ${JSON.stringify(stats)}`);
      assert.is(stats.forwarded, stats.received);
      assert.equal(stats.failures, {});
      // The trailer reaches the member (whose own socket may have dropped some of the burst) after
      // everything before it: in order, bytes intact, no duplicates.
      const member = async () => (await node.request('report')).receivers[0];
      await until(async () => (await member()).last === sent - 1, () => `burst ${burst}: the trailer never reached the member`);
      const { bad, duplicates, outOfOrder } = await member();
      assert.equal({ bad, duplicates, outOfOrder }, { bad: 0, duplicates: 0, outOfOrder: null });
    }
    await closeAndExit(node);
  } finally {
    node.kill();
  }
});

/** relay-node.js in namespace A: a source, a relay on 0.0.0.0 open only to it, the link's PORTS (and `more` ports) in B as members. */
async function relayInA(options, more = []) {
  const node = await startNode(env.link.a, { deadlineMs: DEADLINE_MS });
  const { address: source } = await node.request('source', { bind: '127.0.0.1:0' });
  const members = [...PORTS, ...more].map((port) => `${env.link.addresses.b4}:${port}`);
  const { address } = await node.request('relay', { options: { listen: '0.0.0.0:0', allow: [source], ...options }, members });
  return { node, to: `127.0.0.1:${address.port}` };
}

/** Every port in B got `count` datagrams, sequence numbers increasing from `first` to `last`, bytes intact. */
async function expectDelivered(count, first, last) {
  const stats = await env.rx.waitFor(count * PORTS.length, DEADLINE_MS);
  assert.not.ok(stats.timedOut, `only ${stats.total} of ${count * PORTS.length} datagrams arrived in B (${stats.drops} dropped by the receivers)`);
  assert.is(stats.bad, 0);
  for (const port of PORTS) {
    const p = stats.ports[`IPv4:${port}`];
    assert.ok(p, `port ${port} got nothing`);
    assert.is(p.memberOutOfOrder, null, `port ${port}: ${JSON.stringify(p.memberOutOfOrder)}`);
    assert.is(p.duplicates, 0);
    assert.is(p.count, count, `port ${port}`);
    assert.is(p.firstSeq, first);
    assert.is(p.lastSeq, last);
  }
}

/** Its close reply, and how the process ended: it must exit 0 by itself within 10 s. */
async function closeAndExit(node) {
  let reply;
  try {
    reply = await node.request('close');
  } catch (error) {
    assert.unreachable(`close() never resolved: the process ended first (its loop ran dry with close() pending): ${error.message}`);
  }
  const end = await node.ended;
  assert.is(end.hung, false, `still running 10 s after its relay closed: ${node.stderr()}`);
  assert.is(end.code, 0, `exit ${end.code ?? end.signal}: ${JSON.stringify(end.lines)} ${node.stderr()}`);
  return reply;
}

netTest('buffers: 2, members behind a slow link: every datagram forwarded or counted (noBuffer), members get all forwarded in order; no crash, no stall', async () => {
  env.link.setRate('200mbit');
  await env.rx.reset();
  const { node, to } = await relayInA({ buffers: 2 });
  try {
    const COUNT = 1500; // 8,000 bytes each: 12 MB from the source, the relay's socket takes 8 MiB
    await node.request('send', { to, from: 0, count: COUNT, size: 8000 });
    // Drained (forwarded or dropped), then one more: it carries the final drop count.
    await node.request('waitQueue');
    await node.request('send', { to, from: COUNT, count: 1, size: 100 });
    const { stats } = await node.request('waitRelay', { handled: COUNT + 1 });
    assert.is(stats.received + stats.dropped.noBuffer, COUNT + 1, JSON.stringify(stats));
    assert.ok(stats.dropped.noBuffer > 0, `nothing was dropped: the test did not fill the buffers (${JSON.stringify(stats)})`);
    assert.is(stats.forwarded, stats.received);
    await expectDelivered(stats.forwarded, 0, COUNT);
    const { after } = await closeAndExit(node);
    assert.equal(after.failures, {});
    assert.is(after.sends, after.forwarded * PORTS.length);
  } finally {
    node.kill();
  }
});

/**
 * count datagrams of 1,200 bytes through a relay in A (sendBufferSize 16 KiB, `options`) to the
 * link's PORTS and `more` ports at 20 Mbit/s, so its sends wait; closed once it received them all.
 * Resolves with the close reply.
 */
async function throughSlowLink(count, options = {}, more = []) {
  env.link.setRate('20mbit');
  await env.rx.reset();
  const { node, to } = await relayInA({ sendBufferSize: 16384, ...options }, more);
  try {
    await node.request('send', { to, from: 0, count, size: 1200 });
    await node.request('waitRelay', { handled: count });
    return await closeAndExit(node);
  } finally {
    node.kill();
  }
}

netTest('close() with sends waiting on a slow link: resolves once they are all sent, then the process exits by itself', async () => {
  const COUNT = 300; // x 4 members x 1,242 bytes on the wire: 0.6 s of link at 20 Mbit/s
  const { before, after } = await throughSlowLink(COUNT);
  assert.is(before.forwarded, COUNT);
  assert.ok(before.sends + sum(before.failures) < COUNT * PORTS.length, `nothing in flight when close() was called: ${JSON.stringify(before)}`);
  // pending: the datagrams whose sends were not all done, exactly.
  assert.is(before.sends + sum(before.failures), (before.forwarded - before.pending) * PORTS.length, JSON.stringify(before));
  assert.is(after.pending, 0);
  assert.equal(after.failures, {});
  assert.is(after.sends, COUNT * PORTS.length, `close() resolved before every send was done: ${JSON.stringify(after)}`);
  await expectDelivered(COUNT, 0, COUNT - 1);
});

// Ports in B nobody listens on: every datagram to them draws an ICMP port
// unreachable (not rate-limited in the link's namespaces).
const GONE = [20010, 20011];
for (const zeroCopy of [false, true]) {
  netTest(`members gone behind a slow link (${zeroCopy ? 'zero-copy' : 'copy'}): the live ones get everything in order; only the gone ones fail, named in 'unreachable'`, async () => {
    const COUNT = 200; // x 6 members x 1,242 bytes on the wire: 0.6 s of link at 20 Mbit/s
    const { after, events } = await throughSlowLink(COUNT, { zeroCopy }, GONE);
    assert.is(after.forwarded, COUNT);
    assert.is(after.pending, 0);
    assert.is(after.sends + sum(after.failures), COUNT * (PORTS.length + GONE.length), JSON.stringify(after));
    assert.equal(Object.keys(after.failures).filter((code) => code !== 'ECONNREFUSED'), [], JSON.stringify(after.failures));
    assert.ok(GONE.every((port) => events.some((e) => e.port === port)), `a gone member never named: ${JSON.stringify(events)}`);
    assert.ok(events.every((e) => GONE.includes(e.port) && e.code === 'ECONNREFUSED'), `a live member named: ${JSON.stringify(events)}`);
    await expectDelivered(COUNT, 0, COUNT - 1);
  });
}

test('a process whose only handle is a relay serves until the relay is closed, then exits by itself', async () => {
  const rx = await openReceivers(3);
  const from = dgram.createSocket('udp4');
  await new Promise((resolve) => from.bind(0, '127.0.0.1', resolve));
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'relay-alone.js'), JSON.stringify({ allow: ['127.0.0.1'], members: rx.targets })],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  onLines(child.stdout, (line) => lines.push(JSON.parse(line)));
  const ended = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const killer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
  try {
    await until(() => lines.length, () => 'its ready line');
    assert.ok(lines[0].ready, JSON.stringify(lines));
    const COUNT = 20;
    for (let seq = 0; seq < COUNT; seq++) {
      const bytes = Buffer.alloc(100);
      bytes.writeUInt32LE(seq, 0);
      await new Promise((resolve) => from.send(bytes, lines[0].port, '127.0.0.1', resolve));
    }
    const served = await Promise.race([rx.waitFor(3 * COUNT).then(() => true, () => false), ended.then(() => false)]);
    const early = lines.find((line) => line.exitedEarly);
    assert.ok(served && !early, `the process exited while its relay was open (a Relay does not keep the event loop alive): ${JSON.stringify(lines)}`);
    rx.messages.forEach((messages) => assert.equal(messages.map((m) => m.readUInt32LE(0)), Array.from({ length: COUNT }, (_, i) => i)));
    child.kill('SIGTERM');
    const { code, signal } = await ended;
    assert.is(signal, null, `killed (${signal}): it did not exit by itself after close()`);
    assert.is(code, 0, JSON.stringify(lines));
    assert.ok(lines.some((line) => line.closed), JSON.stringify(lines));
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
    from.close();
    rx.close();
  }
});

test.run();
