'use strict';
// The tree of relays across machines: three network namespaces, an origin O
// and two edges E1 and E2, O joined to E1 by a veth over IPv4 and to E2 by
// one over IPv6 (test/fixtures/relay-control.js). In O a source sends a
// sequence-numbered stream to O's relay on loopback; that relay (one
// dual-stack socket) forwards each datagram to the edge relays; each edge
// relay, open only to O's relay's address and port, forwards it to 10
// receivers on its own loopback. Every receiver behind both edges must get
// the whole stream, in order, every byte intact; no relay may drop, refuse
// or fail anything. The stream goes in windows, each sent once the last has
// arrived everywhere, so no socket on the way can overflow.
// test/fixtures/relay-node.js runs each machine.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { available } = require('./_netns');
const { testUnless } = require('./_helpers');
const { createTree, startNode } = require('./fixtures/relay-control');

const RECEIVERS = 10;
const WINDOW = 50;
const WINDOWS = 20;
const COUNT = WINDOW * WINDOWS;
const PORT = 7000;
// A datagram's size: 12 to 1,400 bytes (an IPv6 datagram of 1,400 fits a 1,500 MTU).
const sizeOf = (seq) => 12 + ((seq * 131) % 1389);

const missing = available();
const netTest = testUnless(test, missing && `needs network namespaces (${missing})`, '67.relay-tree');
let tree;
const nodes = [];

test.after(async () => {
  for (const node of nodes) node.kill();
  tree?.close();
});

/** Throws with what each machine knows when `promise` rejects. */
async function explain(promise, what) {
  try {
    return await promise;
  } catch (error) {
    const stats = await Promise.all(nodes.map((node) => node.request('stats').then((r) => r.stats, (e) => e.message)));
    throw new Error(`${what}: ${error.message}; relays: ${JSON.stringify(stats)}`);
  }
}

netTest('origin relay -> two edge relays (IPv4 and IPv6) -> 10 receivers each: every receiver gets the whole stream in order', async () => {
  tree = createTree();
  const { o1, e1, o2, e2 } = tree.addresses;
  const [origin, edge1, edge2] = await Promise.all([tree.o, tree.e1, tree.e2].map((ns) => startNode(ns, { deadlineMs: 45000 })));
  nodes.push(origin, edge1, edge2);

  // Edges: receivers on loopback (E2's on ::1: its relay's socket is IPv6 only); the relay takes only
  // O's relay (its address on this link, its port).
  for (const [edge, listen, from, host] of [[edge1, `${e1}:${PORT}`, `${o1}:${PORT}`, '127.0.0.1'], [edge2, `[${e2}]:${PORT}`, `[${o2}]:${PORT}`, '::1']]) {
    await edge.request('receivers', { count: RECEIVERS, host });
    await edge.request('relay', { options: { listen, allow: [from] }, members: 'receivers' });
  }
  // Origin: one dual-stack socket, open only to the source on its loopback.
  const { address: source } = await origin.request('source', { bind: '127.0.0.1:0' });
  const { backend } = await origin.request('relay', {
    options: { listen: `[::]:${PORT}`, allow: [source] },
    members: [`${e1}:${PORT}`, `[${e2}]:${PORT}`],
  });

  for (let w = 0; w < WINDOWS; w++) {
    for (let seq = w * WINDOW; seq < (w + 1) * WINDOW; seq++) {
      await origin.request('send', { to: `127.0.0.1:${PORT}`, from: seq, count: 1, size: sizeOf(seq) });
    }
    const expected = (w + 1) * WINDOW * RECEIVERS;
    await explain(Promise.all([edge1.request('wait', { total: expected }), edge2.request('wait', { total: expected })]),
      `window ${w}: the receivers behind the edges did not get ${expected} datagrams each edge`);
  }

  for (const [name, edge] of [['E1 (IPv4)', edge1], ['E2 (IPv6)', edge2]]) {
    const { receivers } = await edge.request('report');
    assert.is(receivers.length, RECEIVERS);
    receivers.forEach((r, i) => {
      const where = `${name} receiver ${i}`;
      assert.is(r.bad, 0, `${where}: datagrams with wrong bytes`);
      assert.is(r.duplicates, 0, `${where}: duplicates`);
      assert.is(r.outOfOrder, null, `${where}: out of order ${JSON.stringify(r.outOfOrder)}`);
      assert.is(r.count, COUNT, where);
      assert.is(r.first, 0, where);
      assert.is(r.last, COUNT - 1, where);
    });
  }
  const bytes = Array.from({ length: COUNT }, (_, seq) => sizeOf(seq)).reduce((a, b) => a + b, 0);
  const closing = [origin, edge1, edge2].map((node) => node.request('close'));
  const [o, x1, x2] = await Promise.all(closing);
  const expectStats = (name, { after: s }, members) => {
    assert.equal(s.dropped, { notAllowed: 0, noBuffer: 0, truncated: 0, noMembers: 0, looped: 0 }, `${name}: dropped`);
    assert.equal(s.failures, {}, `${name}: failures`);
    assert.is(s.received, COUNT, `${name}: received`);
    assert.is(s.forwarded, COUNT, `${name}: forwarded`);
    assert.is(s.sends, COUNT * members, `${name}: sends`);
    assert.is(s.bytes, bytes * members, `${name}: bytes`);
    assert.is(s.members, members, `${name}: members`);
    assert.is(s.backend, backend, `${name}: backend`);
  };
  expectStats('origin', o, 2);
  expectStats('E1', x1, RECEIVERS);
  expectStats('E2', x2, RECEIVERS);
  for (const node of [origin, edge1, edge2]) {
    const end = await node.ended;
    assert.is(end.hung, false, `a machine still ran 10 s after its relay closed: ${node.stderr()}`);
    assert.is(end.code, 0, `exit: ${JSON.stringify(end.lines)} ${node.stderr()}`);
  }
});

test.run();
