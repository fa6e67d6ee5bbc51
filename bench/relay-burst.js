#!/usr/bin/env node
// node bench/relay-burst.js [members] [datagrams] [threads...]: whether a
// relay's stats() keeps moving while it works off a burst. A dgram source
// sends `datagrams` (default 256, a relay's receive buffers) at once to a
// relay of `members` (default 1,000) on closed loopback ports; stats() is
// read every millisecond until every send is accounted for. Prints one JSON
// line per threads value (default 0 and 2): how often `sends` changed and
// the longest it stood still.
'use strict';
const dgram = require('node:dgram');
const { Group, Relay } = require('..');

const MEMBERS = Number(process.argv[2]) || 1000;
const DATAGRAMS = Number(process.argv[3]) || 256;
const THREADS = process.argv.length > 4 ? process.argv.slice(4).map(Number) : [0, 2];

async function burst(threads) {
  const source = dgram.createSocket('udp4');
  await new Promise((resolve) => source.bind(0, '127.0.0.1', resolve));
  const group = new Group();
  for (let i = 0; i < MEMBERS; i++) group.add('127.0.0.1', 30000 + i);
  const relay = new Relay({ listen: '127.0.0.1:0', allow: [`127.0.0.1:${source.address().port}`], group, threads, inlineBelow: 0 });
  const payload = Buffer.alloc(1316, 0x47);
  for (let i = 0; i < DATAGRAMS; i++) source.send(payload, relay.address().port, '127.0.0.1');
  const started = performance.now();
  let sends = -1;
  let changedAt = 0;
  let changes = 0;
  let stillMs = 0;
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const stats = relay.stats();
      const now = performance.now() - started;
      if (stats.sends !== sends) {
        stillMs = Math.max(stillMs, now - changedAt);
        [sends, changedAt, changes] = [stats.sends, now, changes + 1];
      }
      const failed = Object.values(stats.failures).reduce((sum, n) => sum + n, 0);
      const arrived = stats.received + stats.dropped.noBuffer;
      if (arrived >= DATAGRAMS && stats.sends + failed >= stats.received * MEMBERS) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  const ms = Math.round(performance.now() - started);
  const { received, sends: sent, dropped } = relay.stats();
  await relay.close();
  source.close();
  return { members: MEMBERS, datagrams: DATAGRAMS, threads, received, noBuffer: dropped.noBuffer, sends: sent, ms, sendsChanged: changes, longestStillMs: Math.round(stillMs) };
}

(async () => {
  for (const threads of THREADS) console.log(JSON.stringify(await burst(threads)));
})();
