'use strict';
// Property-based fuzzing of the public API with fast-check (the model and the
// harness are in fixtures/fuzz/; `npm run fuzz` runs 10^6 cases).
// Random groups (receivers in many spellings, port 0, broadcast, garbage,
// duplicates, changes during a send), payloads of every kind from 0 to
// 70,000 bytes, per-recipient bytes, options (unknown keys, wrong types),
// abort and close timing, several calls in flight on one sender. Every call
// must throw/reject an argument error with a code, or resolve with a report
// the model allows, and every receiver must get exactly what was reported
// sent. FUZZ_SEED reproduces a run, FUZZ_SCALE scales the number of cases.
const { test } = require('uvu');
const assert = require('uvu/assert');
const fc = require('fast-check');
const { caseArb, groupCaseArb, senderCaseArb } = require('./fixtures/fuzz/arbitraries');
const { createHarness } = require('./fixtures/fuzz/harness');

const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const SEED = process.env.FUZZ_SEED === undefined ? Date.now() ^ (process.pid << 8) : Number(process.env.FUZZ_SEED);
const RUNS = {
  group: Math.round(3000 * SCALE),
  sender: Math.round(300 * SCALE),
  send: Math.round(5000 * SCALE),
};

let harness;
let started;

test.before(async () => {
  harness = await createHarness();
  started = Date.now();
});

test.after(async () => {
  await harness.close();
  const s = harness.stats;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`\n  fuzz: seed ${SEED}, ${RUNS.group + RUNS.sender + RUNS.send} cases in ${seconds} s (${s.calls} calls: ${s.resolved} resolved, ` +
    `${s.rejected} refused; ${s.sentMembers} members sent, ${s.failedMembers} failed, ${s.datagrams} datagrams checked)`);
});

async function property(arbitrary, run, numRuns, offset) {
  const details = await fc.check(fc.asyncProperty(arbitrary, run), { numRuns, seed: SEED + offset, endOnFailure: process.env.FUZZ_NO_SHRINK === '1' });
  if (details.failed) {
    const cause = `first failure: ${harness.failures[0]}\n  after shrinking: ${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`;
    assert.unreachable(`${cause}\n${fc.defaultReportMessage(details)}\n  reproduce: FUZZ_SEED=${SEED} npx uvu test 70.fuzz.js`);
  }
}

test(`Group API: add/remove/has/clear against a model (${RUNS.group} cases)`, async () => {
  await property(groupCaseArb, async (c) => harness.runGroupCase(c), RUNS.group, 0);
});

test(`Sender options, valid and not (${RUNS.sender} cases)`, async () => {
  await property(senderCaseArb(harness.receiverCount), (c) => harness.runCase(c), RUNS.sender, 1);
});

test(`sendGroup/streamGroup cases against loopback receivers (${RUNS.send} cases)`, async () => {
  await property(caseArb(harness.receiverCount), (c) => harness.runCase(c), RUNS.send, 2);
});

test.run();
