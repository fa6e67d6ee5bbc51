#!/usr/bin/env node
// node bench/group-edits.js [members]: what editing a large Group costs.
// Removes every other member one by one (as 'unreachable' events would),
// then asks has() of every id and lists the members (which drops the
// removed ones from the send order), on a plain group and on one a Relay
// follows (its native table, edited from the next datagram on; none comes
// here). Sends nothing. Prints one JSON line per case.
'use strict';
const { Group, Relay } = require('..');

const MEMBERS = Number(process.argv[2]) || 100000;

async function ms(fn) {
  const started = process.hrtime.bigint();
  await fn();
  return +(Number(process.hrtime.bigint() - started) / 1e6).toFixed(1);
}

async function edits(withRelay) {
  const group = new Group();
  const ids = [];
  for (let i = 0; i < MEMBERS; i++) ids.push(group.add('127.0.0.1', 20000 + (i % 40000)));
  // Allows a source that never sends: the relay only follows the group.
  const relay = withRelay ? new Relay({ listen: '127.0.0.1:0', allow: ['127.0.0.2'], group }) : undefined;
  const removeHalfMs = await ms(() => { for (let i = 0; i < MEMBERS; i += 2) group.remove(ids[i]); });
  const hasEveryMs = await ms(() => { for (const id of ids) group.has(id); });
  let listed = 0;
  const listMs = await ms(() => { listed = [...group].length; });
  const relayMembers = relay?.stats().members;
  await relay?.close();
  return { members: MEMBERS, relay: withRelay, removeHalfMs, hasEveryMs, listMs, listed, relayMembers };
}

(async () => {
  for (const withRelay of [false, true]) console.log(JSON.stringify(await edits(withRelay)));
})();
