'use strict';
// Receivers that went away, on a link that pushes back (test/_link.js): half
// of 1,000 members on ports where nothing listens in namespace B, which
// answers every datagram to them with ICMP port unreachable (rate limits
// lifted there), 30 rounds of sendGroup() at 100 Mbit/s. UDP cannot know at
// send time: dead members' datagrams are reported sent, live members never
// fail and get every round in order, and each dead member is named by the
// Sender's 'unreachable' events ({ address, port, family, code, errno }).
// B also routes 198.19.0.0/16 and fd00:5347:2::/64: host and net
// unreachable. The socket's error queue must be drained (its receive memory
// back near zero) and no descriptor may leak. (k): a relay whose two
// threads share its socket blames no send on another's ICMP error.
const { test } = require('uvu');
const assert = require('uvu/assert');
const { linkSuite, senderFailure } = require('./_link');
const { startNode } = require('./fixtures/relay-control');
const path = require('node:path');
const { privateNetwork, testUnless } = require('./_helpers');

const LIVE = 500;
const DEAD = 500;
const LIVE_BASE = 20000;
const DEAD_BASE = 40000;
const ROUNDS = 30;
const SIZE = 100;
const DEADLINE_MS = 15000;
// "Near zero": at most a few queued errors' worth of receive memory.
const RMEM_MAX = 4096;
// B answers datagrams to closed ports, but its kernel may leave a few
// unanswered under load: 9 of 5,000 when one CPU answered all (see
// _netns.js), 87 of 15,000 in one CI run, 56 of 5,000 in another (its own
// ICMPv6 sends failed: Icmp6OutErrors). That is B's kernel, not this library. Ours: A receives
// every error B sent (test g, h), and each dead member is named (test c; one
// answer of its 30 datagrams is enough). The bound only says the scenario ran.
const ANSWERED_MIN = 0.95;
const outcome = {};

const { netTest, env } = linkSuite(test, '63.unreachable', { rate: '100mbit', families: ['IPv4', 'IPv6'], ports: Array.from({ length: LIVE }, (_, i) => LIVE_BASE + i) });

/** Live and dead members alternate: each dead member's ICMP error arrives amid live members' sends. */
function liveAndDead(address, live = LIVE, dead = DEAD) {
  return [
    { name: 'live', address, port: LIVE_BASE, ports: live, count: live },
    { name: 'dead', address, port: DEAD_BASE, ports: dead, count: dead },
  ];
}

/**
 * Runs the unreachable scenario; fails clearly on a stall or crash. The child
 * waits until namespace A has received an ICMP error for every datagram it
 * sent to a member not named 'live' before it looks at its socket;
 * result.icmpFromB is how many namespace B sent meanwhile.
 */
async function run(args) {
  await env.rx.reset();
  const before = env.link.snmp(env.link.b);
  const child = await env.link.sender('unreachable', { deadlineMs: DEADLINE_MS, size: SIZE, interleave: true, rmemMax: RMEM_MAX, ...args });
  const { result } = child;
  const why = senderFailure('unreachable', child);
  if (why) assert.unreachable(`${why}; receivers got ${(await env.rx.stats()).total} datagrams`);
  const after = env.link.snmp(env.link.b);
  const delta = (...names) => names.reduce((sum, name) => sum + (after[name] ?? 0) - (before[name] ?? 0), 0);
  result.icmpFromB = delta('IcmpOutDestUnreachs', 'Icmp6OutDestUnreachs');
  return result;
}

/**
 * Namespace B answered at least ANSWERED_MIN of the `datagrams` sent to
 * closed ports or unreachable routes; what it left unanswered is printed with
 * the link's loss counters (_link.js losses()).
 */
function expectAnswered(result, datagrams) {
  if (result.icmpFromB === datagrams) return;
  const inB = `(losses so far: ${JSON.stringify(env.link.losses())})`;
  assert.ok(result.icmpFromB <= datagrams && result.icmpFromB >= datagrams * ANSWERED_MIN,
    `namespace B answered ${result.icmpFromB} of ${datagrams} datagrams ${inB}`);
  console.log(`  namespace B left ${datagrams - result.icmpFromB} of ${datagrams} datagrams unanswered ${inB}`);
}

/**
 * Every live port got rounds datagrams, rounds 0 .. rounds-1 in order, bytes
 * intact. On a shortfall, the message ends with what `why()` says.
 */
async function expectLiveDelivered(family, rounds, live = LIVE, why = async () => '') {
  const stats = await env.rx.waitFor(rounds * live);
  if (stats.timedOut) {
    assert.unreachable(`only ${stats.total} of ${rounds * live} datagrams reached the live receivers (${stats.drops} dropped by their sockets)${await why()}`);
  }
  assert.is(stats.total, rounds * live);
  assert.is(stats.bad, 0, `${stats.bad} datagrams with wrong bytes`);
  for (let j = 0; j < live; j++) {
    const port = stats.ports[`${family}:${LIVE_BASE + j}`];
    const where = `live member on port ${LIVE_BASE + j}`;
    assert.ok(port, `${where} got nothing`);
    assert.is(port.memberOutOfOrder, null, `${where}: ${JSON.stringify(port.memberOutOfOrder)}`);
    assert.is(port.duplicates, 0, where);
    assert.is(port.count, rounds, where);
    assert.is(port.lastSeq, rounds - 1, where);
  }
}

/** The events, deduplicated by the sender: exactly one entry per expected [address, port, code, errno, family]. */
function expectEvents(result, expected) {
  assert.is(result.api, 'EventEmitter', 'Sender has no on(): it is not an EventEmitter, no \'unreachable\' events');
  assert.equal(result.odd, [], `malformed events: ${JSON.stringify(result.odd)}`);
  assert.is(result.errorEvents, 0, `${result.errorEvents} 'error' events`);
  const seen = new Map(result.events.map((e) => [`${e.family} ${e.address} ${e.port}`, e]));
  for (const [family, address, port, code, errno] of expected) {
    const event = seen.get(`${family} ${address} ${port}`);
    assert.ok(event, `no 'unreachable' event for ${family} ${address}:${port} (${result.events.length} members named, ${result.eventsTotal} events)`);
    assert.is(event.code, code, `${address}:${port}`);
    assert.is(event.errno, errno, `${address}:${port}`);
    seen.delete(`${family} ${address} ${port}`);
  }
  const extra = [...seen.values()];
  assert.equal(extra, [], `events for members that are not unreachable: ${JSON.stringify(extra.slice(0, 5))}`);
  // One code per member: nothing else was reported for the same address and port.
  assert.is(result.events.length, expected.length, 'one kind of event per member');
}

const deadEvents = (family, address) => Array.from({ length: DEAD }, (_, i) => [family, address, DEAD_BASE + i, 'ECONNREFUSED', -111]);

for (const family of ['IPv4', 'IPv6']) {
  const tag = family === 'IPv4' ? '' : ' over IPv6';
  const address = () => (family === 'IPv4' ? env.link.addresses.b4 : env.link.addresses.b6);

  netTest(`(a, b${family === 'IPv6' ? ', d' : ''}) ${(LIVE + DEAD).toLocaleString('en')} members, half on closed ports, ${ROUNDS} rounds${tag}: live members never fail and get every round in order; dead ones are reported sent`, async () => {
    const result = await run({ members: liveAndDead(address()), rounds: ROUNDS });
    outcome[family] = result;
    assert.equal(result.segments.live, { members: LIVE, sent: ROUNDS * LIVE, failed: 0, codes: {} },
      'live members (a failure here is a dead member\'s ICMP error charged to a live one)');
    assert.equal(result.segments.dead, { members: DEAD, sent: ROUNDS * DEAD, failed: 0, codes: {} }, 'dead members: UDP cannot know at send time');
    expectAnswered(result, ROUNDS * DEAD);
    await expectLiveDelivered(family, ROUNDS);
  });

  netTest(`(c${family === 'IPv6' ? ', d' : ''}) every dead member${tag} is named by 'unreachable' events, ECONNREFUSED, errno -111; no live member is`, () => {
    assert.ok(outcome[family], 'the rounds did not run');
    expectEvents(outcome[family], deadEvents(family, address()));
  });

  netTest(`(g, h) after the rounds${tag}: the error queue is drained (receive memory near zero) and no descriptor leaked`, () => {
    const result = outcome[family];
    assert.ok(result, 'the rounds did not run');
    // All ICMP errors had arrived before the socket was looked at.
    assert.is(result.icmp, result.icmpFromB, 'ICMP destination unreachables received in namespace A: every one B sent');
    assert.ok(result.rmem <= RMEM_MAX, `the sender socket still holds ${result.rmem} bytes of receive memory `
      + `${result.rmemWaitMs} ms after the last ICMP error arrived (ss: ${result.ss})`);
    assert.is(result.fdsAfter, result.fdsBefore, 'descriptors before the Sender and after close()');
  });
}

netTest('(e) through the router: host unreachable is EHOSTUNREACH, net unreachable ENETUNREACH (IPv4 and IPv6)', async () => {
  const { b4, hostUnreachable4, netUnreachable4, netUnreachable6 } = env.link.addresses;
  const live = 10;
  // IPv4 router errors have their own limiter (see _link.js): at most routerIcmpBurst of them.
  const members = [
    { name: 'live', address: b4, port: LIVE_BASE, ports: live, count: live },
    { name: 'host', address: hostUnreachable4, port: 9, ports: 2, count: 2 },
    { name: 'net', address: netUnreachable4, port: 9, ports: 2, count: 2 },
    { name: 'net6', address: netUnreachable6, port: 9, ports: 2, count: 2 },
  ];
  assert.ok(4 <= env.link.routerIcmpBurst, 'the router answers this many host/net unreachables at once');
  const result = await run({ members, rounds: 1 });
  for (const name of ['live', 'host', 'net', 'net6']) {
    assert.equal(result.segments[name].failed, 0, `${name}: ${JSON.stringify(result.segments[name])}`);
  }
  assert.is(result.icmpFromB, 6, 'ICMP destination unreachables sent by the router in namespace B');
  assert.is(result.icmp, 6, 'ICMP destination unreachables received in namespace A');
  expectEvents(result, [
    ['IPv4', hostUnreachable4, 9, 'EHOSTUNREACH', -113], ['IPv4', hostUnreachable4, 10, 'EHOSTUNREACH', -113],
    ['IPv4', netUnreachable4, 9, 'ENETUNREACH', -101], ['IPv4', netUnreachable4, 10, 'ENETUNREACH', -101],
    ['IPv6', netUnreachable6, 9, 'ENETUNREACH', -101], ['IPv6', netUnreachable6, 10, 'ENETUNREACH', -101],
  ]);
  await expectLiveDelivered('IPv4', 1, live);
});

netTest('(f) a Sender with no \'unreachable\' listener keeps sending: no \'error\' event, no crash, live members served', async () => {
  const rounds = 10;
  // No listener for 'unreachable' nor 'error': an 'error' event would crash the child.
  const result = await run({ members: liveAndDead(env.link.addresses.b4), rounds, listen: false });
  assert.equal(result.segments.live, { members: LIVE, sent: rounds * LIVE, failed: 0, codes: {} });
  assert.equal(result.segments.dead, { members: DEAD, sent: rounds * DEAD, failed: 0, codes: {} });
  expectAnswered(result, rounds * DEAD);
  await expectLiveDelivered('IPv4', rounds);
  assert.is(result.fdsAfter, result.fdsBefore, 'descriptors before the Sender and after close()');
});

// Sent inline beside two threads (inlineBelow above the group's size), on a
// socket of its own in the port's reuseport group: an ICMP error may land on
// any socket of the group (the kernel picks one by hash), and is still
// blamed on the member it names, and on no other.
netTest('(i) threads: 2, every call inline (inlineBelow: 1e6): live members never fail and get every round; every dead member named once', async () => {
  const rounds = 10;
  const result = await run({ members: liveAndDead(env.link.addresses.b4), rounds, threads: 2, inlineBelow: 1e6 });
  assert.equal(result.segments.live, { members: LIVE, sent: rounds * LIVE, failed: 0, codes: {} });
  assert.equal(result.segments.dead, { members: DEAD, sent: rounds * DEAD, failed: 0, codes: {} });
  expectAnswered(result, rounds * DEAD);
  await expectLiveDelivered('IPv4', rounds);
  expectEvents(result, deadEvents('IPv4', env.link.addresses.b4));
  assert.is(result.fdsAfter, result.fdsBefore, 'descriptors before the Sender and after close()');
});

// A Sender on an adopted socket leaves IP_RECVERR off (dgram would turn ICMP
// errors into 'error' events on the user's socket; docs/api.md), so the
// kernel keeps them from the socket altogether: with threads, each sending
// through a duplicate of it, ICMP errors streaming back fail no send and
// name no member.
netTest('(j) an adopted IPv6 socket, threads: 2, half the members net-unreachable: every member sent, live ones get every round, no event', async () => {
  const rounds = 10;
  const members = [
    { name: 'live', address: env.link.addresses.b6, port: LIVE_BASE, ports: LIVE, count: LIVE },
    { name: 'net', address: env.link.addresses.netUnreachable6, port: DEAD_BASE, ports: DEAD, count: DEAD },
  ];
  const result = await run({ members, rounds, threads: 2, inlineBelow: 0, adopt: 'udp6' });
  assert.equal(result.segments.live, { members: LIVE, sent: rounds * LIVE, failed: 0, codes: {} });
  assert.equal(result.segments.net, { members: DEAD, sent: rounds * DEAD, failed: 0, codes: {} });
  expectAnswered(result, rounds * DEAD);
  await expectLiveDelivered('IPv6', rounds);
  assert.is(result.eventsTotal, 0, `'unreachable' events from an adopted socket: ${JSON.stringify(result.events.slice(0, 3))}`);
  assert.is(result.errorEvents, 0);
  assert.is(result.fdsAfter, result.fdsBefore, 'descriptors before the Sender and after close(), the adopted socket closed by us');
});

// A relay's threads send through duplicates of the relay's one socket: one
// error queue and one socket error for both, so the entry proving that a
// send on one thread failed with someone else's error is often read by the
// other (errqueue.h). Net unreachable (ENETUNREACH) can be a send's own
// error, so it is retried only on proof: with proofs kept per thread, about
// 1,000 of these 30,000 sends failed, live members' among them.
netTest('(k) a relay with threads: 2, half of 1,000 IPv6 members net-unreachable, 30 datagrams: no send fails, live members get every one in order', async () => {
  await env.rx.reset();
  const count = 30;
  const node = await startNode(env.link.a, { deadlineMs: DEADLINE_MS });
  try {
    const { address: source } = await node.request('source', { bind: '127.0.0.1:0' });
    const members = [];
    for (let i = 0; i < LIVE; i++) {
      members.push(`[${env.link.addresses.b6}]:${LIVE_BASE + i}`, `[${env.link.addresses.netUnreachable6}]:${DEAD_BASE + i}`);
    }
    const { address } = await node.request('relay', { options: { listen: '[::]:0', allow: [source], threads: 2, inlineBelow: 0 }, members });
    await node.request('send', { to: `127.0.0.1:${address.port}`, from: 0, count, size: SIZE });
    await node.request('waitRelay', { handled: count });
    await expectLiveDelivered('IPv6', count, LIVE, async () => `; relay: ${JSON.stringify((await node.request('close')).after)}; losses: ${JSON.stringify(env.link.losses())}`);
    const { after } = await node.request('close');
    assert.equal(after.failures, {}, `sends failed (${after.staleRetries} stale errors retried)`);
    assert.is(after.sends, count * (LIVE + DEAD));
    assert.ok(after.staleRetries > 0, 'no send picked up another\'s error: the test did not race the two threads');
  } finally {
    node.kill();
  }
});

// (l) A link-local member's event names its zone, as the group lists it
// ('fe80::b%3'): the same address on two links is two members, and the
// docs' Map from the text added to the id finds it (before, the zone was
// left out: no member matched, and the CLI's --drop-unreachable never
// dropped one).
const twoEnds = privateNetwork('ip link set lo up && ip link add sga type veth peer name sgb && ' +
  'ip addr add fe80::a/64 dev sga nodad && ip addr add fe80::b/64 dev sgb nodad && ip link set sga up && ip link set sgb up && ' +
  'sysctl -qw net.ipv6.icmp.ratelimit=0');
testUnless(test, twoEnds.missing, '63.unreachable link-local')('(l) an \'unreachable\' event names a link-local member with its zone, as the group lists it', () => {
  const { member, events } = twoEnds.run(path.join(__dirname, 'fixtures', 'link-local-unreachable.js'));
  assert.match(member, /^fe80::b%\d+$/);
  assert.equal(events, Array(3).fill(`${member} 9 ECONNREFUSED`));
});

test.run();
