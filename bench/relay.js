#!/usr/bin/env node
// node bench/relay.js [--quick]: CPU per forwarded member-datagram of
// sendgroup's Relay (io_uring and sendmmsg backends) against a JavaScript
// relay calling sender.sendGroup(), a plain dgram relay and a C relay
// (recvmmsg + sendmmsg), at 1, 10, 100 and 1000 members, all inside a
// network namespace of its own (bench/relay/netns.js). The full run writes
// bench/results/relay.md; --quick (under a minute) only prints.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createNetwork, memberLines, unavailable } = require('./relay/netns');
const { RelayProcess, buildBinaries, killAll } = require('./relay/procs');
const { measure, waitForQuiet } = require('./relay/measure');
const { aggregate, ratios, cpuTable, ratioTable, anomalies } = require('./relay/report');
const { renderDocument } = require('./relay/document');

const VARIANTS = ['relay-native', 'relay-native-mmsg', 'relay-native-threads', 'relay-js-sendgroup', 'relay-dgram', 'relay-c'];
const MEMBER_COUNTS = [1, 10, 100, 1000];
// MPEG-TS over UDP: 7 x 188-byte packets a datagram.
const SIZE = 1316;
// paced: MEMBER_RATE member-datagrams a second (datagrams a second = that /
// members, at most MAX_RATE), below what the slowest relay (dgram) forwards
// on one core, so every variant forwards everything at the same load.
// saturated: more datagrams than any relay takes; what it forwards is its
// capacity, the rest the kernel drops at its socket.
const MEMBER_RATE = 100000;
const MAX_RATE = 20000;
const SATURATED_RATE = 200000;
const LOADS = {
  paced: { rate: (members) => Math.min(MAX_RATE, MEMBER_RATE / members), lossless: true },
  saturated: { rate: () => SATURATED_RATE, lossless: false },
};
// members: the member counts a load runs at (all when not said). A
// saturated native Relay at 1000 members takes about 9 s to empty its 8 MB
// receive queue after the source stops: too long for --quick.
const PLANS = {
  full: { warmup: 1, paced: { rounds: 4, seconds: 2 }, saturated: { rounds: 2, seconds: 1.5 } },
  quick: { warmup: 0.2, paced: { rounds: 2, seconds: 0.4 }, saturated: { rounds: 1, seconds: 0.4, members: [10] } },
};
const FIRST_PORT = 41000;
const OUT = path.join(__dirname, 'results', 'relay.md');

const log = (text) => process.stderr.write(`${text}\n`);
const portOf = (variant) => FIRST_PORT + VARIANTS.indexOf(variant);

function parseArgs(argv) {
  const unknown = argv.filter((a) => a !== '--quick');
  if (unknown.length) throw new Error(`unknown argument ${unknown[0]} (usage: node bench/relay.js [--quick])`);
  return { quick: argv.includes('--quick') };
}

async function startRelays(ctx, membersFile) {
  const relays = [];
  try {
    for (const variant of VARIANTS) relays.push(await RelayProcess.start(ctx.network, ctx.binaries, variant, portOf(variant), membersFile));
  } catch (error) {
    await Promise.all(relays.map((r) => r.stop()));
    throw error;
  }
  return relays;
}

/** One unrecorded run per relay: JIT, rings and caches warm before the rounds. */
async function warmUp(ctx, relays, members) {
  for (const relay of relays) {
    await measure({ ...ctx.run, relay, port: portOf(relay.variant), members, rate: LOADS.paced.rate(members), seconds: ctx.plan.warmup });
  }
}

/** Rounds over every variant, in turn forward and backward (A B C D E, E D C B A, ...). */
async function runLoad(ctx, relays, members, load) {
  const { rounds, seconds } = ctx.plan[load];
  const samples = [];
  for (let round = 0; round < rounds; round++) {
    for (const relay of round % 2 ? [...relays].reverse() : relays) {
      await waitForQuiet(log);
      const rate = LOADS[load].rate(members);
      const sample = await measure({ ...ctx.run, relay, port: portOf(relay.variant), members, rate, seconds });
      samples.push({ ...sample, load, lossless: LOADS[load].lossless, round });
      log(`${members} members, ${load} ${round + 1}/${rounds}, ${relay.variant}: ${sample.nsPerSend.toFixed(0)} ns per member-datagram`);
    }
  }
  return samples;
}

async function runMemberCount(ctx, members) {
  const membersFile = path.join(ctx.dir, `members-${members}.txt`);
  fs.writeFileSync(membersFile, `${memberLines(members).join('\n')}\n`);
  const relays = await startRelays(ctx, membersFile);
  try {
    await waitForQuiet(log);
    await warmUp(ctx, relays, members);
    const samples = [];
    for (const load of Object.keys(LOADS)) {
      if (ctx.plan[load].members?.includes(members) ?? true) samples.push(...await runLoad(ctx, relays, members, load));
    }
    return samples;
  } finally {
    await Promise.all(relays.map((r) => r.stop()));
  }
}

function report(samples, ctx) {
  const rows = aggregate(samples);
  const ratioList = ratios(samples);
  const problems = anomalies(rows);
  for (const load of Object.keys(LOADS)) {
    const of = (list) => list.filter((x) => x.load === load);
    process.stdout.write(`\n${load}:\n\n${cpuTable(of(rows))}\n\n${ratioTable(of(ratioList))}\n`);
  }
  if (problems.length) process.stdout.write(`\nanomalies:\n${problems.map((p) => `- ${p}`).join('\n')}\n`);
  if (ctx.quick) {
    log(`--quick: ${OUT} left as it was`);
    return;
  }
  const plan = { ...ctx.plan, size: SIZE, memberRate: MEMBER_RATE, maxRate: MAX_RATE, saturatedRate: SATURATED_RATE, memberCounts: MEMBER_COUNTS };
  fs.writeFileSync(OUT, renderDocument({ rows, ratioList, problems, plan }));
  log(`wrote ${path.relative(process.cwd(), OUT)}`);
}

/** Removes what the run made; safe to call twice, and from a signal handler (synchronous). */
function makeCleanup(state) {
  return () => {
    killAll();
    state.network?.close();
    state.network = undefined;
    if (state.dir) fs.rmSync(state.dir, { recursive: true, force: true });
    state.dir = undefined;
  };
}

async function main() {
  const { quick } = parseArgs(process.argv.slice(2));
  const why = unavailable();
  if (why) throw new Error(`cannot run: ${why}`);
  const state = {};
  const cleanup = makeCleanup(state);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      cleanup();
      process.exit(128 + os.constants.signals[signal]);
    });
  }
  try {
    state.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgrelay-'));
    const binaries = buildBinaries(state.dir);
    state.network = createNetwork();
    const plan = quick ? PLANS.quick : PLANS.full;
    const ctx = { dir: state.dir, network: state.network, binaries, plan, quick, run: { network: state.network, binaries, size: SIZE } };
    const samples = [];
    for (const members of MEMBER_COUNTS) samples.push(...await runMemberCount(ctx, members));
    report(samples, ctx);
  } finally {
    cleanup();
  }
}

main().catch((error) => {
  log(error.stack);
  process.exitCode = 1;
});
